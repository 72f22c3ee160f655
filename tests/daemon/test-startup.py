#!/usr/bin/env python3
"""How dhpd starts, as a person types it (issue 20): the simulator's
options refused without --platform sim; in the background, the shell's
dhpd returns once the socket listens, with the daemon's status, and every
error before readiness on stderr (there is no syslog to lose it to: /dev/log
is hidden when the machine has one); the log's <N> priorities for the
journal; client connects at debug only; the wall-clock time of each record
in `dhpctl monitor` and on the wire (RECORD_RT to a 1.3 client, RECORD_EXT
to an older one); irqbalance on a fake tree, and which interrupts each of
the two moves under [rebalance] irqbalance.  Every wait is bounded."""
import datetime, json, os, re, select, signal, socket, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402
from faketree import dhpd_argv, make_tree, read, write  # noqa: E402

DHPD, DHPCTL = sys.argv[1], sys.argv[2]
check = faketree.Checks()
TIMEOUT = 20


def no_syslog(argv):
    """argv run where syslog() reaches nothing: as is when there is no
    /dev/log, else in a mount namespace with /dev/null over it."""
    if not os.path.exists("/dev/log"):
        return argv
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare"):
        return argv
    return ["unshare", "-m", "sh", "-c", 'mount --bind /dev/null /dev/log && exec "$@"', "sh"] + argv


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def pids_of(sock):
    """The dhpd processes serving sock (their command line names it)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"dhpd" and sock.encode() in args:
            found.append(int(p))
    return found


def stop(sock):
    pids = pids_of(sock)
    for p in pids:
        os.kill(p, signal.SIGTERM)
    end = time.monotonic() + TIMEOUT
    while pids_of(sock) and time.monotonic() < end:
        time.sleep(0.02)
    return not pids_of(sock)


def sim_options_need_sim(tmp):
    """Item 1: --sim and --scenario without --platform sim never reach
    the real machine."""
    for argv, opt in ((["--sim", "cpus=2"], "--sim"), (["--scenario", "x.scenario"], "--scenario"),
                      (["--platform", "linux", "--sim", "cpus=2"], "--sim")):
        r = run(dhpd_argv(DHPD, tmp, "--foreground", "-c", "/dev/null", *argv, sock="s1.sock"))
        check(r.returncode == 2, "%s without --platform sim: exit 2, got %d" % (opt, r.returncode))
        check("%s needs --platform sim" % opt in r.stderr and "dhpd --platform sim" in r.stderr,
              "%s refused with a hint: %r" % (opt, r.stderr))
        check("ready" not in r.stderr and not os.path.exists(tmp + "/s1.sock"), "%s: nothing started" % opt)


def background(tmp):
    """Item 2: `dhpd --platform sim --socket X; dhpctl --socket X status`
    succeeds every time; a second instance fails, loudly."""
    sock = tmp + "/bg.sock"
    sim = dhpd_argv(DHPD, tmp, "--platform", "sim", "-c", "/dev/null", sock="bg.sock")
    for i in range(8):
        r = run(no_syslog(sim))
        check(r.returncode == 0, "round %d: dhpd exit %d: %r" % (i, r.returncode, r.stderr))
        s = run([DHPCTL, "--socket", sock, "status"])
        check(s.returncode == 0 and "cpu0" in s.stdout, "round %d: status right after dhpd: %d %r" %
              (i, s.returncode, s.stderr))
        if i == 0:
            second = run(no_syslog(sim))
            check(second.returncode == 1, "second instance: exit 1, got %d" % second.returncode)
            check("another dhpd is running" in second.stderr,
                  "second instance's error on stderr: %r" % second.stderr)
            second = run(no_syslog(sim + ["--foreground"]))
            check(second.returncode == 1 and "another dhpd is running" in second.stderr,
                  "second instance in the foreground: %d %r" % (second.returncode, second.stderr))
        check(len(pids_of(sock)) == 1, "round %d: one daemon: %r" % (i, pids_of(sock)))
        check(stop(sock), "round %d: stopped" % i)

    # A failure after the fork, in the daemon: its message and its status.
    r = run(no_syslog(sim + ["--sim", "cpus=x"]))
    check(r.returncode == 1, "bad --sim after detaching: exit 1, got %d" % r.returncode)
    check("--sim: bad options" in r.stderr, "the daemon's error on the caller's stderr: %r" % r.stderr)
    check(not pids_of(sock), "nothing left running")


def dies_before_ready(tmp):
    """The daemon killed during its start-up resync (the fault injection
    of test-faults.py): the shell's dhpd says so and fails."""
    root = tmp + "/root"
    make_tree(root)
    write(root, "sys/devices/system/cpu/present", "0-2\n")
    write(root, "sys/devices/system/cpu/cpu2/online", "0\n")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r = subprocess.run(no_syslog(dhpd_argv(DHPD, root, "--uevent-fd", str(theirs.fileno()), "-c", "/dev/null")),
                       capture_output=True, text=True, timeout=TIMEOUT, pass_fds=[theirs.fileno()],
                       env=dict(os.environ, DHP_FAULT_KILL_AT="before:1"))
    theirs.close()
    ours.close()
    check(r.returncode == 1, "killed before ready: exit 1, got %d" % r.returncode)
    check("exited before it was ready" in r.stderr, "killed before ready: said so: %r" % r.stderr)


class Foreground:
    """dhpd --foreground --platform sim, stderr into a file."""

    def __init__(self, tmp, name, env=None, level="info", journal=False):
        self.sock = "%s/%s.sock" % (tmp, name)
        self.argv = dhpd_argv(DHPD, tmp, "--foreground", "--platform", "sim", "-c", "/dev/null", "--log-level", level,
                              sock=name + ".sock")
        self.errpath = "%s/%s.err" % (tmp, name)
        self.err = open(self.errpath, "w")
        env = dict(os.environ, **(env or {}))
        if journal:
            st = os.fstat(self.err.fileno())
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.err, env=env)
        r, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        self.ready = bool(r) and self.p.stdout.readline() == b"READY\n"

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.err.close()
        with open(self.errpath) as f:
            return f.read().splitlines()


def journal(tmp):
    """Item 5: <N> priorities when stderr is the journal's stream, and only
    then; a client's connect and disconnect at debug."""
    d = Foreground(tmp, "j", journal=True)
    check(d.ready, "dhpd ready (journal)")
    check(run([DHPCTL, "--socket", d.sock, "status"]).returncode == 0, "status (journal)")
    lines = d.stop()
    check(lines and all(re.match(r"<[0-7]>", l) for l in lines), "every line has a priority: %r" % lines)
    check("<5>ready (platform sim)" in lines, "ready at notice: %r" % lines)
    check(not any("connected" in l for l in lines), "no connect/disconnect at info: %r" % lines)

    # A JOURNAL_STREAM that is not stderr (inherited, then redirected).
    d = Foreground(tmp, "n", env={"JOURNAL_STREAM": "1:1"}, level="debug")
    check(d.ready, "dhpd ready (not journal)")
    check(run([DHPCTL, "--socket", d.sock, "status"]).returncode == 0, "status (debug)")
    lines = d.stop()
    check("dhpd: ready (platform sim)" in lines, "plain prefix when stderr is not the journal: %r" % lines)
    check(any(re.match(r"dhpd: debug: client dhpctl\[\d+\] connected", l) for l in lines) and
          any(re.match(r"dhpd: debug: client dhpctl\[\d+\] \(pid \d+\) disconnected", l) for l in lines),
          "connect and disconnect at debug: %r" % lines)

    # An error before readiness, with priority 3.
    d = Foreground(tmp, "e", journal=True)
    err = open(tmp + "/e2.err", "w")
    st = os.fstat(err.fileno())
    r = subprocess.run(d.argv,
                       stdout=subprocess.DEVNULL, stderr=err, timeout=TIMEOUT,
                       env=dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino)))
    err.close()
    d.stop()
    with open(tmp + "/e2.err") as f:
        lines = f.read().splitlines()
    check(r.returncode == 1 and any(l.startswith("<3>") and "another dhpd is running" in l for l in lines),
          "the error at priority 3: %d %r" % (r.returncode, lines))


def read_line(p):
    r, _, _ = select.select([p.stdout], [], [], TIMEOUT)
    return p.stdout.readline().decode() if r else ""


def parse_iso(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wire_history(sock, minor):
    """HISTORY as a client of protocol 1.minor: the answer's (type, bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(TIMEOUT)
    s.connect(sock)

    def send(typ, mid, payload):
        s.send(struct.pack("<HHIQ", typ, 0, 16 + len(payload), mid) + payload)

    send(0x01, 1, struct.pack("<HHIH", 1, minor, os.getpid(), 4) + b"wire")
    welcome = s.recv(65536)
    check(struct.unpack_from("<HH", welcome, 16) == (1, 3), "WELCOME says 1.3")
    send(0x34, 2, struct.pack("<I", 0))
    got = []
    while True:
        m = s.recv(65536)
        typ, = struct.unpack_from("<H", m)
        if typ == 0x03:
            break
        got.append((typ, m))
    s.close()
    return got


def wall_clock(tmp):
    """Item 5: the wall-clock time next to the relative one in monitor's
    text, in every JSON record, and on the wire."""
    d = Foreground(tmp, "w")
    check(d.ready, "dhpd ready (wall clock)")
    text = subprocess.Popen([DHPCTL, "--socket", d.sock, "monitor"], stdout=subprocess.PIPE)
    js = subprocess.Popen([DHPCTL, "--socket", d.sock, "monitor", "--json"], stdout=subprocess.PIPE)
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        st = run([DHPCTL, "--socket", d.sock, "status", "--json"])
        if st.returncode == 0 and sum(c.get("monitor") is True for c in json.loads(st.stdout)["clients"]) == 2:
            break
        time.sleep(0.05)
    t0 = time.time()
    add = run([DHPCTL, "--socket", d.sock, "sim", "cpu", "add"])
    t1 = time.time()
    check(add.returncode == 0, "sim cpu add: %r" % add.stderr)
    line = read_line(text)
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d)  [+ ]*\d+\.\d{3} ms  ", line)
    check(m is not None, "monitor's text line starts with the wall-clock time: %r" % line)
    if m:
        check(t0 - 1 <= parse_iso(m.group(1)) <= t1 + 1, "the text's time is now: %r" % line)
    line = read_line(js)
    try:
        rec = json.loads(line)
    except ValueError:
        rec = {}
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", rec.get("time", "")) is not None,
          "monitor --json has time in UTC: %r" % line)
    if "time" in rec:
        check(t0 - 1 <= parse_iso(rec["time"]) <= t1 + 1, "the JSON time is now: %r" % line)
    for p in (text, js):
        p.terminate()
        p.wait(TIMEOUT)

    # HISTORY on the wire: RECORD_RT to 1.3, the same less 8 bytes as
    # RECORD_EXT to 1.2, both of every kept record.
    rt, ext = wire_history(d.sock, 3), wire_history(d.sock, 2)
    check(len(rt) > 0 and len(rt) == len(ext), "HISTORY answers: %d, %d" % (len(rt), len(ext)))
    check(all(t == 0x36 for t, _ in rt) and all(t == 0x35 for t, _ in ext), "RECORD_RT to 1.3, RECORD_EXT to 1.2")
    for (_, a), (_, b) in zip(rt, ext):
        ns, = struct.unpack_from("<Q", a, len(a) - 8)
        check(len(a) == len(b) + 8 and a[8:16] == b[8:16] and a[16:len(b)] == b[16:], "RECORD_EXT is RECORD_RT less the time")
        check(t0 - 60 <= ns / 1e9 <= t1 + 1, "realtime_ns is now: %d" % ns)
        check(struct.unpack_from("<I", b, 4)[0] == len(b), "RECORD_EXT's length field")
    d.stop()


class LinuxDaemon:
    """dhpd --foreground on a fake tree, uevents through a socketpair; its
    stderr read line by line."""

    def __init__(self, root, conf):
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.p = subprocess.Popen(dhpd_argv(DHPD, root, "--foreground", "--uevent-fd", str(theirs.fileno()),
                                            "--config", conf),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=[theirs.fileno()])
        theirs.close()
        self.lines = []
        self.buf = b""

    def wait_line(self, needle):
        end = time.monotonic() + TIMEOUT
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            if time.monotonic() >= end:
                return None
            r, _, _ = select.select([self.p.stderr], [], [], end - time.monotonic())
            chunk = os.read(self.p.stderr.fileno(), 65536) if r else b""
            if not chunk:
                return None
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [l.decode(errors="replace") for l in done]

    def add_cpu(self, root, cpu):
        write(root, "sys/devices/system/cpu/cpu%d/online" % cpu, "0\n")
        write(root, "sys/devices/system/cpu/present", "0-%d\n" % cpu)
        path = "/devices/system/cpu/cpu%d" % cpu
        self.ours.send(("add@%s\0ACTION=add\0DEVPATH=%s\0SUBSYSTEM=cpu\0SEQNUM=%d\0" % (path, path, cpu)).encode())

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.ours.close()


def irqbalance(tmp):
    """Item 7: irqbalance found at start (a fake /proc/812/comm), the log
    says who moves which interrupts, and after a processor add dhpd wrote
    exactly its own."""
    cases = [
        # (irqbalance running, [rebalance] lines, log line, IRQ 24 and 25 after the add)
        (False, "", None, ("0-2", "0-2")),
        (True, "", "irqbalance is running (pid 812): it moves the interrupts of every kernel device and dhpd "
                   "writes none ([rebalance] irqbalance = leave)", ("0-1", "0-1")),
        (True, "irqbalance = share\nparticipate = 0000:00:03.0\n",
         "irqbalance is running (pid 812): dhpd moves the interrupts of 0000:00:03.0 ([rebalance] participate), "
         "irqbalance those of every other kernel device", ("0-2", "0-1")),
        (True, "irqbalance = share\n", "irqbalance = share, but participate names no PCI address", ("0-1", "0-1")),
        (True, "irqbalance = ignore\n", "warning: irqbalance is running (pid 812) and [rebalance] irqbalance = "
                                        "ignore: both write", ("0-2", "0-2")),
    ]
    for n, (running, conf, said, after) in enumerate(cases):
        root = "%s/irq%d" % (tmp, n)
        make_tree(root)
        for bdf, irq in (("0000:00:03.0", 24), ("0000:00:04.0", 25)):
            write(root, "sys/bus/pci/devices/%s/class" % bdf, "0x010802\n")
            write(root, "sys/bus/pci/devices/%s/irq" % bdf, "%d\n" % irq)
            write(root, "proc/irq/%d/smp_affinity_list" % irq, "0-1\n")
        write(root, "proc/1/comm", "systemd\n")
        if running:
            write(root, "proc/812/comm", "irqbalance\n")
        write(root, "dhpd.conf", "[rebalance]\n" + conf)
        d = LinuxDaemon(root, root + "/dhpd.conf")
        try:
            check(d.wait_line("ready (platform linux)") is not None, "case %d: ready" % n)
            if said:
                check(any(said in l for l in d.lines), "case %d: says %r: %r" % (n, said, d.lines))
            else:
                check(not any("irqbalance" in l for l in d.lines), "case %d: no irqbalance, no word of it" % n)
            if n == 2:
                check(any('IRQBALANCE_ARGS="--banirq=24"' in l for l in d.lines), "case 2: the ban for IRQ 24")
            d.add_cpu(root, 2)
            check(d.wait_line("cpu2: online and admitted") is not None, "case %d: cpu2 admitted" % n)
            if after == ("0-1", "0-1"):
                # No kernel device is dhpd's: no rebalance is queued after
                # the arrival (rebalance-seq.c), so none can write.
                check(d.wait_line("async     ARRIVAL       cpu2") is not None, "case %d: cpu2 arrived" % n)
                check(not any(" ms  rebalance " in l for l in d.lines), "case %d: no rebalance: %r" % (n, d.lines))
            else:
                check(d.wait_line("rebalance END") is not None, "case %d: rebalanced" % n)
            got = (read(root, "proc/irq/24/smp_affinity_list"), read(root, "proc/irq/25/smp_affinity_list"))
            check(got == after, "case %d: IRQ 24, 25 affinity %r, expected %r" % (n, got, after))
        finally:
            d.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="dhpd-startup-") as tmp:
        sim_options_need_sim(tmp)
        background(tmp)
        dies_before_ready(tmp)
        journal(tmp)
        irqbalance(tmp)
        if os.geteuid() == 0:  # sim control is privileged
            wall_clock(tmp)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
