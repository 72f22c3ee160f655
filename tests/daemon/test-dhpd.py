#!/usr/bin/env python3
"""dhpd end to end against a fake sysfs tree: uevents in the kernel's wire
format through an inherited socket, what dhpd writes to sysfs, how it logs,
SIGHUP with a bad configuration, SIGTERM.  Every wait is bounded and on an
event (a log line), never a sleep."""
import os, select, signal, socket, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import dhpd_argv, make_tree, read, write  # noqa: E402

DHPD = sys.argv[1]
check = faketree.Checks()


class Daemon:
    def __init__(self, root, conf, sock):
        self.p = subprocess.Popen(
            dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(sock.fileno()),
                      "--config", conf, "--log-level", "debug"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=[sock.fileno()])
        self.buf = b""
        self.lines = []

    def wait_line(self, needle, timeout=10.0):
        """Wait for a stderr line containing needle; return it or None."""
        end = time.monotonic() + timeout
        # Complete lines already read come first.
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.lines.append(line.decode(errors="replace"))
        for line in self.lines:
            if needle in line:
                self.lines.remove(line)
                return line
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stderr], [], [], end - time.monotonic())
            if not r:
                break
            chunk = os.read(self.p.stderr.fileno(), 65536)
            if not chunk:
                break
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if needle in text:
                    return text
                self.lines.append(text)
        return None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


seq = 0


def uevent(sock, action, devpath, subsystem):
    global seq
    seq += 1
    msg = "%s@%s\0ACTION=%s\0DEVPATH=%s\0SUBSYSTEM=%s\0SEQNUM=%d\0" % (
        action, devpath, action, devpath, subsystem, seq)
    sock.send(msg.encode())


def main():
    with tempfile.TemporaryDirectory(prefix="dhpd-test-") as root:
        make_tree(root)
        conf = os.path.join(root, "dhpd.conf")
        write(root, "dhpd.conf", "[memory]\nonline_policy = movable\n")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        d = Daemon(root, conf, theirs)
        try:
            ready = d.wait_line("ready (platform linux)")
            check(ready is not None, "dhpd ready")

            # A CPU is hot-added: dhpd onlines it and admits it.
            write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
            write(root, "sys/devices/system/cpu/present", "0-2\n")
            uevent(ours, "add", "/devices/system/cpu/cpu2", "cpu")
            check(d.wait_line("cpu2: online and admitted") is not None, "cpu2 admitted")
            check(read(root, "sys/devices/system/cpu/cpu2/online") == "1", "cpu2 online written")

            # A 2-block memory device, no firmware node: one run, onlined movable.
            for b in (8, 9):
                write(root, "sys/devices/system/memory/memory%d/state" % b, "offline\n")
                write(root, "sys/devices/system/memory/memory%d/phys_index" % b, "%08x\n" % b)
            for b in (8, 9):
                uevent(ours, "add", "/devices/system/memory/memory%d" % b, "memory")
            check(d.wait_line("blocks 8-9") is not None, "memory device grouped")
            check(d.wait_line("block 9") is not None, "block 9 onlined")
            check(read(root, "sys/devices/system/memory/memory9/state") == "online_movable", "block 9 movable")

            # Malformed input: logged, the daemon keeps running.
            ours.send(b"garbage without structure")
            check(d.wait_line("ignored a malformed uevent") is not None, "malformed uevent logged")

            # SIGHUP with a broken configuration: an error naming file:line,
            # the running configuration stays, the daemon keeps running.
            write(root, "dhpd.conf", "[memory]\nonline_policy = sideways\n")
            d.p.send_signal(signal.SIGHUP)
            err = d.wait_line("dhpd.conf:2: online_policy")
            check(err is not None, "bad config reported with file:line on SIGHUP")
            kept = d.wait_line("configuration not reloaded")
            check(kept is not None, "old configuration kept: %r" % d.lines[-5:])

            write(root, "sys/devices/system/cpu/cpu3/online", "0\n")
            write(root, "sys/devices/system/cpu/present", "0-3\n")
            uevent(ours, "add", "/devices/system/cpu/cpu3", "cpu")
            check(d.wait_line("cpu3: online and admitted") is not None, "still serving after SIGHUP")

            # SIGHUP with a valid configuration applies the onlining
            # policy at once: with [cpu] online = no, a new processor is
            # left offline (and notified of nothing).
            write(root, "dhpd.conf", "[cpu]\nonline = no\n[memory]\nonline_policy = movable\n")
            d.p.send_signal(signal.SIGHUP)
            check(d.wait_line("onlining policies and managed cgroups reloaded") is not None, "policies reloaded")
            write(root, "sys/devices/system/cpu/cpu4/online", "0\n")
            write(root, "sys/devices/system/cpu/present", "0-4\n")
            uevent(ours, "add", "/devices/system/cpu/cpu4", "cpu")
            check(d.wait_line("cpu4: present, left offline by policy") is not None, "cpu4 left offline after reload")
            check(read(root, "sys/devices/system/cpu/cpu4/online") == "0", "cpu4 online not written")

            d.p.send_signal(signal.SIGTERM)
            try:
                rc = d.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, "SIGTERM: clean exit (rc %r)" % rc)
        finally:
            d.stop()

        # Under a service manager (Type=notify): READY=1 on $NOTIFY_SOCKET,
        # nothing on stdout, STOPPING=1 at SIGTERM.
        write(root, "dhpd.conf", "[memory]\nonline_policy = movable\n")
        # What a kernel shows after onlining: "online", whatever zone was asked.
        for b in (8, 9):
            write(root, "sys/devices/system/memory/memory%d/state" % b, "online\n")
        nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        npath = os.path.join(root, "notify.sock")
        nsock.bind(npath)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, NOTIFY_SOCKET=npath)
        p = subprocess.Popen(dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(theirs.fileno()),
                                       "--config", conf, sock="n.sock"),
                             stdout=subprocess.PIPE, stderr=open(os.path.join(root, "notify-dhpd.err"), "w"),
                             pass_fds=[theirs.fileno()], env=env)
        try:
            r, _, _ = select.select([nsock], [], [], 10)
            msg = nsock.recv(4096).decode() if r else ""
            check(msg.startswith("READY=1"), "sd_notify READY=1 (got %r): %s" % (msg, open(os.path.join(root, "notify-dhpd.err")).read()[-600:]))
            p.send_signal(signal.SIGTERM)
            r, _, _ = select.select([nsock], [], [], 10)
            msg = nsock.recv(4096).decode() if r else ""
            check(msg == "STOPPING=1", "sd_notify STOPPING=1 (got %r)" % msg)
            out, _ = p.communicate(timeout=10)
            check(b"READY" not in out, "no READY on stdout under a service manager")
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()

        # A bad configuration at start: refuses to start, says where.
        write(root, "bad.conf", "[cpu]\nonline = perhaps\n")
        p = subprocess.run(dhpd_argv(DHPD, root, "--foreground", "--config", os.path.join(root, "bad.conf")),
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == 1 and "bad.conf:2: online: expected yes or no" in p.stderr,
              "bad config at start: %r" % p.stderr)

    return check.summary()


sys.exit(main())
