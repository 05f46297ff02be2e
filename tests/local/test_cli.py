"""`spotshield local ...`: one red line and exit 1 on bad input, a working start/status/stop."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spotshield.local.testing import pid_alive


def cli(tmp_path, *args):
    env = dict(os.environ, SPOTSHIELD_ROOT=str(tmp_path), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "spotshield.cli.main", "local", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.mark.parametrize("args,msg", [
    (["start", "--pattern", "weekly"], "unknown preemption pattern 'weekly'"),
    (["start", "--pattern", "poisson", "--rate", "-1"], "rate must be >= 0"),
    (["start", "--time-scale", "0"], "time scale must be > 0"),
    (["status"], "not running"),
    (["preempt"], "not running"),
])
def test_bad_input_is_one_line(tmp_path, args, msg):
    r = cli(tmp_path, *args)
    assert r.returncode == 1 and msg in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_start_status_stop(tmp_path):
    r = cli(tmp_path, "start", "--pattern", "regular", "--rate", "60")
    assert r.returncode == 0, r.stderr
    try:
        st = json.loads(cli(tmp_path, "status", "--json").stdout)
        assert st["injector"]["pattern"] == "regular" and st["injector"]["rate"] == 60
        again = cli(tmp_path, "start")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        assert cli(tmp_path, "stop").returncode == 0
    assert not pid_alive(st["pid"])
    assert "not running" in cli(tmp_path, "stop").stdout
