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


def test_shipped_gcp_grid_is_resnet50_cifar100_on_l4():
    g = load_grid(f"{SHIPPED}/study-gcp.yaml")
    assert g.backend == "gcp" and g.trainer["model"] == "resnet50" and g.trainer["data"] == "cifar100"
    assert g.gpu_type == "nvidia-l4"


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
])
def test_bad_grid_files_raise_one_line(tmp_path, text, needle):
    p = tmp_path / "g.yaml"
    p.write_text(text + "\n")
    with pytest.raises(SpotShieldError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        load_grid(p)
