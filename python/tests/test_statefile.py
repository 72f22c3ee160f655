# SPDX-License-Identifier: MIT
"""dhpd's state file (doc/protocol.md, "The state file"): one new version
per change, seen by an inotify watch as one IN_MOVED_TO each, never torn."""
from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import threading
import time

import pytest
from conftest import wait_for

import dhp

KEYS = ["version", "seq", "cpus", "ncpus", "memory", "HighMemoryCondition", "LowMemoryCondition",
        "LowCommitCondition", "HighCommitCondition", "MaximumCommitCondition"]

IN_MOVED_TO = 0x80
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000


def parse(text: str) -> dict:
    """The reader of doc/protocol.md, strict: a torn or partial file fails."""
    assert text.endswith("\n"), f"no final newline: {text!r}"
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    kv = dict(ln.split("=", 1) for ln in lines)
    assert list(kv) == KEYS, f"keys {list(kv)}"
    assert kv["version"] == "1"
    return kv


def read_state(d) -> dict:
    with open(d.state) as f:
        return parse(f.read())


class Inotify:
    """IN_MOVED_TO events on a directory, through libc (no module needed)."""

    def __init__(self, path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(IN_CLOEXEC | IN_NONBLOCK)
        assert self.fd >= 0
        assert libc.inotify_add_watch(self.fd, str(path).encode(), IN_MOVED_TO) >= 0

    def names(self) -> list:
        out = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            off = 0
            while off < len(buf):
                _wd, mask, _cookie, n = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + n].rstrip(b"\0").decode()
                if mask & IN_MOVED_TO:
                    out.append(name)
                off += 16 + n

    def close(self) -> None:
        os.close(self.fd)


def test_first_version(dhpd):
    st = read_state(dhpd)
    assert st == {"version": "1", "seq": "1", "cpus": "0-1", "ncpus": "2", "memory": str(1 << 30),
                  "HighMemoryCondition": "1", "LowMemoryCondition": "0", "LowCommitCondition": "0",
                  "HighCommitCondition": "0", "MaximumCommitCondition": "0"}
    assert not (dhpd.dir / ".state.tmp").exists()


def test_one_version_per_change(dhpd):
    ino = Inotify(dhpd.dir)
    versions = [read_state(dhpd)]
    events = []

    def step(action, expect_change):
        seq = int(versions[-1]["seq"])
        action()
        if expect_change:
            wait_for(lambda: int(read_state(dhpd)["seq"]) > seq, what="a new version")
        else:
            time.sleep(0.2)  # a version would have come by now
        st = read_state(dhpd)
        events.extend(ino.names())
        assert int(st["seq"]) == seq + (1 if expect_change else 0), (versions[-1], st)
        versions.append(st)
        return st

    with dhp.open(dhpd.target) as ctx:
        st = step(ctx.sim_cpu_add, True)
        assert (st["cpus"], st["ncpus"]) == ("0-2", "3")
        # A vetoed add changes nothing: no version.
        reg = ctx.register_proc(lambda c: c.state is dhp.ProcChangeState.ADD_START and c.veto(errno.EBUSY))
        st = step(ctx.sim_cpu_add, False)
        assert st["cpus"] == "0-2"
        reg.close()
        st = step(lambda: ctx.sim_memory_add(256 << 20), True)
        assert st["memory"] == str((1 << 30) + (256 << 20))
        # High clears (available between the thresholds), then Low sets.
        st = step(lambda: ctx.sim_run("memory level available=20M\n"), True)
        assert (st["HighMemoryCondition"], st["LowMemoryCondition"]) == ("0", "0")
        st = step(lambda: ctx.sim_run("memory level available=4M\n"), True)
        assert st["LowMemoryCondition"] == "1"
        st = step(lambda: ctx.sim_run("memory level available=4M\n"), False)  # the same levels again
    time.sleep(0.2)
    events.extend(ino.names())
    ino.close()
    assert int(read_state(dhpd)["seq"]) == 5
    # The watch saw each version once, by its final name only.
    assert events.count("state") == 4 and set(events) == {"state"}, events


def test_never_torn(start_dhpd):
    d = start_dhpd(sim="cpus=1,maxcpus=256")
    stop = threading.Event()
    seen = {"reads": 0, "seqs": set(), "errors": []}

    def reader():
        last = 0
        while not stop.is_set():
            try:
                with open(d.state) as f:
                    st = parse(f.read())
            except Exception as e:  # noqa: BLE001 - any failure is the test's
                seen["errors"].append(repr(e))
                return
            seq = int(st["seq"])
            if seq < last:
                seen["errors"].append(f"seq went back: {last} -> {seq}")
                return
            last = seq
            seen["reads"] += 1
            seen["seqs"].add(seq)

    t = threading.Thread(target=reader)
    t.start()
    try:
        with dhp.open(d.target) as ctx:
            ctx.sim_run("cpu add 120\nmemory add 256M\nmemory add 256M\nsettle\n")
        # 1 + 120 processors + 2 memory devices: every change numbered.
        wait_for(lambda: int(read_state(d)["seq"]) == 123, timeout=30, what="the last version")
    finally:
        stop.set()
        t.join(30)
    assert not seen["errors"], seen["errors"][:3]
    assert seen["reads"] > 10
    st = read_state(d)
    assert (st["cpus"], st["ncpus"]) == ("0-120", "121")


def test_state_dir_option(tmp_path):
    from conftest import Dhpd
    (tmp_path / "a").mkdir()
    d = Dhpd(tmp_path / "a", extra=["--state-dir", str(tmp_path / "elsewhere/deeper")])
    try:
        assert parse((tmp_path / "elsewhere/deeper/state").read_text())["seq"] == "1"
        assert not (tmp_path / "a/state").exists()
    finally:
        d.stop()
    (tmp_path / "b").mkdir()
    d = Dhpd(tmp_path / "b", extra=["--state-dir", ""])
    try:
        assert not (tmp_path / "b/state").exists()
    finally:
        d.stop()


def _doc_block(lang: str) -> str:
    from conftest import ROOT
    text = (ROOT / "doc" / "protocol.md").read_text()
    section = text[text.index("## The state file"):]
    start = section.index(f"```{lang}\n") + len(lang) + 4
    return section[start:section.index("```", start)]


@pytest.mark.parametrize("lang", ["python", "sh"])
def test_documented_readers(dhpd, lang):
    import shutil
    import subprocess
    import sys
    code = _doc_block(lang)
    assert len(code.strip().splitlines()) <= 16
    if lang == "sh":
        if not shutil.which("inotifywait"):
            pytest.skip("inotifywait (inotify-tools) is not installed")
        cmd = ["sh", "-c", code, "reader", str(dhpd.dir)]
    else:
        cmd = [sys.executable, "-c", code, str(dhpd.dir)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert select.select([p.stdout], [], [], 20)[0]
        assert p.stdout.readline() == "seq 1: cpus 0-1, low memory 0\n"
        if lang == "sh":
            time.sleep(0.3)  # inotifywait starts after the first read (the doc says so)
        with dhp.open(dhpd.target) as ctx:
            ctx.sim_cpu_add()
            assert select.select([p.stdout], [], [], 20)[0]
            assert p.stdout.readline() == "seq 2: cpus 0-2, low memory 0\n"
            ctx.sim_run("memory level available=1M\n")
            # High clears, Low sets: two versions, read once or twice (the
            # reader may find the second when the first's event wakes it).
            lines = []
            while not lines or lines[-1] != "seq 4: cpus 0-2, low memory 1\n":
                assert select.select([p.stdout], [], [], 20)[0], f"the reader printed only {lines}"
                lines.append(p.stdout.readline())
                assert len(lines) <= 2, lines
    finally:
        os.killpg(p.pid, 15)
        p.wait(10)
