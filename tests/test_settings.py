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
