# SPDX-License-Identifier: MIT
"""Callbacks that raise: reported, the library goes on, nothing hangs; a
veto from Python fails the add for a C client of the same dhpd too."""
from __future__ import annotations

import errno
import gc
import select
import subprocess
import time

from conftest import E2ECLIENT, wait_for

import dhp


def test_proc_callback_raises_add_goes_on(ctx, capfd):
    seen = []

    def bad(c):
        seen.append(c.state)
        raise RuntimeError("boom in " + c.state.name)

    with ctx.register_proc(bad):
        assert ctx.sim_cpu_add() == (2, True)  # the add goes on: no veto
    assert seen == [dhp.ProcChangeState.ADD_START, dhp.ProcChangeState.ADD_COMPLETE]
    assert ctx.callback_errors == 2
    err = capfd.readouterr().err
    assert "boom in ADD_START" in err and "RuntimeError" in err and "dhp: exception in a processor callback" in err


def test_proc_callback_raises_veto_on_error(ctx):
    reported = []
    ctx.on_callback_error = lambda exc, where: reported.append((where, str(exc)))
    seen = []

    def bad(c):
        seen.append((c.state, c.status))
        if c.state is dhp.ProcChangeState.ADD_START:
            raise ValueError("no room")

    with ctx.register_proc(bad, veto_on_error=True):
        assert ctx.sim_cpu_add() == (2, False)
    assert seen == [(dhp.ProcChangeState.ADD_START, 0), (dhp.ProcChangeState.ADD_FAILURE, -errno.ECANCELED)]
    assert reported == [("processor", "no room")]


def test_error_hook_that_raises_falls_back(ctx, capfd):
    def hook(exc, where):
        raise KeyError("the hook itself")
    ctx.on_callback_error = hook
    ctx.register_proc(lambda c: 1 / 0)
    assert ctx.sim_cpu_add().admitted
    assert "ZeroDivisionError" in capfd.readouterr().err


def test_arrival_callback_raises_later_ones_delivered(ctx):
    ctx.on_callback_error = lambda exc, where: None
    got = []

    def bad(ev):
        got.append(ev.name)
        raise RuntimeError("arrival")

    ctx.register_arrival(dhp.Class.PROCESSOR, bad)
    ctx.sim_cpu_add()
    ctx.sim_cpu_add()
    wait_for(lambda: (ctx.wait(0.5), ctx.process()) and len(got) == 2, what="both arrivals")
    assert got == ["cpu2", "cpu3"] and ctx.callback_errors == 2


def test_monitor_callback_raises(ctx):
    ctx.on_callback_error = lambda exc, where: None
    ctx.monitor(lambda r: 1 / 0)
    assert ctx.sim_cpu_add().admitted
    wait_for(lambda: ctx.callback_errors >= 2, what="the monitor's errors")


def test_driver_raises_refuses_query_stop(ctx):
    ctx.on_callback_error = lambda exc, where: None
    ctx.start_thread()
    dev = ctx.device_new("py-raise", "Storage")
    reqs = []

    def bad(r):
        reqs.append(r.request)
        raise RuntimeError("driver")

    dev.attach_driver(bad)
    ctx.sim_cpu_add()
    wait_for(lambda: len(reqs) >= 2, what="QUERY_STOP, CANCEL_STOP")
    R = dhp.RebalanceRequest
    assert reqs == [R.QUERY_STOP, R.CANCEL_STOP]  # refused: no STOP, no START
    assert ctx.callback_errors == 2
    assert dev.affinity == "0-1"


def test_callbacks_kept_alive(ctx):
    # Registrations dropped by the caller stay registered (the context
    # holds them and their ctypes callbacks) until closed.
    seen = []
    ctx.register_proc(lambda c: seen.append(c.state))
    ctx.register_arrival(dhp.Class.PROCESSOR, lambda e: seen.append(e.name))
    gc.collect()
    ctx.sim_cpu_add()
    wait_for(lambda: (ctx.wait(0.5), ctx.process()) and "cpu2" in seen, what="the arrival")
    assert seen[:2] == [dhp.ProcChangeState.ADD_START, dhp.ProcChangeState.ADD_COMPLETE]


def _read_line(proc, want, timeout=20.0):
    end = time.monotonic() + timeout
    lines = []
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            line = proc.stdout.readline().decode()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == want:
                return lines
    raise AssertionError(f"no '{want}' from the C client; it said {lines}")


def test_python_veto_fails_the_add_for_a_c_client(dhpd):
    # The C client (public API only) registers after Python: dhpd sends
    # each phase to both; Python's veto fails the add in both.
    with dhp.open(dhpd.target, name="py-veto") as ctx:
        phases = []

        def veto(c):
            phases.append(c.state)
            if c.state is dhp.ProcChangeState.ADD_START:
                c.veto(errno.ENOSPC)

        ctx.register_proc(veto, name="py-veto")
        c = subprocess.Popen([E2ECLIENT, "-s", dhpd.sock, "-n", "c-client", "-S"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            _read_line(c, "READY")
            assert ctx.sim_cpu_add() == (2, False)
            _read_line(c, "FAILURE cpu2")
            assert phases == [dhp.ProcChangeState.ADD_START, dhp.ProcChangeState.ADD_FAILURE]
            assert ctx.proc_state(2) is not dhp.ProcState.ADMITTED
        finally:
            c.terminate()
            _, err = c.communicate(timeout=20)
        assert "SYNC state=ADD_FAILURE cpu=2" in err.decode() and f"status={-errno.ENOSPC}" in err.decode()


def test_slow_python_callback_does_not_hang_dhpd(start_dhpd):
    # A callback that sleeps past nothing: every phase answered; the C
    # library's deadline is dhpd's business, the binding adds no lock.
    d = start_dhpd()
    with dhp.open(d.target) as ctx:
        ctx.register_proc(lambda c: time.sleep(0.05))
        t = time.monotonic()
        assert ctx.sim_cpu_add().admitted
        assert time.monotonic() - t < 10
