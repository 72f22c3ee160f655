#!/usr/bin/env python3
"""An idle dhpd on a fake tree (bench-idle's claim, as a test).  With no
state file and no client subscribed to a memory condition, dhpd does not
wake at all, even with poll_interval = 1s; a client's subscription finds
the conditions as they are now (re-read, not as they were at start) and
the slow timer runs from then on, until the last subscriber leaves; with
the state file on, the timer runs from the start (its readers cannot be
known).  Wake-ups are the context switches of every thread of dhpd."""
import grp
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import Lines, dhpd_argv, make_tree, write  # noqa: E402

DHPD, CLIENT = sys.argv[1], sys.argv[2]
check = faketree.Checks()
WINDOW = 2.5  # seconds: two ticks of the 1 s timer, or none


def switches(pid):
    n = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return n


def wakes(pid):
    time.sleep(0.3)  # what came before settles
    a = switches(pid)
    time.sleep(WINDOW)
    return switches(pid) - a


def meminfo(root, available_kb):
    write(root, "proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: %d kB\n"
                                "CommitLimit: 1048576 kB\nCommitted_AS: 102400 kB\n" % available_kb)


class Dhpd:
    def __init__(self, root, *extra):
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.p = subprocess.Popen(dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(theirs.fileno()),
                                            "--config", os.path.join(root, "dhpd.conf"), *extra),
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=[theirs.fileno()])
        theirs.close()
        check(Lines(self.p.stdout).wait_line("READY") is not None, "dhpd says READY")

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.ours.close()


def setup(tmp, name):
    root = os.path.join(tmp, name)
    make_tree(root)
    write(root, "dhpd.conf", "[daemon]\ngroup = %s\n[memory]\npoll_interval = 1s\n" % grp.getgrgid(os.getgid()).gr_name)
    return root


def no_state_file(tmp):
    root = setup(tmp, "quiet")
    d = Dhpd(root, "--state-dir", "")
    n = wakes(d.p.pid)
    check(n == 0, "no state file, no subscriber: no wake-up in %.1f s (%d)" % (WINDOW, n))
    # Memory runs low while nobody listens: not seen yet, but a subscriber
    # gets it at once, not at the next tick.
    meminfo(root, 4096)
    time.sleep(1.5)
    c = subprocess.Popen([CLIENT, os.path.join(root, "dhpd.sock"), "LowMemoryCondition"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = Lines(c.stdout)
    first = out.wait_line("STATE")
    check(first == "STATE 1", "a subscriber after the pause finds LowMemoryCondition set: %s" % first)
    n = wakes(d.p.pid)
    check(n >= 2, "with a subscriber the 1 s timer runs: %d wake-ups in %.1f s" % (n, WINDOW))
    meminfo(root, 524288)
    check(out.wait_line("STATE 0", timeout=5.0) is not None, "the timer clears LowMemoryCondition")
    c.terminate()
    c.wait()
    time.sleep(1.2)  # the tick already armed, at most
    n = wakes(d.p.pid)
    check(n == 0, "the last subscriber gone: no wake-up in %.1f s (%d)" % (WINDOW, n))
    d.stop()


def state_file(tmp):
    root = setup(tmp, "statefile")
    d = Dhpd(root)
    n = wakes(d.p.pid)
    check(n >= 2, "the state file on: the 1 s timer runs (%d wake-ups in %.1f s)" % (n, WINDOW))
    meminfo(root, 4096)
    end = time.monotonic() + 5.0
    text = ""
    while time.monotonic() < end and "LowMemoryCondition=1" not in text:
        time.sleep(0.1)
        with open(os.path.join(root, "run/dhp/state")) as f:
            text = f.read()
    check("LowMemoryCondition=1" in text, "the state file shows low memory from the timer")
    d.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="dhpd-idle-") as tmp:
        no_state_file(tmp)
        state_file(tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
