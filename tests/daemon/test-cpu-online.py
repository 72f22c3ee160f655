#!/usr/bin/env python3
"""CPU_ONLINE on dhpd's Linux platform, against a fake sysfs tree (issue 17
item 9): a processor left offline by policy is started by `dhpctl cpu
online N`, the transaction runs on dhpd's hotplug thread inside its crash
marker, and the refusals say why.  dhpd's socket is in the temporary tree;
every wait is bounded and on an event (a log line or a process exit)."""
import os, select, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import dhpd_argv, make_tree, read, write  # noqa: E402

DHPD, DHPCTL = sys.argv[1], sys.argv[2]
check = faketree.Checks()


def wait_line(p, state, needle, timeout=10.0):
    """Wait for a stderr line of p containing needle; return it or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        while b"\n" in state["buf"]:
            line, state["buf"] = state["buf"].split(b"\n", 1)
            if needle in line.decode(errors="replace"):
                return line.decode(errors="replace")
        r, _, _ = select.select([p.stderr], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(p.stderr.fileno(), 65536)
        if not chunk:
            break
        state["buf"] += chunk
    return None


def dhpctl(sock, *args):
    return subprocess.run([DHPCTL, "--socket", sock] + list(args), capture_output=True, text=True, timeout=30)


def main():
    with tempfile.TemporaryDirectory(prefix="dhpd-online-") as root:
        make_tree(root)
        write(root, "dhpd.conf", "[cpu]\nonline = no\n")
        sock = os.path.join(root, "dhpd.sock")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = subprocess.Popen(dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(theirs.fileno()),
                                       "--config", os.path.join(root, "dhpd.conf"), "--log-level", "debug"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=[theirs.fileno()])
        st = {"buf": b""}
        try:
            check(wait_line(p, st, "ready (platform linux)") is not None, "dhpd ready")
            write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
            write(root, "sys/devices/system/cpu/present", "0-2\n")
            ours.send(b"add@/devices/system/cpu/cpu2\0ACTION=add\0DEVPATH=/devices/system/cpu/cpu2\0"
                      b"SUBSYSTEM=cpu\0SEQNUM=1\0")
            check(wait_line(p, st, "cpu2: present, left offline by policy") is not None, "cpu2 left offline")

            r = dhpctl(sock, "cpu", "online", "2")
            check(r.returncode == 0 and "cpu2 admitted" in r.stdout, "dhpctl cpu online 2: %r" % (r,))
            check(wait_line(p, st, "cpu2: online on request, admitted") is not None, "logged by the platform")
            check(read(root, "sys/devices/system/cpu/cpu2/online") == "1", "cpu2 online written")
            # The crash marker was taken and removed (a mark left would make
            # the next dhpd run the transaction again).
            check(not os.path.exists(os.path.join(root, "run/dhp/cpu-txn-2")), "no crash marker left")

            r = dhpctl(sock, "cpu", "online", "2")
            check(r.returncode == 1 and "admitted already" in r.stderr, "admitted already: %r" % (r,))
            # The model has the slots of the processors seen so far.
            r = dhpctl(sock, "cpu", "online", "5")
            check(r.returncode == 1 and "no such processor slot" in r.stderr, "past the slots: %r" % (r,))
            r = dhpctl(sock, "status")
            check(r.returncode == 0 and "cpu2    admitted" in r.stdout, "status: %r" % (r,))

            p.terminate()
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, "SIGTERM: clean exit (rc %r)" % rc)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
