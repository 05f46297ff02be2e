"""Hugging Face transformers: SpotShieldCallback, a thin adapter over spotshield.library.

    shield = SpotShieldCallback(strategy="naive", strategy_params={"every_steps": 50})
    trainer = Trainer(model=model, args=TrainingArguments(..., save_strategy="no"), callbacks=[shield], ...)
    shield.train(trainer)   # instead of trainer.train()

A checkpoint is the Trainer's own checkpoint folder (weights, optimizer, scheduler, scaler, RNG
states, trainer_state.json): the strategy asks the Trainer to save (control.should_save), the
Trainer writes output_dir/checkpoint-N (the stall), and on_save commits its files under
ckpt/step-N/ with the store's marker and checksums, in the background. train() downloads the
newest verified one and passes it to trainer.train(resume_from_checkpoint=...), which restores
the step, the epoch and the position in it. A notice inside evaluation makes the Trainer save
right there (it resumes after that evaluation, at the same step).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.integrations.common import FrameworkShield
from spotshield.library.session import EMERGENCY, install_excepthook

try:
    from transformers import TrainerCallback
except ImportError:
    install_excepthook()
    raise SpotShieldError("the Hugging Face adapter needs transformers: pip install 'spotshield[huggingface]'") from None
PREFIX = "checkpoint"  # transformers.trainer_utils.PREFIX_CHECKPOINT_DIR


class SpotShieldCallback(FrameworkShield, TrainerCallback):
    """Settings as spotshield.Run's (arguments, else the boot script's environment). `accuracy`
    names the evaluation metric reported as accuracy (default: eval_accuracy)."""

    client = "huggingface"

    def __init__(self, **settings):
        settings.setdefault("accuracy", "eval_accuracy")
        super().__init__(**settings)
        self._trainer = None
        self._pending: str | None = None  # the save reason the Trainer was asked to save for
        self._epoch_open = False  # an epoch ended and waits for its evaluation
        self._last_loss: float | None = None

    # --- the entry point --------------------------------------------------------------------------
    def train(self, trainer, **train_kwargs) -> bool:
        """trainer.train() resumed from the store's newest verified checkpoint, then the final
        checkpoint, final/model.pt and DONE. False (nothing done) when the store holds DONE.
        A preemption notice raises spotshield.Preempted (exit code 75) after the emergency checkpoint."""
        if self not in trainer.callback_handler.callbacks:
            raise SpotShieldError("add the callback to the trainer: Trainer(..., callbacks=[shield])")
        if "resume_from_checkpoint" in train_kwargs:
            raise SpotShieldError("shield.train() takes resume_from_checkpoint from the store; do not pass one")
        if trainer.args.save_only_model:
            raise SpotShieldError("save_only_model=True saves no optimizer or RNG state: a resume would not be exact")
        self._trainer = trainer

        def train(folder: Path | None) -> None:
            trainer.train(resume_from_checkpoint=str(folder) if folder else None, **train_kwargs)
            if self._epoch_open:
                self._close_epoch(None, {})

        try:
            return self._protected_run(
                start=lambda: self._start_fields(trainer), resume_dir=Path(trainer.args.output_dir) / "spotshield-resume",
                marker_file="trainer_state.json", train=train, final_step=lambda: trainer.state.global_step,
                final_weights=trainer.model.state_dict, save=self._save_fn())
        finally:
            shutil.rmtree(self._staging_root(), ignore_errors=True)

    # --- the Trainer's events ------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        s = self.session
        if not s.opened:
            raise SpotShieldError("start training with shield.train(trainer), not trainer.train(): "
                                  "it resumes from the store and finishes the run")
        s.step = state.global_step  # a notice during start-up is taken at the first step end
        # a checkpoint from inside an epoch-end evaluation resumes in the next epoch
        s.catch_up_epochs(int((state.epoch or 0) + 1e-6))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self._last_loss = logs["loss"]

    def on_step_end(self, args, state, control, **kwargs):
        s = self.session
        s.step = state.global_step
        loss, self._last_loss = self._last_loss, None
        s.record_step(loss, args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size)
        decision = s.boundary()
        if decision == EMERGENCY and state.epoch is not None and abs(state.epoch - round(state.epoch)) < 1e-6:
            # the epoch's last step: the Trainer saves its RNG after the epoch-end evaluation, so
            # the emergency checkpoint waits for on_epoch_end (or the evaluation's first batch)
            self._pending = EMERGENCY
            return
        self._decide(control, decision)

    def on_epoch_end(self, args, state, control, **kwargs):
        if control.should_evaluate:  # the Trainer evaluates next: the epoch closes with its accuracy
            self._epoch_open = True  # (a pending notice is taken at the evaluation's first batch)
        else:
            self._close_epoch(None, {}, control)
            if self.session.flag.is_set():
                self._ask_save(control, EMERGENCY)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = dict(metrics or {})
        accuracy = metrics.pop(self._accuracy_key, None)
        extra = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        if self.session.closed:
            return
        if self._epoch_open:
            self._close_epoch(accuracy, extra, control)
        else:
            self.session.metrics(accuracy=accuracy, **extra)
            self._decide(control, self.session.boundary(metric=accuracy))
        if self.session.flag.is_set():  # an evaluation without batches: save right after it
            self._ask_save(control, EMERGENCY)

    def on_prediction_step(self, args, state, control, **kwargs):
        s = self.session
        if s.closed or not s.opened:
            return
        s.heartbeat.beat(s.step, "busy")
        if s.flag.is_set():  # inside evaluation: the Trainer saves here, at the boundary's step
            s.emergency(self._save_fn(), self._must_match)

    def on_save(self, args, state, control, **kwargs):
        s = self.session
        folder = Path(self._trainer._get_output_dir(trial=None)) / f"{PREFIX}-{state.global_step}"
        reason, self._pending = self._pending, None
        if reason == EMERGENCY:
            s.emergency(self._save_fn(written=folder), self._must_match)
        # a save the strategy asked for, or one of the Trainer's own save_strategy
        s.save(reason or "interval", self._save_fn(written=folder), must_match=self._must_match)

    # --- internals --------------------------------------------------------------------------------------
    def _close_epoch(self, accuracy, metrics: dict, control=None) -> None:
        s = self.session
        self._epoch_open = False
        s.end_epoch(accuracy, **metrics)
        decision = s.boundary(epoch_end=True, metric=accuracy)
        if control is not None and decision != EMERGENCY:
            self._decide(control, decision)

    def _decide(self, control, decision: str | None) -> None:
        if decision:
            self._ask_save(control, decision)

    def _ask_save(self, control, reason: str) -> None:
        if self._pending != EMERGENCY:
            self._pending = reason
        control.should_save = True
        if reason == EMERGENCY:  # nothing but the checkpoint until the process exits
            control.should_evaluate = False
            control.should_log = False
            control.should_training_stop = True

    def _staging_root(self) -> Path:
        return Path(self._trainer.args.output_dir) / "spotshield-staging"

    def _save_fn(self, written: Path | None = None):
        """Commit a checkpoint folder the Trainer wrote (or has it write one now)."""
        trainer = self._trainer

        def save(ck, *, step, epoch, reason, block, meta):
            t0 = time.perf_counter()
            ck.wait()  # the previous persist reads its staged files until it is done
            folder = written
            if folder is None:
                trainer._save_checkpoint(trainer.model, trial=None)
                folder = Path(trainer._get_output_dir(trial=None)) / f"{PREFIX}-{trainer.state.global_step}"
            # Hard links (or copies) hold the files while they upload: the Trainer's checkpoint
            # rotation may delete its folder at the next save.
            root = self._staging_root()
            shutil.rmtree(root, ignore_errors=True)
            stage = root / f"step-{step:06d}"
            stage.mkdir(parents=True)
            files = {}
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                try:
                    os.link(path, stage / path.name)
                except OSError:
                    shutil.copy2(path, stage / path.name)
                files[path.name] = stage / path.name
            return ck.save_files(files, step=step, epoch=epoch, reason=reason, block=block, meta=meta,
                                 snapshot_s=time.perf_counter() - t0)

        return save

    def _start_fields(self, trainer) -> dict:
        args = trainer.args
        if args.max_steps and args.max_steps > 0:
            epochs, total = None, args.max_steps
        else:
            batches = len(trainer.train_dataset) / (args.per_device_train_batch_size * args.world_size)
            batches = int(batches) if args.dataloader_drop_last else -(-len(trainer.train_dataset) //
                                                                       (args.per_device_train_batch_size * args.world_size))
            epochs = args.num_train_epochs
            total = int(epochs * -(-batches // max(1, args.gradient_accumulation_steps)))
        return {"model": type(trainer.model).__name__, "data": type(trainer.train_dataset).__name__,
                "epochs": epochs, "total_steps": total, "device": str(args.device)}
