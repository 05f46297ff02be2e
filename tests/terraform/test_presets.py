"""Strategy presets and terraform.tfvars.example set only declared variables, with valid values."""
from __future__ import annotations

import hcl2
from hcl2 import SerializationOptions

from spotshield.settings import STRATEGIES
from spotshield.validate.hcl import load_stack
from spotshield.cloud.tfvars import TFVARS_SCHEMA, check_tfvars

OPTS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def _load(path):
    with open(path) as f:
        return hcl2.load(f, serialization_options=OPTS)


def test_one_preset_per_strategy_setting_only_its_strategy(repo):
    presets = sorted((repo / "terraform" / "presets").glob("*.tfvars"))
    assert sorted(p.stem for p in presets) == sorted(STRATEGIES)
    declared = load_stack(repo).root.variables
    for path in presets:
        values = _load(path)
        assert set(values) <= set(declared), path.name
        assert values["strategy"] == path.stem


def test_tfvars_example_covers_the_cli_variables_and_type_checks(repo):
    values = _load(repo / "terraform" / "terraform.tfvars.example")
    assert set(values) == set(TFVARS_SCHEMA)
    check_tfvars(values)
