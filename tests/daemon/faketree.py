"""The fake sysfs/procfs tree and the bookkeeping shared by the process
tests of dhpd (test-dhpd.py, test-faults.py)."""
import os


class Checks:
    """Counts checks; prints each failure; `summary()` is the closing line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("not ok:", what, flush=True)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def dhpd_argv(dhpd, root, *args, sock="dhpd.sock"):
    """dhpd's command line for a test: always --root ROOT and a --socket
    inside ROOT.  A test never starts dhpd on the default socket (the
    host's, under /run): scripts/check-test-paths.sh refuses a
    test that builds dhpd's argv by hand."""
    path = os.path.join(root, sock)
    if os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) != os.path.realpath(root):
        raise ValueError("dhpd socket %s outside the test's directory %s" % (path, root))
    return [dhpd, "--root", root, "--socket", path] + list(args)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def read(root, rel):
    with open(os.path.join(root, rel)) as f:
        return f.read().strip()


def make_tree(root, cgroup=None):
    """cpu0-1 online of 8 possible, 8 blocks of 128 MiB online, meminfo,
    and optionally a cgroup v2 group with cpuset.cpus 0-1."""
    write(root, "sys/devices/system/cpu/possible", "0-7\n")
    write(root, "sys/devices/system/cpu/present", "0-1\n")
    write(root, "sys/devices/system/cpu/online", "0-1\n")
    os.makedirs(os.path.join(root, "sys/devices/system/cpu/cpu0"), exist_ok=True)
    write(root, "sys/devices/system/cpu/cpu1/online", "1\n")
    write(root, "sys/devices/system/memory/block_size_bytes", "8000000\n")
    write(root, "sys/devices/system/memory/auto_online_blocks", "offline\n")
    for b in range(8):
        write(root, "sys/devices/system/memory/memory%d/state" % b, "online\n")
        write(root, "sys/devices/system/memory/memory%d/phys_index" % b, "%08x\n" % b)
    if cgroup:
        write(root, "sys/fs/cgroup/%s/cpuset.cpus" % cgroup, "0-1\n")
    write(root, "proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 524288 kB\n"
                                "CommitLimit: 1048576 kB\nCommitted_AS: 102400 kB\n")
    write(root, "proc/cmdline", "console=ttyS0\n")
