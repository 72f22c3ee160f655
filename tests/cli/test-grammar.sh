#!/bin/sh
# dhpctl's one grammar and its messages: --socket anywhere (PATH or
# unix:PATH), COMMAND --help, extra arguments and unknown options refused
# with exit status 2, every message prefixed "dhpctl: ", errors a person can
# act on, "schema" in every JSON document, one version string.
#   test-grammar.sh DHPCTL DHPD VERSION
set -u
dhpctl=$1
dhpd=$2
version=$3
tmp=$(mktemp -d)
daemon=
cleanup() { [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "not ok: $*"; }
unset DHP_TARGET

# run EXPECTED_STATUS ARGS...: stdout in $tmp/out, stderr in $tmp/err; every
# stderr line carries the prefix.
run() {
        want=$1
        shift
        "$dhpctl" "$@" > "$tmp/out" 2> "$tmp/err"
        got=$?
        [ "$got" = "$want" ] && ok || bad "dhpctl $* exited $got, expected $want: $(cat "$tmp/err")"
        if grep -qv '^dhpctl: ' "$tmp/err"; then bad "dhpctl $*: a message without the prefix: $(cat "$tmp/err")"; else ok; fi
}
says() { grep -qF -- "$1" "$tmp/err" && ok || bad "expected '$1' in: $(cat "$tmp/err")"; }
prints() { grep -qF -- "$1" "$tmp/out" && ok || bad "expected '$1' on stdout: $(head -c 400 "$tmp/out")"; }

# One version string: meson's project version.
run 0 --version
prints "dhpctl $version"
[ "$("$dhpd" --version)" = "dhpd $version" ] && ok || bad "dhpd --version: $("$dhpd" --version 2>&1)"

# COMMAND --help and help COMMAND, for every command.
for c in demo status monitor cpu sim plot limits; do
        run 0 "$c" --help
        prints "Usage: dhpctl [--socket TARGET] $c"
        run 0 help "$c"
        prints "Usage: dhpctl [--socket TARGET] $c"
done
run 0 --help
prints "Exit status: 0 success, 1 the operation failed, 2 bad command line."

# Usage errors: exit 2, named.
run 2 frob
says "unknown command 'frob'"
run 2 status extra
says "status: unexpected argument 'extra'"
run 2 monitor --json extra
says "monitor: unexpected argument 'extra'"
run 2 status --bogus
says "status: unknown option '--bogus'"
run 2 plot -o
says "plot: option '-o' needs a value"
run 2 plot -i x y
says "plot: unexpected argument 'y'"
run 2 demo a.scenario b.scenario
says "demo: expected at most one scenario file, got 'b.scenario' too"
run 2 sim cpu add 3 4
says "sim: unexpected argument '4'"
run 2 sim cpu add 0
says "expected a count from 1 to 4096, got '0'"
run 2 sim cpu remove
says "the only verb is 'add'"
run 2 cpu offline 1
says "cpu: expected 'online'"
run 2 cpu online x
says "cpu online: expected a processor index, got 'x'"
run 2 cpu online 1 2
says "cpu online: unexpected argument '2'"
run 2 cpu --bogus online 1
says "cpu: unknown option '--bogus'"
run 2 status --socket
says "--socket needs a value"
run 2 --socket sim:cpus=2 status
says "'sim:cpus=2' is not a dhpd socket"
run 2 --socket sim status
says "'sim' is not a dhpd socket"
run 2 demo --target sim:cpus=99
says "cpus=99 out of range"
run 2 demo --target sim:cpu=2
says "unknown sim option 'cpu'"
run 2 demo --target sim:cpus=x
says "sim option 'cpus' needs a number, got 'x'"
run 2 plot -i - -o x.jpg
says "the name must end in .svg or .png"

# Nothing answers: the hint names the path as given, never "unix:", and
# suggests the simulator to someone driving it.
run 1 --socket "unix:$tmp/none.sock" status
says "nothing answers on $tmp/none.sock);"
says "'dhpd --socket $tmp/none.sock'"
grep -q "dhpd --socket unix:" "$tmp/err" && bad "a bogus hint: $(cat "$tmp/err")" || ok
run 1 sim cpu add --socket "$tmp/none.sock"
says "start the simulator with 'dhpd --platform sim --socket $tmp/none.sock'"
DHP_TARGET=sim:cpus=2 run 1 status
says "'sim:cpus=2' is not a dhpd socket"

# PNG: written through rsvg-convert, or refused when it is missing.
printf '%s\n' '{"schema":1,"seq":1,"t_ns":1000,"method":"txn","event":"STARTED","class":"processor","processor":2,"status":"0"}' > "$tmp/one.json"
if command -v rsvg-convert > /dev/null; then
        run 0 plot -i "$tmp/one.json" -o "$tmp/one.png"
        [ "$(head -c 4 "$tmp/one.png" | od -An -c | tr -d ' ')" = '211PNG' ] && ok || bad "not a PNG"
fi
# (env: only dhpctl runs without a PATH, the checks keep theirs)
env PATH=/nonexistent "$dhpctl" plot -i "$tmp/one.json" -o "$tmp/none.png" 2> "$tmp/err" && bad "PNG without rsvg-convert" || ok
says "writing PNG needs rsvg-convert"
[ ! -e "$tmp/none.png" ] && ok || bad "a .png written without rsvg-convert"
printf '%s\n' '{"schema":9,"seq":1,"t_ns":1000,"method":"txn","event":"STARTED"}' > "$tmp/new.json"
run 1 plot -i "$tmp/new.json"
says "newer \"schema\""

# JSON: "schema" first in every document.
run 0 demo --json
[ -s "$tmp/out" ] && ! grep -qv '^{"schema":1,' "$tmp/out" && ok || bad "demo --json without schema"

# Against a running simulated dhpd (sim control is privileged: root only).
if [ "$(id -u)" = 0 ]; then
        "$dhpd" --platform sim --sim cpus=2,maxcpus=8 --foreground --socket "$tmp/dhpd.sock" -c /dev/null \
                > "$tmp/dhpd.out" 2> "$tmp/dhpd.err" &
        daemon=$!
        i=0
        until grep -q READY "$tmp/dhpd.out" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 100 ] || { bad "dhpd not ready: $(cat "$tmp/dhpd.err")"; break; }
                sleep 0.1
        done
        # --socket before or after the command, PATH or unix:PATH, = or not.
        for form in "--socket $tmp/dhpd.sock status" "status --socket unix:$tmp/dhpd.sock" \
                    "--socket=unix:$tmp/dhpd.sock status --json" "status --json --socket=$tmp/dhpd.sock"; do
                # shellcheck disable=SC2086
                run 0 $form
                prints "admitted"
        done
        DHP_TARGET=$tmp/dhpd.sock run 0 status --json
        prints '{"schema":1,"processors":['
        export DHP_TARGET="unix:$tmp/dhpd.sock"
        run 1 sim memory add 100M
        says "100M is not a multiple of the 128 MiB block size (try 128 MiB)"
        run 1 sim memory add 1T
        says "beyond the partition's maxmem limit (it holds 1 GiB now"
        run 0 sim cpu add 3
        [ "$(grep -c admitted "$tmp/out")" = 3 ] && ok || bad "sim cpu add 3: $(cat "$tmp/out")"
        run 1 sim cpu add 4
        says "every processor slot is in use (3 of 4 added)"
        printf 'fail cpu-start EIO\ncpu add\nsettle\n' > "$tmp/f.scenario"
        "$dhpd" --help > /dev/null
        kill "$daemon"
        wait "$daemon" 2>/dev/null
        # The redirection below happens in the background child: without
        # this the loop can still see the first dhpd's READY.
        rm -f "$tmp/dhpd.out"
        "$dhpd" --platform sim --sim cpus=2,maxcpus=8 --foreground --socket "$tmp/dhpd.sock" -c /dev/null \
                > "$tmp/dhpd.out" 2> "$tmp/dhpd.err" &
        daemon=$!
        i=0
        until grep -q READY "$tmp/dhpd.out" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 100 ] || { bad "dhpd not ready again"; break; }
                sleep 0.1
        done
        run 0 sim run "$tmp/f.scenario"
        prints "START_FAILED"
        prints "1 transaction(s) failed or refused"
        run 0 monitor --help
        unset DHP_TARGET
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
