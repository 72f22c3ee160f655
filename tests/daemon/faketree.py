"""The fake sysfs/procfs tree and the bookkeeping shared by the process
tests of dhpd (test-dhpd.py, test-faults.py)."""
import os
import select
import subprocess
import time


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


class Lines:
    """The lines of a child's pipe, waited for by content."""

    def __init__(self, f):
        self.f = f
        self.buf = b""
        self.lines = []

    def wait_line(self, needle, timeout=10.0, start=0):
        """The first line from `start` on that contains `needle`, or None
        after `timeout` s.  Every complete line read is kept, also those
        read after the one returned."""
        end = time.monotonic() + timeout
        seen = start
        while True:
            for line in self.lines[seen:]:
                if needle in line:
                    return line
            seen = max(seen, len(self.lines))
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.f], [], [], left)
            if not r:
                return None
            chunk = os.read(self.f.fileno(), 65536)
            if not chunk:
                return None
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                self.lines.append(line.decode(errors="replace"))


class Daemon:
    """dhpd --platform linux on the fake tree in `root`, its uevents from
    `sock`, its log on stderr (wait_line); `fault`: DHP_FAULT_KILL_AT."""

    def __init__(self, dhpd, root, sock, fault=None, socket_rel="dhpd.sock"):
        env = dict(os.environ)
        env.pop("DHP_FAULT_KILL_AT", None)
        if fault:
            env["DHP_FAULT_KILL_AT"] = fault
        self.p = subprocess.Popen(
            dhpd_argv(dhpd, root, "--foreground", "--uevent-fd", str(sock.fileno()),
                      "--config", os.path.join(root, "dhpd.conf"), "--log-level", "debug", sock=socket_rel),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=[sock.fileno()], env=env)
        self.out = Lines(self.p.stderr)
        self.lines = self.out.lines

    def wait_line(self, needle, timeout=10.0):
        return self.out.wait_line(needle, timeout)

    def wait_exit(self, timeout=10.0):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            if self.wait_exit() is None:
                self.p.kill()
                self.p.wait()


def uevent(sock, action, devpath, subsystem, seq):
    msg = "%s@%s\0ACTION=%s\0DEVPATH=%s\0SUBSYSTEM=%s\0SEQNUM=%d\0" % (
        action, devpath, action, devpath, subsystem, seq)
    sock.send(msg.encode())
