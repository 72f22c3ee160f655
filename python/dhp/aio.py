# SPDX-License-Identifier: MIT
"""dhp with asyncio: the context's descriptor in the event loop.

    import asyncio, dhp, dhp.aio

    async def main():
        async with dhp.aio.open("sim") as ctx:      # opened, and attached to the loop
            async with dhp.aio.arrivals(ctx, dhp.Class.PROCESSOR, include_existing=True) as events:
                async for ev in events:
                    print(ev.name, ev.event.name)

    asyncio.run(main())

``attach(ctx)`` puts ``ctx.fileno()`` in the running loop with
``loop.add_reader``: arrivals, driver requests and memory condition
re-evaluations are then delivered by ``ctx.process()`` on the loop's
thread.  Synchronous processor callbacks stay synchronous: they run on the
thread of the hot-add (or the connection thread of a ``unix:`` context),
and must answer there, before their add can go on; they cannot await.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import Any, AsyncIterator, Optional

from . import Class, Context, Error, MemCond

__all__ = ["attach", "open", "arrivals", "records", "wait_set"]


class Attachment:
    """``ctx`` attached to a loop; ``lost`` is set when dhpd went away."""

    def __init__(self, ctx: Context, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        self.fd = ctx.fileno()
        self.lost = asyncio.Event()
        loop.add_reader(self.fd, self._ready)

    def _ready(self) -> None:
        try:
            self.ctx.process()
        except Error as e:
            if e.errno != errno.ECONNRESET:
                raise
            # The descriptor stays readable until a reconnect: stop
            # watching it, and say so.
            self.loop.remove_reader(self.fd)
            self.lost.set()

    def detach(self) -> None:
        self.loop.remove_reader(self.fd)


def attach(ctx: Context, loop: Optional[asyncio.AbstractEventLoop] = None) -> Attachment:
    """Deliver ``ctx``'s asynchronous notifications on the running loop."""
    return Attachment(ctx, loop or asyncio.get_running_loop())


@contextlib.asynccontextmanager
async def open(target: Optional[str] = None, *, name: Optional[str] = None) -> AsyncIterator[Context]:  # noqa: A001
    """``dhp.open()`` attached to the running loop, closed at the end.  The
    connection is made on a worker thread (it waits for dhpd's welcome)."""
    loop = asyncio.get_running_loop()
    ctx = await loop.run_in_executor(None, lambda: Context(target, name=name))
    att = attach(ctx, loop)
    try:
        yield ctx
    finally:
        att.detach()
        ctx.close()


class _Stream:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()
        self._reg: Any = None

    def _push(self, item: Any) -> None:
        # From the loop's thread (process()) or a library thread (monitors).
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def __aiter__(self) -> "_Stream":
        return self

    async def __anext__(self) -> Any:
        return await self._queue.get()

    async def get(self, timeout: Optional[float] = None) -> Any:
        return await asyncio.wait_for(self._queue.get(), timeout)

    def close(self) -> None:
        if self._reg is not None:
            self._reg.close()
            self._reg = None

    async def __aenter__(self) -> "_Stream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def arrivals(ctx: Context, cls: Class, *, include_existing: bool = False,
             name: Optional[str] = None) -> _Stream:
    """An async iterator of ``DeviceEvent``s of one class (the context must
    be attached, or run its notification thread)."""
    s = _Stream(asyncio.get_running_loop())
    s._reg = ctx.register_arrival(cls, s._push, include_existing=include_existing, name=name)
    return s


def records(ctx: Context) -> _Stream:
    """An async iterator of the notification stream's ``Record``s."""
    s = _Stream(asyncio.get_running_loop())
    s._reg = ctx.monitor(s._push)
    return s


async def wait_set(mc: MemCond, timeout: Optional[float] = None) -> bool:
    """Wait until the memory condition event is set (its descriptor is
    readable exactly while it is); False on timeout."""
    if mc.is_set:
        return True
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd = mc.fileno()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(True))
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
