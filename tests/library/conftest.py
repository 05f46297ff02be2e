"""Library test fixtures: one torch thread and no fleet environment (tests/script_helpers.py,
shared with the other tests that run training scripts)."""
from script_helpers import _no_fleet_environment, _one_thread  # noqa: F401  (fixtures, registered here)
