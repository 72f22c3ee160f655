#!/usr/bin/env python3
"""Crash recovery of dhpd: SIGKILL at every step of a processor and of a
DIMM transaction, then a restart on the same fake sysfs tree.

dhpd is started with DHP_FAULT_KILL_AT=before:N or after:N (a test-only hook
in dhpd.c), which makes it kill itself right before or after its Nth sysfs
write.  For a processor the writes are cpuN/online then the managed cgroup's
cpuset.cpus (admission); for a two-block DIMM, memory8/state then
memory9/state.  Each step is checked: the kill happened where asked (the
log names the write), and after a restart without the hook no processor or
block is offline that the policy says online, and the processor is in the
managed cgroup.  Every wait is on an event (a log line, process exit)."""
import os, select, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import dhpd_argv, read, write  # noqa: E402

DHPD = sys.argv[1]
check = faketree.Checks()
figures = []


def make_tree(root):
    faketree.make_tree(root, cgroup="app.slice")
    write(root, "dhpd.conf", "[cpu]\ncgroup = app.slice\n[memory]\nonline_policy = movable\n"
          "onlining = dhpd\n")  # counts dhpd's own block writes


def add_dimm(root, acpi):
    """Blocks 8-9 appear offline; with acpi, bound to PNP0C80:00 as
    acpi_bind_one() links them."""
    for b in (8, 9):
        write(root, "sys/devices/system/memory/memory%d/state" % b, "offline\n")
        write(root, "sys/devices/system/memory/memory%d/phys_index" % b, "%08x\n" % b)
    if acpi:
        dev = os.path.join(root, "sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A06:00/PNP0C80:00")
        os.makedirs(dev, exist_ok=True)
        os.makedirs(os.path.join(root, "sys/bus/acpi/devices"), exist_ok=True)
        os.symlink(dev, os.path.join(root, "sys/bus/acpi/devices/PNP0C80:00"))
        for i, b in enumerate((8, 9)):
            blk = os.path.join(root, "sys/devices/system/memory/memory%d" % b)
            os.symlink(blk, os.path.join(dev, "physical_node" + (str(i) if i else "")))
            os.symlink(dev, os.path.join(blk, "firmware_node"))


class Daemon:
    def __init__(self, root, sock, fault=None):
        env = dict(os.environ)
        env.pop("DHP_FAULT_KILL_AT", None)
        if fault:
            env["DHP_FAULT_KILL_AT"] = fault
        self.p = subprocess.Popen(
            dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(sock.fileno()),
                      "--config", os.path.join(root, "dhpd.conf"), "--log-level", "debug"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=[sock.fileno()], env=env)
        self.buf = b""
        self.lines = []

    def wait_line(self, needle, timeout=10.0):
        end = time.monotonic() + timeout
        for line in self.lines:
            if needle in line:
                return line
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stderr], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            chunk = os.read(self.p.stderr.fileno(), 65536)
            if not chunk:
                break
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                self.lines.append(text)
                if needle in text:
                    return text
        return None

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


def run_step(kind, fault, expect_path):
    """One transaction killed at `fault`, then a restart: returns nothing,
    records checks."""
    with tempfile.TemporaryDirectory(prefix="dhpd-fault-") as root:
        make_tree(root)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        d = Daemon(root, theirs, fault)
        try:
            check(d.wait_line("ready (platform linux)") is not None, "%s %s: ready" % (kind, fault))
            if kind == "cpu":
                write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
                write(root, "sys/devices/system/cpu/present", "0-2\n")
                uevent(ours, "add", "/devices/system/cpu/cpu2", "cpu", 1)
            else:
                add_dimm(root, kind == "dimm-acpi")
                uevent(ours, "add", "/devices/system/memory/memory8", "memory", 1)
                uevent(ours, "add", "/devices/system/memory/memory9", "memory", 2)
            killed = d.wait_line("fault injection: SIGKILL")
            check(killed is not None and expect_path in killed,
                  "%s %s: killed at the write of %s (%r)" % (kind, fault, expect_path, killed))
            rc = d.wait_exit()
            check(rc == -9, "%s %s: died of SIGKILL (rc %r)" % (kind, fault, rc))
        finally:
            d.stop()
        # The fake tree keeps what was written; the kernel reads back
        # "online" for a block onlined with online_movable/online_kernel.
        for b in (8, 9):
            rel = "sys/devices/system/memory/memory%d/state" % b
            if os.path.exists(os.path.join(root, rel)) and read(root, rel).startswith("online"):
                write(root, rel, "online\n")
        # The restart: no hook, same tree, a fresh uevent socket (the kernel's
        # events during the outage are gone; start-up resync must find it).
        ours2, theirs2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        d = Daemon(root, theirs2)
        try:
            check(d.wait_line("ready (platform linux)") is not None, "%s %s: ready after restart" % (kind, fault))
            if kind == "cpu" and fault != "before:1":
                check(d.wait_line("cpu2: its transaction was interrupted") is not None,
                      "%s %s: restart reports the interrupted transaction" % (kind, fault))
                check(d.wait_line("cpu2: online and admitted") is not None,
                      "%s %s: restart reruns it to admission" % (kind, fault))
            if kind == "cpu":
                check(read(root, "sys/devices/system/cpu/cpu2/online") == "1",
                      "%s %s: cpu2 online after restart" % (kind, fault))
                cpus = read(root, "sys/fs/cgroup/app.slice/cpuset.cpus")
                check(cpus in ("0-2", "0,1,2"), "%s %s: cpu2 admitted into app.slice after restart (%s)"
                      % (kind, fault, cpus))
            else:
                for b in (8, 9):
                    st = read(root, "sys/devices/system/memory/memory%d/state" % b)
                    check(st in ("online", "online_movable"),
                          "%s %s: memory%d online after restart (%s)" % (kind, fault, b, st))
            figures.append("%s %s" % (kind, fault))
        finally:
            d.stop()


def main():
    steps = {
        # cpuN/online is write 1, the cgroup's cpuset.cpus write 2.
        "cpu": [("before:1", "cpu2/online"), ("after:1", "cpu2/online"),
                ("before:2", "app.slice/cpuset.cpus"), ("after:2", "app.slice/cpuset.cpus")],
        "dimm-acpi": [("before:1", "memory8/state"), ("after:1", "memory8/state"),
                      ("before:2", "memory9/state"), ("after:2", "memory9/state")],
        "dimm-run": [("before:1", "memory8/state"), ("after:1", "memory8/state"),
                     ("before:2", "memory9/state"), ("after:2", "memory9/state")],
    }
    for kind, lst in steps.items():
        for fault, path in lst:
            run_step(kind, fault, path)
    print("%d kills survived: %s" % (len(figures), ", ".join(figures)))
    return check.summary()


sys.exit(main())
