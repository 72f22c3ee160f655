#!/bin/sh
# Fetch a Debian cloud kernel for the QEMU end-to-end tests WITHOUT installing
# it on the host: `apt-get download` the versioned linux-image package into a
# cache directory and unpack it there with `dpkg-deb -x`.
#
#   scripts/e2e-fetch-kernel.sh [-k 6.1|6.12] [CACHE_DIR]   (default 6.1, build/e2e-cache)
#
# The kernel goes to CACHE_DIR/VERSION/ (vmlinuz, config, kernel.pkg,
# modules/).  Prints the absolute path of that directory's vmlinuz on stdout
# (and nothing else), so a caller can do  KERNEL=$(scripts/e2e-fetch-kernel.sh).
#
# Where each kernel comes from:
#   6.1   linux-image-cloud-amd64 of the host's own apt sources (bookworm).
#   6.12  linux-image-cloud-amd64 of bookworm-backports (6.12.x+deb12), with a
#         private apt state under CACHE_DIR/6.12/apt: `apt-get update` and
#         `apt-get download` with their own source list and lists directory,
#         so the host's apt configuration and lists are not touched.  The
#         mirror is the host's Debian mirror (deb.debian.org by default).
#
# Idempotent: once CACHE_DIR/VERSION/vmlinuz exists nothing is downloaded and
# apt is not even consulted, so a warm cache works offline.  Delete the
# directory to pick up a newer kernel.
#
# Environment:
#   E2E_KERNEL_META    meta package to resolve   (default linux-image-cloud-amd64)
#   E2E_KERNEL_PKG     exact versioned package to use, skipping the resolution
#   E2E_DEBIAN_MIRROR  mirror for the 6.12 backports (default http://deb.debian.org/debian)
#
# Why the cloud flavour: it is small (about 27 MB .deb) and everything the
# hot-add tests need is built in (checked on 6.1.0-56 and 6.12.95:
# CONFIG_MEMORY_HOTPLUG, CONFIG_ACPI_HOTPLUG_MEMORY, CONFIG_HOTPLUG_CPU,
# CONFIG_ACPI_HOTPLUG_CPU, CONFIG_SERIAL_8250_CONSOLE, CONFIG_DEVTMPFS,
# CONFIG_CPUSETS, CONFIG_PSI are all =y).  The one module the tests use is
# virtio_mem (CONFIG_VIRTIO_MEM=m in both; on 6.1 its transport virtio_pci
# is =m too): they and their modules.dep closure
# are kept under modules/ (xz-compressed .ko.xz on 6.12; tests/e2e/initramfs.py
# decompresses them, busybox insmod cannot).  The check below fails loudly if
# a future kernel moves one of the =y options to a module.
set -eu

flavour=6.1
if [ "${1:-}" = "-k" ]; then
	flavour=$2
	shift 2
fi
case "$flavour" in
6.1|6.12) ;;
*) echo "e2e-fetch-kernel: unknown kernel '$flavour' (expected 6.1 or 6.12)" >&2; exit 2 ;;
esac

top=${1:-build/e2e-cache}
meta=${E2E_KERNEL_META:-linux-image-cloud-amd64}
mirror=${E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian}

mkdir -p "$top/$flavour"
cache=$(cd "$top/$flavour" && pwd)

# apt with a private source list and state for the backports kernel.
apt_opts=""
if [ "$flavour" = 6.12 ]; then
	a=$cache/apt
	apt_opts="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists=$a/lists -o Dir::Cache=$a -o Dir::Cache::pkgcache=
		-o Dir::Cache::srcpkgcache= -o APT::Get::List-Cleanup=0"
fi

if [ ! -e "$cache/vmlinuz" ]; then
	if [ "$flavour" = 6.12 ]; then
		mkdir -p "$a/lists/partial" "$a/archives/partial"
		echo "deb $mirror bookworm-backports main" > "$a/sources.list"
		echo "e2e-fetch-kernel: apt-get update (private lists, bookworm-backports)" >&2
		# shellcheck disable=SC2086
		apt-get -q $apt_opts update >&2
	fi
	pkg=${E2E_KERNEL_PKG:-}
	if [ -z "$pkg" ]; then
		# The meta package only depends on the versioned image package;
		# that dependency is the kernel we want.
		# shellcheck disable=SC2086
		pkg=$(apt-cache $apt_opts depends "$meta" 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
		case "$flavour:$pkg" in
		6.1:linux-image-6.1.*|6.12:linux-image-6.12.*) ;;
		*)	echo "e2e-fetch-kernel: cannot resolve $meta to a $flavour kernel with" \
				"apt-cache depends (got '$pkg'; run apt-get update?)" >&2
			exit 1 ;;
		esac
	fi
	echo "e2e-fetch-kernel: downloading $pkg into $cache" >&2
	tmp=$(mktemp -d "$cache/.dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the current directory.  As root it warns
	# that the _apt sandbox user cannot write there; harmless, so the noise
	# is dropped but real errors still fail the script (set -e).
	# shellcheck disable=SC2086
	(cd "$tmp" && apt-get $apt_opts download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { echo "e2e-fetch-kernel: apt-get download $pkg failed" >&2; exit 1; }
	dpkg-deb -x "$deb" "$tmp/root"
	vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* | head -n 1)
	config=$(ls "$tmp"/root/boot/config-* | head -n 1)
	# Keep only what the tests use: the kernel, its config (for the check
	# below and for people debugging), the package name, and virtio_mem
	# with the modules it depends on (modules.dep order: dependencies
	# last), under modules/ with their paths relative to /lib/modules/VER.
	moddir=$(ls -d "$tmp"/root/lib/modules/* "$tmp"/root/usr/lib/modules/* 2>/dev/null | head -n 1)
	rm -rf "$cache/modules"
	mkdir -p "$cache/modules"
	# The package has no modules.dep (depmod runs at install time) and the
	# host may have no kmod: read each module's `depends=` from its
	# .modinfo section (decompressed if .ko.xz) and write the closure as
	# modules/modules.dep, in modules.dep's format.
	[ -n "$moddir" ] && python3 - "$moddir" "$cache/modules" virtio_pci virtio_mem <<'PY'
import lzma, os, re, shutil, sys
src, dst, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
files = {}
for root, _, names in os.walk(src):
    for n in names:
        m = re.match(r"(.+)\.ko(\.xz)?$", n)
        if m:
            files[m.group(1).replace("-", "_")] = os.path.relpath(os.path.join(root, n), src)
def deps(name):
    p = os.path.join(src, files[name])
    data = open(p, "rb").read()
    if p.endswith(".xz"):
        data = lzma.decompress(data)
    m = re.search(rb"(?:^|\0)depends=([^\0]*)", data)
    return [d.replace("-", "_") for d in m.group(1).decode().split(",") if d] if m else []
lines, seen = [], set()
def walk(name):
    if name in seen:
        return
    seen.add(name)
    d = deps(name)
    closure, todo = [], list(d)
    while todo:
        x = todo.pop(0)
        if x not in closure:
            closure.append(x)
            todo += deps(x)
    lines.append(files[name] + ":" + "".join(" " + files[x] for x in closure))
    for x in d:
        walk(x)
for want in wanted:  # absent = built in (virtio_pci on 6.12)
    if want in files:
        walk(want)
for n in seen:
    os.makedirs(os.path.join(dst, os.path.dirname(files[n])), exist_ok=True)
    shutil.copy(os.path.join(src, files[n]), os.path.join(dst, files[n]))
with open(os.path.join(dst, "modules.dep"), "w") as f:
    f.write("".join(l + "\n" for l in lines))
# What to load, in this order (each after its dependencies, from modules.dep).
with open(os.path.join(dst, "modules.load"), "w") as f:
    f.write("".join(files[w] + "\n" for w in wanted if w in files))
PY
	[ -n "$moddir" ] && basename "$moddir" > "$cache/modules/version"
	cp "$config" "$cache/config"
	echo "$pkg" > "$cache/kernel.pkg"
	# vmlinuz last: its presence is what marks the cache complete.
	cp "$vmlinuz" "$cache/vmlinuz.tmp"
	mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
fi

# Fail early, with a clear message, if the kernel cannot do what the tests do.
for opt in MEMORY_HOTPLUG ACPI_HOTPLUG_MEMORY HOTPLUG_CPU ACPI_HOTPLUG_CPU \
	SERIAL_8250_CONSOLE DEVTMPFS BLK_DEV_INITRD RD_GZIP CGROUPS; do
	if ! grep -q "^CONFIG_$opt=y$" "$cache/config"; then
		echo "e2e-fetch-kernel: $(cat "$cache/kernel.pkg"): CONFIG_$opt is not built in;" \
			"the initramfs would need its module" >&2
		exit 1
	fi
done

echo "$cache/vmlinuz"
