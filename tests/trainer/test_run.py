"""train(cfg) in-process: preemption, emergency checkpoint, fallback, events, GCS end to end."""
import json
import threading
import time

import pytest

from spotshield.events import EXIT_OK, EXIT_PREEMPTED, read_events, validate_event
from spotshield.storage import join, open_store
from spotshield.trainer.checkpoint import CheckpointManager, folder_for
from spotshield.trainer.preemption import PreemptionFlag
from spotshield.trainer.run import train

from trainer_helpers import assert_identical, final_weights, tiny_config

NAIVE = {"epochs": 2, "strategy": "naive", "strategies.naive.every_steps": 5}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """An uninterrupted run: the weights every interrupted run must reproduce exactly."""
    url = f"file://{tmp_path_factory.mktemp('baseline')}/run"
    assert train(tiny_config(url, **NAIVE)) == EXIT_OK
    return final_weights(open_store(url))


def preempt_when(store, flag: PreemptionFlag, committed_at_least: int) -> threading.Thread:
    """Set the flag (as SIGTERM would) once the store holds enough committed checkpoints."""

    def watch():
        mgr = CheckpointManager(store)
        while not flag.is_set():
            if len(mgr.committed()) >= committed_at_least:
                flag.set("sigterm")
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_preemption_takes_emergency_checkpoint_exits_75_and_resumes_exactly(tmp_path, baseline):
    url = f"file://{tmp_path}/run"
    store = open_store(url)
    cfg = tiny_config(url, pace_step_s=0.05, **NAIVE)
    flag = PreemptionFlag()
    preempt_when(store, flag, committed_at_least=2)
    assert train(cfg, flag=flag) == EXIT_PREEMPTED
    events = read_events(store, cfg.run_id)
    names = [e["event"] for e in events]
    assert names[0] == "start" and names[-2:] == ["emergency_checkpoint", "exit"]
    notice = next(e for e in events if e["event"] == "preempt_notice")
    emergency, exit_ = events[-2:]
    assert notice["t"] <= emergency["t"] and notice["source"] == "sigterm"
    assert emergency["ok"] is True and exit_["code"] == EXIT_PREEMPTED
    step = notice["step"]
    assert CheckpointManager(store).committed()[-1] == step  # the emergency save holds the last step
    if emergency["saved"]:
        assert any(e["event"] == "checkpoint" and e["reason"] == "emergency" and e["step"] == step for e in events)
    assert not store.exists("DONE")

    assert train(tiny_config(url, **NAIVE)) == EXIT_OK
    events = read_events(store, cfg.run_id)
    resume = next(e for e in events if e["event"] == "resume")
    assert resume["from_step"] == step and resume["steps_lost"] == 0
    done = next(e for e in events if e["event"] == "done")
    assert done["step"] == 44 and done["final_path"] == f"{url}/final/model.pt"
    assert_identical(baseline, final_weights(store))
    assert all(validate_event(e) == [] for e in events)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_newest_checkpoint_falls_back_and_run_completes(tmp_path, baseline, damage):
    url = f"file://{tmp_path}/run"
    store = open_store(url)
    cfg = tiny_config(url, pace_step_s=0.05, **NAIVE)
    flag = PreemptionFlag()
    preempt_when(store, flag, committed_at_least=3)
    assert train(cfg, flag=flag) == EXIT_PREEMPTED
    steps = CheckpointManager(store).committed()
    newest, previous = steps[-1], steps[-2]
    key = join(folder_for(newest), "state.pt")
    data = bytearray(store.read(key))
    if damage == "flip":
        data[100] ^= 0x01
    else:
        del data[len(data) // 2:]
    store.write(key, bytes(data))

    assert train(tiny_config(url, **NAIVE)) == EXIT_OK
    resume = next(e for e in read_events(store, cfg.run_id) if e["event"] == "resume")
    assert resume["from_step"] == previous
    assert resume["rejected"] and resume["rejected"][0]["path"] == folder_for(newest)
    assert resume["steps_lost"] >= newest - previous
    assert_identical(baseline, final_weights(store))


def test_metadata_notice_stops_training(tmp_path, monkeypatch):
    from test_preemption import FakeMetadata

    md = FakeMetadata()
    try:
        monkeypatch.setenv("GCE_METADATA_HOST", md.host)
        url = f"file://{tmp_path}/run"
        cfg = tiny_config(url, epochs=3, pace_step_s=0.03, metadata_watch="auto")
        threading.Timer(0.8, md.preempted.set).start()
        assert train(cfg) == EXIT_PREEMPTED
        events = read_events(open_store(url), cfg.run_id)
        notice = next(e for e in events if e["event"] == "preempt_notice")
        assert notice["source"] == "metadata"
        first_step = next(e for e in events if e["event"] == "step")
        assert first_step["first"] is True and first_step["step"] == 1
    finally:
        md.stop()


def test_gcs_store_end_to_end_with_events_and_final_export(gcs_bucket, monkeypatch):
    import io

    import torch

    monkeypatch.setenv("SPOTSHIELD_HOST", "vm-a")
    monkeypatch.setenv("SPOTSHIELD_BOOT", "b1")
    url = f"gs://{gcs_bucket}/runs/demo"
    cfg = tiny_config(url, epochs=1, strategy="adaptive", **{"strategies.adaptive.min_interval_s": 0.0,
                                                            "strategies.adaptive.cost_prior_s": 0.0})
    assert train(cfg) == EXIT_OK
    store = open_store(url)
    assert store.list("events/demo") == ["events/demo/vm-a-b1.jsonl"]
    events = read_events(store, "demo")
    assert all(validate_event(e) == [] for e in events)
    names = {e["event"] for e in events}
    assert {"start", "step", "epoch_end", "checkpoint", "done", "exit"} <= names
    ckpts = [e for e in events if e["event"] == "checkpoint"]
    assert all(e["bytes"] > 0 and e["stall_s"] >= 0 for e in ckpts)
    assert len(CheckpointManager(store).committed()) <= cfg.checkpoint.keep
    weights = torch.load(io.BytesIO(store.read("final/model.pt")), weights_only=True)
    assert set(weights) >= {"head.4.weight", "features.0.weight"}
    assert json.loads(store.read("DONE"))["step"] == 22
    assert train(cfg) == EXIT_OK  # DONE present: nothing more happens
    assert len(read_events(store, "demo")) == len(events)


def test_healthz_served_on_env_port_while_training(tmp_path, monkeypatch):
    import urllib.request

    from spotshield.local.gcs import free_port

    port = free_port()
    monkeypatch.setenv("SPOTSHIELD_HEALTH_PORT", str(port))  # overrides health_port: 0 in the config
    cfg = tiny_config(f"file://{tmp_path}/run", epochs=5, pace_step_s=0.02)
    flag = PreemptionFlag()
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("code", train(cfg, flag=flag)))
    worker.start()
    try:
        body = None
        for _ in range(500):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.loads(r.read())
                    if r.status == 200 and body["step"] > 0:
                        break
            except OSError:
                pass
            time.sleep(0.02)
        assert body and body["ok"] is True and body["step"] > 0 and body["phase"] == "training"
    finally:
        flag.set("sigterm")
        worker.join(60)
    assert result["code"] == EXIT_PREEMPTED


def test_restart_without_any_checkpoint_reports_everything_lost(tmp_path):
    url = f"file://{tmp_path}/run"
    cfg = tiny_config(url, epochs=3, strategy="none", pace_step_s=0.03, **{"checkpoint.emergency": False})
    flag = PreemptionFlag()
    threading.Timer(0.5, flag.set, args=("sigterm",)).start()
    assert train(cfg, flag=flag) == EXIT_PREEMPTED
    store = open_store(url)
    assert CheckpointManager(store).committed() == []  # the no-checkpoint baseline saved nothing
    assert train(tiny_config(url, epochs=3, strategy="none")) == EXIT_OK
    resume = next(e for e in read_events(store, cfg.run_id) if e["event"] == "resume")
    assert resume["fresh"] is True and resume["from_step"] == 0 and resume["steps_lost"] > 0


def test_a_notice_during_validation_ends_in_an_emergency_checkpoint_and_resumes_exactly(tmp_path, baseline,
                                                                                        monkeypatch):
    from spotshield.trainer import run as trainer_run

    url = f"file://{tmp_path}/run"
    flag = PreemptionFlag()
    real = trainer_run._Trainer._evaluate

    def evaluate_with_a_notice(self, check):
        flag.set("sigterm")  # arrives while the validation of epoch 1 runs
        return real(self, check)

    monkeypatch.setattr(trainer_run._Trainer, "_evaluate", evaluate_with_a_notice)
    assert train(tiny_config(url, **NAIVE), flag=flag) == EXIT_PREEMPTED
    monkeypatch.setattr(trainer_run._Trainer, "_evaluate", real)
    store = open_store(url)
    events = read_events(store, "run")
    notice = next(e for e in events if e["event"] == "preempt_notice")
    assert notice["step"] == 22 and notice["epoch"] == 0  # the epoch's last step; not closed yet
    assert next(e for e in events if e["event"] == "emergency_checkpoint")["ok"]
    assert not any(e["event"] == "epoch_end" for e in events)
    assert train(tiny_config(url, **NAIVE)) == EXIT_OK
    assert_identical(baseline, final_weights(store))
    assert [e["epoch"] for e in read_events(store, "run") if e["event"] == "epoch_end"] == [1, 2]


def test_without_emergency_checkpoints_a_save_in_flight_at_the_notice_is_recorded(tmp_path):
    """Emergency saves off: a regular save still persisting at the notice commits, and its
    checkpoint event must be written before the exit, or the next boot resumes from a checkpoint
    that no event announced (seen in the trace study: analyze refused the run)."""
    url = f"file://{tmp_path}/run"
    store = open_store(url)
    cfg = tiny_config(url, pace_step_s=0.02, **{**NAIVE, "checkpoint.emergency": False,
                                               "checkpoint.persist_pace_s": 0.5})
    flag = PreemptionFlag()

    def watch():  # the notice while the first save persists: its files are there, its marker is not
        mgr = CheckpointManager(store)
        while not flag.is_set():
            if store.list("ckpt/") and not mgr.committed():
                flag.set("sigterm")
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()
    assert train(cfg, flag=flag) == EXIT_PREEMPTED
    committed = CheckpointManager(store).committed()
    events = read_events(store, cfg.run_id)
    announced = {e["step"] for e in events if e["event"] == "checkpoint"}
    assert committed and set(committed) <= announced
    assert [e["event"] for e in events][-1] == "exit" and not any(e["event"] == "emergency_checkpoint" for e in events)
