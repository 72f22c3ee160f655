# SPDX-License-Identifier: MIT
"""asyncio: the context's descriptor in the loop, arrivals and records as
async iterators, a memory condition awaited."""
from __future__ import annotations

import asyncio
import errno

import dhp
import dhp.aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_arrivals_async_iterator(target):
    async def main():
        async with dhp.aio.open(target) as ctx:
            async with dhp.aio.arrivals(ctx, dhp.Class.PROCESSOR, include_existing=True) as events:
                first = [await events.get(10), await events.get(10)]
                assert [e.name for e in first] == ["cpu0", "cpu1"] and all(e.existing for e in first)
                loop = asyncio.get_running_loop()
                # A hot-add from another thread, as dhpd's would come.
                added = await loop.run_in_executor(None, ctx.sim_cpu_add)
                assert added.admitted
                async for ev in events:
                    assert (ev.name, ev.existing) == (f"cpu{added.index}", False)
                    break
    run(main())


def test_records_and_sync_callbacks(target):
    async def main():
        async with dhp.aio.open(target) as ctx:
            phases = []
            ctx.register_proc(lambda c: phases.append(c.state.name))
            recs = dhp.aio.records(ctx)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, ctx.sim_cpu_add)
            while True:
                r = await recs.get(10)
                if r.method == "txn" and r.event == "ADMITTED":
                    break
            recs.close()
            assert phases == ["ADD_START", "ADD_COMPLETE"]
    run(main())


def test_memcond_awaited(target):
    async def main():
        async with dhp.aio.open(target) as ctx:
            low = ctx.memcond("LowMemoryCondition")
            assert not await dhp.aio.wait_set(low, timeout=0.05)
            waiter = asyncio.ensure_future(dhp.aio.wait_set(low, timeout=10))
            await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            if target == "sim":
                await loop.run_in_executor(None, lambda: ctx.sim_set_memory_levels(available=1 << 20))
            else:
                await loop.run_in_executor(None, ctx.sim_run, "memory level available=1M\n")
            assert await waiter
    run(main())


def test_lost_daemon(start_dhpd):
    d = start_dhpd()

    async def main():
        async with dhp.aio.open(d.target) as ctx:
            att = dhp.aio.attach(ctx)  # a second attachment replaces nothing: same fd
            att.detach()
            att = dhp.aio.attach(ctx)
            d.stop()
            await asyncio.wait_for(att.lost.wait(), 20)
            try:
                ctx.process()
            except dhp.Error as e:
                assert e.errno == errno.ECONNRESET
            else:
                raise AssertionError("process() after dhpd went away")
            att.detach()
    run(main())
