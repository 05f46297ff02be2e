"""An emulated region with the stand-in guest (tests/local/vm): the real Compute API, fast boots."""
from __future__ import annotations

from pathlib import Path

from spotshield.local.testing import local_region_fixture

VM = Path(__file__).parents[1] / "local" / "vm"
region = local_region_fixture(time_scale=60.0, fleet={"startup_script": VM / "startup.sh", "notice_floor_s": 3.0,
                                                      "health_initial_floor_s": 1.0})
