# SPDX-License-Identifier: MIT
"""dhp for Python: hot-added processors and memory, through libdhp.

A binding of the C library ``libdhp.so`` (``include/dhp.h``) with ctypes, so
every guarantee of the library holds as it does for a C program: the order
of a hot-add (ADD_START in every process, the processor admitted,
ADD_COMPLETE, then the arrivals), the veto, and, as a client of dhpd on real
hardware, the threads of the process kept off a processor until its add
completes.

    import dhp

    def on_cpu(change):
        if change.state is dhp.ProcChangeState.ADD_START and not room_for_one_more():
            change.veto(errno.ENOMEM)

    with dhp.open() as ctx:                       # $DHP_TARGET, else dhpd
        ctx.register_proc(on_cpu, name="pool")
        ctx.register_arrival(dhp.Class.PROCESSOR, print, include_existing=True)
        ctx.start_thread()                        # arrivals on the library's thread
        ...

Callbacks are plain functions.  They run on the library's threads
(synchronous ones on the thread running the hot-add, or the context's
connection thread; arrivals on ``process()`` or the notification thread)
and hold the GIL while they run.  One that raises is reported (to
``Context.on_callback_error``, by default a traceback on stderr) and the
library goes on as it would after a normal return: an add goes on unless
the registration asked ``veto_on_error``; a driver's QUERY_STOP counts as
refused.  Errors of the library are ``dhp.Error`` (an ``OSError``) carrying
the errno and the library's explanation.
"""
from __future__ import annotations

import ctypes
import enum
import errno as _errno
import os
import sys
import threading
import traceback
from ctypes import byref, c_bool, c_int, c_uint32, c_uint64, c_void_p
from typing import Any, Callable, NamedTuple, Optional

from ._lib import (ARRIVAL_CB, DRIVER_CB, IOQ_PROCESS_FN, LIMITS_CB, MONITOR_CB, PROC_CB, ProcNumber, has, lib,
                   library_path)

__all__ = [
    "open", "Context", "Error", "Class", "Event", "ProcState", "ProcChangeState", "ProcChange", "ProcRegistration",
    "DeviceEvent", "ArrivalRegistration", "Record", "Monitor", "MemCond", "Threshold", "MEMCOND_NAMES",
    "RebalancePolicy", "AffinityPolicy", "RebalanceRequest", "RebalanceContext", "Device", "Driver", "IoQueue",
    "IoqStat", "SimCpuAdd", "Status", "MemoryStatus", "MemoryDevice", "MemoryBlock", "MemoryZone", "Limits", "LimitsRegistration", "check_scenario", "has",
    "library_path", "VERSION",
]

VERSION = (0, 1)

# ---------------------------------------------------------------- errors


class Error(OSError):
    """A libdhp error: ``errno`` is the error number (positive), ``strerror``
    the library's explanation when it gave one, else the system's text;
    ``function`` the C function that failed."""

    def __init__(self, err: int, text: str, function: str = "") -> None:
        super().__init__(err, text)
        self.function = function

    def __str__(self) -> str:
        where = f"{self.function}: " if self.function else ""
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"{where}{self.strerror} ({name})"


def _explain(ctx: Optional["Context"], r: int, message: Optional[str] = None) -> str:
    """The library's explanation of the error the calling thread's last
    call returned (``dhp_strerror``: per thread, so it must be read before
    the next call into the library), or the message the function returned
    itself, or the system's text."""
    if message:
        return message
    explain = getattr(lib, "dhp_strerror", None)
    if explain is not None:
        text = explain(r)
        if text:
            return text.decode("utf-8", "replace")
    return os.strerror(-r)


def _check(r: int, function: str, ctx: Optional["Context"] = None, message: Optional[str] = None) -> int:
    if r < 0:
        raise Error(-r, _explain(ctx, r, message), function)
    return r


def _neg_errno(err: int) -> int:
    """Accept EBUSY or -EBUSY; the library wants the negative."""
    return -abs(int(err))


def _s(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "replace") if b is not None else ""


def _b(s: Optional[str]) -> Optional[bytes]:
    return s.encode() if s is not None else None


# ---------------------------------------------------------------- enums


class Class(enum.IntEnum):
    PROCESSOR = 1
    MEMORY = 2


class Event(enum.IntEnum):
    ARRIVAL = 1
    REMOVAL = 2


class ProcState(enum.IntEnum):
    ABSENT = 0
    PRESENT = 1
    STARTED = 2
    ADMITTED = 3


class ProcChangeState(enum.IntEnum):
    ADD_START = 1
    ADD_COMPLETE = 2
    ADD_FAILURE = 3


class Threshold(enum.IntEnum):
    LOW_MEMORY = 1
    HIGH_MEMORY = 2
    LOW_COMMIT = 3
    HIGH_COMMIT = 4
    MAXIMUM_COMMIT = 5


MEMCOND_NAMES = ("HighMemoryCondition", "LowMemoryCondition", "LowCommitCondition", "HighCommitCondition",
                 "MaximumCommitCondition")


class RebalancePolicy(enum.IntEnum):
    ABSENT = 0
    DO_NOT = 1
    PARTICIPATE = 2


class AffinityPolicy(enum.IntEnum):
    ALL = 0
    SPREAD = 1
    ONE_PER_CPU = 2
    KEEP = 3


class RebalanceRequest(enum.IntEnum):
    QUERY_STOP = 1
    CANCEL_STOP = 2
    STOP = 3
    START = 4


class IoqStat(enum.IntEnum):
    SUBMITTED = 1
    DISPATCHED = 2
    COMPLETED = 3
    INFLIGHT = 4
    HELD = 5
    PENDING = 6
    HOLDS = 7
    HOLD_NS_LAST = 8
    HOLD_NS_MAX = 9
    HOLD_NS_TOTAL = 10


_PROC_ADD_EXISTING = 1
_ARRIVAL_INCLUDE_EXISTING = 1
_RECORD_JSON = 1
_RECORD_TEXT = 2
_SIM_LEVEL_KEEP = (1 << 64) - 1

# ---------------------------------------------------------------- callbacks


def _default_error_hook(exc: BaseException, where: str) -> None:
    print(f"dhp: exception in a {where} callback (reported; the library goes on):", file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)


# ---------------------------------------------------------------- the context


def open(target: Optional[str] = None, *, name: Optional[str] = None) -> "Context":  # noqa: A001
    """Open a context on a target (``dhp_open``):

    ``"sim"`` or ``"sim:cpus=2,maxcpus=8,memory=1G,..."``: a simulated
    partition in this process; ``"unix:PATH"``: a client of dhpd;
    ``None`` or ``""``: ``$DHP_TARGET``, else ``unix:/run/dhp/dhpd.sock``;
    ``"linux"``: this process onlines hot-added hardware itself (root).

    Use it as a context manager: ``with dhp.open("sim") as ctx: ...``.
    Raises ``dhp.Error`` (ENOENT or ECONNREFUSED: dhpd is not running,
    EPROTONOSUPPORT: an unknown target or another major protocol, EINVAL).
    """
    return Context(target, name=name)


class Context:
    """A dhp context (``dhp *``): registrations, monitors, memory
    conditions, devices and the simulated platform's controls hang off it.
    Closing it (``close()``, or leaving the ``with`` block) drops them all."""

    def __init__(self, target: Optional[str] = None, *, name: Optional[str] = None) -> None:
        self._ptr = None
        self._lock = threading.RLock()
        self._children: list = []  # live registrations: they keep their ctypes callbacks alive
        self.target = target
        #: Called as ``hook(exception, where)`` when a callback raises; the
        #: default prints the traceback on stderr.
        self.on_callback_error: Callable[[BaseException, str], None] = _default_error_hook
        #: How many callbacks raised so far.
        self.callback_errors = 0
        p = c_void_p()
        _check(lib.dhp_open(byref(p), _b(target) if target else None), "dhp_open")
        self._ptr = p
        if name is not None:
            self.set_name(name)

    # -- lifetime

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the notification thread, drop every registration and free
        the context (``dhp_close``).  Not from inside a callback."""
        with self._lock:
            if not self._ptr:
                return
            children, self._children = self._children, []
            ptr, self._ptr = self._ptr, None
        # The children (and their ctypes callbacks) stay referenced until
        # dhp_close() has returned: a library thread may be in a callback
        # until then.
        lib.dhp_close(ptr)
        for child in children:
            child._forget()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return not self._ptr

    def _p(self) -> c_void_p:
        if not self._ptr:
            raise ValueError("dhp: the context is closed")
        return self._ptr

    def _adopt(self, child: Any) -> None:
        with self._lock:
            self._children.append(child)

    def _drop(self, child: Any) -> None:
        with self._lock:
            try:
                self._children.remove(child)
            except ValueError:
                pass

    def _guard(self, where: str, fn: Callable, *args: Any) -> tuple:
        """Run a Python callback; (True, result) or (False, exception)."""
        try:
            return True, fn(*args)
        except BaseException as exc:  # noqa: B902 - a callback must never unwind into C
            self.callback_errors += 1
            try:
                self.on_callback_error(exc, where)
            except BaseException:
                _default_error_hook(exc, where)
            return False, exc

    # -- the loop

    def fileno(self) -> int:
        """The descriptor that is readable when asynchronous notifications
        are pending (``dhp_get_fd``): for ``selectors`` and ``asyncio``; call
        ``process()`` when it is."""
        return _check(lib.dhp_get_fd(self._p()), "dhp_get_fd", self)

    def process(self) -> int:
        """Deliver the pending asynchronous notifications on this thread;
        returns how many.  Raises Error(ECONNRESET) once dhpd went away
        (see ``reconnect()``), Error(EBUSY) with a notification thread."""
        return _check(lib.dhp_process(self._p()), "dhp_process", self)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for pending notifications, up to ``timeout`` seconds (None:
        forever); True when some are pending."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return bool(_check(lib.dhp_wait(self._p(), ms), "dhp_wait", self))

    def start_thread(self) -> None:
        """Deliver asynchronous notifications on a thread of the library
        from now on (``dhp_start_thread``)."""
        _check(lib.dhp_start_thread(self._p()), "dhp_start_thread", self)

    def stop_thread(self) -> None:
        _check(lib.dhp_stop_thread(self._p()), "dhp_stop_thread", self)

    def reconnect(self) -> None:
        """After dhpd went away: connect again and re-register everything
        (``dhp_reconnect``).  Error(ENOENT/ECONNREFUSED) while dhpd is down."""
        _check(lib.dhp_reconnect(self._p()), "dhp_reconnect", self)

    def set_name(self, name: str) -> None:
        """The name this context's registrations carry by default."""
        _check(lib.dhp_set_name(self._p(), _b(name)), "dhp_set_name", self)

    # -- processors

    @property
    def proc_count(self) -> int:
        """The number of processor slots."""
        n = c_uint32()
        _check(lib.dhp_proc_count(self._p(), byref(n)), "dhp_proc_count", self)
        return n.value

    def proc_state(self, index: int) -> ProcState:
        st = c_int()
        _check(lib.dhp_proc_get_state(self._p(), index, byref(st)), "dhp_proc_get_state", self)
        return ProcState(st.value)

    def processors(self) -> list:
        """The state of every slot, by index."""
        return [self.proc_state(i) for i in range(self.proc_count)]

    def admitted(self) -> list:
        """The indexes of the admitted processors."""
        return [i for i, s in enumerate(self.processors()) if s is ProcState.ADMITTED]

    def proc_online(self, index: int) -> tuple:
        """Run a new add transaction for a present, unadmitted processor
        (its add was vetoed or failed): ``(admitted, status)``, status the
        reason when not admitted (``dhp_proc_online``).  Error(EALREADY)
        when admitted already, ENODEV for an empty slot."""
        _need("dhp_proc_online")
        st = c_int(0)
        r = _check(lib.dhp_proc_online(self._p(), index, byref(st)), "dhp_proc_online", self)
        return r == 0, st.value

    def memory_devices(self) -> list:
        """The memory devices and their blocks (``dhp_memory_snapshot_*``)."""
        _need("dhp_memory_snapshot_new")
        snap = c_void_p()
        _check(lib.dhp_memory_snapshot_new(self._p(), byref(snap)), "dhp_memory_snapshot_new", self)
        try:
            out = []
            for i in range(lib.dhp_memory_snapshot_get_count(snap)):
                base, size, nb, on = c_uint64(), c_uint64(), c_uint32(), c_uint32()
                arrived = _check(lib.dhp_memory_snapshot_get_device(snap, i, byref(base), byref(size), byref(nb),
                                                                    byref(on)), "dhp_memory_snapshot_get_device")
                blocks = []
                for k in range(nb.value):
                    idx, st, zone = c_uint64(), c_int(), c_int()
                    _check(lib.dhp_memory_snapshot_get_block(snap, i, k, byref(idx), byref(st), byref(zone)),
                           "dhp_memory_snapshot_get_block")
                    blocks.append(MemoryBlock(idx.value, st.value == 1, MemoryZone(zone.value)))
                out.append(MemoryDevice(base.value, size.value, nb.value, on.value, bool(arrived), blocks))
            return out
        finally:
            lib.dhp_memory_snapshot_free(snap)

    def register_proc(self, callback: Callable[["ProcChange"], Any], *, name: Optional[str] = None,
                      add_existing: bool = False, veto_on_error: bool = False) -> "ProcRegistration":
        """Synchronous processor notification (``dhp_proc_register``):
        ``callback(change)`` at ADD_START (``change.veto(errno)`` fails the
        add), then ADD_COMPLETE or ADD_FAILURE.  With ``add_existing`` it
        also runs, before this returns, for every processor admitted now (a
        veto then fails the registration with that error).  A callback that
        raises is reported; with ``veto_on_error`` a raise during ADD_START
        vetoes the add with ECANCELED, else the add goes on."""
        return ProcRegistration(self, callback, name, add_existing, veto_on_error)

    def register_arrival(self, cls: Class, callback: Callable[["DeviceEvent"], Any], *, name: Optional[str] = None,
                         include_existing: bool = False) -> "ArrivalRegistration":
        """Arrival and removal of processors or memory
        (``dhp_arrival_register``), delivered on ``process()`` or the
        notification thread; ``include_existing`` also reports the devices
        present now."""
        return ArrivalRegistration(self, Class(cls), callback, name, include_existing)

    def monitor(self, callback: Callable[["Record"], Any]) -> "Monitor":
        """Every record of the notification stream (``dhp_monitor_add``),
        on the thread that produced it.  The callback must not call back
        into the context."""
        return Monitor(self, callback)

    # -- memory conditions

    def memcond(self, name: str) -> "MemCond":
        """Open a standard memory condition event (``MEMCOND_NAMES``)."""
        return MemCond(self, name)

    def memcond_set_threshold(self, which: Threshold, value: int) -> None:
        err = c_void_p()
        r = lib.dhp_memcond_set_threshold(self._p(), int(which), value, byref(err))
        _check(r, "dhp_memcond_set_threshold", self, lib.take_string(err))

    def memcond_threshold(self, which: Threshold) -> int:
        v = c_uint64()
        _check(lib.dhp_memcond_get_threshold(self._p(), int(which), byref(v)), "dhp_memcond_get_threshold", self)
        return v.value

    def memcond_configure(self, spec: str) -> None:
        """Apply ``low=SIZE,high=SIZE,low_commit=N%,...`` all or nothing;
        Error(EINVAL) carries the library's message."""
        err = c_void_p()
        r = lib.dhp_memcond_configure(self._p(), _b(spec), byref(err))
        _check(r, "dhp_memcond_configure", self, lib.take_string(err))

    def memcond_next_timeout(self) -> Optional[float]:
        """Seconds until the fallback evaluation is due, None when none is
        needed (for a loop without the notification thread)."""
        ms = lib.dhp_memcond_next_timeout_ms(self._p())
        return None if ms < 0 else ms / 1000.0

    # -- devices and drivers

    def device_new(self, name: str, setup_class: str = "System") -> "Device":
        """Register a device for rebalance (``dhp_device_new``)."""
        return Device(self, name, setup_class)

    def set_class_optout(self, setup_class: str, optout: bool) -> None:
        _check(lib.dhp_setup_class_set_optout(self._p(), _b(setup_class), bool(optout)),
               "dhp_setup_class_set_optout", self)

    def class_optout(self, setup_class: str) -> bool:
        v = c_bool()
        _check(lib.dhp_setup_class_get_optout(self._p(), _b(setup_class), byref(v)), "dhp_setup_class_get_optout",
               self)
        return v.value

    # -- the simulated platform

    def sim_cpu_add(self) -> "SimCpuAdd":
        """Hot-add one processor (target ``sim`` or a ``dhpd --platform
        sim``); synchronous callbacks of this process run meanwhile."""
        idx = c_uint32()
        r = _check(lib.dhp_sim_cpu_add(self._p(), byref(idx)), "dhp_sim_cpu_add", self)
        return SimCpuAdd(idx.value, r == 0)

    def sim_memory_add(self, size: int) -> int:
        """Hot-add a memory device of ``size`` bytes; returns its base."""
        base = c_uint64()
        _check(lib.dhp_sim_memory_add(self._p(), size, byref(base)), "dhp_sim_memory_add", self)
        return base.value

    def sim_run(self, text: str, filename: str = "<scenario>") -> None:
        """Run a scenario; Error(EINVAL) says ``FILE:LINE:COL: message``."""
        err = c_void_p()
        r = lib.dhp_sim_run_scenario(self._p(), _b(filename), _b(text), byref(err))
        _check(r, "dhp_sim_run_scenario", self, lib.take_string(err))

    def sim_set_memory_levels(self, *, total: Optional[int] = None, available: Optional[int] = None,
                              commit_charge: Optional[int] = None, commit_limit: Optional[int] = None) -> None:
        """What the simulated /proc/meminfo says (target ``sim``); None
        keeps a value."""
        def k(v: Optional[int]) -> int:
            return _SIM_LEVEL_KEEP if v is None else v
        _check(lib.dhp_sim_memory_set_levels(self._p(), k(total), k(available), k(commit_charge), k(commit_limit)),
               "dhp_sim_memory_set_levels", self)

    # -- status

    def status(self) -> "Status":
        """The partition as this context sees it: every processor slot's
        state, the memory condition events, and the memory devices when
        the library enumerates them."""
        conds = {}
        for n in MEMCOND_NAMES:
            with self.memcond(n) as mc:
                conds[n] = mc.is_set
        return Status(self.processors(), conds, _memory_devices(self))

    # -- limits (dhp_limits_*, when the library has them)

    def limits(self) -> "Limits":
        """The partition's limits now (``dhp_limits_get``)."""
        _need("dhp_limits_get")
        p = c_void_p()
        _check(lib.dhp_limits_get(self._p(), byref(p)), "dhp_limits_get", self)
        try:
            return Limits._snap(p)
        finally:
            lib.dhp_limits_free(p)

    def register_limits(self, callback: Callable[["Limits"], Any], *, name: Optional[str] = None,
                        flags: int = 0) -> "LimitsRegistration":
        """Be told of every change of the partition's limits
        (``dhp_limits_register``)."""
        _need("dhp_limits_register")
        return LimitsRegistration(self, callback, name, flags)


def _need(fn: str) -> None:
    if getattr(lib, fn, None) is None:
        raise Error(_errno.ENOSYS, f"{library_path} has no {fn} (a newer libdhp is needed)", fn)


class SimCpuAdd(NamedTuple):
    index: int
    admitted: bool


class MemoryZone(enum.IntEnum):
    UNKNOWN = 0
    NORMAL = 1
    MOVABLE = 2


class MemoryBlock(NamedTuple):
    index: int     # the kernel's block index (Linux: memoryN)
    online: bool
    zone: MemoryZone


class MemoryDevice(NamedTuple):
    """A memory device as one hot-add brought it, and its blocks."""
    base: int
    size: int
    nblocks: int
    online_blocks: int
    arrived: bool   # every block online
    blocks: list


MemoryStatus = MemoryDevice  # the name status() used first


class Status(NamedTuple):
    processors: list
    memory_conditions: dict
    memory: Optional[list]

    @property
    def admitted(self) -> list:
        return [i for i, s in enumerate(self.processors) if s is ProcState.ADMITTED]


def _memory_devices(ctx: Context) -> Optional[list]:
    """The memory devices, or None where the library or the target cannot
    enumerate them (an older libdhp; a dhpd that does not send blocks)."""
    if getattr(lib, "dhp_memory_snapshot_new", None) is None:
        return None
    try:
        return ctx.memory_devices()
    except Error as e:
        if e.errno == _errno.EOPNOTSUPP:
            return None
        raise


# ---------------------------------------------------------------- registrations


class _Child:
    """Something hanging off a context, freed by close() or with it."""
    _ptr: Any = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return not self._ptr

    def _forget(self) -> None:
        # The context is being closed: dhp_close() frees the handle.
        self._ptr = None

    def close(self) -> None:
        with self._ctx._lock:
            ptr, self._ptr = self._ptr, None
            self._ctx._drop(self)
        if ptr:
            self._free(ptr)

    def _free(self, ptr: c_void_p) -> None:  # pragma: no cover - each kind overrides
        raise NotImplementedError


class ProcChange:
    """One call of a synchronous callback; valid only during it."""

    __slots__ = ("_ptr", "state", "index", "number", "_status", "registration")

    def __init__(self, ptr: int, registration: "ProcRegistration") -> None:
        self._ptr = ptr
        #: The registration this call is for: ``change.registration.close()``
        #: deregisters from inside the callback (the rest of its phases are
        #: skipped; during ADD_EXISTING, register_proc() then returns it closed).
        self.registration = registration
        self.state = ProcChangeState(lib.dhp_proc_change_get_state(ptr))
        self.index: int = lib.dhp_proc_change_get_index(ptr)
        n = lib.dhp_proc_change_get_number(ptr)
        #: (group, number within the group)
        self.number = (n.group, n.number)
        self._status = None

    @property
    def status(self) -> int:
        """The add's status: 0 during ADD_START until someone vetoes; the
        reason (a negative errno) at ADD_FAILURE."""
        if self._ptr is None:
            return self._status
        return lib.dhp_proc_change_get_status(self._ptr)

    def veto(self, error: int = _errno.EBUSY) -> bool:
        """During ADD_START, fail the add with ``error`` (an errno, sign
        ignored).  True when this veto set the status, False when another
        had (the first wins).  ValueError outside ADD_START."""
        if self._ptr is None:
            raise ValueError("dhp: a ProcChange is valid only during its callback")
        r = lib.dhp_proc_change_veto(self._ptr, _neg_errno(error))
        if r == -_errno.EALREADY:
            return False
        if r < 0:
            raise ValueError(f"dhp: veto outside ADD_START or with a bad error ({os.strerror(-r)})")
        return True

    def __repr__(self) -> str:
        return f"<ProcChange {self.state.name} cpu{self.index}>"


class ProcRegistration(_Child):
    """A synchronous registration; ``close()`` (or the ``with`` block's
    end) deregisters: the callback is never called after it returns."""

    def __init__(self, ctx: Context, callback: Callable, name: Optional[str], add_existing: bool,
                 veto_on_error: bool) -> None:
        self._ctx = ctx
        self.callback = callback
        self.veto_on_error = veto_on_error

        self._gone = False  # closed, by a callback perhaps before register returned

        def trampoline(_userdata, change_ptr):
            if self._ptr is None and not self._gone and getattr(lib, "dhp_proc_change_get_reg", None):
                # ADD_EXISTING, or an add racing the registration: the
                # handle, so that the callback can deregister itself.
                self._ptr = c_void_p(lib.dhp_proc_change_get_reg(change_ptr))
            change = ProcChange(change_ptr, self)
            ok, _ = ctx._guard("processor", callback, change)
            if not ok and self.veto_on_error and change.state is ProcChangeState.ADD_START:
                lib.dhp_proc_change_veto(change_ptr, -_errno.ECANCELED)
            change._status = lib.dhp_proc_change_get_status(change_ptr)
            change._ptr = None

        self._cb = PROC_CB(trampoline)  # alive as long as the registration
        p = c_void_p()
        ctx._adopt(self)
        r = lib.dhp_proc_register(ctx._p(), _b(name), _PROC_ADD_EXISTING if add_existing else 0, self._cb, None,
                                  byref(p))
        if r == -_errno.ECANCELED and self._gone:
            return  # the callback deregistered itself during ADD_EXISTING: closed
        if r < 0:
            self._ptr = None
            self._gone = True
            ctx._drop(self)
            _check(r, "dhp_proc_register", ctx)
        if not self._gone:
            self._ptr = p  # else: a racing add's callback deregistered it; the handle is freed

    def _free(self, ptr: c_void_p) -> None:
        self._gone = True
        lib.dhp_proc_deregister(ptr)


class DeviceEvent(NamedTuple):
    """One arrival or removal, copied out of the callback."""
    cls: Class
    event: Event
    name: str
    existing: bool
    processor: Optional[int] = None
    number: Optional[tuple] = None
    base: Optional[int] = None
    size: Optional[int] = None

    @classmethod
    def _snap(cls, p: int) -> "DeviceEvent":
        kind = Class(lib.dhp_device_event_get_class(p))
        ev = Event(lib.dhp_device_event_get_event(p))
        name = _s(lib.dhp_device_event_get_name(p))
        existing = bool(lib.dhp_device_event_is_existing(p))
        if kind is Class.PROCESSOR:
            idx, num = c_uint32(), ProcNumber()
            lib.dhp_device_event_get_processor(p, byref(idx), byref(num))
            return cls(kind, ev, name, existing, processor=idx.value, number=(num.group, num.number))
        base, size = c_uint64(), c_uint64()
        lib.dhp_device_event_get_memory(p, byref(base), byref(size))
        return cls(kind, ev, name, existing, base=base.value, size=size.value)


class ArrivalRegistration(_Child):
    """An arrival registration; ``close()`` unregisters (allowed from
    inside its own callback)."""

    def __init__(self, ctx: Context, cls: Class, callback: Callable, name: Optional[str],
                 include_existing: bool) -> None:
        self._ctx = ctx
        self.callback = callback
        self.cls = cls

        self._gone = False

        def trampoline(_userdata, ev_ptr):
            if self._ptr is None and not self._gone and getattr(lib, "dhp_device_event_get_reg", None):
                # Delivered before register returned: the handle, so that
                # close() works from the callback.
                self._ptr = c_void_p(lib.dhp_device_event_get_reg(ev_ptr))
            ctx._guard("arrival", callback, DeviceEvent._snap(ev_ptr))

        self._cb = ARRIVAL_CB(trampoline)
        p = c_void_p()
        ctx._adopt(self)
        try:
            _check(lib.dhp_arrival_register(ctx._p(), _b(name), int(cls),
                                            _ARRIVAL_INCLUDE_EXISTING if include_existing else 0, self._cb, None,
                                            byref(p)), "dhp_arrival_register", ctx)
        except BaseException:
            ctx._drop(self)
            raise
        if not self._gone:
            self._ptr = p

    def _free(self, ptr: c_void_p) -> None:
        self._gone = True
        lib.dhp_arrival_unregister(ptr)


_FMT_BUF = 16384


def _format(p: int, kind: int) -> str:
    buf = ctypes.create_string_buffer(1024)
    n = lib.dhp_record_format(p, kind, buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        lib.dhp_record_format(p, kind, buf, len(buf))
    return buf.value.decode("utf-8", "replace")


class Record(NamedTuple):
    """One record of the notification stream, copied out of the callback:
    ``json`` and ``text`` are ``dhp_record_format``'s two forms."""
    seq: int
    time_ns: int
    method: str
    event: str
    json: str
    text: str

    @classmethod
    def _snap(cls, p: int) -> "Record":
        return cls(lib.dhp_record_get_seq(p), lib.dhp_record_get_time(p), _s(lib.dhp_record_get_method(p)),
                   _s(lib.dhp_record_get_event(p)), _format(p, _RECORD_JSON), _format(p, _RECORD_TEXT))

    def data(self) -> dict:
        """The JSON form, parsed."""
        import json
        return json.loads(self.json)


class Monitor(_Child):
    """A monitor of the record stream; ``close()`` removes it."""

    def __init__(self, ctx: Context, callback: Callable) -> None:
        self._ctx = ctx
        self.callback = callback

        def trampoline(_userdata, rec_ptr):
            ctx._guard("monitor", callback, Record._snap(rec_ptr))

        self._cb = MONITOR_CB(trampoline)
        p = c_void_p()
        ctx._adopt(self)
        try:
            _check(lib.dhp_monitor_add(ctx._p(), self._cb, None, byref(p)), "dhp_monitor_add", ctx)
        except BaseException:
            ctx._drop(self)
            raise
        self._ptr = p

    def _free(self, ptr: c_void_p) -> None:
        lib.dhp_monitor_remove(ptr)


# ---------------------------------------------------------------- memory conditions


class MemCond(_Child):
    """A memory condition event (``dhp_memcond_open``): ``is_set``,
    ``wait()``, and ``fileno()``, readable exactly while it is set (poll
    it, never read it)."""

    def __init__(self, ctx: Context, name: str) -> None:
        self._ctx = ctx
        p = c_void_p()
        _check(lib.dhp_memcond_open(ctx._p(), _b(name), byref(p)), "dhp_memcond_open", ctx,
               None if name in MEMCOND_NAMES else f"no memory condition named '{name}' "
               f"(one of {', '.join(MEMCOND_NAMES)})")
        self._ptr = p
        ctx._adopt(self)
        self.name = name

    def _free(self, ptr: c_void_p) -> None:
        lib.dhp_memcond_close(ptr)

    def _h(self) -> c_void_p:
        if not self._ptr:
            raise ValueError("dhp: the memory condition handle is closed")
        return self._ptr

    @property
    def is_set(self) -> bool:
        return bool(lib.dhp_memcond_is_set(self._h()))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever, 0: test) for the
        event to be set; True when it is (or was set meanwhile)."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        return bool(_check(lib.dhp_memcond_wait(self._h(), ms), "dhp_memcond_wait", self._ctx))

    def fileno(self) -> int:
        return lib.dhp_memcond_get_fd(self._h())

    def __repr__(self) -> str:
        state = "closed" if not self._ptr else ("set" if self.is_set else "clear")
        return f"<MemCond {self.name} {state}>"


# ---------------------------------------------------------------- devices and drivers


class RebalanceContext(NamedTuple):
    """One driver request, copied out of the handler's call."""
    request: RebalanceRequest
    device: "Device"
    processor: int
    old_affinity: str
    new_affinity: str
    vectors: int


class Device(_Child):
    """A device that takes part in rebalances (``dhp_device_new``);
    ``close()`` unregisters it and detaches its drivers."""

    def __init__(self, ctx: Context, name: str, setup_class: str) -> None:
        self._ctx = ctx
        p = c_void_p()
        _check(lib.dhp_device_new(ctx._p(), _b(name), _b(setup_class), byref(p)), "dhp_device_new", ctx)
        self._ptr = p
        self._drivers: list = []
        ctx._adopt(self)

    def _free(self, ptr: c_void_p) -> None:
        lib.dhp_device_free(ptr)
        for d in self._drivers:
            d._ptr = None
        self._drivers.clear()

    def _forget(self) -> None:
        super()._forget()
        for d in self._drivers:
            d._ptr = None

    def _h(self) -> c_void_p:
        if not self._ptr:
            raise ValueError("dhp: the device is closed")
        return self._ptr

    @property
    def name(self) -> str:
        return _s(lib.dhp_device_get_name(self._h()))

    @property
    def setup_class(self) -> str:
        return _s(lib.dhp_device_get_setup_class(self._h()))

    def set_policy(self, policy: RebalancePolicy) -> None:
        _check(lib.dhp_device_set_policy(self._h(), int(policy)), "dhp_device_set_policy", self._ctx)

    @property
    def participates(self) -> bool:
        """Whether the next rebalance would include the device."""
        return bool(_check(lib.dhp_device_participates(self._h()), "dhp_device_participates", self._ctx))

    def set_affinity_policy(self, policy: AffinityPolicy) -> None:
        _check(lib.dhp_device_set_affinity_policy(self._h(), int(policy)), "dhp_device_set_affinity_policy",
               self._ctx)

    @property
    def affinity(self) -> str:
        """The interrupt affinity, a CPU list ("0-3,8"); assign a list to set it."""
        p = c_void_p()
        _check(lib.dhp_device_get_affinity(self._h(), byref(p)), "dhp_device_get_affinity", self._ctx)
        return lib.take_string(p) or ""

    @affinity.setter
    def affinity(self, cpulist: str) -> None:
        _check(lib.dhp_device_set_affinity(self._h(), _b(cpulist)), "dhp_device_set_affinity", self._ctx)

    def affinity_has(self, cpu: int) -> bool:
        return bool(_check(lib.dhp_device_affinity_has(self._h(), cpu), "dhp_device_affinity_has", self._ctx))

    @property
    def stopped_ns(self) -> tuple:
        """(last, max): how long the device was stopped in its last
        rebalance and at most."""
        last, mx = c_uint64(), c_uint64()
        _check(lib.dhp_device_get_stopped_ns(self._h(), byref(last), byref(mx)), "dhp_device_get_stopped_ns",
               self._ctx)
        return last.value, mx.value

    def attach_driver(self, handler: Callable[[RebalanceContext], Optional[int]], *, name: str = "python",
                      level: Optional[int] = None) -> "Driver":
        """Push a driver on the device's stack (``level``: counted from the
        bottom).  ``handler(rctx)`` returns None or 0, or an errno (a
        refusal from QUERY_STOP); one that raises refuses QUERY_STOP (EIO)
        and is recorded as failed elsewhere."""
        return Driver(self, handler, name, level)


class Driver:
    """A driver in a device's stack; ``detach()`` removes it."""

    def __init__(self, dev: Device, handler: Callable, name: str, level: Optional[int]) -> None:
        ctx = dev._ctx
        self._dev = dev
        self.handler = handler

        def trampoline(_userdata, req, rctx_ptr):
            rctx = RebalanceContext(RebalanceRequest(lib.dhp_rebalance_ctx_get_request(rctx_ptr)), dev,
                                    lib.dhp_rebalance_ctx_get_processor(rctx_ptr),
                                    _s(lib.dhp_rebalance_ctx_get_old_affinity(rctx_ptr)),
                                    _s(lib.dhp_rebalance_ctx_get_new_affinity(rctx_ptr)),
                                    lib.dhp_rebalance_ctx_get_vectors(rctx_ptr))
            ok, r = ctx._guard("driver", handler, rctx)
            if not ok:
                return -_errno.EIO
            return 0 if not r else _neg_errno(r)

        self._cb = DRIVER_CB(trampoline)
        p = c_void_p()
        if level is None:
            r = lib.dhp_driver_attach(dev._h(), _b(name), self._cb, None, byref(p))
        else:
            r = lib.dhp_driver_attach_at(dev._h(), level, _b(name), self._cb, None, byref(p))
        _check(r, "dhp_driver_attach", ctx)
        self._ptr = p
        dev._drivers.append(self)

    def detach(self) -> None:
        """No handler call after it returns; Error(EBUSY) from a handler of
        the same device."""
        if not self._ptr:
            return
        _check(lib.dhp_driver_detach(self._ptr), "dhp_driver_detach", self._dev._ctx)
        self._ptr = None
        self._dev._drivers.remove(self)

    close = detach

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()


# ---------------------------------------------------------------- held I/O


class IoQueue:
    """A held-I/O queue for a driver (``dhp_ioq_*``): ``submit(request)``
    calls ``process(request)`` at once while running, holds it between
    ``hold()`` and ``release()``; ``complete(request)`` ends one in flight.
    Requests are any Python objects."""

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self._objs: dict = {}
        self._next = 1
        self._lock = threading.Lock()
        self.process = process
        self.errors = 0

        def trampoline(_userdata, req):
            with self._lock:
                obj = self._objs[req]
            try:
                process(obj)
            except BaseException as exc:  # noqa: B902
                self.errors += 1
                _default_error_hook(exc, "ioq process")

        self._cb = IOQ_PROCESS_FN(trampoline)
        p = c_void_p()
        _check(lib.dhp_ioq_new(byref(p), self._cb, None), "dhp_ioq_new")
        self._ptr = p
        self._keys: dict = {}

    def _key(self, obj: Any) -> int:
        with self._lock:
            k = self._keys.get(id(obj))
            if k is None:
                k = self._next
                self._next += 1
                self._keys[id(obj)] = k
                self._objs[k] = obj
            return k

    def submit(self, request: Any) -> bool:
        """True when dispatched (processed on this thread), False when held."""
        k = self._key(request)
        r = _check(lib.dhp_ioq_submit(self._ptr, k), "dhp_ioq_submit")
        return r == 0

    def complete(self, request: Any) -> None:
        with self._lock:
            k = self._keys.pop(id(request), None)
            if k is not None:
                self._objs.pop(k, None)
        if k is not None:
            lib.dhp_ioq_complete(self._ptr, k)

    def hold(self) -> None:
        _check(lib.dhp_ioq_hold(self._ptr), "dhp_ioq_hold")

    def drain(self, timeout: Optional[float] = None) -> bool:
        """True when nothing is in flight, False on timeout."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        r = lib.dhp_ioq_drain(self._ptr, ms)
        if r == -_errno.ETIMEDOUT:
            return False
        _check(r, "dhp_ioq_drain")
        return True

    def release(self) -> int:
        return _check(lib.dhp_ioq_release(self._ptr), "dhp_ioq_release")

    def stat(self, which: IoqStat) -> int:
        v = c_uint64()
        _check(lib.dhp_ioq_get_stat(self._ptr, int(which), byref(v)), "dhp_ioq_get_stat")
        return v.value

    def close(self) -> None:
        if self._ptr:
            lib.dhp_ioq_free(self._ptr)
            self._ptr = None

    def __enter__(self) -> "IoQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


# ---------------------------------------------------------------- limits


class Limits(NamedTuple):
    """A snapshot of the partition's limits (doc/limits-api.md)."""
    seq: int
    changed: int
    cpus: str
    cpu_count: int
    cpu_max: tuple
    bandwidth: float
    pool_size: int
    memory_max: int
    memory_high: int
    memory_current: int

    @classmethod
    def _snap(cls, p: Any) -> "Limits":
        q, per = c_uint64(), c_uint64()
        lib.dhp_limits_get_cpu_max(p, byref(q), byref(per))
        return cls(lib.dhp_limits_get_seq(p), lib.dhp_limits_get_changed(p), _s(lib.dhp_limits_get_cpus(p)),
                   lib.dhp_limits_get_cpu_count(p), (q.value, per.value), lib.dhp_limits_get_bandwidth(p),
                   lib.dhp_limits_get_pool_size(p), lib.dhp_limits_get_memory_max(p),
                   lib.dhp_limits_get_memory_high(p), lib.dhp_limits_get_memory_current(p))


class LimitsRegistration(_Child):
    def __init__(self, ctx: Context, callback: Callable, name: Optional[str], flags: int) -> None:
        self._ctx = ctx

        def trampoline(_userdata, lp):
            ctx._guard("limits", callback, Limits._snap(lp))

        self._cb = LIMITS_CB(trampoline)
        p = c_void_p()
        ctx._adopt(self)
        try:
            _check(lib.dhp_limits_register(ctx._p(), _b(name), flags, self._cb, None, byref(p)),
                   "dhp_limits_register", ctx)
        except BaseException:
            ctx._drop(self)
            raise
        self._ptr = p

    def _free(self, ptr: c_void_p) -> None:
        lib.dhp_limits_unregister(ptr)


# ---------------------------------------------------------------- no context


def check_scenario(text: str, filename: str = "<scenario>") -> None:
    """Parse a scenario without running it; Error(EINVAL) with
    ``FILE:LINE:COL: message``."""
    err = c_void_p()
    r = lib.dhp_sim_check_scenario(_b(filename), _b(text), byref(err))
    _check(r, "dhp_sim_check_scenario", None, lib.take_string(err))
