"""Fixtures for the emulator tests: regions on free loopback ports, the test guest."""
from __future__ import annotations

from pathlib import Path

from spotshield.local.testing import local_region_fixture

VM = Path(__file__).parent / "vm"
# Fast regions: 60x time, boots in ~0.7 s, repairs after 1 s, a 3 s notice window.
# guest_time scaled: these tests time the fleet's own mechanics against a fake guest (tests/local/vm/);
# the default, real, holds the clock through each fake start-up (tests of it: test_fleet.py)
FAST = dict(time_scale=60.0, fleet={"startup_script": VM / "startup.sh", "notice_floor_s": 3.0,
                                    "health_initial_floor_s": 1.0, "guest_time": "scaled"})

region = local_region_fixture(**FAST)
