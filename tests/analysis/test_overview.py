"""docs/study/report.md across regimes (spotshield/analysis/overview.py), on small synthetic
regimes with known ground truth, and on the committed study itself."""
import json
from pathlib import Path

import pytest

from spotshield.analysis import overview
from spotshield.analysis.analyze import run_analysis
from spotshield.errors import SpotShieldError

from .eventgen import gen_run

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "docs" / "study"


def _regime(root: Path, name: str, *, emergency: bool, preempt=((150,), (300,), (77, 401))) -> Path:
    """3 seeds x 2 strategies + baselines, each spot run preempted at the given steps."""
    data = root / name / overview.DATA
    for seed, at in enumerate(preempt):
        gen_run(data / "runs" / f"ondemand-s{seed}", f"ondemand-s{seed}", strategy="none", ckpt_every=10**9,
                accuracy=0.9, startup_s=2.0)
        for strat, every in (("naive", 50), ("adaptive", 30)):
            rid = f"{strat}-poisson-s{seed}"
            gen_run(data / "runs" / rid, rid, strategy=strat, ckpt_every=every, preempt_at=at, accuracy=0.9,
                    emergency=emergency, startup_s=2.0, restart_s=20.0)
    (data / "grid.json").write_text(json.dumps({"grid": {"name": f"study-{name}", "description": f"{name} grid"}}))
    run_analysis(str(data), root / name, spot_price=0.28, ondemand_price=0.70)
    return root / name


@pytest.fixture(scope="module")
def regimes(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    return [_regime(root, "seed", emergency=True), _regime(root, "hazard", emergency=False)]


def test_the_overview_covers_every_regime_with_the_sections_of_the_issue(regimes, tmp_path):
    text = overview.write_overview(regimes, tmp_path / "report.md").read_text()
    for heading in ("## At a glance", "## The seed's finding", "## Strategies, regime by regime",
                    "## Restart time R in three parts (emulated s)", "## Break-even as a function of R",
                    "## Accuracy against the same seed's baseline", "## `spotshield advise` against these runs"):
        assert heading in text
    assert "| [seed](seed/report.md) | `study-seed` | 6 + 3 | 3 | 8 (0) |" in text
    assert "| [hazard](hazard/report.md) | `study-hazard` | 6 + 3 | 3 | 8 (0) |" in text
    assert "- **seed**: seed grid" in text and "price discount" in text


def test_the_seed_verdict_is_computed_from_the_runs(regimes):
    seed, hazard = (overview.load_regime(r) for r in regimes)
    ok, text = overview.seed_verdict(seed)
    # emergency checkpoints keep every step, but a 20 s restart in a ~60 s run costs far more than 5 points
    assert "wasted compute 0 steps over 8 preemptions" in text
    gap = 100 * (seed.discount - seed.runs["savings"].mean())
    assert ok == (gap <= overview.SEED_GAP_POINTS) and f"{gap:.1f} points below" in text
    ok_h, text_h = overview.seed_verdict(hazard)
    assert not ok_h and "does not reproduce" in text_h  # without emergency checkpoints steps are re-done
    assert int(hazard.runs["wasted_steps"].sum()) > 0


def test_the_break_even_table_marks_each_regimes_own_r(regimes, tmp_path):
    text = overview.write_overview(regimes, tmp_path / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| **")]
    for r in (overview.load_regime(f) for f in regimes):
        assert any(line.startswith(f"| **{r.R_billed:.0f} (") and r.name in line.split("**")[1] for line in rows)


def test_a_folder_without_its_runs_is_one_clear_error(tmp_path):
    with pytest.raises(SpotShieldError, match="is not a regime folder: it needs measured.json"):
        overview.load_regime(tmp_path)


@pytest.mark.skipif(not (STUDY / "seed" / overview.DATA).is_dir(), reason="the committed study is not here")
def test_the_committed_report_is_what_its_committed_runs_give(tmp_path):
    folders = [STUDY / n for n in ("seed", "hazard", "trace") if (STUDY / n / overview.DATA).is_dir()]
    fresh = overview.write_overview(folders, tmp_path / "report.md").read_text().splitlines()
    committed = (STUDY / "report.md").read_text().splitlines()
    assert [line for line in fresh if not line.startswith("Generated ")] == \
        [line for line in committed if not line.startswith("Generated ")]
