"""docs/deadline.md documents the controller VM's boot contract (bootcontract.CONTROLLER_METADATA) exactly."""
from __future__ import annotations

import re
from pathlib import Path

from spotshield.bootcontract import CONTROLLER_METADATA

DOC = Path(__file__).resolve().parents[2] / "docs" / "deadline.md"


def test_the_controller_attributes_are_documented_exactly():
    text = DOC.read_text()
    table = text[text.index("reads these instance attributes"):].split("\n\n")[1]
    keys = {k for line in table.splitlines() for k in re.findall(r"^\| `(spotshield-[a-z0-9-]+)`", line)}
    assert keys == set(CONTROLLER_METADATA)


def test_the_settings_table_names_every_deadline_setting():
    from spotshield.settings import StackSettings

    text = DOC.read_text()
    for name in ("deadline", "deadline_policy", "step_time_s", "deadline_restart_s", "spot_capacity"):
        assert name in StackSettings.__dataclass_fields__ and f"| `{name}` |" in text, name
