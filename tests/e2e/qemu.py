"""A QEMU guest driven over QMP, with its serial console read line by line.

Python standard library only.  Design points:

* No fixed sleeps.  Every wait is for an event (a console line matching a
  regex, a QMP reply or event, QEMU's exit) with a bounded timeout; a single
  select() loop (`_pump`) feeds both the console and the QMP socket.
* No race at start-up.  The harness creates and listens on both Unix sockets
  *before* starting QEMU, and QEMU connects to them as a client
  (`-chardev socket,path=...` without server=on).  So there is nothing to
  poll for, and no console output can be lost before we are connected.
* No QEMU left behind.  `close()` kills and reaps it and is called from
  try/finally by the caller, from atexit, and on SIGTERM/SIGHUP/SIGINT (they
  are turned into exceptions so finally blocks run).  If the harness itself
  is SIGKILLed, PR_SET_PDEATHSIG makes the kernel kill QEMU.
"""
import atexit
import ctypes
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import tempfile
import time

_live = set()  # machines not yet closed, for atexit and signal handlers


def _kill_all():
    for m in list(_live):
        m.close()


atexit.register(_kill_all)


def _raise_on_signal(signum, frame):
    # SystemExit unwinds through every finally, which kills QEMU.
    raise SystemExit(128 + signum)


def install_signal_handlers():
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _raise_on_signal)
    # SIGINT already raises KeyboardInterrupt.


def _pdeathsig():
    # Runs in the child between fork and exec: ask the kernel to SIGKILL
    # QEMU when the harness dies, whatever way it dies.
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class MachineError(Exception):
    pass


class Timeout(MachineError):
    pass


class QMPError(MachineError):
    pass


class Machine:
    def __init__(self, kernel, initrd, append, *, smp="1,maxcpus=4",
                 mem="512M,slots=4,maxmem=4G", accel="tcg",
                 qemu="qemu-system-x86_64", console_log=None, extra_args=(),
                 machine="q35"):
        self.kernel, self.initrd, self.append = kernel, initrd, append
        self.smp, self.mem, self.accel, self.qemu = smp, mem, accel, qemu
        self.extra_args = list(extra_args)
        self.machine = machine
        self.console_log_path = console_log
        self.proc = None
        self.lines = []        # (host monotonic time, text) per console line
        self.cursor = 0        # lines before this were consumed by wait_for
        self.events = []       # (host monotonic time, QMP event dict)
        self._partial = b""
        self._qmp_buf = b""
        self._replies = {}
        self._next_id = 1
        self._con = self._qmp = None
        self._sel = selectors.DefaultSelector()
        self._tmp = None
        self._log = None
        self.t_start = None
        self.plugged = []      # device ids hot-added (cpu and dimm), in order

    # ---- life cycle -------------------------------------------------------

    def start(self, timeout=30):
        self._tmp = tempfile.TemporaryDirectory(prefix="dhp-e2e-")
        con_path = os.path.join(self._tmp.name, "console.sock")
        qmp_path = os.path.join(self._tmp.name, "qmp.sock")
        listeners = []
        for p in (con_path, qmp_path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(p)
            s.listen(1)
            listeners.append(s)
        if self.console_log_path:
            self._log = open(self.console_log_path, "w")
        self.qemu_log_path = os.path.join(self._tmp.name, "qemu.log")
        cmd = [
            self.qemu, "-machine", self.machine, "-accel", self.accel,
            "-smp", self.smp, "-m", self.mem,
            # -nographic would also put a muxed monitor on stdio; we want
            # no monitor but QMP, and the serial port on our own socket.
            "-nodefaults", "-display", "none", "-no-reboot",
            "-kernel", self.kernel, "-initrd", self.initrd,
            "-append", self.append,
            "-chardev", f"socket,id=con,path={con_path}",
            "-serial", "chardev:con",
            "-chardev", f"socket,id=qmp,path={qmp_path}",
            "-mon", "chardev=qmp,mode=control",
            *self.extra_args,
        ]
        self.cmd = cmd
        self.t_start = time.monotonic()
        with open(self.qemu_log_path, "w") as qlog:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=qlog,
                stderr=subprocess.STDOUT, preexec_fn=_pdeathsig,
                start_new_session=True)  # our ^C is handled by us, not QEMU
        _live.add(self)
        try:
            # QEMU connects to the console first, then to QMP (command-line
            # order), both during its start-up; accept with a deadline.
            deadline = time.monotonic() + timeout
            socks = []
            for ls in listeners:
                ls.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    s, _ = ls.accept()
                except socket.timeout:
                    raise MachineError("QEMU did not connect its sockets: "
                                       + self.qemu_log_tail())
                s.setblocking(False)
                socks.append(s)
        finally:
            for ls in listeners:
                ls.close()
        self._con, self._qmp = socks
        self._sel.register(self._con, selectors.EVENT_READ, "con")
        self._sel.register(self._qmp, selectors.EVENT_READ, "qmp")
        greeting = self._wait_qmp(lambda: self._replies.pop("greeting", None),
                                  timeout, "QMP greeting")
        self.qemu_version = greeting["QMP"]["version"]["qemu"]
        self.qmp("qmp_capabilities")
        return self

    def close(self):
        """Kill QEMU (if running), reap it, release everything.  Idempotent."""
        _live.discard(self)
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for s in (self._con, self._qmp):
            if s:
                try:
                    self._sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
        self._con = self._qmp = None
        if self._log:
            self._log.close()
            self._log = None
        if self._tmp:
            # Keep QEMU's own log next to the console log before deleting.
            if self.console_log_path and os.path.exists(self.qemu_log_path):
                with open(self.qemu_log_path) as src, \
                        open(self.console_log_path + ".qemu", "w") as dst:
                    dst.write(src.read())
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def qemu_log_tail(self, n=20):
        try:
            with open(self.qemu_log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # ---- I/O pump ---------------------------------------------------------

    def _pump(self, timeout):
        """Wait up to `timeout` s for input on either socket and file it."""
        if self._con is None:
            raise MachineError("machine is closed")
        for key, _ in self._sel.select(max(0.0, timeout)):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            now = time.monotonic()
            if not data:
                rc = self.proc.wait(timeout=10)  # EOF: QEMU is exiting
                raise MachineError(f"QEMU exited (status {rc}) while waiting;"
                                   f" last console lines:\n{self.tail()}\n"
                                   f"{self.qemu_log_tail()}")
            if key.data == "con":
                self._feed_console(data, now)
            else:
                self._feed_qmp(data, now)

    def _feed_console(self, data, now):
        if self._log:
            self._log.write(data.decode(errors="replace"))
            self._log.flush()
        buf = self._partial + data
        *complete, self._partial = buf.split(b"\n")
        for raw in complete:
            self.lines.append((now, raw.decode(errors="replace").rstrip("\r")))

    def _feed_qmp(self, data, now):
        buf = self._qmp_buf + data
        *complete, self._qmp_buf = buf.split(b"\n")
        for raw in complete:
            if not raw.strip():
                continue
            msg = json.loads(raw)
            if "QMP" in msg:
                self._replies["greeting"] = msg
            elif "event" in msg:
                self.events.append((now, msg))
            elif "id" in msg:
                self._replies[msg["id"]] = (now, msg)

    def _wait_qmp(self, ready, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            r = ready()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"timed out after {timeout}s waiting for {what}")
            self._pump(left)

    # ---- QMP --------------------------------------------------------------

    def qmp_timed(self, command, timeout=30, **arguments):
        """Execute a QMP command; return (host time the reply arrived, result)."""
        cid = self._next_id
        self._next_id += 1
        msg = {"execute": command, "id": cid}
        if arguments:
            msg["arguments"] = arguments
        self._qmp.setblocking(True)
        try:
            self._qmp.sendall(json.dumps(msg).encode() + b"\n")
        finally:
            self._qmp.setblocking(False)
        t, reply = self._wait_qmp(lambda: self._replies.pop(cid, None),
                                  timeout, f"QMP {command}")
        if "error" in reply:
            raise QMPError(f"{command} {arguments}: {reply['error']}")
        return t, reply["return"]

    def qmp(self, command, timeout=30, **arguments):
        return self.qmp_timed(command, timeout, **arguments)[1]

    def wait_event(self, name, timeout, since=0.0, match=None):
        """Wait for QMP event `name` received at or after host time `since`."""
        def ready():
            for t, ev in self.events:
                if ev["event"] == name and t >= since and (match is None or match(ev)):
                    return t, ev
            return None
        return self._wait_qmp(ready, timeout, f"QMP event {name}")

    # ---- console ----------------------------------------------------------

    def wait_for(self, regex, timeout):
        """Wait for a console line matching `regex` (searched, not anchored).

        Lines already received but not yet consumed count, so a line that
        arrived while we were busy elsewhere (say, waiting for a QMP reply)
        is not missed.  Returns (match, host time the line arrived); lines up
        to and including it are consumed.
        """
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.lines):
                t, text = self.lines[self.cursor]
                self.cursor += 1
                m = rx.search(text)
                if m:
                    return m, t
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"timed out after {timeout}s waiting for console "
                              f"/{regex}/; last lines:\n{self.tail()}")
            self._pump(left)

    def tail(self, n=15):
        return "\n".join(f"  | {text}" for _, text in self.lines[-n:])

    def wait_exit(self, timeout):
        """Wait for QEMU to exit by itself (guest poweroff); drain output."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"QEMU did not exit within {timeout}s")
                self._pump(left)
        except MachineError as e:
            if self.proc.poll() is None:
                raise
            return self.proc.returncode

    # ---- hot-add ----------------------------------------------------------

    def hotadd_cpu(self):
        """Plug a CPU into the first free slot; return (t_returned, device id).

        The driver and the socket/core/thread ids come from what QEMU lists
        for the slot, so this works for any -cpu model and topology.
        """
        free = [c for c in self.qmp("query-hotpluggable-cpus") if "qom-path" not in c]
        if not free:
            raise MachineError("no free CPU slot (raise maxcpus)")
        # Lowest slot first, so CPU numbers in the guest are predictable.
        order = ("node-id", "socket-id", "die-id", "core-id", "thread-id")
        slot = min(free, key=lambda c: tuple(c["props"].get(k, 0) for k in order))
        dev_id = "cpu-s{socket-id}-c{core-id}-t{thread-id}".format(
            **{"socket-id": 0, "core-id": 0, "thread-id": 0, **slot["props"]})
        t, _ = self.qmp_timed("device_add", driver=slot["type"], id=dev_id, **slot["props"])
        self.plugged.append(dev_id)
        return t, dev_id

    def hotadd_dimm(self, size_mb, index):
        """Add a RAM backend and a pc-dimm on it; return (t_returned, dimm id).

        The backend is created first and is not part of the timing: the
        clock starts when device_add (the guest-visible event) returns.
        """
        mem_id, dimm_id = f"mem{index}", f"dimm{index}"
        self.qmp("object-add", **{"qom-type": "memory-backend-ram", "id": mem_id,
                                  "size": size_mb << 20})
        t, _ = self.qmp_timed("device_add", driver="pc-dimm", id=dimm_id, memdev=mem_id)
        self.plugged.append(dimm_id)
        return t, dimm_id

    # ---- removal ----------------------------------------------------------

    def last_plugged(self, prefix):
        """The most recently hot-added device whose id starts with `prefix`
        ("cpu-" or "dimm") and that is still plugged."""
        for dev_id in reversed(self.plugged):
            if dev_id.startswith(prefix):
                return dev_id
        raise MachineError(f"no hot-added {prefix}* device left to remove")

    def unplug(self, dev_id, timeout=30):
        """`device_del` DEV_ID and wait, at most `timeout` s, for QEMU's
        DEVICE_DELETED event for it (sent once the guest ejected it: ACPI
        _EJ0 for a CPU or a DIMM).  Returns (t_reply, t_deleted); raises
        Timeout if the guest never ejects it (the device stays plugged).

        device_del only *requests* the removal: the guest kernel must offline
        the device first (a DIMM whose blocks cannot be offlined stays, and
        the guest answers with _OST status 0x80+ instead).
        """
        t0, _ = self.qmp_timed("device_del", id=dev_id)
        # QEMU 7.2 sends no DEVICE_DELETED naming a CPU: only one for its
        # child /machine/peripheral/ID/lapic, when the CPU is unrealized
        # (after the guest's _EJ0; PROBES.md).  A DIMM's names it.
        path = f"/machine/peripheral/{dev_id}"

        def deleted(ev):
            d = ev.get("data", {})
            return d.get("device") == dev_id or d.get("path", "") in (path, path + "/lapic")
        t1, _ = self.wait_event("DEVICE_DELETED", timeout, since=t0, match=deleted)
        self.plugged.remove(dev_id)
        if dev_id.startswith("dimm"):
            # The backend of a removed DIMM is free again: drop it too.
            self.qmp("object-del", id="mem" + dev_id[4:])
        return t0, t1

    # ---- virtio-mem -------------------------------------------------------

    @staticmethod
    def virtio_mem_args(dev_id="vmem0", size="4G", requested="0", node=None):
        """Command-line arguments for a virtio-mem-pci device present at boot,
        on a RAM backend of `size` (its maximum), initially `requested` big.
        The machine's `-m ...,maxmem=` must leave room for `size` beyond the
        boot memory and the DIMM slots in use (virtio-mem lives in the same
        device-memory region as pc-dimm)."""
        dev = f"virtio-mem-pci,id={dev_id},memdev={dev_id}-be,requested-size={requested}"
        if node is not None:
            dev += f",node={node}"
        return ["-object", f"memory-backend-ram,id={dev_id}-be,size={size}",
                "-device", dev]

    def virtio_mem_resize(self, dev_id, size_bytes):
        """Ask the guest's virtio-mem driver to (un)plug memory until the
        device provides `size_bytes`; returns the host time of the qom-set
        reply.  The driver does it asynchronously: watch the guest's uevents,
        or virtio_mem_size() / the MEMORY_DEVICE_SIZE_CHANGE event (QEMU
        rate-limits that one per device)."""
        t, _ = self.qmp_timed("qom-set", path=dev_id, property="requested-size",
                              value=size_bytes)
        return t

    def virtio_mem_size(self, dev_id):
        """How much memory the guest has plugged in the device, in bytes."""
        return self.qmp("qom-get", path=dev_id, property="size")
