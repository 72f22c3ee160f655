# SPDX-License-Identifier: MIT
"""Each feature of dhp.h through the Python package, on the in-process sim
and as a client of dhpd --platform sim (the `target` fixture)."""
from __future__ import annotations

import errno
import selectors
import threading

import pytest
from conftest import wait_for

import dhp


def test_open_errors(tmp_path):
    with pytest.raises(dhp.Error) as e:
        dhp.open("unix:" + str(tmp_path / "nobody.sock"))
    assert e.value.errno in (errno.ENOENT, errno.ECONNREFUSED)
    assert isinstance(e.value, OSError)
    assert "dhp_open" in str(e.value)
    with pytest.raises(dhp.Error) as e:
        dhp.open("martian")
    assert e.value.errno == errno.EPROTONOSUPPORT
    with pytest.raises(dhp.Error) as e:
        dhp.open("sim:cpus=banana")
    assert e.value.errno == errno.EINVAL


def test_context_manager_closes():
    with dhp.open("sim") as ctx:
        reg = ctx.register_proc(lambda c: None)
        assert not ctx.closed and not reg.closed
    assert ctx.closed and reg.closed
    with pytest.raises(ValueError):
        ctx.proc_count
    reg.close()  # after the context: a no-op


def test_processors(ctx):
    assert ctx.proc_count == 8
    assert ctx.admitted() == [0, 1]
    assert ctx.proc_state(5) is dhp.ProcState.ABSENT
    with pytest.raises(dhp.Error) as e:
        ctx.proc_state(4096)
    assert e.value.errno == errno.ERANGE


def test_sync_veto_and_order(ctx):
    calls = []

    def first(c):
        calls.append(("first", c.state, c.index, c.number))
        if c.state is dhp.ProcChangeState.ADD_START and c.index == 3:
            assert c.veto(errno.ENOMEM) is True
            assert c.veto(errno.EBUSY) is False  # the first veto wins
        if c.state is dhp.ProcChangeState.ADD_FAILURE:
            assert c.status == -errno.ENOMEM

    def second(c):
        calls.append(("second", c.state, c.index, c.number))

    with ctx.register_proc(first, name="first"), ctx.register_proc(second, name="second"):
        assert ctx.sim_cpu_add() == (2, True)
        assert ctx.sim_cpu_add() == (3, False)
    S = dhp.ProcChangeState
    assert calls == [
        ("first", S.ADD_START, 2, (0, 2)), ("second", S.ADD_START, 2, (0, 2)),
        ("first", S.ADD_COMPLETE, 2, (0, 2)), ("second", S.ADD_COMPLETE, 2, (0, 2)),
        ("first", S.ADD_START, 3, (0, 3)), ("second", S.ADD_START, 3, (0, 3)),
        ("first", S.ADD_FAILURE, 3, (0, 3)), ("second", S.ADD_FAILURE, 3, (0, 3)),
    ]
    assert ctx.proc_state(3) is not dhp.ProcState.ADMITTED
    # Deregistered: the next add runs no callback and is admitted.
    n = len(calls)
    assert ctx.sim_cpu_add().admitted
    assert len(calls) == n


def test_veto_outside_add_start(ctx):
    errs = []

    def cb(c):
        if c.state is dhp.ProcChangeState.ADD_COMPLETE:
            with pytest.raises(ValueError):
                c.veto(errno.EBUSY)
            errs.append(c)

    with ctx.register_proc(cb):
        ctx.sim_cpu_add()
    assert len(errs) == 1
    with pytest.raises(ValueError):
        errs[0].veto()  # after its callback


def test_add_existing(ctx):
    seen = []
    with ctx.register_proc(lambda c: seen.append((c.state.name, c.index)), add_existing=True):
        pass
    assert seen == [("ADD_START", 0), ("ADD_START", 1), ("ADD_COMPLETE", 0), ("ADD_COMPLETE", 1)]

    def veto_one(c):
        if c.state is dhp.ProcChangeState.ADD_START and c.index == 1:
            c.veto(errno.EDQUOT)
    with pytest.raises(dhp.Error) as e:
        ctx.register_proc(veto_one, add_existing=True)
    assert e.value.errno == errno.EDQUOT


def test_arrivals(ctx):
    cpus, mem = [], []
    ctx.register_arrival(dhp.Class.PROCESSOR, cpus.append, include_existing=True, name="cpus")
    ctx.register_arrival(dhp.Class.MEMORY, mem.append, name="mem")
    assert ctx.sim_cpu_add().admitted
    base = ctx.sim_memory_add(256 << 20)
    wait_for(lambda: ctx.wait(1.0) and ctx.process() >= 0 and len(cpus) == 3 and len(mem) == 1, what="arrivals")
    assert [(e.name, e.existing, e.processor) for e in cpus] == [("cpu0", True, 0), ("cpu1", True, 1),
                                                                 ("cpu2", False, 2)]
    assert all(e.event is dhp.Event.ARRIVAL and e.cls is dhp.Class.PROCESSOR for e in cpus)
    m = mem[0]
    assert (m.cls, m.event, m.base, m.size, m.existing) == (dhp.Class.MEMORY, dhp.Event.ARRIVAL, base, 256 << 20,
                                                             False)
    assert m.name == f"memory@{base:#x}"


def test_arrival_unregister_from_callback(ctx):
    got = []

    def once(ev):
        got.append(ev)
        reg.close()

    reg = ctx.register_arrival(dhp.Class.PROCESSOR, once)
    ctx.sim_cpu_add()
    ctx.sim_cpu_add()
    wait_for(lambda: (ctx.wait(0.2), ctx.process()) and len(got) == 1, what="one arrival")
    ctx.wait(0.2)
    ctx.process()
    assert len(got) == 1 and reg.closed


def test_notification_thread(ctx):
    got = threading.Event()
    ctx.register_arrival(dhp.Class.PROCESSOR, lambda ev: got.set())
    ctx.start_thread()
    with pytest.raises(dhp.Error) as e:
        ctx.start_thread()
    assert e.value.errno == errno.EALREADY
    ctx.sim_cpu_add()
    assert got.wait(10)
    with pytest.raises(dhp.Error) as e:
        ctx.process()
    assert e.value.errno == errno.EBUSY
    ctx.stop_thread()


def test_selectors(ctx):
    got = []
    ctx.register_arrival(dhp.Class.PROCESSOR, got.append)
    sel = selectors.DefaultSelector()
    sel.register(ctx, selectors.EVENT_READ)  # fileno()
    ctx.sim_cpu_add()
    while not got:
        assert sel.select(10), "the context's fd never became readable"
        ctx.process()
    assert got[0].name == "cpu2"


def test_monitor(ctx):
    recs = []
    mon = ctx.monitor(recs.append)
    ctx.sim_cpu_add()
    # On a unix: context, dhpd's records come on the connection thread.
    wait_for(lambda: any(r.method == "txn" and r.event == "ADMITTED" for r in recs), what="the ADMITTED record")
    mon.close()
    events = [(r.method, r.event) for r in recs]
    assert events.index(("txn", "STARTED")) < events.index(("txn", "ADMITTED"))
    seqs = [r.seq for r in recs]
    assert seqs == sorted(seqs)
    d = recs[0].data()
    assert d["seq"] == recs[0].seq and d["method"] == recs[0].method
    assert recs[0].text and "STARTED" in recs[0].text


def test_memcond(ctx, target):
    names = set(dhp.MEMCOND_NAMES)
    low = ctx.memcond("LowMemoryCondition")
    high = ctx.memcond("HighMemoryCondition")
    assert high.is_set and not low.is_set and low.name in names
    with pytest.raises(dhp.Error) as e:
        ctx.memcond("lowmemorycondition")
    assert e.value.errno == errno.ENOENT and "LowMemoryCondition" in e.value.strerror
    sel = selectors.DefaultSelector()
    sel.register(low, selectors.EVENT_READ)
    assert sel.select(0) == []
    if target == "sim":
        ctx.sim_set_memory_levels(available=4 << 20)
    else:
        ctx.sim_run("memory level available=4M\n")
    assert low.wait(10)
    assert low.is_set and sel.select(5)
    assert ctx.memcond_threshold(dhp.Threshold.LOW_MEMORY) == 8 << 20
    assert ctx.memcond_threshold(dhp.Threshold.HIGH_COMMIT) == 90
    with pytest.raises(dhp.Error) as e:
        ctx.memcond_configure("low=1G,high=1M")
    assert e.value.errno == errno.EINVAL and e.value.strerror  # the library's message
    ctx.memcond_configure("high_commit=80%")
    assert ctx.memcond_threshold(dhp.Threshold.HIGH_COMMIT) == 80
    ctx.memcond_set_threshold(dhp.Threshold.HIGH_COMMIT, 85)
    assert ctx.memcond_threshold(dhp.Threshold.HIGH_COMMIT) == 85
    low.close()
    assert low.closed
    if target == "sim":
        assert ctx.memcond_next_timeout() is None or ctx.memcond_next_timeout() >= 0


def test_status(ctx):
    st = ctx.status()
    assert st.admitted == [0, 1]
    assert st.memory_conditions["HighMemoryCondition"] is True
    assert set(st.memory_conditions) == set(dhp.MEMCOND_NAMES)


def test_scenario(ctx):
    ctx.sim_run("cpu add 2\nmemory add 128M\nsettle\n", "two.scenario")
    assert ctx.admitted() == [0, 1, 2, 3]
    with pytest.raises(dhp.Error) as e:
        ctx.sim_run("cpu add\nfrobnicate\n", "bad.scenario")
    assert e.value.errno == errno.EINVAL and e.value.strerror.startswith("bad.scenario:2:")
    dhp.check_scenario("cpu add 1\n")
    with pytest.raises(dhp.Error):
        dhp.check_scenario("nope\n", "x")


def test_devices_and_drivers(ctx):
    seen = []
    ctx.start_thread()  # drivers answer from the notification thread

    def lower(r):
        seen.append(("disk", r.request, r.processor, r.old_affinity, r.new_affinity))

    def upper(r):
        seen.append(("filter", r.request, r.processor))

    dev = ctx.device_new("py-disk", "Storage")
    assert (dev.name, dev.setup_class) == ("py-disk", "Storage")
    assert dev.affinity == "0-1" and dev.affinity_has(1) and not dev.affinity_has(2)
    assert dev.participates
    d1 = dev.attach_driver(lower, name="disk")
    dev.attach_driver(upper, name="filter")
    ctx.sim_cpu_add()
    wait_for(lambda: len(seen) >= 6, what="the rebalance")
    R = dhp.RebalanceRequest
    assert [(s[0], s[1]) for s in seen] == [("filter", R.QUERY_STOP), ("disk", R.QUERY_STOP), ("filter", R.STOP),
                                            ("disk", R.STOP), ("disk", R.START), ("filter", R.START)]
    assert seen[0][2] == 2 and seen[1][3:] == ("0-1", "0-2")
    wait_for(lambda: dev.affinity == "0-2", what="the new affinity")
    wait_for(lambda: dev.stopped_ns[1] > 0, what="the stopped time")
    d1.detach()
    dev.set_policy(dhp.RebalancePolicy.DO_NOT)
    assert not dev.participates
    dev.set_policy(dhp.RebalancePolicy.ABSENT)
    assert not ctx.class_optout("Storage") and ctx.class_optout("Net")
    ctx.set_class_optout("Storage", True)
    assert ctx.class_optout("Storage") and not dev.participates
    dev.set_affinity_policy(dhp.AffinityPolicy.KEEP)
    dev.affinity = "1"
    assert dev.affinity == "1"
    with pytest.raises(dhp.Error) as e:
        dev.affinity = "banana"
    assert e.value.errno == errno.EINVAL
    with pytest.raises(dhp.Error) as e:
        ctx.device_new("py-disk", "Storage")
    assert e.value.errno == errno.EEXIST
    dev.close()
    assert dev.closed


def test_driver_refuses(ctx):
    seen = []
    ctx.start_thread()
    dev = ctx.device_new("py-nic", "Storage")

    def refuse(r):
        seen.append(r.request)
        return errno.EBUSY if r.request is dhp.RebalanceRequest.QUERY_STOP else 0

    dev.attach_driver(lambda r: seen.append(("top", r.request)), name="top")
    dev.attach_driver(refuse, name="refuser", level=0)
    ctx.sim_cpu_add()
    R = dhp.RebalanceRequest
    wait_for(lambda: len(seen) >= 4, what="the refused rebalance")
    # CANCEL_STOP to the whole stack, bottom up, the refusing driver included.
    assert seen == [("top", R.QUERY_STOP), R.QUERY_STOP, R.CANCEL_STOP, ("top", R.CANCEL_STOP)]
    assert dev.affinity == "0-1"  # kept its resources


def test_ioq():
    done = []
    with dhp.IoQueue(done.append) as q:
        a, b, c = object(), object(), object()
        assert q.submit(a) is True and done == [a]
        q.hold()
        assert q.submit(b) is False and q.submit(c) is False
        assert q.stat(dhp.IoqStat.PENDING) == 2
        q.complete(a)
        assert q.drain(1.0)
        assert q.release() == 2 and done == [a, b, c]
        assert q.stat(dhp.IoqStat.HOLDS) == 1


def test_newer_functions_reported():
    # A function the library may not have yet is None, and its method says so.
    for name in ("dhp_limits_register", "dhp_limits_get"):
        if not dhp.has(name):
            with dhp.open("sim") as ctx, pytest.raises(dhp.Error) as e:
                ctx.limits() if name == "dhp_limits_get" else ctx.register_limits(print)
            assert e.value.errno == errno.ENOSYS


@pytest.mark.skipif(not dhp.has("dhp_proc_online"), reason="libdhp without dhp_proc_online")
def test_proc_online_retries_a_vetoed_processor():
    with dhp.open("sim") as ctx:
        refuse = [True]

        def cb(c):
            if c.state is dhp.ProcChangeState.ADD_START and refuse[0]:
                c.veto(errno.EAGAIN)

        ctx.register_proc(cb)
        assert ctx.sim_cpu_add() == (2, False)
        assert ctx.proc_online(2) == (False, -errno.EAGAIN)
        refuse[0] = False
        assert ctx.proc_online(2) == (True, 0)
        with pytest.raises(dhp.Error) as e:
            ctx.proc_online(2)
        assert e.value.errno == errno.EALREADY
        with pytest.raises(dhp.Error) as e:
            ctx.proc_online(7)
        assert e.value.errno == errno.ENODEV


@pytest.mark.skipif(not dhp.has("dhp_memory_snapshot_new"), reason="libdhp without memory snapshots")
def test_memory_devices(ctx, target):
    if target != "sim":
        try:
            ctx.memory_devices()
        except dhp.Error as e:
            assert e.errno == errno.EOPNOTSUPP
            assert ctx.status().memory is None
            pytest.skip("this dhpd does not send memory blocks yet")
    base = ctx.sim_memory_add(256 << 20)
    devs = ctx.memory_devices()
    d = [m for m in devs if m.base == base][0]
    assert (d.size, d.nblocks, d.online_blocks, d.arrived) == (256 << 20, 2, 2, True)
    assert all(b.online for b in d.blocks) and len(d.blocks) == 2
    assert ctx.status().memory == devs


@pytest.mark.skipif(not dhp.has("dhp_proc_change_get_reg"), reason="libdhp without dhp_proc_change_get_reg")
def test_deregister_from_inside(ctx):
    calls = []

    def once(c):
        calls.append((c.state, c.index))
        c.registration.close()  # during ADD_EXISTING: no further call

    reg = ctx.register_proc(once, add_existing=True)
    assert reg.closed and calls == [(dhp.ProcChangeState.ADD_START, 0)]

    def at_start(c):
        calls.append((c.state, c.index))
        if c.state is dhp.ProcChangeState.ADD_START:
            c.registration.close()  # no second phase for this add

    calls.clear()
    reg = ctx.register_proc(at_start)
    assert ctx.sim_cpu_add().admitted
    assert reg.closed and calls == [(dhp.ProcChangeState.ADD_START, 2)]

    got = []

    def arrival_once(ev):
        got.append(ev.name)
        areg.close()

    areg = ctx.register_arrival(dhp.Class.PROCESSOR, arrival_once, include_existing=True)
    wait_for(lambda: (ctx.wait(0.2), ctx.process()) and got, what="the first arrival")
    ctx.wait(0.2)
    ctx.process()
    assert got == ["cpu0"] and areg.closed
