#!/usr/bin/env python3
"""dhp end-to-end tests: real CPU and memory hot-add in QEMU guests.

Each scenario boots a Debian cloud kernel with a busybox initramfs under QEMU
(TCG by default), and the guest script named e2e.script=SCENARIO drives it:
each time a guest watcher is listening it prints
    E2E-WAIT label=L add=cpu|dimm:MB|cpu,dimm:MB
and this harness hot-adds that over QMP, then waits for
    E2E-DONE L ...   (or E2E-TIMEOUT L)
The guest says what it wants added, so a new scenario is mostly a guest
script plus, here, a check function.

Timing method for the baselines: host time.monotonic() from the moment the
QMP reply to `device_add` arrives to the moment the E2E-DONE line arrives on
the serial console.  The guest prints that line as soon as its uevent watcher
(ueventwatch, woken by the uevent that follows the last state change, never
polling) sees every new CPU / memory block online.  This includes the guest
handling QEMU's ACPI notification, the kernel adding the device, the onlining
itself, and one console line of output (sub-millisecond with a socket
chardev).  Host and guest clocks are never compared.  The guest also reports
span_ms, guest CLOCK_MONOTONIC from the first `add` uevent to "all online",
which isolates the onlining agent's part; and the harness reports when the
guest's ACPI _OST for the device arrived (ACPI_DEVICE_OST QMP event), i.e.
when the kernel finished the insertion, if the kernel sends one.

Usage:
  tests/e2e/run.py [--scenario NAME ...] [--extra-bin PATH ...]
                   [--kernel-cache DIR] [--timeout SEC] [--repeat N]
The last line of output is "N passed, N failed"; exit status 0 iff none failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree

import initramfs  # noqa: E402
from qemu import Machine, MachineError, Timeout, install_signal_handlers  # noqa: E402

BOOT_TIMEOUT = 60      # s, QEMU start to E2E-READY (about 2-4 s seen under TCG)
STEP_TIMEOUT = 90      # s, per hot-add step (the guest watcher gives up at 60)


# Why a kernel may allow no CPU hot-add at all (README.md, "Two kernels").
NO_HOTPLUG_CPU_WHY = "kernel reports 0 hotplug CPUs (QEMU 7.2 sets no ACPI online-capable bit)"

# The kernels `--kernel` names: scripts/e2e-fetch-kernel.sh -k NAME.
KERNELS = ("6.1", "6.12")

# 6.12 (CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE=y) onlines hot-added memory
# itself, in ZONE_NORMAL; dhpd then sees "another agent" and onlines nothing.
# The scenarios written for dhpd as the onliner boot 6.12 with 6.1's default
# until dhpd uses the kernel's onlining (issue 19).
MEMHP_OFFLINE = {"6.12": "memhp_default_state=offline"}
MEMHP_OFFLINE_WHY = ("6.12 onlines hot-added memory itself by default; this scenario"
                     " has dhpd (or a user-space method) as the onliner, as 6.1's default")

# QEMU arguments per kernel.  6.12 under TCG (QEMU 7.2) oopses at random,
# early in boot, in a quarter to half of the boots (slab freelist and stack
# corruption in kmem_cache_alloc, right after its `gs cmpxchg16b`); hiding
# CMPXCHG16B from the guest makes SLUB take its locked path, and no boot
# failed since (README.md, "Two kernels").
KERNEL_QEMU_ARGS = {"6.12": ["-cpu", "qemu64,-cx16"]}


class Scenario:
    """A guest script and its check.

    cpu: the scenario is about CPU hot-add; on a kernel that allows no CPU
    hot-add it is skipped, with the reason printed.  kernels: the kernels
    it runs on (None: every one asked for); only_why says why not the rest.
    script: the guest script (default: the scenario's name).  qemu_args:
    more QEMU arguments (a virtio-mem device, say).  kernel_append: kernel
    name -> extra command line for that kernel (printed with each run)."""

    def __init__(self, name, doc, check, params=None, mem="512M,slots=4,maxmem=4G",
                 smp="1,maxcpus=4", append="", cpu=False, kernels=None, only_why="",
                 script=None, qemu_args=(), kernel_append=None):
        self.name, self.doc, self.check = name, doc, check
        self.params = params or {}
        self.mem, self.smp, self.append = mem, smp, append
        self.cpu, self.kernels, self.only_why = cpu, kernels, only_why
        self.script = script or name
        self.qemu_args = list(qemu_args)
        self.kernel_append = kernel_append or {}


# ---- checks: return a list of failure strings (empty = pass) --------------

def common_failures(run):
    f = []
    if run["rc"] != 0:
        f.append(f"guest scenario exited with rc={run['rc']}")
    for line in run["errors"]:
        f.append(f"guest reported: {line}")
    for s in run["steps"]:
        if s["status"] not in ("done", "skipped"):
            f.append(f"step {s['label']}: {s['status']}")
    return f


def hotplug_cpus(run):
    """The number of CPUs the guest kernel allows to be hot-added (None if
    the guest did not say)."""
    m = re.search(r"hotplug_cpus=(\d+)", run.get("guest", ""))
    return int(m.group(1)) if m else None


def check_smoke(run):
    f = common_failures(run)
    steps = [s for s in run["steps"] if s["label"] == "smoke"]
    if len(steps) != 1 or steps[0]["status"] != "done":
        return f + ["no completed smoke step"]
    s = steps[0]
    cpus = {d: st for d, st in s["devices"].items() if d.startswith("cpu")}
    mems = {d: st for d, st in s["devices"].items() if d.startswith("memory")}
    # No CPU hot-add on this kernel: the guest skipped the CPU part (the
    # harness printed why) and added only the DIMM.
    want_cpus = 1
    if hotplug_cpus(run) == 0:
        want_cpus = 0
        if not any(x["label"] == "smoke-cpu" and x["status"] == "skipped" for x in run["steps"]):
            f.append("0 hotplug CPUs but the CPU part was not reported skipped")
    if len(cpus) != want_cpus:
        f.append(f"expected {want_cpus} new CPU, saw {sorted(cpus)}")
    if not mems or len(mems) != s["expected_blocks"]:
        f.append(f"expected {s['expected_blocks']} new memory blocks, saw {sorted(mems)}")
    for d, st in cpus.items():
        if st != "0":
            f.append(f"{d} online={st}, expected 0 (nothing should online it)")
    for d, st in mems.items():
        if st != "offline":
            f.append(f"{d} state={st}, expected offline")
    return f


def check_baseline(run):
    f = common_failures(run)
    for s in run["steps"]:
        if s["status"] != "done":
            continue
        if s.get("expected_blocks") is not None and s["blocks"] != s["expected_blocks"]:
            f.append(f"step {s['label']}: {s['blocks']} blocks, expected {s['expected_blocks']}")
        for d, st in s["devices"].items():
            if st not in ("1", "online"):
                f.append(f"step {s['label']}: {d} is {st}, expected online")
    if not any(s["status"] == "done" for s in run["steps"]):
        f.append("no step completed")
    return f


# ---- dhpd scenarios: asserted from dhpd's own log (E2E-DHPD lines) --------

def dhpd_log(run):
    """dhpd's stderr lines, in console order, without the "dhpd: " prefix."""
    return [t[len("E2E-DHPD dhpd: "):] for t in run["console"] if t.startswith("E2E-DHPD dhpd: ")]


def first_index(lines, regex, start=0):
    for i in range(start, len(lines)):
        if re.search(regex, lines[i]):
            return i
    return None


def dhpd_failures(run):
    f = common_failures(run)
    if not any(t.startswith("E2E-INFO dhpd ready") for t in run["console"]):
        f.append("dhpd never printed READY")
    for line in dhpd_log(run):
        if line.startswith("error:"):
            f.append(f"dhpd logged: {line}")
    return f


def cpu_failures(run, log, label, want):
    """Each new CPU online, txn STARTED < txn ADMITTED < async ARRIVAL."""
    f = []
    steps = [s for s in run["steps"] if s["label"] == label and s["status"] == "done"]
    if not steps:
        return [f"no completed step {label}"]
    cpus = sorted(d for d in steps[0]["devices"] if d.startswith("cpu"))
    if len(cpus) != want:
        f.append(f"{label}: expected {want} new CPUs, saw {cpus}")
    for d in cpus:
        if steps[0]["devices"][d] != "1":
            f.append(f"{label}: {d} online={steps[0]['devices'][d]}")
        n = d[3:]
        seq = [first_index(log, rf"txn\s+STARTED\s+cpu{n}\b"),
               first_index(log, rf"txn\s+ADMITTED\s+cpu{n}\b"),
               first_index(log, rf"async\s+ARRIVAL\s+cpu{n}\b")]
        if None in seq or seq != sorted(seq):
            f.append(f"{label}: {d}: dhpd log positions STARTED/ADMITTED/ARRIVAL = {seq},"
                     " expected all present and in that order")
    return f


def check_dhpd_cpu(run):
    log = dhpd_log(run)
    return (dhpd_failures(run) + cpu_failures(run, log, "dhpd-cpu1", 1)
            + cpu_failures(run, log, "dhpd-cpu2", 2))


def block_size(run):
    bs = re.search(r"block_size=([0-9a-f]+)", run.get("guest", ""))
    return int(bs.group(1), 16) if bs else None


def dimm_failures(run, log, label, blocks, want_state="online"):
    """One memory device per DIMM (its PNP0C80 device, its exact blocks),
    every block in ZONE_MOVABLE, its arrival after its last block's ONLINE."""
    f = []
    ids = sorted(int(b[6:]) for b in blocks)
    if not ids:
        return [f"{label}: no memory blocks"]
    lo, hi = ids[0], ids[-1]
    if ids != list(range(lo, hi + 1)):
        f.append(f"{label}: blocks not contiguous: {ids}")
    devs = [l for l in log if re.match(r"memory device .*: blocks (\d+)-(\d+)", l)
            and any(lo <= int(x) <= hi for x in re.search(r"blocks (\d+)-(\d+)", l).groups())]
    if len(devs) != 1 or not re.search(rf"memory device PNP0C80:\w+: blocks {lo}-{hi} ", devs[0]):
        f.append(f"{label}: expected one memory device PNP0C80:xx with blocks {lo}-{hi}, dhpd logged {devs}")
    bs = block_size(run)
    if bs:
        base = lo * bs
        arr = [i for i, l in enumerate(log) if re.search(rf"async\s+ARRIVAL\s+memory 0x{base:x} ", l)]
        last = max([i for i, l in enumerate(log)
                    if (m := re.search(r"txn\s+ONLINE\s+block (\d+)", l)) and lo <= int(m.group(1)) <= hi],
                   default=None)
        # With clients, dhpd logs one ARRIVAL per registration ("-> NAME");
        # its own registration is "dhpd".
        arr = [i for i in arr if re.search(r"-> (\S+)", log[i]) is None
               or re.search(r"-> (\S+)", log[i]).group(1) == "dhpd"]
        if len(arr) != 1:
            f.append(f"{label}: expected one ARRIVAL of memory 0x{base:x} (+{(hi - lo + 1) * bs >> 20}M),"
                     f" dhpd logged {len(arr)}")
        elif last is None or arr[0] < last:
            f.append(f"{label}: ARRIVAL (log line {arr[0]}) not after the last block's ONLINE ({last})")
    for b, st in blocks.items():
        if st != want_state:
            f.append(f"{label}: {b} is {st}, expected {want_state}")
    return f


def zones(run, label):
    out = {}
    for t in run["console"]:
        m = re.match(rf"^E2E {re.escape(label)} (memory\d+) present state=\S+ zones=(\S+)", t)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def check_dhpd_memory(run):
    f = dhpd_failures(run)
    log = dhpd_log(run)
    if run["scenario"] == "dhpd-memory":
        # Kernel mode: dhpd set the kernel's policy and wrote no block.
        if first_index(log, r"the kernel onlines hot-added memory") is None:
            f.append("dhpd did not say the kernel onlines hot-added memory (onlining = kernel)")
        if not any(t.startswith("E2E-PROBE ready auto_online_blocks=online_movable") for t in run["console"]):
            f.append("auto_online_blocks is not online_movable once dhpd is ready")
        if first_index(log, r"dhpd onlines them") is not None:
            f.append("dhpd had to online blocks the kernel left offline")
    for label in ("dhpd-mem256", "dhpd-mem1g"):
        steps = [s for s in run["steps"] if s["label"] == label and s["status"] == "done"]
        if not steps:
            f.append(f"no completed step {label}")
            continue
        s = steps[0]
        blocks = {d: st for d, st in s["devices"].items() if d.startswith("memory")}
        if len(blocks) != s["expected_blocks"]:
            f.append(f"{label}: {len(blocks)} blocks, expected {s['expected_blocks']}")
        f += dimm_failures(run, log, label, blocks)
        for b, z in zones(run, label).items():
            if z != "Movable":
                f.append(f"{label}: {b} in zone {z}, expected Movable (dhpd's default policy)")
    return f


def parse_cpulist(text):
    out = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out


def check_dhpd_cgroup(run):
    f = dhpd_failures(run) + cpu_failures(run, dhpd_log(run), "dhpd-cgroup", 1)
    cg = {}
    for t in run["console"]:
        m = re.match(r"^E2E-CGROUP (\w+) (\S+) cpus=(\S*) effective=(\S*)", t)
        if m:
            cg[(m.group(1), m.group(2))] = (parse_cpulist(m.group(3)), parse_cpulist(m.group(4)))
    steps = [s for s in run["steps"] if s["label"] == "dhpd-cgroup"]
    new = {int(d[3:]) for s in steps for d in s["devices"] if d.startswith("cpu")}
    if len(new) != 1 or not cg:
        return f + [f"cgroup scenario incomplete: new CPUs {new}, groups {sorted(cg)}"]
    cpu = new.pop()
    for g in ("test.slice", "pinned.slice"):
        if cg.get(("ready", g), (None,))[0] != {0}:
            f.append(f"{g}: cpuset.cpus at dhpd's READY is {cg.get(('ready', g))}, expected {{0}}")
        if cpu not in cg.get(("after", g), (set(),))[0]:
            f.append(f"{g} (managed): cpuset.cpus after the add is {cg.get(('after', g))}, lacks cpu{cpu}")
    if cg.get(("after", "other.slice"), (None,))[0] != {0}:
        f.append(f"other.slice (unmanaged): cpuset.cpus changed to {cg.get(('after', 'other.slice'))}")
    if not any("managed cgroup pinned.slice: cpuset.cpus was empty" in l for l in dhpd_log(run)):
        f.append("dhpd did not say it pinned pinned.slice")
    return f


def check_dhpd_restart(run):
    return check_dhpd_restart_like(run, "restart-after")


def check_dhpd_restart_like(run, after_label):
    f = dhpd_failures(run)
    kill = [t for t in run["console"] if t.startswith("E2E-KILL ")]
    m = re.search(r"online=(\d+)/(\d+)", kill[0]) if kill else None
    if not m:
        return f + ["dhpd was not killed (no E2E-KILL line)"]
    k, n = int(m.group(1)), int(m.group(2))
    if not 1 <= k < n:
        f.append(f"killed with {k}/{n} blocks online: expected in the middle of the DIMM")
    after = {}
    for t in run["console"]:
        d = re.match(rf"^E2E {after_label} (memory\d+) present state=(\S+)", t)
        if d:
            after[d.group(1)] = d.group(2)
    if len(after) != n:
        f.append(f"after the restart {len(after)} blocks reported, expected {n}")
    # Only the second dhpd's log: after the last "ready".
    log = dhpd_log(run)
    starts = [i for i, l in enumerate(log) if l.startswith("debug: topology:")]
    f += dimm_failures(run, log[starts[-1]:] if starts else log, after_label, after)
    return f


# ---- client scenarios: asserted from the clients' own records ------------
# (E2E-CLIENT lines, tests/e2e/guest/e2eclient.c), dhpd's log and sysfs.

def client_log(run):
    """Every E2E-CLIENT line as a dict: name, t (guest s), tid, ev, kv."""
    out = []
    for i, t in enumerate(run["console"]):
        m = re.match(r"^E2E-CLIENT (\S+) t=(\S+) tid=(\d+) (\S+)(.*)", t)
        if m:
            kv = dict(re.findall(r"(\w+)=(\S*)", m.group(5)))
            out.append({"i": i, "name": m.group(1), "t": float(m.group(2)), "tid": int(m.group(3)),
                        "ev": m.group(4), "kv": kv})
    return out


def dhpd_status(run, label):
    """The `dhpctl status --json` the guest printed as E2E-STATUS LABEL."""
    for t in run["console"]:
        if t.startswith(f"E2E-STATUS {label} "):
            try:
                return json.loads(t[len(f"E2E-STATUS {label} "):])
            except ValueError:
                return None
    return None


def status_mem_failures(st, base, size):
    devs = [d for d in st["memory"] if d["base"] == base] if st else []
    if len(devs) != 1 or devs[0]["size"] != size or devs[0]["online_blocks"] != devs[0]["blocks"]:
        return [f"dhpctl status: memory device at 0x{base:x} +0x{size:x} fully online expected, got {devs}"]
    return []


def client_events(cl, name, ev, **match):
    return [e for e in cl if e["name"] == name and e["ev"] == ev
            and all(e["kv"].get(k) == str(v) for k, v in match.items())]


def step_cpus(run, label):
    return sorted(int(d[3:]) for s in run["steps"] if s["label"] == label
                  for d in s["devices"] if d.startswith("cpu"))


def client_thread_failures(cl, name):
    """Synchronous callbacks on the connection thread, arrivals on the
    thread that calls dhp_process() (the client's main thread)."""
    f = []
    main = [e["tid"] for e in client_events(cl, name, "OPEN")]
    if not main:
        return [f"client {name}: no OPEN line"]
    for e in cl:
        if e["name"] != name:
            continue
        if e["ev"] == "SYNC" and e["kv"].get("existing") == "0" and e["tid"] == main[0]:
            f.append(f"client {name}: {e['kv']['state']} cpu{e['kv']['cpu']} ran on the main thread")
        if e["ev"] == "ARRIVAL" and e["tid"] != main[0]:
            f.append(f"client {name}: ARRIVAL {e['kv']['name']} on tid {e['tid']}, not the dhp_process() thread")
    return f


def client_cpu_failures(cl, name, cpu, group_checked=True):
    """ADD_START (cpu online, cpuset without it) < ADD_COMPLETE (cpuset with
    it) < ARRIVAL, once each, for a CPU admitted."""
    f = []
    st = client_events(cl, name, "SYNC", state="ADD_START", cpu=cpu, existing=0)
    co = client_events(cl, name, "SYNC", state="ADD_COMPLETE", cpu=cpu, existing=0)
    fa = client_events(cl, name, "SYNC", state="ADD_FAILURE", cpu=cpu, existing=0)
    ar = [e for e in client_events(cl, name, "ARRIVAL", cpu=cpu, existing=0)
          if e["kv"].get("class") == "processor"]
    tag = f"client {name} cpu{cpu}"
    if len(st) != 1 or len(co) != 1 or fa:
        return [f"{tag}: ADD_START x{len(st)}, ADD_COMPLETE x{len(co)}, ADD_FAILURE x{len(fa)};"
                " expected one ADD_START and one ADD_COMPLETE"]
    st, co = st[0], co[0]
    if st["kv"]["online"] != "1":
        f.append(f"{tag}: online={st['kv']['online']} inside ADD_START, expected 1 (started)")
    if group_checked:
        if cpu in parse_cpulist(st["kv"]["cpuset"].replace("(empty)", "")):
            f.append(f"{tag}: the managed group's cpuset.cpus already has it in ADD_START: {st['kv']['cpuset']}")
        if cpu not in parse_cpulist(co["kv"]["cpuset"].replace("(empty)", "")):
            f.append(f"{tag}: the managed group's cpuset.cpus lacks it in ADD_COMPLETE: {co['kv']['cpuset']}")
    if not st["t"] <= float(st["kv"]["t_ret"]) <= co["t"]:
        f.append(f"{tag}: ADD_START {st['t']}..{st['kv']['t_ret']} not before ADD_COMPLETE {co['t']}")
    if len(ar) != 1:
        f.append(f"{tag}: {len(ar)} processor arrivals, expected 1")
    elif ar[0]["t"] < float(co["kv"]["t_ret"]):
        f.append(f"{tag}: ARRIVAL at {ar[0]['t']} before ADD_COMPLETE returned ({co['kv']['t_ret']})")
    return f


def spinner_failures(cl, name, admitted, vetoed):
    """No spinner thread on a new CPU before its ADD_START returned (nor,
    the library's stronger promise, before its ADD_COMPLETE began); never on
    a vetoed CPU; and, so that the check is not vacuous, on some new CPU
    after all.  Decided by the phase the spinner read on that CPU (minphase:
    0 before ADD_START returned, 1 until ADD_COMPLETE began), not by
    timestamps: a CPU just brought online may read a clock that is not in
    step with the others'."""
    f = []
    spins = client_events(cl, name, "SPIN")
    if not spins:
        return [f"client {name}: no SPIN records"]
    seen_new = False
    for e in spins:
        cpu, ph = int(e["kv"]["cpu"]), int(e["kv"]["minphase"])
        who = f"client {name}: spinner {e['kv']['spinner']} (tid {e['kv']['spin_tid']})"
        if cpu in vetoed:
            f.append(f"{who} ran on vetoed cpu{cpu} ({e['kv']['samples']} samples)")
        if cpu not in admitted:
            continue
        seen_new = True
        if ph == 0:
            f.append(f"{who} ran on cpu{cpu} before its ADD_START returned")
        elif ph == 1:
            f.append(f"{who} ran on cpu{cpu} after ADD_START, before ADD_COMPLETE (the library keeps"
                     " threads off a processor until ADD_COMPLETE)")
    if not seen_new:
        f.append(f"client {name}: no spinner ever ran on a new CPU {sorted(admitted)} (check has no teeth)")
    return f


def check_client_cpu(run):
    f = dhpd_failures(run)
    log = dhpd_log(run)
    cl = client_log(run)
    f += cpu_failures(run, log, "client-cpu1", 1) + cpu_failures(run, log, "client-cpu2", 2)
    admitted = step_cpus(run, "client-cpu1") + step_cpus(run, "client-cpu2")
    vetoed = step_cpus(run, "client-veto")
    if len(vetoed) != 1:
        return f + [f"client-veto: expected one new CPU, saw {vetoed}"]
    v = vetoed[0]
    for name in ("A", "B"):
        f += client_thread_failures(cl, name)
        for cpu in admitted:
            f += client_cpu_failures(cl, name, cpu)
        st = client_events(cl, name, "SYNC", state="ADD_START", cpu=v, existing=0)
        fa = client_events(cl, name, "SYNC", state="ADD_FAILURE", cpu=v, existing=0)
        co = client_events(cl, name, "SYNC", state="ADD_COMPLETE", cpu=v)
        ar = client_events(cl, name, "ARRIVAL", cpu=v)
        if len(st) != 1 or len(fa) != 1 or co or ar:
            f.append(f"client {name} vetoed cpu{v}: ADD_START x{len(st)} ADD_FAILURE x{len(fa)}"
                     f" ADD_COMPLETE x{len(co)} ARRIVAL x{len(ar)}; expected one START, one FAILURE")
        elif fa[0]["kv"]["status"] != "-16":
            f.append(f"client {name}: ADD_FAILURE status {fa[0]['kv']['status']}, expected -16 (B's -EBUSY)")
    if [e["kv"]["rc"] for e in client_events(cl, "B", "VETO", cpu=v)] != ["0"]:
        f.append(f"client B: no successful veto of cpu{v} logged")
    after = [t for t in run["console"] if re.match(rf"^E2E client-veto-after cpu{v} present online=0$", t)]
    if not after:
        f.append(f"vetoed cpu{v} is not offline after the add")
    if first_index(log, rf"txn\s+REJECTED\s+cpu{v}\b") is None:
        f.append(f"dhpd did not log txn REJECTED cpu{v}")
    if first_index(log, rf"async\s+ARRIVAL\s+cpu{v}\b") is not None:
        f.append(f"dhpd logged an ARRIVAL of the vetoed cpu{v}")
    # ADD_EXISTING: the boot CPU, START then COMPLETE, before register returned.
    ex = [e["kv"]["state"] for e in client_events(cl, "A", "SYNC", cpu=0, existing=1)]
    if ex != ["ADD_START", "ADD_COMPLETE"]:
        f.append(f"client A: ADD_EXISTING calls for cpu0 were {ex}")
    f += spinner_failures(cl, "A", set(admitted), {v})
    st = dhpd_status(run, "client-cpu")
    if not st:
        return f + ["no dhpctl status --json (E2E-STATUS client-cpu)"]
    states = {p["index"]: p["state"] for p in st["processors"]}
    for cpu in admitted:
        if states.get(cpu) != "admitted":
            f.append(f"dhpctl status: cpu{cpu} is {states.get(cpu)}, expected admitted")
    if states.get(v) != "present":
        f.append(f"dhpctl status: vetoed cpu{v} is {states.get(v)}, expected present")
    cls = [c for c in st["clients"] if c["name"].startswith("e2eclient")]
    if len(cls) != 2 or any(c["sync_registrations"] != 1 or c["late"] for c in cls):
        f.append(f"dhpctl status: expected 2 clients with one sync registration, none late: {cls}")
    return f


def client_dimm_failures(run, cl, name, label):
    steps = [s for s in run["steps"] if s["label"] == label and s["status"] == "done"]
    bs = block_size(run)
    if not steps or not bs:
        return [f"client {name}: no completed step {label}"]
    ids = sorted(int(d[6:]) for d in steps[0]["devices"] if d.startswith("memory"))
    if not ids:
        return [f"client {name}: {label}: no memory blocks"]
    base, size = ids[0] * bs, len(ids) * bs
    ar = [e for e in client_events(cl, name, "ARRIVAL", existing=0)
          if e["kv"].get("class") == "memory" and int(e["kv"]["base"], 16) == base]
    if len(ar) != 1:
        return [f"client {name}: {len(ar)} arrivals of memory 0x{base:x} ({label}), expected 1"]
    kv = ar[0]["kv"]
    f = []
    if int(kv["size"], 16) != size:
        f.append(f"client {name}: {label}: arrival size {kv['size']}, the DIMM is 0x{size:x}")
    if kv["blocks_online"] != f"{len(ids)}/{len(ids)}":
        f.append(f"client {name}: {label}: blocks online in the arrival callback {kv['blocks_online']},"
                 f" expected {len(ids)}/{len(ids)}")
    return f


def check_client_memory(run):
    f = dhpd_failures(run)
    log = dhpd_log(run)
    cl = client_log(run)
    for label in ("client-mem256", "client-mem1024"):
        steps = [s for s in run["steps"] if s["label"] == label and s["status"] == "done"]
        if not steps:
            f.append(f"no completed step {label}")
            continue
        f += dimm_failures(run, log, label, {d: v for d, v in steps[0]["devices"].items()
                                             if d.startswith("memory")})
        for name in ("A", "B"):
            f += client_dimm_failures(run, cl, name, label)
        ids = sorted(int(d[6:]) for d in steps[0]["devices"] if d.startswith("memory"))
        if ids and block_size(run):
            f += status_mem_failures(dhpd_status(run, "client-memory"), ids[0] * block_size(run),
                                     len(ids) * block_size(run))
    for name in ("A", "B"):
        f += client_thread_failures(cl, name)
        new = [e for e in client_events(cl, name, "ARRIVAL", existing=0) if e["kv"]["class"] == "memory"]
        if len(new) != 2:
            f.append(f"client {name}: {len(new)} memory arrivals, expected one per DIMM (2)")
    if not [e for e in client_events(cl, "A", "ARRIVAL", existing=1) if e["kv"]["class"] == "memory"]:
        f.append("client A: INCLUDE_EXISTING reported no boot memory")
    return f


def check_client_restart(run):
    f = check_dhpd_restart_like(run, "client-restart-after")
    cl = client_log(run)
    if not client_events(cl, "A", "LOST") or not client_events(cl, "A", "RECONNECTED"):
        f.append("client A did not log LOST then RECONNECTED")
    after = [t for t in run["console"] if t.startswith("E2E client-restart-after memory")]
    ids = sorted(int(re.match(r"E2E \S+ memory(\d+)", t).group(1)) for t in after)
    bs = block_size(run)
    if ids and bs:
        base, size = ids[0] * bs, len(ids) * bs
        ar = [e for e in client_events(cl, "A", "ARRIVAL", existing=0) if e["kv"]["class"] == "memory"]
        if len(ar) != 1 or int(ar[0]["kv"]["base"], 16) != base or int(ar[0]["kv"]["size"], 16) != size:
            f.append(f"client A: memory arrivals {[(e['kv']['base'], e['kv']['size']) for e in ar]},"
                     f" expected one of the DIMM 0x{base:x} +0x{size:x}")
        elif ar[0]["kv"]["blocks_online"] != f"{len(ids)}/{len(ids)}":
            f.append(f"client A: blocks online in the arrival callback {ar[0]['kv']['blocks_online']}")
        st = dhpd_status(run, "client-restart")
        f += status_mem_failures(st, base, size)
        cls = [c for c in st["clients"] if c["name"].startswith("e2eclient")] if st else []
        if len(cls) != 1 or cls[0]["arrival_registrations"] != 2:
            f.append(f"dhpctl status: the reconnected client should have its 2 arrival registrations: {cls}")
    return f


# ---- probes: recorded facts (PROBES.md), asserted only where they are
# what the feature code will rely on ---------------------------------------

def uevents(run, label):
    """(action, devpath, env) of each uevent uevrec recorded in step LABEL."""
    out = []
    for t in run["console"]:
        m = re.match(rf"^E2E-UEV {re.escape(label)} t=\S+ (\S+) (\S+)(.*)", t)
        if m:
            out.append((m.group(1), m.group(2), dict(re.findall(r"(\w+)=(\S*)", m.group(3)))))
    return out


def block_events(run, label, action):
    return [d for a, d, _ in uevents(run, label)
            if a == action and re.match(r"/devices/system/memory/memory\d+$", d)]


def check_probe_cpu_unplug(run):
    f = common_failures(run)
    ev = uevents(run, "probe-cpu-del")
    # 6.1: offline, (cooling_device remove), unbind, remove: PROBES.md.
    seq = [a for a, d, _ in ev if re.match(r"/devices/system/cpu/cpu\d+$", d)]
    if seq != ["offline", "unbind", "remove"]:
        f.append(f"CPU unplug: the CPU's uevents were {seq}, expected offline, unbind, remove")
    if not any(s["label"] == "probe-cpu-del" and s.get("deleted_ms") for s in run["steps"]):
        f.append("no DEVICE_DELETED for the CPU")
    return f


def check_probe_dimm_unplug(run):
    f = common_failures(run)
    n = (256 << 20) // (block_size(run) or (128 << 20))
    if len(block_events(run, "probe-dimm-add", "add")) != n:
        f.append(f"DIMM add: expected {n} block add uevents")
    rm = block_events(run, "probe-dimm-del", "remove")
    off = block_events(run, "probe-dimm-del", "offline")
    if len(rm) != n or sorted(off) != sorted(rm):
        f.append(f"DIMM unplug: expected an offline and a remove of each of {n} blocks, got"
                 f" offline {off} remove {rm}")
    return f


def check_probe_vmem(run):
    f = common_failures(run)
    bs = block_size(run) or (128 << 20)
    n = (1024 << 20) // bs
    if len(block_events(run, "probe-vmem-grow", "add")) != n:
        f.append(f"virtio-mem grow: expected {n} block add uevents,"
                 f" got {block_events(run, 'probe-vmem-grow', 'add')}")
    if len(block_events(run, "probe-vmem-shrink", "remove")) != n // 2:
        f.append(f"virtio-mem shrink: expected {n // 2} block remove uevents,"
                 f" got {block_events(run, 'probe-vmem-shrink', 'remove')}")
    if not any(re.match(r"E2E-PROBE boot virtio \S+ .*driver=virtio_mem", t) for t in run["console"]):
        f.append("no virtio device bound to virtio_mem at boot")
    return f


def check_probe_cgroup(run):
    f = common_failures(run)
    ends = [t for t in run["console"] if re.match(r"^E2E-CG step=\d+ end ", t)]
    bad = [t for t in run["console"] if re.match(r"^E2E-CG step=\d+ write=.* rc=-", t)]
    if len(ends) != 14:
        f.append(f"cgroup probe: {len(ends)} of 14 steps ran")
    f += [f"cgroup probe write failed: {t}" for t in bad]
    return f


# ---- removal (doc/model.md, "Removal"): asserted from the clients' records,
# dhpd's log and `dhpctl status --json` --------------------------------------

def console_kv(run, prefix):
    """key=value pairs of the first console line starting with PREFIX."""
    for t in run["console"]:
        if t.startswith(prefix):
            return dict(re.findall(r"(\w+)=(\S*)", t[len(prefix):]))
    return None


def removals(cl, name, cls, dev=None):
    return [e for e in client_events(cl, name, "REMOVAL") if e["kv"].get("class") == cls
            and (dev is None or e["kv"].get("name") == dev)]


def times(run, label):
    """(start, end, rc) of the E2E-TIME LABEL line wtime printed."""
    kv = console_kv(run, f"E2E-TIME {label} ")
    return (float(kv["start"]), float(kv["end"]), int(kv["rc"])) if kv else None


def remove_cpu_bench(run, cl, q, c):
    """The removal benchmark (BENCHMARKS.md, "Removal"), on the guest's
    CLOCK_MONOTONIC: the bare write of 0 to cpu2/online (the kernel's own
    offline) and the client's surprise REMOVAL of cpu3 after it; dhpctl cpu
    remove 1 from its start to the CPU offline (client A's REMOVE_COMPLETE,
    which sees online=0) and to dhpctl's exit."""
    f, bench = [], []
    bare, ctl = times(run, "bare-offline-cpu2"), times(run, "dhpctl-remove-cpu1")
    r3 = [e for e in removals(cl, "B", "processor", "cpu2")]
    if not bare or bare[2] != 0 or len(r3) != 1 or r3[0]["kv"]["surprise"] != "1":
        return [f"bare offline of cpu2: expected rc 0 and one surprise REMOVAL to B, got {bare},"
                f" {[e['kv'] for e in r3]}"]
    bench.append(f"bare write 0 > cpu2/online {(bare[1] - bare[0]) * 1e3:.1f} ms;"
                 f" its end -> client B's REMOVAL (surprise) {(r3[0]['t'] - bare[1]) * 1e3:.1f} ms")
    if ctl and len(q) == 1 and len(c) == 1:
        bench.append(f"dhpctl cpu remove 1: start -> REMOVE_QUERY {(q[0]['t'] - ctl[0]) * 1e3:.1f} ms,"
                     f" -> REMOVE_COMPLETE (cpu offline) {(c[0]['t'] - ctl[0]) * 1e3:.1f} ms,"
                     f" -> dhpctl exit {(ctl[1] - ctl[0]) * 1e3:.1f} ms")
    else:
        f.append(f"no timing of dhpctl cpu remove 1: {ctl}")
    run["bench"] = bench
    return f


def check_remove_cpu(run):
    f = dhpd_failures(run)
    cl = client_log(run)
    A = lambda state, cpu: client_events(cl, "A", "SYNC", state=state, cpu=cpu)
    # A veto: REMOVE_QUERY then REMOVE_CANCEL to A, cpu3 stays online,
    # dhpctl exits 1; B (not opted in) sees no removal state at all.
    kv = console_kv(run, "E2E remove-cpu-veto ")
    if not kv or kv["rc"] != "1" or kv["online"] != "1":
        f.append(f"dhpctl cpu remove 3 (vetoed): expected rc=1 and cpu3 still online, got {kv}")
    if len(A("REMOVE_QUERY", 3)) < 1 or len(A("REMOVE_CANCEL", 3)) != 1:
        f.append("client A: expected REMOVE_QUERY then one REMOVE_CANCEL for cpu3's vetoed removal")
    if [e for e in client_events(cl, "B", "SYNC") if e["kv"]["state"].startswith("REMOVE")]:
        f.append("client B (not opted in) saw a removal state")
    # dhpctl cpu remove 1: query, complete (online 0 by then), one REMOVAL
    # each, not surprise; after the query.
    kv = console_kv(run, "E2E remove-cpu-dhpctl ")
    if not kv or kv["rc"] != "0" or kv["online"] != "0":
        f.append(f"dhpctl cpu remove 1: expected rc=0 and cpu1 offline, got {kv}")
    q, c = A("REMOVE_QUERY", 1), A("REMOVE_COMPLETE", 1)
    if len(q) != 1 or len(c) != 1:
        f.append(f"client A cpu1: REMOVE_QUERY x{len(q)}, REMOVE_COMPLETE x{len(c)}; expected one each")
    else:
        if q[0]["kv"]["online"] != "1" or c[0]["kv"]["online"] != "0":
            f.append(f"client A cpu1: online={q[0]['kv']['online']} in REMOVE_QUERY (want 1),"
                     f" {c[0]['kv']['online']} in REMOVE_COMPLETE (want 0)")
        if c[0]["kv"]["surprise"] != "0":
            f.append("client A cpu1: REMOVE_COMPLETE flagged surprise")
    for name in ("A", "B"):
        r1 = removals(cl, name, "processor", "cpu1")
        if len(r1) != 1 or r1[0]["kv"]["surprise"] != "0":
            f.append(f"client {name}: expected one REMOVAL of cpu1, not surprise: {[e['kv'] for e in r1]}")
        elif c and r1[0]["t"] < float(c[0]["kv"]["t_ret"]):
            f.append(f"client {name}: REMOVAL of cpu1 before REMOVE_COMPLETE returned")
        # The eject: one REMOVAL of cpu3, surprise (and of cpu2, offlined
        # by another agent: remove_cpu_bench).
        r3 = removals(cl, name, "processor", "cpu3")
        if len(r3) != 1 or r3[0]["kv"]["surprise"] != "1":
            f.append(f"client {name}: expected one surprise REMOVAL of cpu3: {[e['kv'] for e in r3]}")
    f += remove_cpu_bench(run, cl, q, c)
    for cpu in (2, 3):
        cs = A("REMOVE_COMPLETE", cpu)
        if len(cs) != 1 or cs[0]["kv"]["surprise"] != "1":
            f.append(f"client A: expected one REMOVE_COMPLETE (surprise) for cpu{cpu}: {[e['kv'] for e in cs]}")
    st = dhpd_status(run, "remove-cpu")
    if not st:
        return f + ["no dhpctl status --json (E2E-STATUS remove-cpu)"]
    states = {p["index"]: p["state"] for p in st["processors"]}
    if (states.get(0) != "admitted" or states.get(1) != "present" or states.get(2) != "present"
            or states.get(3, "absent") != "absent"):
        f.append(f"dhpctl status after the removals: cpu0..3 = {[states.get(i) for i in range(4)]},"
                 " expected admitted, present, present, absent")
    return f


def check_remove_dimm(run):
    f = dhpd_failures(run)
    cl = client_log(run)
    kv = console_kv(run, "E2E remove-dimm-dhpctl ")
    if not kv or kv["rc"] != "0" or kv["state"] != "offline":
        return f + [f"dhpctl memory remove: expected rc=0 and the first block offline, got {kv}"]
    name = kv["name"]
    ar = [e for e in client_events(cl, "A", "ARRIVAL", existing=0) if e["kv"]["class"] == "memory"]
    rm = removals(cl, "A", "memory")
    if len(ar) != 2 or len(rm) != 2:
        return f + [f"client A: {len(ar)} memory arrivals and {len(rm)} removals, expected 2 and 2"]
    first = [e for e in rm if e["kv"]["name"] == name]
    if len(first) != 1 or first[0]["kv"]["surprise"] != "0":
        f.append(f"client A: expected one REMOVAL of {name}, not surprise: {[e['kv'] for e in rm]}")
    ejected = [e for e in rm if e["kv"]["name"] != name]
    arrived = {e["kv"]["name"]: e["kv"] for e in ar}
    if len(ejected) != 1 or ejected[0]["kv"]["surprise"] != "1":
        f.append(f"client A: expected one surprise REMOVAL of the ejected DIMM: {[e['kv'] for e in rm]}")
    for e in rm:
        a = arrived.get(e["kv"]["name"])
        if not a or (a["base"], a["size"]) != (e["kv"]["base"], e["kv"]["size"]):
            f.append(f"client A: REMOVAL {e['kv']} names no device an ARRIVAL named ({arrived})")
    before, after = dhpd_status(run, "remove-dimm-before"), dhpd_status(run, "remove-dimm")
    if not before or not after:
        return f + ["no dhpctl status --json (E2E-STATUS remove-dimm-before / remove-dimm)"]
    if len(before["memory"]) != len(after["memory"]) + 2:
        f.append(f"dhpctl status: {len(before['memory'])} memory devices before the removals,"
                 f" {len(after['memory'])} after; expected 2 fewer")
    for d in after["memory"]:
        if d.get("name") in arrived:
            f.append(f"dhpctl status still lists {d.get('name')} after its removal")
    return f


def check_remove_vmem(run):
    f = dhpd_failures(run)
    cl = client_log(run)
    ar = [e for e in client_events(cl, "A", "ARRIVAL", existing=0) if e["kv"]["class"] == "memory"]
    rm = removals(cl, "A", "memory")
    if len(ar) != 1 or not ar[0]["kv"]["name"].startswith("virtio-mem:virtio"):
        return f + [f"client A: expected one ARRIVAL of the virtio-mem device for the grow, got"
                    f" {[e['kv'] for e in ar]}"]
    if int(ar[0]["kv"]["size"], 16) != 1 << 30:
        f.append(f"client A: the grow's ARRIVAL carries {ar[0]['kv']['size']}, expected 1 GiB")
    if ar[0]["kv"]["blocks_online"].split("/")[0] != ar[0]["kv"]["blocks_online"].split("/")[1]:
        f.append(f"client A: not every block online in the ARRIVAL callback: {ar[0]['kv']['blocks_online']}")
    if len(rm) != 1 or rm[0]["kv"]["name"] != ar[0]["kv"]["name"] or rm[0]["kv"]["surprise"] != "1":
        f.append(f"client A: expected one surprise REMOVAL of {ar[0]['kv']['name']}, got {[e['kv'] for e in rm]}")
    elif int(rm[0]["kv"]["size"], 16) != 512 << 20:
        f.append(f"client A: the shrink's REMOVAL carries {rm[0]['kv']['size']}, expected 512 MiB")
    for label, want in (("remove-vmem-grown", 1 << 30), ("remove-vmem", 512 << 20)):
        st = dhpd_status(run, label)
        devs = [d for d in (st or {}).get("memory", []) if str(d.get("name", "")).startswith("virtio-mem:")]
        if len(devs) != 1 or devs[0]["size"] != want or not devs[0].get("virtio"):
            f.append(f"dhpctl status ({label}): expected one virtio-mem device of {want >> 20} MiB plugged,"
                     f" got {devs}")
    return f


# ---- the cgroup target (issue 15) -------------------------------------------

# cgroup-resize: what the application must report, in order: (seq, changed,
# cpus, pool, quota, max, high), and the processor events before each.
CGROUP_RESIZE_WANT = [
    (1, 0x3f, "0-1", 2, "200000", "536870912", "max", []),
    (2, 0x02, "0-1", 2, "50000", "536870912", "max", []),
    (3, 0x08, "0-1", 2, "50000", "268435456", "max", []),
    (4, 0x10, "0-1", 2, "50000", "268435456", "201326592", []),
    (5, 0x05, "0", 1, "50000", "268435456", "201326592", ["REMOVAL cpu1"]),
    (6, 0x05, "0-1", 2, "50000", "268435456", "201326592", ["ARRIVAL cpu1"]),
    (7, 0x02, "0-1", 2, "30000", "268435456", "201326592", []),
    (8, 0x08, "0-1", 2, "30000", "134217728", "201326592", []),
    (9, 0x05, "1", 1, "30000", "134217728", "201326592", ["REMOVAL cpu0"]),
    (10, 0x05, "0-1", 2, "30000", "134217728", "201326592", ["ARRIVAL cpu0"]),
    (11, 0x05, "0", 1, "30000", "134217728", "201326592", ["REMOVAL cpu1"]),
    (12, 0x05, "0-1", 2, "30000", "134217728", "201326592", ["ARRIVAL cpu1"]),
]

LIM_RE = re.compile(r"E2E-LIM t=(\S+) seq=(\d+) changed=0x([0-9a-f]+) cpus=(\S*) pool=(\d+) quota=(\S+) "
                    r"period=(\d+) max=(\S+) high=(\S+)")
LIMCPU_RE = re.compile(r"E2E-LIMCPU t=\S+ (ARRIVAL|REMOVAL) (cpu\d+) existing=(\d) cpuset=(\S*)")


def app_events(run, prefix="E2E-APP "):
    """The application's lines in order: ("LIM", match) and ("CPU", match)."""
    ev = []
    for t in run["console"]:
        if not t.startswith(prefix):
            continue
        t = t[len(prefix):]
        m = LIM_RE.match(t)
        if m:
            ev.append(("LIM", m))
            continue
        m = LIMCPU_RE.match(t)
        if m:
            ev.append(("CPU", m))
    return ev


def check_cgroup_resize(run):
    f = common_failures(run)
    ev = app_events(run)
    lims = [m for k, m in ev if k == "LIM"]
    if len(lims) != len(CGROUP_RESIZE_WANT):
        f.append(f"cgroup-resize: {len(lims)} limits notifications, expected {len(CGROUP_RESIZE_WANT)} "
                 f"(seqs {[m.group(2) for m in lims]})")
    pending = []
    i = 0
    for k, m in ev:
        if k == "CPU":
            pending.append(f"{m.group(1)} {m.group(2)}")
            continue
        if i >= len(CGROUP_RESIZE_WANT):
            f.append(f"cgroup-resize: an extra notification: {m.group(0)}")
            continue
        seq, changed, cpus, pool, quota, mx, high, cpu_ev = CGROUP_RESIZE_WANT[i]
        got = (int(m.group(2)), int(m.group(3), 16), m.group(4), int(m.group(5)), m.group(6), m.group(8), m.group(9))
        want = (seq, changed, cpus, pool, quota, mx, high)
        if got != want:
            f.append(f"cgroup-resize: notification {i + 1} is {got}, expected {want}")
        if pending != cpu_ev:
            f.append(f"cgroup-resize: before seq {seq}: processor events {pending}, expected {cpu_ev}")
        pending = []
        i += 1
    if pending:
        f.append(f"cgroup-resize: processor events after the last notification: {pending}")
    if not any(t.startswith("E2E-INFO cgroup-resize app exited") for t in run["console"]):
        f.append("cgroup-resize: the application was not stopped")
    gone = app_events(run, "E2E-GONE ")
    gl = [m for k, m in gone if k == "LIM"]
    if len(gl) != 2 or int(gl[-1].group(3), 16) != 0x40:
        f.append(f"cgroup removal: expected 2 notifications, the last flagged removed (0x40): "
                 f"{[m.group(0) for m in gl]}")
    if [f"{m.group(1)} {m.group(2)}" for k, m in gone if k == "CPU"] != ["REMOVAL cpu0", "REMOVAL cpu1"]:
        f.append(f"cgroup removal: expected REMOVAL of cpu0 and cpu1: {[m.group(0) for k, m in gone if k == 'CPU']}")
    if not any(t.startswith("E2E-GONE E2E-LIMEND rc=-19") for t in run["console"]):
        f.append("cgroup removal: the application did not end with -ENODEV")
    for name, words in (("notcgroup", "not a cgroup v2 directory"), ("nosuch", "No such file")):
        line = next((t for t in run["console"] if t.startswith(f"E2E-BAD {name} ")), "")
        if "rc=1" not in line or words not in line:
            f.append(f"bad input {name}: {line or 'no line'}")
    if not any(t.startswith('E2E-DHPCTL {') and '"seq":1,' in t for t in run["console"]):
        f.append("dhpctl limits --json printed nothing for the container")
    bench = [t for t in run["console"] if t.startswith("E2E-BENCH ")]
    for t in bench:
        print(f"    {t}")
    for kind in ("cpu.max", "memory.max", "memory.high", "cpuset.cpus", "parent-cpuset.cpus", "parent-cpu.max"):
        m = next((re.search(r"median_us=(\d+) max_us=(\d+)", t) for t in bench if f"kind={kind} " in t), None)
        if not m:
            f.append(f"bench: no figure for {kind}")
    return f


def check_cgroup_hotadd(run):
    f = dhpd_failures(run) + cpu_failures(run, dhpd_log(run), "cgroup-hotadd", 1)
    steps = [s for s in run["steps"] if s["label"] == "cgroup-hotadd"]
    new = sorted(int(d[3:]) for s in steps for d in s["devices"] if d.startswith("cpu"))
    if len(new) != 1:
        return f + [f"cgroup-hotadd: new CPUs {new}"]
    cpu = new[0]
    ev = app_events(run)
    lims = [m for k, m in ev if k == "LIM"]
    arr = [m for k, m in ev if k == "CPU" and m.group(1) == "ARRIVAL" and m.group(2) == f"cpu{cpu}"]
    if len(arr) != 1:
        f.append(f"cgroup-hotadd: {len(arr)} ARRIVAL of cpu{cpu} in the container, expected 1")
    elif cpu not in parse_cpulist(arr[0].group(4)):
        f.append(f"cgroup-hotadd: ARRIVAL of cpu{cpu} before dhpd admitted it (cpuset.cpus={arr[0].group(4)})")
    if len(lims) != 2 or int(lims[1].group(3), 16) & 0x1 == 0 or cpu not in parse_cpulist(lims[1].group(4)):
        f.append(f"cgroup-hotadd: expected one limits change with cpu{cpu}: {[m.group(0) for m in lims]}")
    order = [k for k, m in ev]
    if arr and lims and ev.index(("CPU", arr[0])) > ev.index(("LIM", lims[-1])):
        f.append("cgroup-hotadd: the limits change came before the ARRIVAL")
    spins = [t for t in run["console"] if t.startswith(f"E2E-APP E2E-LIMSPIN cpu{cpu} ")]
    if not spins:
        f.append(f"cgroup-hotadd: no spinner reached cpu{cpu} (the check has no teeth)")
    for t in spins:
        m = re.search(r"cpuset=(\S*)", t)
        if not m or cpu not in parse_cpulist(m.group(1)):
            f.append(f"cgroup-hotadd: a spinner ran on cpu{cpu} before dhpd admitted it: {t}")
    if not any(re.search(rf"ADMITTED.*(cpu{cpu}|processor {cpu})", l) for l in dhpd_log(run)):
        f.append(f"cgroup-hotadd: dhpd did not log the admission of cpu{cpu}")
    del order
    return f


SCENARIOS = {s.name: s for s in [
    Scenario("hotadd-smoke",
             "add 1 CPU + a 256M DIMM, no onliner: both must stay offline",
             check_smoke, params={"dimm_mb": 256}),
    Scenario("baseline-cpu",
             "CPU add -> online: in-process write (kernel), shell helper, dhpd",
             # warm-up + up to three methods on top of the boot CPU.
             check_baseline, smp="1,maxcpus=5", cpu=True),
    Scenario("baseline-memory",
             "1G DIMM add -> all blocks online: kernel auto-online, direct, shell, dhpd",
             # warm-up + up to four 1 GiB DIMMs on top of 512M of boot memory.
             check_baseline, params={"dimm_mb": 1024}, mem="512M,slots=5,maxmem=6G", kernel_append=MEMHP_OFFLINE),
    Scenario("baseline-cpu3",
             "3 CPUs added at once -> all online: direct onliner (kernel column), dhpd",
             # warm-up + 3 per method on top of the boot CPU.
             check_baseline, smp="1,maxcpus=8", cpu=True),
    Scenario("baseline-memory-4g",
             "4G DIMM add -> all blocks online: kernel auto-online, direct, dhpd",
             # a 1 GiB warm-up, then one 4 GiB DIMM per method.
             check_baseline, params={"dimm_mb": 4096, "warmup_mb": 1024, "methods": "kernel,direct,dhpd"},
             script="baseline-memory", mem="1G,slots=5,maxmem=15G", kernel_append=MEMHP_OFFLINE),
    Scenario("dhpd-cpu",
             "dhpd onlines 1 CPU, then 2 added back to back: online, STARTED < ADMITTED < ARRIVAL",
             check_dhpd_cpu, smp="1,maxcpus=4", cpu=True),
    Scenario("dhpd-memory",
             "the kernel onlines a 256M and a 1G DIMM by dhpd's policy ([memory] onlining = kernel):"
             " movable, one device per DIMM, arrival last",
             check_dhpd_memory),
    Scenario("dhpd-memory-dhpd",
             "dhpd onlines a 256M and a 1G DIMM itself ([memory] onlining = dhpd): movable, one device"
             " per DIMM, arrival last",
             check_dhpd_memory, params={"onlining": "dhpd"}, script="dhpd-memory", kernel_append=MEMHP_OFFLINE),
    Scenario("dhpd-cgroup",
             "dhpd widens the cpuset.cpus of the cgroups it manages, only those",
             check_dhpd_cgroup, cpu=True),
    Scenario("dhpd-restart",
             "dhpd SIGKILLed after a 1G DIMM's first block online; restarted, it onlines the rest",
             check_dhpd_restart, kernel_append=MEMHP_OFFLINE),
    Scenario("client-cpu",
             "two clients: ADD_START (online, cgroup not yet) < ADD_COMPLETE < ARRIVAL, veto, spinners",
             check_client_cpu, smp="1,maxcpus=5", cpu=True),
    Scenario("client-memory",
             "two clients: one arrival per DIMM (256M, 1G), base and size, every block online",
             check_client_memory),
    Scenario("client-restart",
             "dhpd SIGKILLed mid-DIMM and restarted; the client reconnects and gets the arrival",
             check_client_restart, kernel_append=MEMHP_OFFLINE),
    Scenario("remove-cpu",
             "dhpctl cpu remove with a veto, without, and an ACPI CPU unplug: queries, REMOVAL, status",
             check_remove_cpu, smp="1,maxcpus=4", cpu=True),
    Scenario("remove-dimm",
             "dhpctl memory remove of one 256M DIMM, ACPI unplug of another: one REMOVAL each, status",
             check_remove_dimm, kernel_append=MEMHP_OFFLINE),
    Scenario("remove-vmem",
             "virtio-mem grow 1G then shrink to 512M: one ARRIVAL, one REMOVAL, plugged size in status",
             check_remove_vmem, mem="512M,slots=2,maxmem=4G", kernel_append=MEMHP_OFFLINE,
             qemu_args=Machine.virtio_mem_args("vmem0", "2G")),
    Scenario("remove-vmem-kernel",
             "the same with the kernel's own onlining (6.12's default): one ARRIVAL, one REMOVAL",
             check_remove_vmem, script="remove-vmem", kernels=["6.12"],
             only_why="6.1 leaves hot-added memory offline by default (remove-vmem covers it)",
             mem="512M,slots=2,maxmem=4G", qemu_args=Machine.virtio_mem_args("vmem0", "2G")),
    Scenario("probe-cpu-unplug",
             "probe: ACPI CPU unplug of a hot-added, online CPU; every uevent recorded",
             check_probe_cpu_unplug, smp="1,maxcpus=2", cpu=True),
    Scenario("probe-dimm-unplug",
             "probe: ACPI unplug of a 256M DIMM onlined movable; every uevent recorded",
             check_probe_dimm_unplug),
    Scenario("probe-vmem",
             "probe: virtio-mem grow 1G, shrink to 512M, auto_online_blocks=online_movable",
             check_probe_vmem, params={"vmem_policy": "online_movable"},
             mem="512M,slots=2,maxmem=4G", qemu_args=Machine.virtio_mem_args("vmem0", "2G")),
    Scenario("probe-vmem-default",
             "probe: virtio-mem grow 1G, shrink to 512M, with the kernel's own auto_online_blocks",
             check_probe_vmem, params={"vmem_policy": "default"}, script="probe-vmem",
             mem="512M,slots=2,maxmem=4G", qemu_args=Machine.virtio_mem_args("vmem0", "2G")),
    Scenario("probe-cgroup",
             "probe: which cgroup v2 files notify (inotify, poll) on a resize, also via the parent",
             check_probe_cgroup, smp="2"),
    Scenario("cgroup-resize",
             "cgroup target: a container resized in place (cpu.max, cpuset.cpus, memory.max/high, parent, "
             "CPU offline): every change once, in order; removal; bad input; latency bench",
             check_cgroup_resize, smp="2"),
    Scenario("cgroup-hotadd",
             "cgroup target: a CPU hot-added, admitted by dhpd into the managed cgroup, reaches the "
             "application inside as ARRIVAL + limits change, after admission",
             check_cgroup_hotadd, smp="1,maxcpus=2", cpu=True),
]}


# ---- one guest run --------------------------------------------------------

class Skipped(Exception):
    """The scenario cannot run on this kernel (run["skip"] says why)."""


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def cap(self, seconds):
        """`seconds`, but no further than the scenario's overall deadline."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise MachineError("scenario --timeout exceeded")
        return min(seconds, left)


def do_hotadd(m, what, counter):
    """Hot-add `what` ("cpu", "dimm:MB" or both, comma-separated).

    Also "del:cpu" / "del:dimm" (device_del of the last hot-added one, with
    its DEVICE_DELETED awaited) and "vmem:MB" (virtio-mem requested-size).
    Returns (host time the first QMP command returned, device ids).
    """
    t0, ids = None, []
    for part in what.split(","):
        if part == "cpu":
            t, dev = m.hotadd_cpu()
        elif part.startswith("dimm:"):
            counter["dimm"] += 1
            t, dev = m.hotadd_dimm(int(part[5:]), counter["dimm"])
        elif part in ("del:cpu", "del:dimm"):
            # Removal: device_del of the last hot-added one, and QEMU's
            # DEVICE_DELETED (the guest ejected it), bounded.
            dev = m.last_plugged("cpu-" if part == "del:cpu" else "dimm")
            t, t_del = m.unplug(dev, timeout=30)
            counter.setdefault("deleted", {})[dev] = t_del
        elif part.startswith("vmem:"):
            dev = "vmem0"
            t = m.virtio_mem_resize(dev, int(part[5:]) << 20)
        else:
            raise MachineError(f"guest asked for unknown hot-add '{part}'")
        t0 = t if t0 is None else t0
        ids.append(dev)
    return t0, ids


def run_scenario(sc, kname, kernel, initrd, args, log_dir, params=None):
    """One boot of scenario `sc` on kernel `kname` (vmlinuz `kernel`);
    `params` (e2e.KEY=VALUE) over the scenario's own."""
    append = " ".join(filter(None, [
        "console=ttyS0 quiet panic=-1",
        "8250.nr_uarts=1",          # do not probe 32 UARTs: faster boot
        f"e2e.script={sc.script}",
        *(f"e2e.{k}={v}" for k, v in {**sc.params, **(params or {})}.items()),
        sc.append, sc.kernel_append.get(kname, ""), args.append]))
    run = {"scenario": sc.name, "kernel": kname, "rc": None, "steps": [], "errors": [],
           "boot_s": None, "total_s": None, "failures": [], "skip": None}
    deadline = Deadline(args.timeout)
    log = os.path.join(log_dir, f"{sc.name}.{kname}.console.log")
    m = Machine(kernel, initrd, append, smp=sc.smp, mem=sc.mem, accel=args.accel,
                console_log=log, extra_args=[*KERNEL_QEMU_ARGS.get(kname, []), *sc.qemu_args])
    counter = {"dimm": 0}
    try:
        m.start(timeout=deadline.cap(30))
        mt, t_ready = m.wait_for(r"^E2E-READY .*", deadline.cap(BOOT_TIMEOUT))
        run["boot_s"] = t_ready - m.t_start
        run["guest"] = mt.group(0)
        if sc.cpu and hotplug_cpus(run) == 0 and has_cpu_slots(sc):
            run["skip"] = NO_HOTPLUG_CPU_WHY
            raise Skipped()
        while True:
            mt, _ = m.wait_for(r"^E2E-(WAIT label=(\S+) add=(\S+)|SKIP label=(\S+).*"
                               r"|EXIT rc=(\d+).*|ERR .*|ENOBUFS .*)",
                               deadline.cap(STEP_TIMEOUT))
            if mt.group(5) is not None:
                run["rc"] = int(mt.group(5))
                break
            if mt.group(4) is not None:
                run["steps"].append({"label": mt.group(4), "status": "skipped",
                                     "why": mt.group(0), "devices": {}})
                continue
            if mt.group(2) is None:         # E2E-ERR / E2E-ENOBUFS
                run["errors"].append(mt.group(0))
                continue
            label, what = mt.group(2), mt.group(3)
            t0, ids = do_hotadd(m, what, counter)
            md, t1 = m.wait_for(rf"^E2E-(DONE|TIMEOUT) {re.escape(label)} (.*)",
                                deadline.cap(STEP_TIMEOUT))
            # Numbers only: the guest's power-off message can cut the last
            # step's line short (seen: "done_ms=568[    5.776266] reboot").
            kv = dict(re.findall(r"(\w+)=([0-9./]+)(?=\s|$)", md.group(2)))
            step = {"label": label, "add": what, "ids": ids, "t0": t0,
                    "status": "done" if md.group(1) == "DONE" else "timeout",
                    "host_ms": (t1 - t0) * 1e3,
                    "guest_span_ms": float(kv["span_ms"]) if "span_ms" in kv else None,
                    # Guest CLOCK_MONOTONIC, ms: the first add uevent, and
                    # every new device online (the client's clock too).
                    "guest_first_add_ms": float(kv["first_add_ms"]) if "first_add_ms" in kv else None,
                    "guest_done_ms": float(kv["done_ms"]) if "done_ms" in kv else None,
                    "blocks": int(kv.get("blocks", "0").split("/")[0]),
                    "devices": {}}
            if "dimm" in what:
                step["expected_blocks"] = None  # filled in from the guest below
            # ACPI _OST: the guest kernel acknowledging the insertion (one
            # per device; status 0 = success).  With kernel auto-online it
            # comes after the onlining, so possibly after E2E-DONE: wait.
            osts = []
            adds = [d for p, d in zip(what.split(","), ids) if p == "cpu" or p.startswith("dimm:")]
            dels = [counter["deleted"].pop(d) for d in ids if d in counter.get("deleted", {})]
            step["deleted_ms"] = (max(dels) - t0) * 1e3 if dels else None
            for dev in adds:
                try:
                    t, ev = m.wait_event(
                        "ACPI_DEVICE_OST", deadline.cap(10), since=t0,
                        match=lambda ev, dev=dev: ev["data"]["info"].get("device") == dev)
                except Timeout:
                    run["errors"].append(f"no ACPI _OST from the guest for {dev}")
                    continue
                osts.append(t)
                if ev["data"]["info"].get("status") != 0:
                    run["errors"].append(f"ACPI _OST for {dev}: {ev['data']['info']}")
            step["ost_ms"] = (max(osts) - t0) * 1e3 if osts else None
            run["steps"].append(step)
        run["exit_uptime"] = mt.group(0)
        m.wait_exit(deadline.cap(30))
    except Skipped:
        pass                            # skipped; run["skip"] says why
    except (MachineError, OSError, ValueError) as e:
        run["failures"].append(f"{type(e).__name__}: {e}")
    finally:
        m.close()
        run["total_s"] = time.monotonic() - m.t_start if m.t_start else None
    run["console"] = [text for _, text in m.lines]
    # Per-device states the watcher printed ("E2E L devN present k=v").
    for _, text in m.lines:
        d = re.match(r"^E2E (\S+) (\S+) present \w+=(\S+)", text)
        for s in run["steps"]:
            if d and s["label"] == d.group(1):
                s["devices"][d.group(2)] = d.group(3)
    # "Client told": device_add's return to a client's first marker line of
    # each kind on the console (host clock, as device_add->done), within
    # the step (until the next step's device_add).
    # Also on the guest's clock (client_guest_ms: the client's t= minus the
    # moment every new device was online, the step's done_ms): right also
    # for a client that writes its lines at exit (e2eclient -q), and the
    # measure of "the client told N ms after the hardware was online".
    t0s = [s["t0"] for s in run["steps"] if "t0" in s] + [float("inf")]
    for k, s in enumerate(st for st in run["steps"] if "t0" in st):
        s["client_ms"], s["client_guest_ms"] = {}, {}
        for t, text in m.lines:
            if not t0s[k] <= t < t0s[k + 1]:
                continue
            c = re.match(r"^E2E-CLIENT \S+ t=(\S+) tid=\d+ (SYNC state=(ADD_START|ADD_COMPLETE)|ARRIVAL)"
                         r" .*existing=0", text)
            if c:
                s["client_ms"].setdefault(c.group(3) or "ARRIVAL", (t - s["t0"]) * 1e3)
                if s.get("guest_done_ms") is not None:
                    # The last of each kind: with several devices in one
                    # step, the one told last.
                    s["client_guest_ms"][c.group(3) or "ARRIVAL"] = float(c.group(1)) * 1e3 - s["guest_done_ms"]
    # Expected block count = DIMM size / block size the guest announced.
    bs = re.search(r"block_size=([0-9a-f]+)", run.get("guest", ""))
    for s in run["steps"]:
        mb = re.search(r"dimm:(\d+)", s.get("add", ""))
        if mb and bs:
            s["expected_blocks"] = (int(mb.group(1)) << 20) // int(bs.group(1), 16)
    if not run["failures"] and not run["skip"]:
        run["failures"] = sc.check(run)
    run["log"] = log
    return run


# ---- build ----------------------------------------------------------------

def build_ueventwatch(build_dir, name="ueventwatch"):
    """Build guest/NAME.c statically (ueventwatch, uevrec, cgprobe, wtime)."""
    src = os.path.join(HERE, "guest", name + ".c")
    out = os.path.join(build_dir, name)
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-o", out, src],
                       check=True)
    return out


def summarize(runs):
    """Median (min..max) per scenario step over the repeated runs."""
    import statistics
    print("summary over repeats: median (min..max) ms")
    by = {}
    for run in runs:
        for s in run["steps"]:
            if s["status"] == "done":
                by.setdefault((f"{run['scenario']} [{run['kernel']}]", s["label"]), []).append(s)
    for (sc, label), steps in by.items():
        cols = []
        for key, name in (("host_ms", "device_add->done"), ("guest_span_ms", "guest add->done"),
                          ("ost_ms", "_OST")):
            v = [s[key] for s in steps if s[key] is not None]
            if v:
                cols.append(f"{name} {statistics.median(v):.1f} ({min(v):.1f}..{max(v):.1f})")
        print(f"    {sc:<21} {label:<12} n={len(steps)}  " + "  ".join(cols))
    boots = [r["boot_s"] * 1e3 for r in runs if r["boot_s"]]
    totals = [r["total_s"] * 1e3 for r in runs if r["total_s"]]
    if boots:
        print(f"    boot (QEMU start -> E2E-READY) {statistics.median(boots):.0f} ms"
              f" ({min(boots):.0f}..{max(boots):.0f}); whole run {statistics.median(totals):.0f} ms"
              f" ({min(totals):.0f}..{max(totals):.0f})")


BASELINE_COLUMNS = {
    "baseline-cpu": ("cpu-", ["kernel", "shell", "dhpd"]),
    "baseline-cpu3": ("cpu3-", ["kernel", "dhpd"]),
    "baseline-memory": ("mem-", ["kernel", "direct", "shell", "dhpd"]),
    "baseline-memory-4g": ("mem-", ["kernel", "direct", "dhpd"]),
}


def method_order(sc, i):
    """A baseline's methods in their order on even repeats, reversed on odd
    ones: each onliner in turn first and last in its boot, so that neither
    carries alone what the boot's earlier steps leave (under TCG each
    online write costs more with more CPUs online; more memory online
    moves the kernel's own costs)."""
    if sc.name not in BASELINE_COLUMNS or i % 2 == 0:
        return None
    order = sc.params.get("methods")
    order = order.split(",") if order else BASELINE_COLUMNS[sc.name][1]
    return {"methods": ",".join(reversed(order))}


def med_range(v):
    """median (min-max) of a list, one decimal."""
    import statistics
    return f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"


def baseline_table(runs):
    """The onliners side by side (median over repeats), ratio to kernel,
    per kernel."""
    for k in sorted({r["kernel"] for r in runs}):
        baseline_table_1([r for r in runs if r["kernel"] == k], k)


def baseline_table_1(runs, kname):
    """Per figure: median (min-max) ms of each method; the ratio to the
    kernel's is the median (min-max) of the ratios paired within one boot
    (both steps of the same run), never a ratio of medians."""
    for sc, (prefix, methods) in BASELINE_COLUMNS.items():
        scr = [r for r in runs if r["scenario"] == sc]
        for key, name in (("host_ms", "device_add->done"), ("guest_span_ms", "guest add->done")):
            per_run = []
            for r in scr:
                d = {s["label"][len(prefix):]: s[key] for s in r["steps"]
                     if s["label"].startswith(prefix) and s["status"] == "done" and s[key] is not None}
                per_run.append(d)
            if not any("kernel" in d for d in per_run):
                continue
            cols = []
            for meth in methods:
                v = [d[meth] for d in per_run if meth in d]
                if not v:
                    continue
                col = f"{meth} {med_range(v)} ms"
                ratios = [d[meth] / d["kernel"] for d in per_run if meth in d and d.get("kernel")]
                if meth != "kernel" and ratios:
                    col += f" x{med_range(ratios)}"
                cols.append(col)
            n = sum("kernel" in d for d in per_run)
            print(f"baseline {sc:<18} [{kname}] {name:<17} n={n}  " + " | ".join(cols))
        # The client of the dhpd step: device_add -> its marker lines (host
        # clock; only meaningful for a client printing at once), and on the
        # guest's clock from "every device online" (done_ms).
        for key, name, lead in (("client_ms", "client told", "device_add->"),
                                ("client_guest_ms", "client after done", "online->")):
            cols, n = [], 0
            for kind in ("ADD_START", "ADD_COMPLETE", "ARRIVAL"):
                v = [s[key][kind] for r in scr for s in r["steps"]
                     if s["label"] == prefix + "dhpd" and s["status"] == "done" and kind in s.get(key, {})]
                if v:
                    cols.append(f"{kind} {med_range(v)} ms")
                    n = len(v)
            if cols:
                print(f"baseline {sc:<18} [{kname}] {name:<17} n={n}  {lead} " + " | ".join(cols))


def fmt_ms(v):
    return "-" if v is None else f"{v:.1f}"


def has_cpu_slots(sc):
    """Does the scenario's -smp leave CPU slots to hot-add into?"""
    m = re.match(r"(\d+)(?:.*maxcpus=(\d+))?", sc.smp)
    return bool(m and m.group(2) and int(m.group(2)) > int(m.group(1)))


def resolve_kernels(spec, cache):
    """`--kernel` -> [(name, vmlinuz, modules dir or None)].

    Each comma-separated item is a kernel name (6.1, 6.12: fetched into
    CACHE/NAME by scripts/e2e-fetch-kernel.sh) or the path of a vmlinuz
    (named after its file; its modules are taken from a `modules` directory
    next to it, if any)."""
    out = []
    for item in filter(None, spec.split(",")):
        if item in KERNELS:
            vmlinuz = subprocess.run(
                [os.path.join(ROOT, "scripts", "e2e-fetch-kernel.sh"), "-k", item, cache],
                check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
            name = item
        elif os.path.exists(item):
            vmlinuz, name = os.path.abspath(item), os.path.basename(item)
        else:
            raise SystemExit(f"--kernel {item}: neither one of {', '.join(KERNELS)} nor a file")
        mods = os.path.join(os.path.dirname(vmlinuz), "modules")
        out.append((name, vmlinuz, mods if os.path.exists(os.path.join(mods, "modules.load")) else None))
    return out


def print_run(run, tag):
    ok = not run["failures"]
    print(f"{'PASS' if ok else 'FAIL'} {tag}: boot {fmt_ms(run['boot_s'] and run['boot_s'] * 1e3)} ms,"
          f" run {fmt_ms(run['total_s'] and run['total_s'] * 1e3)} ms", flush=True)
    for s in run["steps"]:
        if s["status"] == "skipped":
            why = s["why"]
            if "reason=no-hotplug-cpus" in why:
                why = (f"SKIP cpu steps on {run['kernel']}: {NO_HOTPLUG_CPU_WHY}")
            print(f"    {s['label']:<14} skipped ({why})")
            continue
        print(f"    {s['label']:<14} {s['status']:<7} add={s['add']:<12}"
              f" device_add->done {fmt_ms(s['host_ms']):>8} ms"
              f"  guest add->done {fmt_ms(s['guest_span_ms']):>8} ms"
              f"  _OST {fmt_ms(s['ost_ms']):>7} ms"
              + (f"  DEVICE_DELETED {fmt_ms(s['deleted_ms'])} ms" if s.get("deleted_ms") else "")
              + f"  devices {' '.join(f'{d}={v}' for d, v in sorted(s['devices'].items()))}"
              + "".join(f"  client {k} {v:.1f} ms" for k, v in s.get("client_ms", {}).items()))
    for line in run.get("bench", []):
        print(f"    bench: {line}")
    for f in run["failures"]:
        print(f"    failure: {f}")
    if not ok:
        print(f"    console log: {run['log']}")
    return ok


def main():
    ap = argparse.ArgumentParser(
        description="dhp QEMU hot-add end-to-end tests",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.doc}" for s in SCENARIOS.values()))
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="scenario to run (repeatable; default: all)")
    ap.add_argument("--extra-bin", action="append", default=[], metavar="PATH",
                    help="static binary packed as /bin/<basename> (e.g. dhpd, dhpctl)")
    ap.add_argument("--kernel-cache", default=os.path.join(ROOT, "build", "e2e-cache"),
                    metavar="DIR", help="where the Debian kernels are downloaded/cached")
    ap.add_argument("--kernel", default=",".join(KERNELS), metavar="LIST",
                    help="comma-separated kernels to run each scenario on: "
                         f"{', '.join(KERNELS)} or the path of a vmlinuz (default {','.join(KERNELS)})")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "e2e"))
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--timeout", type=float, default=120,
                    help="overall limit per scenario run, seconds (default 120)")
    ap.add_argument("--repeat", type=int, default=1, help="run each scenario N times")
    ap.add_argument("--accel", default="tcg", help="tcg (default) or kvm")
    ap.add_argument("--append", default="", help="extra kernel command line")
    ap.add_argument("--json", metavar="FILE", help="write all results as JSON")
    args = ap.parse_args()
    install_signal_handlers()

    t_all = time.monotonic()
    os.makedirs(args.build_dir, exist_ok=True)
    log_dir = os.path.join(args.build_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    kernels = resolve_kernels(args.kernel, args.kernel_cache)
    bins = [build_ueventwatch(args.build_dir, n) for n in ("ueventwatch", "uevrec", "cgprobe", "wtime")]
    initrds = {name: initramfs.build(os.path.join(args.build_dir, f"initramfs-{name}.cpio.gz"),
                                     args.busybox, [*bins, *args.extra_bin], modules=mods)
               for name, _, mods in kernels}
    names = args.scenario or list(SCENARIOS)
    no_cpu_hotplug = set()   # kernels seen to allow no CPU hot-add

    runs, passed, failed, skipped = [], 0, 0, 0
    for kname, kernel, _ in kernels:
        for name in names:
            sc = SCENARIOS[name]
            if sc.kernels is not None and kname not in sc.kernels:
                print(f"SKIP {name} [{kname}]: runs on {','.join(sc.kernels)} only: {sc.only_why}")
                skipped += 1
                continue
            if sc.cpu and kname in no_cpu_hotplug:
                print(f"SKIP {name} [{kname}]: {NO_HOTPLUG_CPU_WHY}")
                skipped += 1
                continue
            for i in range(args.repeat):
                try:
                    run = run_scenario(sc, kname, kernel, initrds[kname], args, log_dir,
                                       params=method_order(sc, i))
                except (KeyboardInterrupt, SystemExit) as e:
                    # ^C or SIGTERM/SIGHUP: QEMU is already dead (finally in
                    # run_scenario); report what ran and stop.
                    print(f"INTERRUPTED {name} [{kname}] ({type(e).__name__})")
                    print(f"{passed} passed, {failed + 1} failed")
                    return 130
                # Learnt only from a machine with free CPU slots: 0 then
                # means the kernel, not the QEMU configuration.
                if hotplug_cpus(run) == 0 and has_cpu_slots(sc):
                    no_cpu_hotplug.add(kname)
                if run["skip"]:
                    print(f"SKIP {name} [{kname}]: {run['skip']}")
                    skipped += 1
                    break
                runs.append(run)
                tag = f"{name} [{kname}]" + ("" if args.repeat == 1 else f"#{i + 1}")
                ok = print_run(run, tag)
                if sc.kernel_append.get(kname):
                    print(f"    note: booted with {sc.kernel_append[kname]}: {MEMHP_OFFLINE_WHY}")
                passed, failed = passed + ok, failed + (not ok)
    if args.repeat > 1:
        summarize(runs)
    baseline_table(runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    print(f"suite time {time.monotonic() - t_all:.1f} s; {skipped} skipped (reasons above)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
