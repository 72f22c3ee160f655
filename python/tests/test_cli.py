# SPDX-License-Identifier: MIT
"""python3 -m dhp status and monitor against dhpd."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import dhp

PKG = str(Path(__file__).resolve().parents[1])


def pym(*args, **kw):
    env = dict(os.environ, PYTHONPATH=PKG)
    return subprocess.run([sys.executable, "-m", "dhp", *args], capture_output=True, text=True, env=env, timeout=60,
                          **kw)


def test_status(dhpd):
    r = pym("--socket", dhpd.sock, "status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert [p["index"] for p in st["processors"] if p["state"] == "admitted"] == [0, 1]
    assert st["memory_conditions"]["HighMemoryCondition"] is True
    r = pym("--target", dhpd.target, "status")
    assert r.returncode == 0 and "cpu1    admitted" in r.stdout and "HighMemoryCondition" in r.stdout


def test_status_no_daemon(tmp_path):
    r = pym("--socket", str(tmp_path / "none.sock"), "status")
    assert r.returncode != 0 and "dhpd is not running" in r.stderr


def test_monitor(dhpd):
    env = dict(os.environ, PYTHONPATH=PKG)
    p = subprocess.Popen([sys.executable, "-m", "dhp", "--socket", dhpd.sock, "monitor", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        # Add processors until the monitor, registered at some point after
        # its start, prints an ADMITTED record (bounded).
        with dhp.open(dhpd.target) as ctx:
            seen = []
            end = time.monotonic() + 20
            while not any(r.get("event") == "ADMITTED" for r in seen) and time.monotonic() < end:
                ctx.sim_cpu_add()
                while select.select([p.stdout], [], [], 0.5)[0]:
                    seen.append(json.loads(p.stdout.readline()))
                    if seen[-1].get("event") == "ADMITTED":
                        break
        assert any(r["method"] == "txn" and r["event"] == "ADMITTED" for r in seen)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(20)
    assert p.returncode == 0


def test_monitor_daemon_gone(start_dhpd):
    d = start_dhpd()
    env = dict(os.environ, PYTHONPATH=PKG)
    p = subprocess.Popen([sys.executable, "-m", "dhp", "--socket", d.sock, "monitor"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    time.sleep(0.3)
    d.stop()
    _, err = p.communicate(timeout=30)
    assert p.returncode == 1 and b"dhpd went away" in err
