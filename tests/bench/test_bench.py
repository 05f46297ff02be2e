"""The benchmarks run on a tiny size and produce well-formed output (no speed asserted)."""
import json
import math
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    p = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--device", "cpu", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(out.read_text()), p.stdout


def _pos(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_stall_has_every_method(results):
    res, stdout = results
    s = res["stall"]
    assert s["state_mb"] > 0
    assert set(s["methods"]) == {"spotshield", "torch.save", "dcp_async_save", "copy"}
    for name, m in s["methods"].items():
        assert _pos(m.get("stall_ms")), (name, m)
    assert _pos(s["methods"]["spotshield"]["persist_ms"])
    assert _pos(s["spotshield_vs_copy"]) and _pos(s["spotshield_vs_torch_save"])
    assert "Checkpoint stall per save" in stdout


def test_recovery_times_both_paths(results):
    res, _ = results
    for mode in ("spotshield", "bare"):
        m = res["recovery"][mode]
        assert _pos(m["total_s"]) and m["total_s"] >= m["load_s"] >= 0
        assert m["total_s"] == pytest.approx(m["startup_s"] + m["load_s"] + m["first_step_s"], abs=0.05)


def test_goodput_rows_compare_each_strategy_to_the_optimum(results):
    res, stdout = results
    g = res["goodput"]
    assert g["rows"] and _pos(g["restart_s"]) and _pos(g["checkpoint_s"])
    for row in g["rows"]:
        assert 0 < row["optimal_waste"] < 1
        for s in ("adaptive", "naive", "milestone"):
            assert 0 < row[f"{s}_waste"] < 1
            assert row[f"{s}_vs_optimal"] == pytest.approx(row[f"{s}_waste"] / row["optimum_waste"])
        # the simulated optimum and Daly's formula describe the same quantity
        assert row["optimum_waste"] == pytest.approx(row["optimal_waste"], rel=0.5)
    assert res["machine"]["device"] == "cpu" and res["machine"]["torch"]
    assert "Goodput under Poisson preemptions" in stdout


def test_missing_cuda_is_one_line_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    p = subprocess.run([sys.executable, "-m", "bench", "--device", "cuda"], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.strip() == "error: --device cuda but no CUDA device is visible"


def test_markdown_report_renders_every_section(results, tmp_path):
    res, _ = results
    f = tmp_path / "r.json"
    f.write_text(json.dumps(res))
    p = subprocess.run([sys.executable, "-m", "bench.report", str(f)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    md = p.stdout
    for needle in ("| spotshield |", "| torch.save |", "| dcp_async_save |", "| copy |", "| bare |", "| rate/h |"):
        assert needle in md
    assert md.count("\n| ") >= 4 + 2 + len(res["goodput"]["rows"])


def test_markdown_report_bad_file_is_one_line(tmp_path):
    f = tmp_path / "r.json"
    f.write_text("{not json")
    p = subprocess.run([sys.executable, "-m", "bench.report", str(f)], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error: cannot read") and "Traceback" not in p.stderr
