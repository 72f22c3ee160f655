# SPDX-License-Identifier: MIT
"""libdhp.so through ctypes: finding the library and declaring its functions.

Each C function is one row of ``_DECLS``: name, return type, argument types,
and whether the function may be absent (a newer function than the library
that was found).  A row is all it takes to reach a new function from Python:
``lib.dhp_x(...)``; an absent optional function is ``None`` on ``lib``.

The library is loaded with ``ctypes.CDLL``, which releases the GIL around
every call: a callback that the library runs on one of its threads (the
connection thread of a ``unix:`` context, the notification thread) takes
the GIL while a Python thread waits inside a call (``dhp_sim_cpu_add``
waiting for dhpd, which waits for that callback's answer).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double, c_int, c_size_t, c_uint8,
                    c_uint16, c_uint32, c_uint64, c_void_p)

__all__ = ["lib", "library_path", "ProcNumber", "PROC_CB", "ARRIVAL_CB", "MONITOR_CB", "DRIVER_CB",
           "IOQ_PROCESS_FN", "LIMITS_CB", "has"]


class ProcNumber(Structure):
    """dhp_proc_number: group and number within the group."""
    _fields_ = [("group", c_uint16), ("number", c_uint8), ("reserved", c_uint8)]


# Callback types: (void *userdata, const T *).
PROC_CB = CFUNCTYPE(None, c_void_p, c_void_p)
ARRIVAL_CB = CFUNCTYPE(None, c_void_p, c_void_p)
MONITOR_CB = CFUNCTYPE(None, c_void_p, c_void_p)
DRIVER_CB = CFUNCTYPE(c_int, c_void_p, c_int, c_void_p)
IOQ_PROCESS_FN = CFUNCTYPE(None, c_void_p, c_void_p)
LIMITS_CB = CFUNCTYPE(None, c_void_p, c_void_p)

_p = c_void_p
_pp = POINTER(c_void_p)
_str = c_char_p
_u32p = POINTER(c_uint32)
_u64p = POINTER(c_uint64)
_strp = POINTER(c_void_p)  # char ** (a malloc'ed string the caller frees)

# name, restype, argtypes[, optional]
_DECLS = [
    # context
    ("dhp_open", c_int, [_pp, _str]),
    ("dhp_reconnect", c_int, [_p]),
    ("dhp_close", None, [_p]),
    ("dhp_get_fd", c_int, [_p]),
    ("dhp_process", c_int, [_p]),
    ("dhp_wait", c_int, [_p, c_int]),
    ("dhp_start_thread", c_int, [_p]),
    ("dhp_stop_thread", c_int, [_p]),
    ("dhp_set_name", c_int, [_p, _str]),
    # processors
    ("dhp_proc_count", c_int, [_p, _u32p]),
    ("dhp_proc_get_state", c_int, [_p, c_uint32, POINTER(c_int)]),
    # synchronous notification
    ("dhp_proc_change_get_state", c_int, [_p]),
    ("dhp_proc_change_get_index", c_uint32, [_p]),
    ("dhp_proc_change_get_number", ProcNumber, [_p]),
    ("dhp_proc_change_get_status", c_int, [_p]),
    ("dhp_proc_change_veto", c_int, [_p, c_int]),
    ("dhp_proc_register", c_int, [_p, _str, c_uint32, PROC_CB, _p, _pp]),
    ("dhp_proc_deregister", None, [_p]),
    # arrival
    ("dhp_device_event_get_class", c_int, [_p]),
    ("dhp_device_event_get_event", c_int, [_p]),
    ("dhp_device_event_get_name", _str, [_p]),
    ("dhp_device_event_get_processor", c_int, [_p, _u32p, POINTER(ProcNumber)]),
    ("dhp_device_event_get_memory", c_int, [_p, _u64p, _u64p]),
    ("dhp_device_event_is_existing", c_bool, [_p]),
    ("dhp_arrival_register", c_int, [_p, _str, c_int, c_uint32, ARRIVAL_CB, _p, _pp]),
    ("dhp_arrival_unregister", None, [_p]),
    # the record stream
    ("dhp_record_get_seq", c_uint64, [_p]),
    ("dhp_record_get_time", c_uint64, [_p]),
    ("dhp_record_get_method", _str, [_p]),
    ("dhp_record_get_event", _str, [_p]),
    ("dhp_record_format", c_int, [_p, c_int, c_void_p, c_size_t]),
    ("dhp_monitor_add", c_int, [_p, MONITOR_CB, _p, _pp]),
    ("dhp_monitor_remove", None, [_p]),
    # rebalance: devices and drivers
    ("dhp_rebalance_ctx_get_request", c_int, [_p]),
    ("dhp_rebalance_ctx_get_device", _p, [_p]),
    ("dhp_rebalance_ctx_get_processor", c_uint32, [_p]),
    ("dhp_rebalance_ctx_get_old_affinity", _str, [_p]),
    ("dhp_rebalance_ctx_get_new_affinity", _str, [_p]),
    ("dhp_rebalance_ctx_get_vectors", c_uint32, [_p]),
    ("dhp_device_new", c_int, [_p, _str, _str, _pp]),
    ("dhp_device_free", None, [_p]),
    ("dhp_device_get_name", _str, [_p]),
    ("dhp_device_get_setup_class", _str, [_p]),
    ("dhp_device_set_policy", c_int, [_p, c_int]),
    ("dhp_device_participates", c_int, [_p]),
    ("dhp_device_set_affinity_policy", c_int, [_p, c_int]),
    ("dhp_device_set_affinity", c_int, [_p, _str]),
    ("dhp_device_get_affinity", c_int, [_p, _strp]),
    ("dhp_device_affinity_has", c_int, [_p, c_uint32]),
    ("dhp_device_get_stopped_ns", c_int, [_p, _u64p, _u64p]),
    ("dhp_setup_class_set_optout", c_int, [_p, _str, c_bool]),
    ("dhp_setup_class_get_optout", c_int, [_p, _str, POINTER(c_bool)]),
    ("dhp_driver_attach", c_int, [_p, _str, DRIVER_CB, _p, _pp]),
    ("dhp_driver_attach_at", c_int, [_p, c_uint32, _str, DRIVER_CB, _p, _pp]),
    ("dhp_driver_detach", c_int, [_p]),
    # held I/O
    ("dhp_ioq_new", c_int, [_pp, IOQ_PROCESS_FN, _p]),
    ("dhp_ioq_free", None, [_p]),
    ("dhp_ioq_submit", c_int, [_p, _p]),
    ("dhp_ioq_complete", None, [_p, _p]),
    ("dhp_ioq_hold", c_int, [_p]),
    ("dhp_ioq_drain", c_int, [_p, c_int]),
    ("dhp_ioq_release", c_int, [_p]),
    ("dhp_ioq_get_stat", c_int, [_p, c_int, _u64p]),
    # the simulated platform
    ("dhp_sim_cpu_add", c_int, [_p, _u32p]),
    ("dhp_sim_memory_add", c_int, [_p, c_uint64, _u64p]),
    ("dhp_sim_run_scenario", c_int, [_p, _str, _str, _strp]),
    ("dhp_sim_check_scenario", c_int, [_str, _str, _strp]),
    ("dhp_sim_memory_set_levels", c_int, [_p, c_uint64, c_uint64, c_uint64, c_uint64]),
    # memory conditions
    ("dhp_memcond_open", c_int, [_p, _str, _pp]),
    ("dhp_memcond_close", None, [_p]),
    ("dhp_memcond_get_name", _str, [_p]),
    ("dhp_memcond_is_set", c_bool, [_p]),
    ("dhp_memcond_wait", c_int, [_p, c_int]),
    ("dhp_memcond_get_fd", c_int, [_p]),
    ("dhp_memcond_set_threshold", c_int, [_p, c_int, c_uint64, _strp]),
    ("dhp_memcond_get_threshold", c_int, [_p, c_int, _u64p]),
    ("dhp_memcond_configure", c_int, [_p, _str, _strp]),
    ("dhp_memcond_next_timeout_ms", c_int, [_p]),
    # Newer functions: bound when the library has them.
    ("dhp_proc_online", c_int, [_p, c_uint32, POINTER(c_int)], True),
    ("dhp_proc_change_get_reg", _p, [_p], True),
    ("dhp_device_event_get_reg", _p, [_p], True),
    ("dhp_memory_snapshot_new", c_int, [_p, _pp], True),
    ("dhp_memory_snapshot_free", None, [_p], True),
    ("dhp_memory_snapshot_get_count", c_uint32, [_p], True),
    ("dhp_memory_snapshot_get_device", c_int, [_p, c_uint32, _u64p, _u64p, _u32p, _u32p], True),
    ("dhp_memory_snapshot_get_block", c_int, [_p, c_uint32, c_uint32, _u64p, POINTER(c_int), POINTER(c_int)],
     True),
    ("dhp_strerror", _str, [c_int], True),
    # doc/limits-api.md
    ("dhp_limits_register", c_int, [_p, _str, c_uint32, LIMITS_CB, _p, _pp], True),
    ("dhp_limits_unregister", None, [_p], True),
    ("dhp_limits_get", c_int, [_p, _pp], True),
    ("dhp_limits_free", None, [_p], True),
    ("dhp_limits_get_seq", c_uint64, [_p], True),
    ("dhp_limits_get_changed", c_uint32, [_p], True),
    ("dhp_limits_get_cpus", _str, [_p], True),
    ("dhp_limits_get_cpu_count", c_uint32, [_p], True),
    ("dhp_limits_get_cpu_max", None, [_p, _u64p, _u64p], True),
    ("dhp_limits_get_bandwidth", c_double, [_p], True),
    ("dhp_limits_get_pool_size", c_uint32, [_p], True),
    ("dhp_limits_get_memory_max", c_uint64, [_p], True),
    ("dhp_limits_get_memory_high", c_uint64, [_p], True),
    ("dhp_limits_get_memory_current", c_uint64, [_p], True),
]


def _candidates() -> list:
    env = os.environ.get("DHP_LIBRARY")
    if env:
        return [env]  # tests: exactly this one, or fail
    out = []
    try:
        from . import _config  # written by meson at install: the prefix's libdir
        out.append(os.path.join(_config.LIBDIR, "libdhp.so.0"))
    except ImportError:
        pass
    out.append("libdhp.so.0")
    found = ctypes.util.find_library("dhp")
    if found:
        out.append(found)
    return out


def _load():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name, use_errno=True), name
        except OSError as e:
            errors.append(f"{name}: {e}")
    raise ImportError("dhp: cannot load libdhp.so (set DHP_LIBRARY to its path): " + "; ".join(errors))


class _Lib:
    """The loaded library's functions as attributes, declared from _DECLS."""

    def __init__(self) -> None:
        self._dll, self.path = _load()
        self._libc = ctypes.CDLL(None)
        self._libc.free.argtypes = [c_void_p]
        self._libc.free.restype = None
        for row in _DECLS:
            name, restype, argtypes = row[:3]
            optional = len(row) > 3 and row[3]
            try:
                fn = getattr(self._dll, name)
            except AttributeError:
                if not optional:
                    raise ImportError(f"dhp: {self.path} lacks {name}: too old a libdhp") from None
                setattr(self, name, None)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)

    def free(self, p) -> None:
        self._libc.free(p)

    def take_string(self, p: c_void_p) -> str | None:
        """A malloc'ed char * the caller owns: its text, freed."""
        if not p or not p.value:
            return None
        try:
            return ctypes.string_at(p.value).decode("utf-8", "replace")
        finally:
            self.free(p.value)

    def optional(self, name: str):
        """Hook for functions that may be absent: the function or None."""
        return getattr(self, name, None)


lib = _Lib()
library_path = lib.path


def has(name: str) -> bool:
    """True when the loaded libdhp has the function `name`."""
    return getattr(lib, name, None) is not None or hasattr(lib._dll, name)
