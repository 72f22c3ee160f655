#!/bin/sh
# Fetch a Debian cloud kernel for the QEMU end-to-end tests WITHOUT installing
# it on the host: `apt-get download` the versioned linux-image package into a
# cache directory and unpack it there with `dpkg-deb -x`.
#
#   scripts/e2e-fetch-kernel.sh [CACHE_DIR]        (default build/e2e-cache)
#
# Prints the absolute path of the vmlinuz on stdout (and nothing else), so a
# caller can do  KERNEL=$(scripts/e2e-fetch-kernel.sh).
#
# Idempotent: once CACHE_DIR/vmlinuz exists nothing is downloaded and apt is
# not even consulted, so a warm cache works offline.  Delete the directory to
# pick up a newer kernel.
#
# Environment:
#   E2E_KERNEL_META  meta package to resolve   (default linux-image-cloud-amd64)
#   E2E_KERNEL_PKG   exact versioned package to use, skipping the resolution
#
# Why the cloud flavour: it is small (about 27 MB .deb) and everything the
# tests need is built in (checked on 6.1.0-56: CONFIG_MEMORY_HOTPLUG,
# CONFIG_ACPI_HOTPLUG_MEMORY, CONFIG_HOTPLUG_CPU, CONFIG_ACPI_HOTPLUG_CPU,
# CONFIG_SERIAL_8250_CONSOLE, CONFIG_DEVTMPFS, CONFIG_CPUSETS, CONFIG_PSI are
# all =y), so the initramfs needs no modules.  The check below fails loudly if
# a future kernel moves one of them to a module.
set -eu

cache=${1:-build/e2e-cache}
meta=${E2E_KERNEL_META:-linux-image-cloud-amd64}

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

if [ ! -e "$cache/vmlinuz" ]; then
	pkg=${E2E_KERNEL_PKG:-}
	if [ -z "$pkg" ]; then
		# The meta package only depends on the versioned image package;
		# that dependency is the kernel we want.
		pkg=$(apt-cache depends "$meta" 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
		if [ -z "$pkg" ]; then
			echo "e2e-fetch-kernel: cannot resolve $meta with apt-cache depends" \
				"(run apt-get update?)" >&2
			exit 1
		fi
	fi
	echo "e2e-fetch-kernel: downloading $pkg into $cache" >&2
	tmp=$(mktemp -d "$cache/.dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download writes into the current directory.  As root it warns
	# that the _apt sandbox user cannot write there; harmless, so the noise
	# is dropped but real errors still fail the script (set -e).
	(cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { echo "e2e-fetch-kernel: apt-get download $pkg failed" >&2; exit 1; }
	dpkg-deb -x "$deb" "$tmp/root"
	vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-* | head -n 1)
	config=$(ls "$tmp"/root/boot/config-* | head -n 1)
	# Keep only what the tests use: the kernel, its config (for the check
	# below and for people debugging) and the package name.  Modules are
	# not needed (see above) and would be most of the size.
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
