"""The crash-loop breaker on the emulator: the real startup.sh boots the real trainer (a config it
refuses), or in command mode the user's own script from a shipped workdir (which exits 1 at
start), and it fails at every boot. After K boots the group is at 0, STOPPED says why, and no VM
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
TRAINER_ERROR = "error: unknown model 'no-such-model'; choose one of tiny-cnn, resnet18, resnet50"
COMMAND_ERROR = "error: no training data in /data/train.csv"
# the user's script fails before it trains, as a missing data file or a typo would
FAILING_SCRIPT = f"import sys\nsys.exit({COMMAND_ERROR!r})\n"


def trainer_attrs(tmp_path) -> dict:
    return {"spotshield-config": json.dumps({"model": "no-such-model", "data": "digits"})}


def command_attrs(tmp_path, script: str = FAILING_SCRIPT) -> dict:
    """`up --command "python train.py --epochs 5"` with a workdir whose train.py is `script`
    (by default one that always exits 1)."""
    from spotshield import workdir

    (tmp_path / "userdir").mkdir()
    (tmp_path / "userdir" / "train.py").write_text(script)
    url, sha = workdir.upload(workdir.pack(tmp_path / "userdir"), BUCKET)
    return {"spotshield-command": "python train.py --epochs 5", "spotshield-workdir-url": url,
            "spotshield-workdir-sha256": sha}


@pytest.mark.parametrize("mode,error", [(trainer_attrs, TRAINER_ERROR), (command_attrs, COMMAND_ERROR)],
                         ids=["built-in trainer", "command"])
def test_a_trainer_that_always_fails_is_stopped_after_k_boots(region, tmp_path, mode, error):
    from spotshield import layout
    from spotshield.events import read_events
    from spotshield.storage import open_store

    region.gcs.create_bucket(BUCKET)
    store_url = layout.runs_store_url(BUCKET, "crash-1")
    os.environ["STORAGE_EMULATOR_HOST"] = region.storage_url
    try:
        c = make_fleet(region, attrs={"spotshield-run-id": "crash-1", "spotshield-store": store_url,
                                      "spotshield-crash-loop-boots": str(K), **mode(tmp_path)})
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
    assert stopped["error"] == error
    assert len(boots) == K  # exactly K boots, each on a fresh disk
    assert len({e["boot"] for e in boots}) == K
    exits = [e for e in events if e["event"] == "command_exit"]
    assert [e["code"] for e in exits] == [1] * K
    assert [e["event"] for e in events if e["event"] in ("vm_boot", "crash_loop")] == ["vm_boot"] * K + ["crash_loop"]
    assert {e["boot"] for e in events if e["event"] == "vm_boot"} == {e["boot"] for e in boots}


def test_a_command_that_exits_0_without_done_boots_once(region, tmp_path):
    """A script without the library ends well (0) but never writes DONE: one boot, then STOPPED and
    the group at 0, not the same script again on every recreated VM."""
    from spotshield import layout
    from spotshield.storage import open_store

    region.gcs.create_bucket(BUCKET)
    store_url = layout.runs_store_url(BUCKET, "plain-1")
    os.environ["STORAGE_EMULATOR_HOST"] = region.storage_url
    try:
        c = make_fleet(region, attrs={"spotshield-run-id": "plain-1", "spotshield-store": store_url,
                                      **command_attrs(tmp_path, "print('trained, saved my own way')\n")})
        store = open_store(store_url)
        wait_for(lambda: store.exists(layout.STOPPED_KEY), 60, interval_s=0.5, what="STOPPED in the run store")
        wait_for(lambda: not managed(c, region), 60, what="the last member deleted")
        time.sleep(3)  # three repair delays: a group at 0 must not boot anything more
        stopped = json.loads(store.read(layout.STOPPED_KEY))
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    assert stopped["reason"] == "exited 0 without DONE"
    assert c["migs"].get(project=region.project, region=R, instance_group_manager="fleet").target_size == 0
    assert [e["what"] for e in region.fleet.events].count("boot") == 1
