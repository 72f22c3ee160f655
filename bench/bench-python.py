#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-python: the Python package (python/) beside the C library, in the
same run, through the same dhpd (bench/ style: prints, never asserts).

    bench-python.py --build build-bench [--reps 5] [--arrivals 4000] [--adds 300]

1. Arrivals per second: a client registers for processor arrivals
   (delivered on the context's notification thread), asks a fresh
   dhpd --platform sim to run "cpu add N", and counts the arrivals until
   all are in or reported dropped by dhpd (its max_queue).  The C client is
   bench/bench-arrivals.c (also the Go benchmark's); the Python client is
   this program with --arrivals-client, in a process of its own, printing
   the same line.  Runs alternate; each figure is the median, with the
   min-max, of --reps runs.
2. The ADD_START round trip: one client process holds one synchronous
   registration whose callback does nothing (C: bench/bench-sync-client.c;
   Python: this program with --sync-client); the driver (this process)
   hot-adds --adds processors one by one and reads, for each, dhpd's own
   measure in the record stream: the "sync ADD_START" record's dur_ns, from
   dhpd sending PROC_CHANGE to the client's PROC_ANSWER.  A run's figure is
   the median over its adds; printed: the median of the runs' and their
   min-max.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))


def arrivals_client(target: str, n: int) -> int:
    import dhp
    got = 0
    lock = threading.Lock()

    def on_arrival(ev):
        nonlocal got
        with lock:
            got += 1

    with dhp.open(target, name="bench-py") as ctx:
        ctx.register_arrival(dhp.Class.PROCESSOR, on_arrival, name="bench-py")
        ctx.start_thread()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        ctx.sim_run(f"cpu add {n}\nsettle\n", "bench")
        ctx.stop_thread()
        while ctx.process() > 0:
            pass
        secs = time.monotonic() - t0
        ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru.ru_utime + ru.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    print(f"arrivals={got} lost={n - got} seconds={secs:.6f} cpu_seconds={cpu:.6f}", flush=True)
    return 0


def sync_client(target: str, name: str) -> int:
    import dhp
    with dhp.open(target, name=name) as ctx:
        ctx.register_proc(lambda c: None, name=name)
        print("READY", flush=True)
        sys.stdin.read()
    return 0


class Daemon:
    def __init__(self, dhpd: str, sim: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="dhp-bench-py-")
        self.sock = os.path.join(self.dir.name, "dhpd.sock")
        self.target = "unix:" + self.sock
        self.p = subprocess.Popen([dhpd, "--platform", "sim", "--sim", sim, "--foreground", "--socket", self.sock,
                                   "--log-level", "err", "-c", "/dev/null"], stdout=subprocess.PIPE)
        r, _, _ = select.select([self.p.stdout], [], [], 30)
        if not r or self.p.stdout.readline().strip() != b"READY":
            raise SystemExit("bench-python: dhpd did not start")

    def stop(self) -> None:
        self.p.terminate()
        self.p.wait(30)
        self.dir.cleanup()


LINE = re.compile(r"arrivals=(\d+) lost=(\d+) seconds=([\d.]+) cpu_seconds=([\d.]+)")


def run_arrivals(cmd: list, dhpd: str, n: int) -> dict:
    d = Daemon(dhpd, f"cpus=1,maxcpus={n + 1}")
    try:
        out = subprocess.run(cmd + [d.target, str(n)], capture_output=True, text=True, timeout=600)
    finally:
        d.stop()
    m = LINE.search(out.stdout)
    if not m:
        raise SystemExit(f"bench-python: {cmd[0]}: {out.stdout} {out.stderr}")
    a, lost, secs, cpu = int(m[1]), int(m[2]), float(m[3]), float(m[4])
    return {"rate": a / secs, "lost": lost, "cpu_us": cpu / max(a, 1) * 1e6}


def run_add_start(cmd: list, dhpd: str, adds: int, name: str) -> float:
    import dhp
    d = Daemon(dhpd, f"cpus=1,maxcpus={adds + 1}")
    client = subprocess.Popen(cmd + [d.target, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        r, _, _ = select.select([client.stdout], [], [], 60)
        if not r or client.stdout.readline().strip() != b"READY":
            raise SystemExit(f"bench-python: {cmd[0]} did not register")
        durs = []
        who = f'[{client.pid}]"'  # dhpd names a client "NAME[PID]"
        with dhp.open(d.target, name="bench-driver") as ctx:
            def on_record(rec):
                if rec.method == "sync" and rec.event == "ADD_START" and who in rec.json:
                    durs.append(rec.data().get("dur_ns", 0))
            ctx.monitor(on_record)
            for _ in range(adds):
                ctx.sim_cpu_add()
            end = time.monotonic() + 10
            while len(durs) < adds and time.monotonic() < end:
                time.sleep(0.01)
        if len(durs) < adds:
            raise SystemExit(f"bench-python: {len(durs)} of {adds} ADD_START records")
        return statistics.median(durs)
    finally:
        client.stdin.close()
        client.wait(30)
        d.stop()


def summary(values: list, fmt: str) -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arrivals-client", nargs=2, metavar=("TARGET", "N"))
    ap.add_argument("--sync-client", nargs=2, metavar=("TARGET", "NAME"))
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build-bench"))
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    ap.add_argument("--arrivals", type=int, default=4000)
    ap.add_argument("--adds", type=int, default=300)
    args = ap.parse_args()
    if args.arrivals_client:
        return arrivals_client(args.arrivals_client[0], int(args.arrivals_client[1]))
    if args.sync_client:
        return sync_client(*args.sync_client)

    build = os.path.abspath(args.build)
    os.environ.setdefault("DHP_LIBRARY", os.path.join(build, "src", "libdhp.so.0"))
    dhpd = os.path.join(build, "src", "dhpd")
    me = [sys.executable, os.path.abspath(__file__)]
    c_arr = [os.path.join(build, "bench", "bench-arrivals")]
    c_sync = [os.path.join(build, "bench", "bench-sync-client")]
    import dhp
    print(f"bench-python: Python {sys.version.split()[0]}, {dhp.library_path}, {args.reps} runs each, alternating")

    res = {"C": [], "Python": []}
    for _ in range(args.reps):
        res["C"].append(run_arrivals(c_arr, dhpd, args.arrivals))
        res["Python"].append(run_arrivals(me + ["--arrivals-client"], dhpd, args.arrivals))
    print(f"arrivals through dhpd, {args.arrivals} per run: median (min-max)")
    for k, runs in res.items():
        print(f"  {k:<7} {summary([r['rate'] for r in runs], '{:.0f}')} arrivals/s, "
              f"lost {summary([r['lost'] for r in runs], '{:.0f}')}, "
              f"client CPU {summary([r['cpu_us'] for r in runs], '{:.1f}')} us/arrival")

    rt = {"C": [], "Python": []}
    for i in range(args.reps):
        rt["C"].append(run_add_start(c_sync, dhpd, args.adds, f"bench-c-{i}"))
        rt["Python"].append(run_add_start(me + ["--sync-client"], dhpd, args.adds, f"bench-py-{i}"))
    print(f"ADD_START round trip (dhpd's dur_ns, one no-op synchronous client, {args.adds} adds per run): "
          "median of the runs' medians (min-max)")
    for k, runs in rt.items():
        print(f"  {k:<7} {summary([v / 1000 for v in runs], '{:.1f}')} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
