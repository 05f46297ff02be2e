"""spotshield.Run in-process: resume, the notice inside evaluation, events, bad input."""
import json
import subprocess
import sys

import pytest
import torch
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

import spotshield
from spotshield.errors import SpotShieldError
from spotshield.events import EXIT_PREEMPTED, read_events, validate_event
from spotshield.storage import open_store
from spotshield.trainer.checkpoint import CheckpointManager
from spotshield.trainer.preemption import PreemptionFlag

EPOCHS, STEPS = 3, 12  # 12 batches of 16 per epoch


def train(store: str, *, notice_at=None, strategy="naive", every=5, extra=None, **run_kw):
    """A small deterministic loop whose evaluation draws random numbers (as a validation
    DataLoader without a generator does). notice_at: ('step', n) or ('eval', epoch)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = torch.utils.data.TensorDataset(torch.randn(192, 6, generator=g), torch.randint(0, 4, (192,), generator=g))
    sampler = StatefulDistributedSampler(data, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = StatefulDataLoader(data, batch_size=16, sampler=sampler, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)
    counters = {"seen": 0} if extra is None else extra
    flag = PreemptionFlag()
    params = {"every_steps": every} if strategy == "naive" else None
    with spotshield.Run({"model": model, "optimizer": opt, "scheduler": sched, "counters": counters},
                        loader=loader, store=store, epochs=EPOCHS, batch_size=16, strategy=strategy,
                        strategy_params=params, flag=flag, metadata_watch=False, **run_kw) as run:
        for epoch in run.epochs():
            sampler.set_epoch(epoch)
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                counters["seen"] += len(y)
                if notice_at == ("step", run.step + 1):
                    flag.set("sigterm")
                run.end_step(loss=loss)
            model.eval()
            for i in range(3):
                torch.rand(4)  # evaluation consumes the global RNG
                if notice_at == ("eval", epoch) and i == 1:
                    flag.set("sigterm")
                run.check()
            model.train()
            run.end_epoch(accuracy=0.5 + epoch / 10)
    return {k: v.clone() for k, v in model.state_dict().items()}, counters


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return train(f"file://{tmp_path_factory.mktemp('base')}/run")


def assert_same(a, b):
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("notice_at", [("step", 7), ("step", 12), ("step", 13), ("eval", 1)])
def test_a_notice_saves_the_boundary_and_the_resume_is_exact(tmp_path, baseline, notice_at):
    url = f"file://{tmp_path}/run"
    with pytest.raises(spotshield.Preempted) as e:
        train(url, notice_at=notice_at)
    assert e.value.code == EXIT_PREEMPTED
    weights, counters = train(url)
    assert_same(baseline[0], weights)
    assert counters == baseline[1] == {"seen": 192 * EPOCHS}
    evs = read_events(open_store(url), "run")
    assert all(validate_event(e) == [] for e in evs)
    notice = next(e for e in evs if e["event"] == "preempt_notice")
    emergency = next(e for e in evs if e["event"] == "emergency_checkpoint")
    resume = next(e for e in evs if e["event"] == "resume")
    assert emergency["ok"] and resume["from_step"] == notice["step"] and resume["steps_lost"] == 0
    if notice_at[0] == "eval":  # inside evaluation after epoch 2: the step is the boundary's
        assert notice["step"] == 2 * STEPS and notice["epoch"] == 1
    assert [e["epoch"] for e in evs if e["event"] == "epoch_end"] == [1, 2, 3]


def test_events_checkpoints_and_the_final_export(tmp_path):
    url = f"file://{tmp_path}/run"
    weights, _ = train(url, strategy="milestone", info={"data": "random"})
    store = open_store(url)
    evs = read_events(store, "run")
    names = [e["event"] for e in evs]
    assert names[0] == "start" and names[-2:] == ["done", "exit"]
    start = evs[0]
    assert start["client"] == "library" and start["total_steps"] == EPOCHS * STEPS and start["data"] == "random"
    assert start["model"] == "Sequential" and start["objects"] == ["counters", "model", "optimizer", "scheduler"]
    reasons = [e["reason"] for e in evs if e["event"] == "checkpoint"]
    # accuracy improves every epoch; the last milestone already holds the final step, so no "final" save
    assert reasons == ["milestone"] * EPOCHS
    final = torch.load(f"{tmp_path}/run/final/model.pt", weights_only=True)
    assert_same(weights, final)
    assert json.loads(store.read("DONE"))["step"] == EPOCHS * STEPS
    meta = CheckpointManager(store).load()[1]
    assert meta["run"]["best"] == pytest.approx(0.7) and meta["client"] == "library"
    with pytest.raises(spotshield.Finished) as e:  # DONE: a further start has nothing to do
        train(url)
    assert e.value.code == 0


def test_metrics_between_epoch_ends_are_an_event_and_drive_milestone(tmp_path):
    url = f"file://{tmp_path}/run"
    model = torch.nn.Linear(2, 2)
    with spotshield.Run({"model": model}, store=url, strategy="milestone", metadata_watch=False) as run:
        for step in range(4):
            run.end_step()
            run.metrics(accuracy=0.1 * step, val_loss=torch.tensor(1.5))
    evs = read_events(open_store(url), "run")
    metrics = [e for e in evs if e["event"] == "metrics"]
    assert [m["accuracy"] for m in metrics] == [0.0, 0.1, 0.2, 0.3] and metrics[0]["val_loss"] == 1.5
    assert all(validate_event(e) == [] for e in metrics)
    assert [e["step"] for e in evs if e["event"] == "checkpoint" and e["reason"] == "milestone"] == [1, 2, 3, 4]


def test_a_checkpoint_made_with_other_settings_is_refused(tmp_path):
    url = f"file://{tmp_path}/run"
    with pytest.raises(spotshield.Preempted):
        train(url, notice_at=("step", 3), must_match={"lr": 0.01})
    with pytest.raises(SpotShieldError, match="lr=0.01, not 0.02; use a new store"):
        train(url, must_match={"lr": 0.02})


def test_state_that_a_safe_load_cannot_read_fails_at_the_save(tmp_path):
    import numpy as np

    with pytest.raises(SpotShieldError, match=r"state\['objects'\]\['counters'\]\['arr'\] is a numpy.ndarray"):
        train(f"file://{tmp_path}/run", extra={"seen": 0, "arr": np.zeros(3)})


@pytest.mark.parametrize("kwargs, message", [
    ({"state": {"model": 3}}, "state['model'] is a int, which has no state_dict()"),
    ({"state": {}}, "Run needs a dict of what to save"),
    ({"loader": torch.utils.data.DataLoader(list(range(4)))}, "use torchdata.stateful_dataloader.StatefulDataLoader"),
    ({"checkpoint": {"kep": 2}}, "unknown checkpoint setting 'kep'"),
    ({"checkpoint": {"keep": 1}}, "checkpoint.keep must be >= 2"),
    ({"strategy": "fast"}, "unknown strategy 'fast'"),
    ({"strategy": "naive", "strategy_params": {"every": 3}}, "unknown parameter 'every' for strategy naive"),
    ({"final": "net"}, "final='net' names no entry"),
    ({"epochs": 0}, "epochs must be a whole number > 0"),
    ({"health_port": 70000}, "health_port must be a port number"),
    ({"run_id": "a b"}, "bad run id"),
])
def test_bad_arguments_are_one_clear_error(tmp_path, kwargs, message):
    kwargs = {"state": {"model": torch.nn.Linear(2, 2)}, "store": f"file://{tmp_path}/s", **kwargs}
    state = kwargs.pop("state")
    with pytest.raises(SpotShieldError) as e:
        spotshield.Run(state, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_loop_calls_before_start_say_what_to_do(tmp_path):
    run = spotshield.Run({"model": torch.nn.Linear(2, 2)}, store=f"file://{tmp_path}/s")
    with pytest.raises(SpotShieldError, match="call run.start"):
        run.end_step()


def test_a_multi_process_run_needs_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(SpotShieldError, match="WORLD_SIZE=2 without a torchrun rendezvous"):
        spotshield.Run({"model": torch.nn.Linear(2, 2)}, store=f"file://{tmp_path}/s")


@pytest.mark.parametrize("store, line", [
    ("ftp://host/x", "spotshield: error: unsupported store URL 'ftp://host/x': use file:///path or gs://bucket/prefix"),
    ("file:///proc/spotshield-no", "spotshield: error: cannot create store directory /proc/spotshield-no"),
])
def test_a_script_with_an_unusable_store_prints_one_line_and_exits_1(tmp_path, store, line):
    code = ("import torch, spotshield\n"
            f"with spotshield.Run({{'model': torch.nn.Linear(2, 2)}}, store={store!r}) as run:\n"
            "    run.end_step()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith(line), p.stderr


def test_import_spotshield_stays_cheap():
    code = ("import sys, spotshield; assert 'torch' not in sys.modules; spotshield.Run, spotshield.Preempted;"
            "assert 'torch' not in sys.modules, 'the library imports torch before it runs'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_checkpointer_seam_takes_a_distributed_backend(tmp_path, monkeypatch):
    """What a torchrun/DCP integration plugs in: its own checkpointer; ranks other than 0 write no events."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    saves = []

    class Recording(CheckpointManager):
        def save(self, state, **kw):
            saves.append((kw["step"], kw["reason"], sorted(state)))
            return super().save(state, **kw)

    url = f"file://{tmp_path}/run"
    with spotshield.Run({"model": torch.nn.Linear(2, 2)}, store=url, strategy="naive",
                        strategy_params={"every_steps": 2}, metadata_watch=False, checkpointer=Recording) as run:
        for _ in range(4):
            run.end_step()
    assert saves == [(2, "interval", ["loader", "objects", "rng"]), (4, "interval", ["loader", "objects", "rng"])]
    store = open_store(url)
    assert store.list("events") == [] and store.exists("DONE")
    assert CheckpointManager(store).load()[1]["rank"] == 1
