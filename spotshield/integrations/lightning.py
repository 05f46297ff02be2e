"""PyTorch Lightning: SpotShieldCallback, a thin adapter over spotshield.library.

    shield = SpotShieldCallback(strategy="naive", strategy_params={"every_steps": 50})
    trainer = pl.Trainer(max_epochs=5, callbacks=[shield], enable_checkpointing=False)
    shield.fit(trainer, model, train_loader, val_loader)   # instead of trainer.fit(...)

A checkpoint is Lightning's own: the dict trainer.save_checkpoint() would write (a .ckpt:
weights, optimizers, schedulers, loops with the mid-epoch position, callbacks, stateful data
loaders), snapshot in the training thread and persisted in the background as ckpt/step-N/model.ckpt
under the store's marker and checksums. fit() downloads the newest verified one and passes it to
trainer.fit(ckpt_path=...). This callback adds the RNG states of the last step boundary (Lightning
saves none), so a notice inside validation resumes as exactly as one at a step.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Mapping

from spotshield.errors import SpotShieldError
from spotshield.integrations.common import FrameworkShield
from spotshield.library.session import EMERGENCY, install_excepthook

try:
    import pytorch_lightning as pl
except ImportError:
    try:  # the unified `lightning` package
        import lightning.pytorch as pl  # type: ignore[no-redef]
    except ImportError:
        install_excepthook()
        raise SpotShieldError("the Lightning adapter needs PyTorch Lightning: pip install 'spotshield[lightning]'") from None

from spotshield.library import rng  # noqa: E402  (after the framework check)
from spotshield.trainer.preemption import install_sigterm  # noqa: E402

CKPT_FILE = "model.ckpt"
_ACCURACY_KEYS = ("val_acc", "val_accuracy", "accuracy")


def _batch_size(batch) -> int | None:
    if hasattr(batch, "shape") and len(batch.shape):
        return int(batch.shape[0])
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, Mapping) and batch:
        return _batch_size(next(iter(batch.values())))
    return None


class SpotShieldCallback(FrameworkShield, pl.Callback):
    """Settings as spotshield.Run's (arguments, else the boot script's environment). `accuracy`
    names the logged validation metric reported as accuracy (default: val_acc or val_accuracy)."""

    client = "lightning"

    def __init__(self, **settings):
        super().__init__(**settings)
        self._rng: dict | None = None  # the last step boundary's
        self._restored_rng: dict | None = None

    # --- the entry point --------------------------------------------------------------------------
    def fit(self, trainer: "pl.Trainer", model: "pl.LightningModule", *args, **kwargs) -> bool:
        """trainer.fit(model, ...) resumed from the store's newest verified checkpoint, then the
        final checkpoint, final/model.pt and DONE. False (nothing done) when the store holds DONE.
        A preemption notice raises spotshield.Preempted (exit code 75) after the emergency checkpoint."""
        if not any(cb is self for cb in trainer.callbacks):
            raise SpotShieldError("add the callback to the trainer: pl.Trainer(callbacks=[shield])")
        if "ckpt_path" in kwargs:
            raise SpotShieldError("shield.fit() takes ckpt_path from the store; do not pass one")

        def train(folder: Path | None) -> None:
            trainer.fit(model, *args, ckpt_path=str(folder / CKPT_FILE) if folder else None, **kwargs)

        return self._protected_run(
            start=lambda: self._start_fields(trainer, model, args, kwargs),
            resume_dir=Path(trainer.default_root_dir) / ".spotshield-resume", marker_file=CKPT_FILE, train=train,
            final_step=lambda: trainer.global_step, final_weights=model.state_dict, save=self._save_fn(trainer))

    # --- Lightning's hooks -----------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        if not self.session.opened:
            raise SpotShieldError("start training with shield.fit(trainer, model, ...), not trainer.fit(...): "
                                  "it resumes from the store and finishes the run")
        # Lightning puts its own SIGTERM handler in front of ours when fit starts; it would end the
        # run with SIGTERMException (exit code 0) at the next batch. Ours alone: a notice means 75.
        if threading.current_thread() is threading.main_thread():
            install_sigterm(self.session.flag)
        if self._restored_rng is not None:  # after data set-up, so set-up draws do not disturb it
            rng.restore(self._restored_rng)
            self._restored_rng = None
        self.session.step = trainer.global_step
        # a checkpoint from an epoch's last step resumes in the next epoch (Lightning skips the rest)
        self.session.catch_up_epochs(trainer.current_epoch)
        self._rng = rng.capture()
        self._check(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        s = self.session
        if trainer.global_step == s.step:  # accumulating gradients: not a step boundary yet
            s.heartbeat.beat(s.step)
            return
        s.step = trainer.global_step
        self._rng = rng.capture()
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        s.record_step(loss, _batch_size(batch))
        self._act(trainer, s.boundary())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._check(trainer)  # a notice inside validation: Lightning resumes mid-validation

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        s = self.session
        metrics = {k: v.item() if hasattr(v, "item") else v for k, v in trainer.callback_metrics.items()}
        key = self._accuracy_key or next((k for k in _ACCURACY_KEYS if k in metrics), None)
        accuracy = metrics.get(key) if key else None
        extra = {k: round(float(v), 6) for k, v in metrics.items() if k != key and k.startswith("val")}
        s.end_epoch(accuracy, **extra)
        self._rng = rng.capture()
        self._act(trainer, s.boundary(epoch_end=True, metric=accuracy))

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        # At an epoch's last batch (and in the validation and epoch-end hooks after it) Lightning
        # saves the training loader's state as "all batches yielded" but resumes into the *next*
        # epoch, where that state yields nothing: a lost epoch. The position at an epoch boundary
        # is "a fresh iterator"; the sampler's set_epoch() (Lightning calls it) gives the order.
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            fit_state = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {})
            if "combined_loader" in fit_state:
                fit_state["combined_loader"] = []

    def state_dict(self) -> dict:
        """Stored inside the .ckpt by Lightning: the RNG states of the last step boundary."""
        return {"rng": rng.to_tree(self._rng)} if self._rng is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored_rng = state_dict.get("rng")

    # --- internals ----------------------------------------------------------------------------------------
    def _check(self, trainer) -> None:
        s = self.session
        s.heartbeat.beat(s.step, "busy")
        if s.flag.is_set():
            self._act(trainer, EMERGENCY)

    def _act(self, trainer, decision: str | None) -> None:
        if decision == EMERGENCY:
            self.session.emergency(self._save_fn(trainer), self._must_match)
        elif decision:
            self.session.save(decision, self._save_fn(trainer), must_match=self._must_match)

    @staticmethod
    def _save_fn(trainer):
        def save(ck, *, step, epoch, reason, block, meta):
            # the dict trainer.save_checkpoint() writes; tensors are copied by ck.save, written later
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
            return ck.save(checkpoint, step=step, epoch=epoch, reason=reason, block=block, meta=meta,
                           filename=CKPT_FILE)

        return save

    def _start_fields(self, trainer, model, args, kwargs) -> dict:
        loader = kwargs.get("train_dataloaders", args[0] if args else None)
        dm = kwargs.get("datamodule")
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        if total is None and trainer.max_epochs and hasattr(loader, "__len__"):
            total = trainer.max_epochs * -(-len(loader) // max(1, trainer.accumulate_grad_batches))
        data = (type(dm).__name__ if dm is not None else
                type(getattr(loader, "dataset", loader)).__name__ if loader is not None else None)
        return {"model": type(model).__name__, "data": data, "epochs": trainer.max_epochs, "total_steps": total,
                "device": str(trainer.strategy.root_device)}
