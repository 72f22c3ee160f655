#!/bin/sh
# Install into a temporary DESTDIR and use the result the way a developer
# and an administrator would: pkg-config, the example built against the
# installed library, man pages, completion, exported symbols.
#   tests/install/test-install.sh BUILD_DIR
set -eu
build=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "not ok: $*"; }

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
libdir=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
root=$dest$prefix
case $libdir in /*) lib=$dest$libdir ;; *) lib=$root/$libdir ;; esac

for f in "$root/sbin/dhpd" "$root/bin/dhpctl" "$root/include/dhp.h" "$lib/libdhp.a" "$lib/pkgconfig/dhp.pc" \
         "$root/lib/systemd/system/dhpd.service" "$root/lib/sysusers.d/dhp.conf" "$root/lib/tmpfiles.d/dhp.conf" \
         "$root/share/bash-completion/completions/dhpctl"; do
        if [ -e "$f" ]; then ok; else bad "missing $f"; fi
done
soname=$(readelf -d "$lib/libdhp.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libdhp.so.0" ] && ok || bad "soname '$soname'"
# Only dhp_* is exported.
others=$(nm -D --defined-only "$lib/libdhp.so" | awk '{print $3}' | grep -v '^dhp_' | grep -v '^DHP_' || true)
[ -z "$others" ] && ok || bad "exported beyond dhp_*: $(echo $others | head -c 200)"

# man -l renders each page.
for p in man3/dhp.3 man8/dhpd.8 man1/dhpctl.1 man5/dhpd.conf.5 man3/dhp_open.3; do
        f=$root/share/man/$p
        if [ -e "$f" ] && man -l "$f" 2>/dev/null | grep -q NAME; then ok; else bad "man page $p"; fi
done
# A page for every exported function: `man dhp_open` finds its own.
for fn in $(nm -D --defined-only "$lib/libdhp.so" | awk '$2 == "T" && $3 ~ /^dhp_/ {sub(/@.*/, "", $3); print $3}'); do
        [ -e "$root/share/man/man3/$fn.3" ] || missing_pages="${missing_pages:-} $fn"
done
[ -z "${missing_pages:-}" ] && ok || bad "no man page for:$missing_pages"
MANPATH=$root/share/man man -w dhp_open 2>/dev/null | grep -q "man3/dhp_open.3" && ok || bad "man dhp_open finds nothing"
# dhpd(8) lists every option dhpd accepts.
for o in $("$root/sbin/dhpd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        man -l "$root/share/man/man8/dhpd.8" 2>/dev/null | grep -q -- "$o" || missing_opts="${missing_opts:-} $o"
done
[ -z "${missing_opts:-}" ] && ok || bad "dhpd(8) lacks:$missing_opts"
# One version: meson's, in pkg-config, dhpd and dhpctl.
v=$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --modversion dhp)
[ "$("$root/sbin/dhpd" --version)" = "dhpd $v" ] && [ "$("$root/bin/dhpctl" --version)" = "dhpctl $v" ] && ok ||
        bad "versions differ: pkg-config $v, $("$root/sbin/dhpd" --version), $("$root/bin/dhpctl" --version)"
# The installed unit: verify finds its ExecStart and its Documentation= pages.
if command -v systemd-analyze > /dev/null; then
        mkdir -p "$dest/unit"
        sed "s|^ExecStart=[^ ]*/dhpd|ExecStart=$root/sbin/dhpd|" "$root/lib/systemd/system/dhpd.service" > "$dest/unit/dhpd.service"
        if out=$(cd "$dest/unit" && MANPATH=$root/share/man systemd-analyze verify dhpd.service 2>&1); then ok; else bad "unit: $out"; fi
else
        echo "skipped: systemd-analyze is not installed (the unit is not verified)"
fi
bash -n "$root/share/bash-completion/completions/dhpctl" && ok || bad "completion syntax"

# The example, built against the installed copy with pkg-config.
export PKG_CONFIG_PATH="$lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags dhp)
libs=$(pkg-config --libs dhp)
if cc -Wall -Werror -o "$dest/pool-cache" "$src/examples/pool-cache.c" $cflags $libs -pthread; then ok; else bad "example does not build"; fi
# In-process first, then as a client of the installed dhpd on a simulated
# partition (found through $DHP_TARGET, as an application would).
out=$(LD_LIBRARY_PATH="$lib" "$dest/pool-cache" sim --drive 2>&1) || bad "example (sim) exited $?: $out"
echo "$out" | grep -q "pool-cache: 4 workers, cache 384 MiB, 0 processor(s) refused" && ok || bad "example (sim): $out"

sock=$dest/dhpd.sock
"$root/sbin/dhpd" --foreground --platform sim --socket "$sock" --config /dev/null > "$dest/dhpd.out" 2> "$dest/dhpd.err" &
dhpd_pid=$!
trap 'kill $dhpd_pid 2>/dev/null || true; rm -rf "$dest"' EXIT
# Wait for READY (bounded: 100 x 0.1 s), not a fixed sleep.
i=0
until grep -q READY "$dest/dhpd.out" 2>/dev/null || [ $i -ge 100 ] || ! kill -0 $dhpd_pid 2>/dev/null; do
        i=$((i + 1))
        sleep 0.1
done
if grep -q READY "$dest/dhpd.out"; then ok; else bad "installed dhpd not ready: $(cat "$dest/dhpd.err")"; fi
out=$(DHP_TARGET="unix:$sock" LD_LIBRARY_PATH="$lib" "$dest/pool-cache" --drive 2>&1) || bad "example (dhpd) exited $?: $out"
echo "$out" | grep -q "pool-cache: 4 workers, cache 384 MiB, 0 processor(s) refused" && ok || bad "example (dhpd): $out"
"$root/bin/dhpctl" --socket "$sock" status --json | grep -q '"admitted"' && ok || bad "dhpctl status against the installed dhpd"
# The Python package, where meson put it, against the installed libdhp.so
# (found by its soname, as an installed program would) and dhpd.
pydir=$(meson introspect "$build" --installed | python3 -c 'import json,sys
for src, dst in json.load(sys.stdin).items():
    if dst.endswith("/dhp/__init__.py"): print(dst[:-len("/dhp/__init__.py")])')
if [ -n "$pydir" ] && [ -e "$dest$pydir/dhp/__init__.py" ]; then ok; else bad "the Python package is not installed"; fi
pyrun() { env -u DHP_LIBRARY PYTHONPATH="$dest$pydir" LD_LIBRARY_PATH="$lib" python3 "$@"; }
out=$(pyrun -c 'import dhp
with dhp.open("sim") as ctx:
    print(ctx.sim_cpu_add().admitted, len(ctx.admitted()))
print([l.split()[-1] for l in open("/proc/self/maps") if "libdhp.so" in l][0])' 2>&1) || bad "python (sim) exited $?: $out"
echo "$out" | grep -q "^True 3$" && ok || bad "python (sim): $out"
echo "$out" | grep -q "^$lib/libdhp.so" && ok || bad "python did not load the installed libdhp: $out"
out=$(pyrun -m dhp --socket "$sock" status --json 2>&1) && echo "$out" | grep -q '"admitted"' && ok ||
        bad "python3 -m dhp status against the installed dhpd: $out"
kill $dhpd_pid; wait $dhpd_pid 2>/dev/null || true
# It really used the installed shared library.
LD_LIBRARY_PATH="$lib" ldd "$dest/pool-cache" | grep -q "$lib/libdhp.so.0" && ok || bad "not linked to the installed libdhp"

# `make install PREFIX=X` builds in a directory of its own and leaves the
# given build directory as it was (its prefix, its dhpd's default config).
if [ -n "${CHECK_MAKE_INSTALL:-}" ]; then
        before=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
        stage=$dest/make-install
        if make -C "$src" --no-print-directory install PREFIX=/opt/dhp-test DESTDIR="$stage" \
                BUILD_INSTALL="$dest/build-install" > "$dest/make.log" 2>&1; then ok; else bad "make install: $(tail -5 "$dest/make.log")"; fi
        [ -x "$stage/opt/dhp-test/sbin/dhpd" ] && ok || bad "make install PREFIX=/opt/dhp-test installed no dhpd"
        "$stage/opt/dhp-test/sbin/dhpd" --help | grep -q "/opt/dhp-test/etc" && ok || bad "the installed dhpd lacks its prefix"
        after=$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
        [ "$before" = "$after" ] && ok || bad "make install changed $build's prefix: $before -> $after"
        "$build/src/dhpd" --help | grep -q "/opt/dhp-test" && bad "$build/src/dhpd now names /opt/dhp-test" || ok
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
