"""StackSettings (spotshield/settings.py): which fleets are one job under torchrun, and what up refuses."""
from __future__ import annotations

import pytest

from spotshield.errors import SpotShieldError
from spotshield.settings import StackSettings


def _settings(**kw) -> StackSettings:
    return StackSettings(**{"name": "ss", "run_id": "r1", "pattern": "none", "rate": 0, **kw})


@pytest.mark.parametrize("fleet_size,min_nodes,nodes", [(1, None, None), (2, None, (2, 2)), (3, 1, (1, 3))])
def test_the_built_in_trainer_on_more_than_one_vm_is_one_job_under_torchrun(fleet_size, min_nodes, nodes):
    s = _settings(fleet_size=fleet_size, min_nodes=min_nodes).check_up()  # no --command: spotshield train
    assert s.command is None and s.torchrun_nodes == nodes


def test_without_a_command_the_node_range_is_what_is_refused():
    assert _settings(fleet_size=2, min_nodes=2).check_up().torchrun_nodes == (2, 2)
    with pytest.raises(SpotShieldError, match="^min_nodes 3 is greater than fleet_size 2; set min_nodes to 1..2$"):
        _settings(fleet_size=2, min_nodes=3).check_up()


def test_a_command_under_torchrun_is_still_checked(tmp_path):
    (tmp_path / "t.py").write_text("")
    with pytest.raises(SpotShieldError, match="launches torchrun itself"):
        _settings(fleet_size=2, command="torchrun t.py", workdir=str(tmp_path)).check_up()
    s = _settings(fleet_size=2, min_nodes=1, command="python t.py", workdir=str(tmp_path)).check_up()
    assert s.torchrun_nodes == (1, 2)


def test_compact_placement_needs_a_family_that_takes_it_and_reaches_the_tfvars():
    from spotshield.cloud.tfvars import render

    s = _settings(fleet_size=2, compact_placement=True, machine_type="g2-standard-4", project="p").check_up()
    values = render(s, build_url="gs://b/builds/x.tar.gz", build_id="0+abc", trainer_config={})
    assert values["compact_placement"] is True
    with pytest.raises(SpotShieldError, match=r"^compact placement needs a machine family that takes a compact "
                                              r"placement policy \(a2, .*\), not e2-standard-4$"):
        _settings(compact_placement=True, machine_type="e2-standard-4", gpu_type=None, gpu_count=0).check_up()


def test_compact_placement_from_a_settings_file_must_be_a_bool(tmp_path, monkeypatch):
    from spotshield.settings import load_settings

    (tmp_path / "spotshield.yaml").write_text("compact_placement: sometimes\n")
    with pytest.raises(SpotShieldError, match="compact_placement in .* must be true or false, not 'sometimes'"):
        load_settings(root=tmp_path)
