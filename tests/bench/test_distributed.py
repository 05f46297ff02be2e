"""bench/distributed.py on the tiny size: well-formed numbers (no speed asserted)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _pos(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-dist") / "results.json"
    # a subprocess from the repo root: under pytest, 'bench' is this test package
    p = subprocess.run([sys.executable, "-m", "bench.distributed", "--size", "tiny", "--repeats", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "Notice -> first step" in p.stdout
    return json.loads(out.read_text())


def test_the_save_stall_is_compared_with_the_single_process_save_of_the_same_state(results):
    s = results["save"]
    assert s["world"] == 2 and _pos(s["state_mb"]) and _pos(s["written_mb"])
    assert _pos(s["single_stall_ms"]) and _pos(s["dcp_stall_ms"]) and _pos(s["dcp_persist_ms"])
    assert s["dcp_vs_single"] == pytest.approx(s["dcp_stall_ms"] / s["single_stall_ms"])
    assert _pos(s["stop_check_us"]) and s["stop_check_p90_us"] >= s["stop_check_us"]


def test_notice_to_first_step_after_reforming_adds_up(results):
    r = results["reform"]["world 1"]
    assert r["world"] == 1
    parts = ("emergency_s", "rendezvous_s", "import_s", "init_load_s", "first_step_s")
    assert all(r[p] >= 0 for p in parts) and _pos(r["total_s"])
    assert r["total_s"] == pytest.approx(sum(r[p] for p in parts), abs=0.01)
