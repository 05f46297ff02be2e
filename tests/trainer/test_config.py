import json

import pytest

from spotshield.errors import SpotShieldError
from spotshield.trainer.config import load_config


def test_layers_defaults_model_strategy_experiment_cli(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("model: resnet18\nepochs: 7\nbatch_size: 256\nstrategies:\n  naive:\n    every_steps: 50\n")
    cfg = load_config([exp], {"store": "file:///tmp/x", "strategy": "naive", "epochs": 9})
    assert cfg.model == "resnet18"
    assert cfg.augment is True  # from the resnet18 model preset
    assert cfg.batch_size == 256  # experiment beats model preset
    assert cfg.epochs == 9  # CLI beats experiment
    assert cfg.strategy_params == {"every_steps": 50, "every_s": 0.0}
    assert cfg.run_id == "x"  # default: last part of the store URL


def test_later_config_files_win_and_dotted_overrides(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 1\ncheckpoint:\n  keep: 5\n")
    b.write_text("seed: 2\n")
    cfg = load_config([a, b], {"store": "gs://bkt/runs/r7", "checkpoint.emergency_deadline_s": 10})
    assert (cfg.seed, cfg.checkpoint.keep, cfg.checkpoint.emergency_deadline_s, cfg.run_id) == (2, 5, 10, "r7")


def test_merged_config_round_trips_as_json(tmp_path):
    cfg = load_config([], {"store": "file:///tmp/y", "strategy": "milestone", "pace_step_s": 0.2})
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(cfg.to_dict()))  # what the fleet puts in instance metadata
    assert load_config([path], {}) == cfg


def test_local_demo_preset_loads():
    from spotshield.trainer.config import PRESETS

    cfg = load_config([PRESETS / "experiments" / "local-demo.yaml"], {"store": "file:///tmp/demo"})
    assert cfg.model == "tiny-cnn" and cfg.data == "digits" and cfg.pace_step_s > 0


@pytest.mark.parametrize("layer,message", [
    ({"model": "vgg"}, "unknown model 'vgg'"),
    ({"data": "mnist"}, "unknown data 'mnist'"),
    ({"strategy": "often"}, "unknown strategy 'often'"),
    ({"epocs": 3}, "unknown config key 'epocs'"),
    ({"epochs": "three"}, "'epochs' .* must be int"),
    ({"epochs": 0}, "epochs must be > 0"),
    ({"strategies.naive.every_steps": -10, "strategy": "naive"}, "every_steps must be >= 0"),
    ({"checkpoint.keep": 1}, "checkpoint.keep must be >= 2"),
    ({"pace_step_s": -1}, "pace_step_s must be >= 0"),
    ({"amp": "maybe"}, "auto, true or false"),
])
def test_bad_values_name_the_problem(layer, message):
    with pytest.raises(SpotShieldError, match=message):
        load_config([], {"store": "file:///tmp/x", **layer})


def test_missing_store_and_malformed_yaml(tmp_path):
    with pytest.raises(SpotShieldError, match="no store given"):
        load_config([], {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [tiny-cnn\nepochs: 3\n")
    with pytest.raises(SpotShieldError, match=r"config file .*bad.yaml is not valid YAML at line \d"):
        load_config([bad], {"store": "file:///tmp/x"})
    with pytest.raises(SpotShieldError, match="not found"):
        load_config([tmp_path / "nope.yaml"], {"store": "file:///tmp/x"})
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(SpotShieldError, match="must hold a mapping"):
        load_config([scalar], {"store": "file:///tmp/x"})
