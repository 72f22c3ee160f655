#!/usr/bin/env python3
"""The restart of dhpd as systemd performs it, against a fake root: do the
crash markers (/run/dhp/cpu-txn-N) survive when they must?

systemd creates RuntimeDirectory= (/run/dhp) before ExecStart= and, by
RuntimeDirectoryPreserve= (systemd.exec(5)), removes it when the service
stops: `no` (the default) at every stop, the automatic restart of
Restart= included; `restart` at a stop that is not a restart (automatic
or `systemctl restart`); `yes` never (tmpfs: a reboot clears it).  The
tmpfiles.d entry creates it at boot and must not clean it.

This test reads those settings from the built unit and replays three
sequences on a fake sysfs tree, each with dhpd killed (SIGKILL) right
after it onlined a hot-added cpu2, before admission (the marker exists,
the processor is online, app.slice's cpuset.cpus lacks it):
  auto-restart    the crash, then Restart=on-failure starts dhpd again;
  stop-start      the crash (a stop whose SIGTERM timed out), then a later
                  `systemctl start`;
  manual-restart  `systemctl restart` of the crashed unit.
After each, cpu2 must be admitted (in app.slice's cpuset.cpus): only the
marker tells the new dhpd that the online processor was never admitted.
The same sequences with RuntimeDirectoryPreserve=no show the defect the
setting prevents (issue 18, item 4): cpu2 stays out of app.slice.

    test-unit-restart.py DHPD UNIT TMPFILES_CONF
"""
import os, shutil, socket, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import read, uevent, write  # noqa: E402

DHPD, UNIT, TMPFILES = sys.argv[1:4]
check = faketree.Checks()
SOCK = "run/dhp/dhpd.sock"  # the default socket, under the fake root


def unit_service(path):
    """The [Service] settings of the unit, last assignment wins."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


class Systemd:
    """The part of systemd's service manager that touches RuntimeDirectory=."""

    def __init__(self, root, svc, preserve):
        self.root = root
        self.dirs = svc.get("RuntimeDirectory", "").split()
        self.mode = int(svc.get("RuntimeDirectoryMode", "0755"), 8)
        self.preserve = preserve
        self.restart = svc.get("Restart", "no")
        self.daemon = None
        self.uevents = None
        self.fault = None

    def start(self):
        for d in self.dirs:
            path = os.path.join(self.root, "run", d)
            os.makedirs(path, exist_ok=True)
            os.chmod(path, self.mode)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.uevents = ours
        self.daemon = faketree.Daemon(DHPD, self.root, theirs, self.fault, socket_rel=SOCK)
        theirs.close()
        self.fault = None
        return self.daemon.wait_line("ready (platform linux)") is not None

    def stopped(self, restarting):
        """The unit's main process is gone: clean up as systemd does."""
        self.daemon.stop()
        keep = self.preserve == "yes" or (self.preserve == "restart" and restarting)
        for d in self.dirs:
            if not keep:
                shutil.rmtree(os.path.join(self.root, "run", d), ignore_errors=True)

    def auto_restarts_after_sigkill(self):
        return self.restart in ("on-failure", "on-abnormal", "always")


def hot_add_and_crash(sd, root):
    """cpu2 hot-added; dhpd dies of SIGKILL right after onlining it."""
    write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
    write(root, "sys/devices/system/cpu/present", "0-2\n")
    uevent(sd.uevents, "add", "/devices/system/cpu/cpu2", "cpu", 1)
    killed = sd.daemon.wait_line("fault injection: SIGKILL")
    return killed is not None and "cpu2/online" in killed and sd.daemon.wait_exit() == -9


def run(sequence, svc, preserve):
    """One sequence; returns whether cpu2 ended up admitted."""
    name = "%s (RuntimeDirectoryPreserve=%s)" % (sequence, preserve)
    with tempfile.TemporaryDirectory(prefix="dhpd-unit-") as root:
        faketree.make_tree(root, cgroup="app.slice")
        # onlining = dhpd: no write of the kernel policy at start (the
        # fault counts writes from the first).
        write(root, "dhpd.conf", "[cpu]\ncgroup = app.slice\n[memory]\nonlining = dhpd\n")
        sd = Systemd(root, svc, preserve)
        sd.fault = "after:1"  # cpu2/online is the first write
        try:
            check(sd.start(), "%s: ready" % name)
            check(hot_add_and_crash(sd, root), "%s: killed after onlining cpu2" % name)
            check(os.path.exists(os.path.join(root, "run/dhp/cpu-txn-2")), "%s: the marker is written" % name)
            if sequence == "auto-restart":
                check(sd.auto_restarts_after_sigkill(), "%s: Restart=%s restarts after SIGKILL" % (name, sd.restart))
                sd.stopped(restarting=True)
            elif sequence == "stop-start":
                sd.stopped(restarting=False)
            else:
                sd.stopped(restarting=True)
            check(sd.start(), "%s: ready after the restart (stale socket or none)" % name)
            cpus = read(root, "sys/fs/cgroup/app.slice/cpuset.cpus")
            check(read(root, "sys/devices/system/cpu/cpu2/online") == "1", "%s: cpu2 online" % name)
            return cpus in ("0-2", "0,1,2")
        finally:
            if sd.daemon:
                sd.daemon.stop()


def main():
    svc = unit_service(UNIT)
    preserve = svc.get("RuntimeDirectoryPreserve", "no")
    check("dhp" in svc.get("RuntimeDirectory", "").split(), "the unit's RuntimeDirectory= is dhp (%r)"
          % svc.get("RuntimeDirectory"))
    # The tmpfiles.d entry creates /run/dhp at boot; D, R, or an age would
    # empty it on `systemd-tmpfiles --remove/--clean`.
    with open(TMPFILES) as f:
        entries = [line.split() for line in f if line.strip() and not line.startswith("#")]
    for e in entries:
        if len(e) >= 2 and e[1] == "/run/dhp":
            check(e[0] == "d" and (len(e) < 7 or e[6] == "-"),
                  "tmpfiles.d: /run/dhp created, never cleaned (%s)" % " ".join(e))
    for sequence in ("auto-restart", "stop-start", "manual-restart"):
        admitted = run(sequence, svc, preserve)
        check(admitted, "%s with the unit's RuntimeDirectoryPreserve=%s: cpu2 admitted after the restart"
              % (sequence, preserve))
    # The control: without the setting the marker is lost and cpu2, online,
    # is taken for an existing processor that needs no admission.
    lost = [s for s in ("auto-restart", "stop-start", "manual-restart") if not run(s, svc, "no")]
    check(lost == ["auto-restart", "stop-start", "manual-restart"],
          "the control (RuntimeDirectoryPreserve=no) loses the marker in every sequence (lost in %s)" % lost)
    return check.summary()


sys.exit(main())
