# SPDX-License-Identifier: MIT
"""python3 -m dhp status|monitor [--json] [--target TARGET | --socket PATH]

The two read-only commands of dhpctl, through the Python package: what a
person runs to check that the binding reaches dhpd.
"""
from __future__ import annotations

import argparse
import errno
import json
import selectors
import sys

import dhp


def _target(args: argparse.Namespace):
    if args.socket:
        return "unix:" + args.socket
    return args.target  # None: $DHP_TARGET, else dhpd's socket


def _open(args: argparse.Namespace, cmd: str) -> dhp.Context:
    try:
        return dhp.open(_target(args), name=f"python -m dhp {cmd}")
    except dhp.Error as e:
        if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            sys.exit(f"python -m dhp {cmd}: dhpd is not running ({e})")
        sys.exit(f"python -m dhp {cmd}: {e}")


def status(args: argparse.Namespace) -> int:
    with _open(args, "status") as ctx:
        st = ctx.status()
    if args.json:
        print(json.dumps({
            "processors": [{"index": i, "state": s.name.lower()} for i, s in enumerate(st.processors)],
            "memory_conditions": st.memory_conditions,
            "memory": None if st.memory is None else [
                {"base": m.base, "size": m.size, "blocks": m.nblocks, "online_blocks": m.online_blocks,
                 "arrived": m.arrived} for m in st.memory],
        }))
        return 0
    print(f"processors ({len(st.processors)} slots):")
    for i, s in enumerate(st.processors):
        if s is not dhp.ProcState.ABSENT:
            print(f"  cpu{i:<4} {s.name.lower()}")
    if st.memory is not None:
        print("memory devices:")
        for m in st.memory:
            print(f"  memory@{m.base:#x}  {m.size >> 20} MiB  {m.online_blocks}/{m.nblocks} blocks online")
    print("memory conditions:")
    for name, on in st.memory_conditions.items():
        print(f"  {name:<24} {'set' if on else 'clear'}")
    return 0


def monitor(args: argparse.Namespace) -> int:
    ctx = _open(args, "monitor")

    def show(rec: dhp.Record) -> None:
        print(rec.json if args.json else rec.text, flush=True)

    ctx.monitor(show)
    sel = selectors.DefaultSelector()
    sel.register(ctx, selectors.EVENT_READ)
    try:
        while True:
            sel.select()
            try:
                ctx.process()
            except dhp.Error as e:
                if e.errno == errno.ECONNRESET:
                    print("python -m dhp monitor: dhpd went away", file=sys.stderr)
                    return 1
                raise
    except KeyboardInterrupt:
        return 0
    finally:
        ctx.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m dhp", description="dhpd's status and notification stream")
    ap.add_argument("--target", help="a dhp target (default: $DHP_TARGET, else unix:/run/dhp/dhpd.sock)")
    ap.add_argument("--socket", help="dhpd's socket (same as --target unix:PATH)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn, text in (("status", status, "processors and memory conditions"),
                           ("monitor", monitor, "print every record until interrupted")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--json", action="store_true", help="one JSON document (status) or object per line")
        p.set_defaults(fn=fn)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
