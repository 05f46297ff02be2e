import json
import subprocess
import sys

import pytest

from spotshield.analysis.experiment import run_grid
from spotshield.analysis.grid import load_grid

GRID = """
name: tiny
backend: process
trainer_config: {demo}
trainer: {{epochs: 2, pace_step_s: 0.2, log_every_s: 0.5}}
strategies: [naive]
patterns: [regular]
seeds: [0]
rate: {rate}
time_scale: 60
restart_s: 30
run_timeout_s: 240
"""


def _grid(tmp_path, rate=4.0):
    from pathlib import Path

    demo = Path("spotshield/trainer/presets/experiments/local-demo.yaml").resolve()
    p = tmp_path / "grid.yaml"
    p.write_text(GRID.format(demo=demo, rate=rate))
    return p


class Recorder:
    """Wraps the real process driver and records which runs it was asked to execute."""

    name = "process"

    def __init__(self, fail_on=None):
        from spotshield.analysis.drivers import ProcessDriver

        self.inner, self.calls, self.fail_on = ProcessDriver(), [], fail_on

    def run(self, grid, spec, run_dir, log=lambda m: None):
        self.calls.append(spec.run_id)
        if spec.run_id == self.fail_on:
            run_dir.mkdir(parents=True)
            (run_dir / "partial").write_text("cut off")
            raise KeyboardInterrupt
        self.inner.run(grid, spec, run_dir, log)


@pytest.mark.slow
def test_grid_runs_real_trainer_resumes_and_never_reruns(tmp_path):
    grid = load_grid(_grid(tmp_path))
    out = tmp_path / "results"
    # 1. interrupted during the second run: the first is done, the second left partial
    rec = Recorder(fail_on="naive-regular-s0")
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, out, driver=rec)
    assert rec.calls == ["ondemand-s0", "naive-regular-s0"]
    manifest = json.loads((out / "grid.json").read_text())
    assert manifest["runs"]["ondemand-s0"]["status"] == "done"
    assert manifest["runs"]["naive-regular-s0"]["status"] == "failed"
    # 2. resumed: only the unfinished run executes, from scratch
    rec = Recorder()
    assert run_grid(grid, out, driver=rec) == {"ondemand-s0": "done", "naive-regular-s0": "done"}
    assert rec.calls == ["naive-regular-s0"]
    assert not (out / "runs" / "naive-regular-s0" / "partial").exists()
    # 3. the preempted run's events are analysable: several boots, all verified
    p = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "analyze", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    import pandas as pd

    df = pd.read_csv(out / "analysis" / "metrics_summary.csv").set_index("run_id")
    assert df.loc["naive-regular-s0", "preemptions"] >= 1
    assert df.loc["naive-regular-s0", "boots"] == df.loc["naive-regular-s0", "preemptions"] + 1
    assert df.loc["ondemand-s0", "preemptions"] == 0
    # 4. a finished grid runs nothing
    rec = Recorder()
    run_grid(grid, out, driver=rec)
    assert rec.calls == []


def test_experiment_bad_grid_is_one_line(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("patterns: [sunny]\n")
    r = subprocess.run([sys.executable, "-m", "spotshield.cli.main", "experiment", str(p)], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown pattern 'sunny'" in r.stderr and "Traceback" not in r.stderr
