#!/usr/bin/env python3
"""Build the e2e guest's initramfs: a gzip'd cpio "newc" archive.

The archive is written directly by Python instead of by cpio(1) because it
must contain /dev/console (the kernel opens it for PID 1's stdio before any
devtmpfs is mounted) and creating a device node on disk needs root; writing
the cpio header for it does not.  Every entry gets uid/gid 0 and mtime 0, so
the same inputs give the same bytes.

Layout:
  /init                      tests/e2e/guest/init
  /e2e/...                   the rest of tests/e2e/guest (scripts), mode kept
  /bin/busybox + applets     symlinks from `busybox --list-full`
  /bin/ueventwatch           built statically by the harness
  /bin/<name>                each --extra-bin (must be static: no libc inside)
  /lib/modules/NAME.ko       with --modules DIR (scripts/e2e-fetch-kernel.sh's
                             CACHE/VERSION/modules): the modules of DIR's
                             modules.load and their modules.dep closure,
                             decompressed (.ko.xz -> .ko: busybox insmod reads
                             plain ELF only); /init insmods them in the order
                             of /e2e/modules.list (dependencies first).

Usable on its own:
  tests/e2e/initramfs.py -o out.cpio.gz --busybox /bin/busybox \
      --bin build/e2e/ueventwatch [--bin build/src/dhpd ...]
"""
import argparse
import gzip
import lzma
import os
import stat
import subprocess
import sys

GUEST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest")


class Cpio:
    """Minimal newc writer: directories, regular files, symlinks, char devs."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1
        self.names = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.names:
            raise ValueError(f"duplicate initramfs entry {name}")
        self.names.add(name)
        bname = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0,
                  len(data), 0, 0, rdev[0], rdev[1], len(bname), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields) + bname
        self._pad()
        self.out += data
        self._pad()

    def _pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        # The trailer entry has inode 0 and nlink 1 by convention.
        self.ino = 0
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def elf_interpreter(path):
    """Return the PT_INTERP of an ELF64 file, or None if it is static.

    A dynamically linked binary would not run: the initramfs has no libc.
    """
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return None  # not ELF64 (a script, say): its #! decides
        phoff = int.from_bytes(hdr[32:40], "little")
        phentsize = int.from_bytes(hdr[54:56], "little")
        phnum = int.from_bytes(hdr[56:58], "little")
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ph = f.read(phentsize)
            if int.from_bytes(ph[0:4], "little") == 3:  # PT_INTERP
                off = int.from_bytes(ph[8:16], "little")
                size = int.from_bytes(ph[32:40], "little")
                f.seek(off)
                return f.read(size).rstrip(b"\0").decode()
    return None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def module_order(moddir):
    """[(name, .ko path)] to load, dependencies before their users.

    modules.dep lists, per module, its whole dependency closure, so each
    dependency's own closure is a strict subset: sorting by closure size
    is a valid load order."""
    dep = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            if mod.strip():
                dep[mod.strip()] = rest.split()
    load = []
    with open(os.path.join(moddir, "modules.load")) as f:
        for want in f.read().split():
            for m in [*dep.get(want, []), want]:
                if m not in load:
                    load.append(m)
    load.sort(key=lambda m: len(dep.get(m, [])))
    out = []
    for m in load:
        name = os.path.basename(m).split(".ko")[0]
        out.append((name, os.path.join(moddir, m)))
    return out


def build(out, busybox, bins=(), guest_dir=GUEST_DIR, modules=None):
    """Write the initramfs to `out`; `bins` are packed as /bin/<basename>."""
    for b in (busybox, *bins):
        interp = elf_interpreter(b)
        if interp:
            raise SystemExit(f"initramfs: {b} is dynamically linked ({interp}); "
                             "the guest has no libc, link it with -static")

    c = Cpio()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys",
              "run", "tmp", "etc", "e2e"):
        c.dir(d, 0o1777 if d == "tmp" else 0o755)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)

    c.file("bin/busybox", read(busybox), 0o755)
    # --list-full gives each applet's install path (bin/sh, sbin/mdev, ...).
    applets = subprocess.run([busybox, "--list-full"], check=True,
                             capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "bin/busybox" and a not in c.names:
            c.symlink(a, "/bin/busybox")

    for b in bins:
        name = "bin/" + os.path.basename(b)
        if name in c.names:  # an extra binary replaces a busybox applet
            raise SystemExit(f"initramfs: {b} clashes with busybox applet {name}")
        c.file(name, read(b), 0o755)

    names = []
    if modules:
        c.dir("lib")
        c.dir("lib/modules")
        for name, path in module_order(modules):
            data = read(path)
            if path.endswith(".xz"):
                data = lzma.decompress(data)
            c.file(f"lib/modules/{name}.ko", data)
            names.append(name)
    c.file("e2e/modules.list", "".join(n + "\n" for n in names).encode())

    # The guest scripts: init at the root, everything else under /e2e.
    c.file("init", read(os.path.join(guest_dir, "init")), 0o755)
    for root, dirs, files in os.walk(guest_dir):
        dirs.sort()
        rel = os.path.relpath(root, guest_dir)
        if rel != ".":
            c.dir("e2e/" + rel)
        for f in sorted(files):
            if f == "init" and rel == "." or f.endswith(".c"):
                continue
            p = os.path.join(root, f)
            c.file(os.path.normpath("e2e/" + os.path.join(rel, f)), read(p),
                   stat.S_IMODE(os.stat(p).st_mode))

    data = gzip.compress(c.finish(), compresslevel=6, mtime=0)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--modules", metavar="DIR",
                    help="kernel modules to pack (CACHE/VERSION/modules)")
    ap.add_argument("--bin", action="append", default=[],
                    help="static binary to pack as /bin/<basename> (repeatable)")
    a = ap.parse_args()
    build(a.output, a.busybox, a.bin, modules=a.modules)
    print(a.output)


if __name__ == "__main__":
    sys.exit(main())
