import pytest

from spotshield.analysis.grid import load_grid
from spotshield.errors import SpotShieldError

SHIPPED = "spotshield/analysis/grids"


def test_shipped_local_grid_mirrors_the_study():
    g = load_grid(f"{SHIPPED}/study-local.yaml")
    ids = [r.run_id for r in g.runs()]
    assert ids[0] == "ondemand-s0" and len(ids) == len(g.seeds) * (1 + 3 * 3)
    assert {r.strategy for r in g.runs() if not r.baseline} == {"naive", "adaptive", "milestone"}
    assert {r.pattern for r in g.runs() if not r.baseline} == {"regular", "poisson", "bursty"}
    assert g.trainer_config_path().name == "local-demo.yaml" and g.backend == "local"
    assert g.trainer["checkpoint"]["emergency"] is False  # the strategies alone protect the work


def _epoch_emulated_s(g) -> float:
    """An epoch's paced length in emulated seconds: steps x pace x time scale (digits: 1437 training images)."""
    steps = -(-1437 // g.trainer["batch_size"])
    return steps * g.trainer["pace_step_s"] * g.time_scale


@pytest.mark.parametrize("name", ["study-seed", "study-hazard", "study-trace", "study-local"])
def test_every_study_grid_has_five_seeds_a_baseline_and_a_stated_duration(name):
    g = load_grid(f"{SHIPPED}/{name}.yaml")
    assert len(g.seeds) >= 5 and g.baseline and g.guest_time == "real"
    assert "min on 2 cores" in g.description  # the expected duration, stated


def test_the_seed_regime_has_short_epochs_and_emergency_checkpoints():
    g = load_grid(f"{SHIPPED}/study-seed.yaml")
    ratio = _epoch_emulated_s(g) / (3600 / g.rate)
    assert 0.02 <= ratio <= 0.04  # the seed's ~0.03 of the time between preemptions
    assert g.trainer["checkpoint"]["emergency"] is True and g.patterns == ["poisson"]
    runs_s = g.trainer["epochs"] * _epoch_emulated_s(g)
    assert 0.5 <= runs_s / (3600 / g.rate) <= 1.5  # about one preemption per run: enough to see


def test_the_hazard_and_trace_regimes_differ_only_in_the_preemption_pattern():
    hz, tr = load_grid(f"{SHIPPED}/study-hazard.yaml"), load_grid(f"{SHIPPED}/study-trace.yaml")
    assert _epoch_emulated_s(hz) / (3600 / hz.rate) > 0.15  # the strategy matters: a preemption per few epochs
    assert hz.trainer["checkpoint"]["emergency"] is False
    assert hz.trainer == tr.trainer and hz.rate == tr.rate and hz.strategies == tr.strategies
    assert hz.patterns == ["poisson"] and tr.patterns == ["trace"]
    from spotshield import spot_traces

    assert spot_traces.load(tr.trace).preemptions()  # a shipped trace, with preemptions as the project reads it


def test_shipped_gcp_grid_is_resnet50_cifar100_on_l4():
    g = load_grid(f"{SHIPPED}/study-gcp.yaml")
    assert g.backend == "gcp" and g.trainer["model"] == "resnet50" and g.trainer["data"] == "cifar100"
    assert g.gpu_type == "nvidia-l4" and len(g.seeds) >= 5


def test_the_gcp_grids_preemptions_are_googles_and_its_baseline_is_standard():
    from spotshield.analysis.drivers import GcpDriver

    g = load_grid(f"{SHIPPED}/study-gcp.yaml")
    assert g.patterns == ["google"] and "Google's own" in g.description
    base, spot = g.runs()[0], g.runs()[1]
    assert base.baseline and base.labels(g)["provisioning_model"] == "STANDARD"
    assert spot.labels(g) == {**spot.labels(g), "provisioning_model": "SPOT", "rate": 0.0, "pattern": "google"}
    g.project = "demo-project-123"
    s_base, s_spot = GcpDriver().settings(g, base), GcpDriver().settings(g, spot)
    assert s_base.provisioning_model == "STANDARD" and s_spot.provisioning_model == "SPOT"
    assert s_spot.pattern == "none" and s_spot.rate == 0.0  # no injector on GCP


def test_an_injector_pattern_on_gcp_is_refused(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("backend: gcp\nproject: p-123456\npatterns: [poisson]\n")
    with pytest.raises(SpotShieldError, match="Google's own, with no injector; use patterns: \\[google\\]"):
        load_grid(p)


def test_runs_carry_their_time_model_and_provisioning(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("patterns: [poisson]\nstrategies: [naive]\n")
    g = load_grid(p)
    base, spot = g.runs()
    assert g.guest_time == "real" and spot.labels(g)["guest_time"] == "real"
    assert base.labels(g)["provisioning_model"] == "STANDARD" and spot.labels(g)["rate"] == g.rate
    p.write_text("guest_time: scaled\n")
    assert load_grid(p).guest_time == "scaled"


@pytest.mark.parametrize("text, needle", [
    ("strategies: [naive, fancy]", "unknown strategie 'fancy'"),
    ("patterns: []", "non-empty list"),
    ("rate: -1", "rate must be a number > 0"),
    ("seeds: [0, x]", "seeds must be whole numbers"),
    ("backend: azure", "backend must be one of"),
    ("colour: blue", "unknown key 'colour'"),
    ("strategies: [naive", "not valid YAML"),
    ("backend: gcp", "needs a project"),
    ("trainer_config: nowhere.yaml", "not found"),
    ("guest_time: sometimes", "guest_time must be one of scaled, real"),
])
def test_bad_grid_files_raise_one_line(tmp_path, text, needle):
    p = tmp_path / "g.yaml"
    p.write_text(text + "\n")
    with pytest.raises(SpotShieldError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        load_grid(p)


def _cifar_dir(root):
    """A CIFAR-100 python-format folder with its three files (their content is not read here)."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    for name in ("train", "test", "meta"):
        (base / name).write_bytes(b"")
    return root


def test_the_gpu_grid_is_resnet50_on_cifar100_with_a_synthetic_fallback_of_its_shape(tmp_path):
    g = load_grid(f"{SHIPPED}/study-gpu.yaml")
    assert g.trainer["model"] == "resnet50" and g.trainer["device"] == "cuda" and len(g.seeds) >= 5
    assert g.backend == "process" and g.baseline and g.guest_time == "real"
    note = g.use_data_dir(str(tmp_path / "empty"))
    assert g.trainer["data"] == "synthetic" and g.trainer["download"] is False
    assert "not in" in note and "synthetic" in note and g.data_note == note
    assert g.trainer["synthetic_size"] - g.trainer["synthetic_size"] // 10 >= g.trainer["limit_train"]


def test_the_gpu_grid_keeps_real_cifar100_when_the_data_dir_holds_it(tmp_path):
    g = load_grid(f"{SHIPPED}/study-gpu.yaml")
    note = g.use_data_dir(str(_cifar_dir(tmp_path)))
    assert g.trainer["data"] == "cifar100" and g.trainer["data_dir"] == str(tmp_path)
    assert note.startswith("real CIFAR-100")


def test_a_grid_without_a_fallback_keeps_its_data(tmp_path):
    g = load_grid(f"{SHIPPED}/study-gcp.yaml")
    assert g.use_data_dir(str(tmp_path)) == "" and g.trainer["data"] == "cifar100"


def test_an_unknown_data_fallback_is_one_clear_error(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("name: g\ndata_fallback: digits\n")
    with pytest.raises(SpotShieldError, match="data_fallback must be synthetic, not 'digits'"):
        load_grid(p)


@pytest.mark.parametrize("name", ["study-seed", "study-hazard", "study-trace", "study-local", "study-gpu",
                                  "study-gcp"])
def test_every_shipped_grids_trainer_section_is_a_valid_trainer_config(name):
    from spotshield.trainer.config import load_config

    g = load_grid(f"{SHIPPED}/{name}.yaml")
    files = [g.trainer_config_path()] if g.trainer_config else []
    for strategy in g.strategies:
        cfg = load_config(files, {**g.trainer, "store": "file:///tmp/x", "strategy": strategy})
        assert cfg.epochs == g.trainer.get("epochs", cfg.epochs)
