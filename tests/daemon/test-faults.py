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
managed cgroup.  Every wait is on an event (a log line, process exit).

A client process (resync-client.c) is connected at every kill, with a
synchronous registration: after the restart it reconnects, and its view
of the processors (what its callbacks were told) must be dhpd's
(doc/model.md D36), every ADD_START of cpu2 closed by one ADD_COMPLETE or
ADD_FAILURE (R1), and its arrival registration hears of cpu2 once, after
ADD_COMPLETE (R12, R15).  Two more kill points are the client's: dhpd killed
while the client is inside ADD_START or ADD_COMPLETE for cpu2 (it holds
the callback until told); and a client that vetoes the add, with dhpd
killed around the offline write that sends the processor back."""
import os, socket, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import Lines, read, uevent, write  # noqa: E402

DHPD = sys.argv[1]
CLIENT = sys.argv[2] if len(sys.argv) > 2 else None
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


class Client:
    """resync-client.c on dhpd's socket in `root`."""

    def __init__(self, root, args):
        self.p = subprocess.Popen([CLIENT, os.path.join(root, "dhpd.sock")] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.out = Lines(self.p.stdout)

    def wait_line(self, needle, timeout=10.0):
        return self.out.wait_line(needle, timeout)

    def release(self):
        try:
            self.p.stdin.write(b"release\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()

    def events(self, index):
        """The callbacks' states for processor `index`, in order."""
        out = []
        for line in self.out.lines:
            w = line.split()
            if len(w) == 4 and w[0] == "EV" and w[2] == str(index):
                out.append(w[1])
        return out


def closed_pairs(states):
    """R1: each ADD_START closed by exactly one ADD_COMPLETE or ADD_FAILURE,
    and nothing else."""
    open_ = False
    for st in states:
        if st == "ADD_START":
            if open_:
                return False
            open_ = True
        elif not open_:
            return False
        else:
            open_ = False
    return not open_


def check_client_view(c, kind, fault, root):
    """After the restart: the client reconnected, its view is dhpd's."""
    name = "%s %s" % (kind, fault)
    check(c.wait_line("LOST") is not None, "%s: the client saw the loss" % name)
    dhpd_line = c.wait_line("DHPD ", timeout=30.0)
    check(dhpd_line is not None, "%s: the client reconnected (%r)" % (name, c.out.lines[-3:]))
    if dhpd_line is None:
        return
    view = [line for line in c.out.lines if line.startswith("VIEW ")][-1][5:]
    dhpd = dhpd_line[5:]
    check(view == dhpd, "%s: the client's view of the processors (%s) is dhpd's (%s); callbacks %s"
          % (name, view, dhpd, c.events(2)))
    check(closed_pairs(c.events(2)), "%s: every ADD_START of cpu2 closed once (%s)" % (name, c.events(2)))
    cpus = read(root, "sys/fs/cgroup/app.slice/cpuset.cpus")
    admitted = "2" in dhpd.split(",")
    check(admitted == (cpus in ("0-2", "0,1,2")),
          "%s: dhpd's admitted set (%s) matches app.slice (%s)" % (name, dhpd, cpus))
    # The arrival registration: cpu2's ARRIVAL once if admitted (R15 across
    # the restart), after its ADD_COMPLETE (R12); none otherwise.
    if admitted:
        c.wait_line("AR ARRIVAL cpu2", timeout=5.0)
    else:
        c.wait_line("AR ", timeout=0.3)
    lines = c.out.lines
    arrivals = [i for i, line in enumerate(lines) if line == "AR ARRIVAL cpu2"]
    completes = [i for i, line in enumerate(lines) if line.startswith("EV ADD_COMPLETE 2 ")]
    check(len(arrivals) == (1 if admitted else 0), "%s: cpu2 arrived %d times (%s)" % (name, len(arrivals), lines))
    check(not arrivals or (completes and completes[-1] < arrivals[0]),
          "%s: cpu2's ARRIVAL after its ADD_COMPLETE" % name)
    check(not [line for line in lines if line.startswith("AR ") and line != "AR ARRIVAL cpu2"],
          "%s: no other arrival or removal (%s)" % (name, [x for x in lines if x.startswith("AR ")]))


def run_step(kind, fault, expect_path):
    """One transaction killed at `fault`, then a restart: returns nothing,
    records checks.  kind cpu-hold: `fault` is the callback the client
    holds while the test kills dhpd; cpu-veto: the client vetoes."""
    hold = fault.split(":", 1)[1] if kind == "cpu-hold" else None
    cpu = kind.startswith("cpu")
    with tempfile.TemporaryDirectory(prefix="dhpd-fault-") as root:
        make_tree(root)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        d = faketree.Daemon(DHPD, root, theirs, None if hold else fault)
        c = None
        try:
            check(d.wait_line("ready (platform linux)") is not None, "%s %s: ready" % (kind, fault))
            if CLIENT:
                c = Client(root, ["--hold", hold] if hold else ["--veto-once"] if kind == "cpu-veto" else [])
                check(c.wait_line("REGISTERED") is not None, "%s %s: client registered" % (kind, fault))
            if cpu:
                write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
                write(root, "sys/devices/system/cpu/present", "0-2\n")
                uevent(ours, "add", "/devices/system/cpu/cpu2", "cpu", 1)
            else:
                add_dimm(root, kind == "dimm-acpi")
                uevent(ours, "add", "/devices/system/memory/memory8", "memory", 1)
                uevent(ours, "add", "/devices/system/memory/memory9", "memory", 2)
            if hold:
                if c is None:
                    return
                check(c.wait_line("HELD") is not None, "%s %s: the client holds its callback" % (kind, fault))
                d.p.kill()
            else:
                killed = d.wait_line("fault injection: SIGKILL")
                check(killed is not None and expect_path in killed,
                      "%s %s: killed at the write of %s (%r)" % (kind, fault, expect_path, killed))
            rc = d.wait_exit()
            check(rc == -9, "%s %s: died of SIGKILL (rc %r)" % (kind, fault, rc))
            if hold:
                c.release()
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
        d = faketree.Daemon(DHPD, root, theirs2)
        try:
            check(d.wait_line("ready (platform linux)") is not None, "%s %s: ready after restart" % (kind, fault))
            if kind in ("cpu", "cpu-hold") and fault != "before:1":
                check(d.wait_line("cpu2: its transaction was interrupted") is not None,
                      "%s %s: restart reports the interrupted transaction" % (kind, fault))
                check(d.wait_line("cpu2: online and admitted") is not None,
                      "%s %s: restart reruns it to admission" % (kind, fault))
            if kind in ("cpu", "cpu-hold"):
                check(read(root, "sys/devices/system/cpu/cpu2/online") == "1",
                      "%s %s: cpu2 online after restart" % (kind, fault))
                cpus = read(root, "sys/fs/cgroup/app.slice/cpuset.cpus")
                check(cpus in ("0-2", "0,1,2"), "%s %s: cpu2 admitted into app.slice after restart (%s)"
                      % (kind, fault, cpus))
            elif not cpu:
                for b in (8, 9):
                    st = read(root, "sys/devices/system/memory/memory%d/state" % b)
                    check(st in ("online", "online_movable"),
                          "%s %s: memory%d online after restart (%s)" % (kind, fault, b, st))
            if c:
                check_client_view(c, kind, fault, root)
            figures.append("%s %s" % (kind, fault))
        finally:
            d.stop()
            if c:
                c.stop()


def main():
    steps = {
        # cpuN/online is write 1, the cgroup's cpuset.cpus write 2.
        "cpu": [("before:1", "cpu2/online"), ("after:1", "cpu2/online"),
                ("before:2", "app.slice/cpuset.cpus"), ("after:2", "app.slice/cpuset.cpus")],
        "dimm-acpi": [("before:1", "memory8/state"), ("after:1", "memory8/state"),
                      ("before:2", "memory9/state"), ("after:2", "memory9/state")],
        "dimm-run": [("before:1", "memory8/state"), ("after:1", "memory8/state"),
                     ("before:2", "memory9/state"), ("after:2", "memory9/state")],
        # The client's kill points (it holds the callback while dhpd is
        # killed), and a vetoed add killed around its offline write.
        "cpu-hold": [("hold:ADD_START", None), ("hold:ADD_COMPLETE", None)],
        "cpu-veto": [("before:2", "cpu2/online"), ("after:2", "cpu2/online")],
    }
    if not CLIENT:
        del steps["cpu-hold"], steps["cpu-veto"]
    for kind, lst in steps.items():
        for fault, path in lst:
            run_step(kind, fault, path)
    print("%d kills survived: %s" % (len(figures), ", ".join(figures)))
    return check.summary()


sys.exit(main())
