#!/usr/bin/env python3
"""dhpd (--platform sim) at its limits, as a process (issue 18): the
max_clients key of dhpd.conf with 1000 clients at once, --socket naming a
regular file, a client name that would forge a log line.  Every wait is
bounded and on an event (READY, a reply, EOF), never a sleep."""
import os, select, socket, struct, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faketree  # noqa: E402

DHPD = sys.argv[1]
failures = 0
passed = 0


def ok(cond, what):
    global failures, passed
    if cond:
        passed += 1
    else:
        failures += 1
        print("not ok: " + what)


def hello(name=b"limits", msg_id=1):
    payload = struct.pack("<HHI", 1, 2, os.getpid()) + struct.pack("<H", len(name)) + name
    return struct.pack("<HHIQ", 0x01, 0, 16 + len(payload), msg_id) + payload


def recv(s, timeout=10.0):
    """The next datagram, b'' on EOF, None on timeout."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return None
    try:
        return s.recv(65536)
    except ConnectionResetError:
        return b""


def start(tmp, conf_text, sock):
    conf = os.path.join(tmp, "dhpd.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    # The log into a file: a pipe nobody reads while 1000 clients connect
    # would fill and block dhpd.
    log = open(os.path.join(tmp, "dhpd.log"), "w+")
    argv = faketree.dhpd_argv(DHPD, tmp, "--foreground", "--platform", "sim", "--config", conf, "--log-level",
                              "info", sock=os.path.relpath(sock, tmp))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
    p.log = log
    r, _, _ = select.select([p.stdout], [], [], 10)
    ready = bool(r) and p.stdout.readline().strip() == b"READY"
    return p, ready


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    p.stdout.close()
    p.log.seek(0)
    err = p.log.read()
    p.log.close()
    return err


def test_regular_file_not_deleted(tmp):
    path = os.path.join(tmp, "precious")
    with open(path, "w") as f:
        f.write("keep me")
    p = subprocess.run(faketree.dhpd_argv(DHPD, tmp, "--foreground", "--platform", "sim", "--config", "/dev/null",
                                          sock="precious"), capture_output=True, timeout=20)
    ok(p.returncode != 0, "dhpd --socket on a regular file: exit status %d" % p.returncode)
    ok(b"is not a socket" in p.stderr, "dhpd says why: %r" % p.stderr[-200:])
    ok(os.path.exists(path) and open(path).read() == "keep me", "the file is left as it was")


def test_thousand_clients(tmp):
    sock = os.path.join(tmp, "dhpd.sock")
    p, ready = start(tmp, "[daemon]\nmax_clients = 1000\n", sock)
    ok(ready, "dhpd with max_clients = 1000 ready")
    if not ready:
        stop(p)
        return
    conns = []
    welcomed = 0
    for i in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(sock)  # blocking: waits for room in the backlog, dhpd accepts
        s.settimeout(10)
        s.send(hello(b"c%d" % i))
        conns.append(s)
    for s in conns:
        m = recv(s)
        if m and struct.unpack_from("<H", m)[0] == 0x02:
            welcomed += 1
    ok(welcomed == 1000, "1000 clients welcomed: %d" % welcomed)
    # The 1001st (root: the reserve does not apply past the global cap).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock)
    s.settimeout(10)
    ok(recv(s) == b"", "the 1001st connection is closed at once")
    s.close()
    for c in conns:
        c.close()
    err = stop(p)
    n = sum(1 for line in err.splitlines() if "refus" in line)
    ok(n == 1, "one refusal, one line: %d" % n)


def test_name_cannot_forge_a_line(tmp):
    sock = os.path.join(tmp, "dhpd.sock")
    p, ready = start(tmp, "", sock)
    ok(ready, "dhpd ready")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock)
    s.settimeout(10)
    s.send(hello(b"x\ndhpd: cpu9: add failed: EIO\x1b[2J\xff"))
    m = recv(s)
    ok(m is not None and len(m) >= 16 and struct.unpack_from("<H", m)[0] == 0x04, "ERROR for the name")
    ok(recv(s) == b"", "then closed")
    s.close()
    err = stop(p)
    lines = err.splitlines()
    ok(not any(line.startswith("dhpd: cpu9") for line in lines), "no forged line in the log")
    ok("\x1b" not in err, "no escape sequence in the log")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def msg(mtype, msg_id, payload=b""):
    return struct.pack("<HHIQ", mtype, 0, 16 + len(payload), msg_id) + payload


def reply_status(s, msg_id, timeout=20.0):
    while True:
        m = recv(s, timeout)
        if not m:
            return None
        mtype, _, _, mid = struct.unpack_from("<HHIQ", m)
        if mtype == 0x03 and mid == msg_id:
            return struct.unpack_from("<i", m, 16)[0]


def as_nobody(fn):
    """Run fn() in a child that is nobody (no groups); its exit status."""
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            rc = fn()
        except Exception as e:
            sys.stderr.write("as nobody: %r\n" % e)
        finally:
            os._exit(rc)
    return os.waitpid(pid, 0)[1] >> 8


def test_floods_as_nobody(tmp):
    """The attacks of issue 18 by an unprivileged user: 300 idle
    connections (root's STATUS still served), 100 000 PROC_DEREGISTERs
    without ids (dhpd's memory does not grow)."""
    if os.geteuid() != 0:
        print("skip: the floods need root to become nobody")
        return
    sock = os.path.join(tmp, "dhpd.sock")
    os.chmod(tmp, 0o755)
    p, ready = start(tmp, "", sock)
    ok(ready, "dhpd ready")
    if not ready:
        stop(p)
        return
    rd, wr = os.pipe()      # the child: "R" when its connections are made
    done_rd, done_wr = os.pipe()  # the test: done checking

    def idle_connections():
        held = []
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(sock)
            held.append(s)
        os.write(wr, b"R")
        os.read(done_rd, 1)  # until the test has checked
        return 0

    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            rc = idle_connections()
        except Exception as e:
            sys.stderr.write("idle connections: %r\n" % e)
        finally:
            os._exit(rc)
    r, _, _ = select.select([rd], [], [], 30)
    ok(bool(r) and os.read(rd, 1) == b"R", "300 connections made")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock)
    s.settimeout(10)
    s.send(hello(b"root-status"))
    s.send(msg(0x60, 9))  # STATUS
    ok(reply_status(s, 9) == 0, "root's STATUS answered while nobody holds every connection it may")
    s.close()
    os.write(done_wr, b"D")
    os.waitpid(pid, 0)
    for fd in (rd, wr, done_rd, done_wr):
        os.close(fd)

    before = rss_kb(p.pid)

    def deregister_flood():
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.connect(sock)
        c.send(hello(b"flood"))
        for i in range(100000):
            c.send(msg(0x11, 0, struct.pack("<I", i)))  # PROC_DEREGISTER, id 0
        c.settimeout(30)
        c.send(msg(0x05, 77))  # PING: everything before it was handled
        return 0 if reply_status(c, 77, 30) == 0 else 2

    ok(as_nobody(deregister_flood) == 0, "100 000 PROC_DEREGISTERs sent and handled")
    after = rss_kb(p.pid)
    print("# 100 000 PROC_DEREGISTERs from nobody: dhpd RSS %d kB -> %d kB" % (before, after))
    ok(after - before < 1024, "dhpd's RSS grew %d kB" % (after - before))
    err = stop(p)
    n = sum(1 for line in err.splitlines() if "refus" in line)
    print("# 300 connections from nobody: %d refusal line(s) logged" % n)
    ok(1 <= n <= 2, "refusals logged once per interval: %d lines" % n)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_regular_file_not_deleted(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_thousand_clients(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_name_cannot_forge_a_line(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_floods_as_nobody(tmp)
    print("%d passed, %d failed" % (passed, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
