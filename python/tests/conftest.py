# SPDX-License-Identifier: MIT
"""Fixtures: the package from this tree, libdhp.so and dhpd from the build
(DHP_LIBRARY, DHPD; `make check-python` sets both), a dhpd --platform sim
on a socket in a temporary directory, and a context on either target."""
from __future__ import annotations

import faulthandler
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("DHP_BUILD", ROOT / "build"))
os.environ.setdefault("DHP_LIBRARY", str(BUILD / "src" / "libdhp.so.0"))
DHPD = os.environ.get("DHPD", str(BUILD / "src" / "dhpd"))
E2ECLIENT = os.environ.get("DHP_E2ECLIENT", str(BUILD / "tests" / "e2e" / "e2eclient"))
sys.path.insert(0, str(ROOT / "python"))

import dhp  # noqa: E402

# Nothing may hang: a test still running after this long dumps every
# thread's stack and exits.
TEST_TIMEOUT = float(os.environ.get("DHP_PYTEST_TIMEOUT", "120"))


@pytest.fixture(autouse=True)
def _no_hang():
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def wait_for(pred, timeout=10.0, what="condition"):
    """Poll pred() until true (bounded); the value, or AssertionError."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _die_with_parent():
    # A test that hangs ends the run (_no_hang) without its teardown: the
    # daemons it started go with it (PR_SET_PDEATHSIG, SIGTERM).
    import ctypes
    ctypes.CDLL(None).prctl(1, 15, 0, 0, 0)


class Dhpd:
    """dhpd --platform sim on DIR/dhpd.sock; its state file is DIR/state."""

    def __init__(self, tmp: Path, sim: str = "", extra=()) -> None:
        self.dir = tmp
        self.sock = str(tmp / "dhpd.sock")
        self.target = "unix:" + self.sock
        self.state = tmp / "state"
        self.err = open(tmp / "dhpd.err", "w")
        cmd = [DHPD, "--foreground", "--platform", "sim", "--socket", self.sock, "--config", "/dev/null",
               "--log-level", "debug"]
        if sim:
            cmd += ["--sim", sim]
        self.proc = subprocess.Popen(cmd + list(extra), stdout=subprocess.PIPE, stderr=self.err,
                                     preexec_fn=_die_with_parent)
        line = b""
        end = time.monotonic() + 20
        while b"READY" not in line:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, end - time.monotonic()))
            if not r:
                self.stop()
                raise RuntimeError("dhpd did not say READY: " + (tmp / "dhpd.err").read_text())
            line = self.proc.stdout.readline()
            if not line:
                self.stop()
                raise RuntimeError("dhpd exited: " + (tmp / "dhpd.err").read_text())

    def log(self) -> str:
        self.err.flush()
        return (self.dir / "dhpd.err").read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


@pytest.fixture
def dhpd(tmp_path):
    d = Dhpd(tmp_path)
    yield d
    d.stop()


@pytest.fixture
def start_dhpd(tmp_path):
    """A factory: start_dhpd(sim="cpus=1,maxcpus=64")."""
    started = []

    def start(**kw):
        d = Dhpd(tmp_path / f"d{len(started)}", **kw) if (tmp_path / f"d{len(started)}").mkdir() is None else None
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture(params=["sim", "dhpd"])
def target(request, tmp_path):
    """Each feature on both targets: the in-process sim, and a client of
    dhpd --platform sim."""
    if request.param == "sim":
        yield "sim"
        return
    d = Dhpd(tmp_path)
    yield d.target
    d.stop()


@pytest.fixture
def ctx(target):
    with dhp.open(target, name="pytest") as c:
        yield c
