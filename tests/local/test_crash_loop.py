"""The crash-loop breaker on the emulator: the real startup.sh boots the real trainer, which fails
at every boot (a config it refuses). After K boots the group is at 0, STOPPED says why, and no VM
boots again. Each boot has a fresh disk (the controller recreates the instance), so only the run
store can carry the count from one boot to the next."""
from __future__ import annotations

import json
import os
import time

import pytest

from spotshield.local.testing import compute_clients, local_region_fixture, wait_for
from tests.local.test_fleet import R, make_fleet, managed

pytestmark = pytest.mark.slow
# The real boot scripts (the default), 60x time: boots ~0.7 s, repairs after 1 s.
region = local_region_fixture(time_scale=60.0, fleet={"notice_floor_s": 3.0, "health_initial_floor_s": 60.0})
BUCKET = "crash-bucket"
K = 3


def test_a_trainer_that_always_fails_is_stopped_after_k_boots(region):
    from spotshield import layout
    from spotshield.events import read_events
    from spotshield.storage import open_store

    region.gcs.create_bucket(BUCKET)
    store_url = layout.runs_store_url(BUCKET, "crash-1")
    c = make_fleet(region, attrs={"spotshield-run-id": "crash-1", "spotshield-store": store_url,
                                  "spotshield-config": json.dumps({"model": "no-such-model", "data": "digits"}),
                                  "spotshield-crash-loop-boots": str(K)})
    os.environ["STORAGE_EMULATOR_HOST"] = region.storage_url
    try:
        store = open_store(store_url)
        wait_for(lambda: store.exists(layout.STOPPED_KEY), 180, interval_s=0.5, what="STOPPED in the run store")
        mig = wait_for(lambda: (m := c["migs"].get(project=region.project, region=R, instance_group_manager="fleet"))
                       .target_size == 0 and m, 30, what="the group resized to 0")
        assert mig.target_size == 0
        wait_for(lambda: not managed(c, region), 60, what="the last member deleted")
        stopped = json.loads(store.read(layout.STOPPED_KEY))
        boots = [e for e in region.fleet.events if e["what"] == "boot"]
        time.sleep(5)  # five repair delays: a group at 0 must not boot anything more
        assert [e for e in region.fleet.events if e["what"] == "boot"] == boots
        events = read_events(store, "crash-1")
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]

    assert stopped["reason"] == "crash loop" and stopped["boots"] == K
    assert stopped["error"] == "error: unknown model 'no-such-model'; choose one of tiny-cnn, resnet18, resnet50"
    assert len(boots) == K  # exactly K boots, each on a fresh disk
    assert len({e["boot"] for e in boots}) == K
    exits = [e for e in events if e["event"] == "command_exit"]
    assert [e["code"] for e in exits] == [1] * K
    assert [e["event"] for e in events if e["event"] in ("vm_boot", "crash_loop")] == ["vm_boot"] * K + ["crash_loop"]
    assert {e["boot"] for e in events if e["event"] == "vm_boot"} == {e["boot"] for e in boots}
