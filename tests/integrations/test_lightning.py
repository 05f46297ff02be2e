"""SpotShieldCallback for PyTorch Lightning, with the real Lightning on a tiny CPU model: the
emergency checkpoint on a notice (at a step, at an epoch's last step, inside validation), exact
resume from Lightning's own .ckpt committed through the store, events; the example under SIGTERM."""
import logging
import warnings
from pathlib import Path

import pytest
import torch

pl = pytest.importorskip("pytorch_lightning")
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler  # noqa: E402

import spotshield  # noqa: E402
from spotshield.errors import SpotShieldError  # noqa: E402
from spotshield.events import EXIT_PREEMPTED  # noqa: E402
from spotshield.integrations.lightning import SpotShieldCallback  # noqa: E402
from spotshield.storage import open_store  # noqa: E402
from spotshield.trainer.checkpoint import CheckpointManager  # noqa: E402
from spotshield.trainer.preemption import PreemptionFlag  # noqa: E402

from script_helpers import (EXAMPLES, PY, assert_same_weights, catches_sigterm, events, load_weights,  # noqa: E402
                            resumed_from_the_notice, script_env, wait_for)

NOTICE_AT = Path(__file__).with_name("notice_at.py")

logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", ".*does not have many workers.*")
STEPS_PER_EPOCH, EPOCHS = 16, 3


class Net(pl.LightningModule):
    def __init__(self, flag=None, notice=None):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 3))
        self.flag, self.notice = flag, notice

    def training_step(self, batch, i):
        x, y = batch
        if self.notice == ("step", self.global_step + 1):
            self.flag.set("sigterm")
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, i):
        x, y = batch
        if self.notice == ("val", self.current_epoch) and i == 1:
            self.flag.set("sigterm")
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def fit(root, notice=None, **shield_kw):
    pl.seed_everything(0, verbose=False)
    g = torch.Generator().manual_seed(1)
    ds = torch.utils.data.TensorDataset(torch.randn(256, 8, generator=g), torch.randint(0, 3, (256,), generator=g))
    sampler = StatefulDistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=0)
    train = StatefulDataLoader(ds, batch_size=16, sampler=sampler, generator=torch.Generator().manual_seed(0))
    val = StatefulDataLoader(torch.utils.data.TensorDataset(*ds[:64]), batch_size=16,
                             generator=torch.Generator().manual_seed(0))
    flag = PreemptionFlag()
    model = Net(flag, notice)
    shield = SpotShieldCallback(store=f"{root}/store", strategy="naive", strategy_params={"every_steps": 5},
                                flag=flag, metadata_watch=False, **shield_kw)
    trainer = pl.Trainer(max_epochs=EPOCHS, callbacks=[shield], enable_checkpointing=False, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                         num_sanity_val_steps=0, accelerator="cpu", deterministic=True)
    assert shield.fit(trainer, model, train, val)
    return {k: v.clone() for k, v in model.state_dict().items()}, trainer


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return fit(tmp_path_factory.mktemp("base"))[0]


@pytest.mark.parametrize("notice", [("step", 7), ("step", STEPS_PER_EPOCH), ("val", 1)],
                         ids=["mid-epoch", "last-step-of-epoch", "inside-validation"])
def test_a_notice_ends_in_an_emergency_checkpoint_and_the_resume_is_exact(tmp_path, baseline, notice):
    with pytest.raises(spotshield.Preempted) as e:
        fit(tmp_path, notice)
    assert e.value.code == EXIT_PREEMPTED
    weights, trainer = fit(tmp_path)
    assert trainer.global_step == EPOCHS * STEPS_PER_EPOCH
    assert_same_weights(baseline, weights)
    store = open_store(f"file://{tmp_path}/store")
    evs = resumed_from_the_notice(tmp_path / "store")
    closed = [e for e in evs if e["event"] == "epoch_end"]
    assert [e["epoch"] for e in closed] == [1, 2, 3]
    # resumed from an epoch's last step or its validation, Lightning goes on with the next epoch
    # without closing that one: it is closed without accuracy
    interrupted = {("step", 7): None, ("step", STEPS_PER_EPOCH): 0, ("val", 1): 1}[notice]
    assert [e["accuracy"] is None for e in closed] == [i == interrupted for i in range(EPOCHS)]
    assert evs[0]["client"] == "lightning" and evs[0]["total_steps"] == EPOCHS * STEPS_PER_EPOCH
    # the committed checkpoint is Lightning's own format: loadable as a .ckpt
    ck_dir, meta, _ = CheckpointManager(store).load_files(tmp_path / "check")
    ckpt = torch.load(ck_dir / "model.ckpt", weights_only=False)
    assert ckpt["global_step"] == meta["step"] and "state_dict" in ckpt and meta["client"] == "lightning"
    assert torch.load(tmp_path / "store" / "final" / "model.pt", weights_only=True).keys() == baseline.keys()


def test_misuse_is_one_clear_error(tmp_path):
    shield = SpotShieldCallback(store=f"{tmp_path}/s", metadata_watch=False)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, default_root_dir=tmp_path)
    with pytest.raises(SpotShieldError, match="add the callback to the trainer"):
        shield.fit(trainer, Net())
    trainer = pl.Trainer(max_epochs=1, callbacks=[shield], logger=False, enable_checkpointing=False)
    with pytest.raises(SpotShieldError, match="takes ckpt_path from the store"):
        shield.fit(trainer, Net(), ckpt_path="last")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 8), torch.zeros(4).long()))
    with pytest.raises(SpotShieldError, match=r"start training with shield.fit\(trainer, model, ...\)"):
        trainer.fit(Net(), loader)


@pytest.mark.slow
def test_the_example_survives_two_sigterms_with_no_step_lost(tmp_path):
    """Notices at known steps (notice_at.py), not after a wall-clock delay: mid-epoch (the signal
    lands after step 100's hooks, so the checkpoint is step 101's), then at step 179, one step
    before epoch 4's last (an emergency checkpoint at an epoch's last batch)."""
    import subprocess

    args = ["--epochs", "8", "--strategy", "naive", "--save-every", "40"]
    script = str(EXAMPLES / "lightning" / "train.py")
    base, work, store = tmp_path / "base", tmp_path / "work", tmp_path / "fleet"
    base.mkdir()
    work.mkdir()
    done = subprocess.run([PY, script, *args], cwd=base, env=script_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    env = script_env(SPOTSHIELD_STORE=f"file://{store}")
    for at in (100, 179):
        cut = subprocess.run([PY, str(NOTICE_AT), str(at), script, *args], cwd=work, env=env, capture_output=True,
                             text=True, timeout=300)
        assert cut.returncode == EXIT_PREEMPTED, cut.stderr[-3000:]
    final = subprocess.run([PY, script, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    evs = events(store)
    notices = [e for e in evs if e["event"] == "preempt_notice"]
    resumes = [e for e in evs if e["event"] == "resume"]
    assert [n["step"] for n in notices] == [101, 180]
    for n, r in zip(notices, resumes, strict=True):  # each resume starts from its notice's checkpoint
        assert r["from_step"] == n["step"] and r["steps_lost"] == 0 and r["checkpoint_reason"] == "emergency"
    assert_same_weights(load_weights(base / "spotshield-run" / "final" / "model.pt"),
                        load_weights(store / "final" / "model.pt"))


@pytest.mark.slow
def test_a_notice_while_the_example_still_imports_lightning_ends_in_an_emergency_checkpoint(tmp_path):
    """spotshield.catch_notice() runs before the imports (Lightning's take seconds, longer than the
    boot script waits for a handler): a SIGTERM then is kept and acted on once training starts."""
    import signal
    import subprocess

    store = tmp_path / "store"
    p = subprocess.Popen([PY, str(EXAMPLES / "lightning" / "train.py"), "--epochs", "1"], cwd=tmp_path,
                         env=script_env(SPOTSHIELD_STORE=f"file://{store}"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: catches_sigterm(p.pid), p, timeout=60), p.communicate()[1][-3000:]
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == EXIT_PREEMPTED, err[-3000:]
    evs = events(store)
    names = [e["event"] for e in evs]
    assert "preempt_notice" in names and names[-2:] == ["emergency_checkpoint", "exit"]
    assert evs[-2]["ok"] and evs[-2]["step"] == 0 and evs[-1]["code"] == EXIT_PREEMPTED
