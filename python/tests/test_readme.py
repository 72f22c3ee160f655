# SPDX-License-Identifier: MIT
"""python/README.md's example, run as written: on the in-process sim and
against dhpd --platform sim."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

EXPECTED = """pool: hot-add admitted
pool: hot-add admitted
pool: hot-add refused
pool: worker 1 on cpu0
pool: worker 2 on cpu1
pool: worker 3 on cpu2
pool: worker 4 on cpu3
pool: low memory, cache dropped
"""


def example(tmp_path):
    text = (ROOT / "python" / "README.md").read_text()
    start = text.index("```python\n") + len("```python\n")
    path = tmp_path / "pool.py"
    path.write_text(text[start:text.index("```", start)])
    return path


def run(path, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=env, timeout=60)


def test_example_sim(tmp_path):
    r = run(example(tmp_path), "sim", "--drive")
    assert r.returncode == 0, r.stderr
    assert r.stdout == EXPECTED
    assert EXPECTED in (ROOT / "python" / "README.md").read_text()  # the README shows what it prints


def test_example_dhpd(tmp_path, dhpd):
    r = run(example(tmp_path), dhpd.target, "--drive")
    assert r.returncode == 0, r.stderr
    assert r.stdout == EXPECTED
