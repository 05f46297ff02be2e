"""train(cfg) -> exit code: the built-in trainer, one client of the library (spotshield.Run).

The library owns everything preemption-related: resume, the strategy's saves, the emergency
checkpoint on a notice, events, /healthz, final/model.pt and DONE. What is left here is the
model, the data and the loop:
  1. one optimizer step on the next batch of this epoch's order (paced to pace_step_s)
  2. run.end_step(): the step boundary (a notice -> emergency checkpoint, exit 75)
  3. end of the epoch: validation (run.check() between batches), run.end_epoch(accuracy)
Torch is imported inside train(), after the SIGTERM handler is installed, so a notice that
arrives during start-up is not lost.

Under torchrun (WORLD_SIZE > 1, or any world launched by torchrun; docs/distributed.md) the same
loop is one data-parallel rank: the process group (gloo on CPU, nccl on CUDA, one GPU per local
rank), the model in DDP, and an ElasticSampler (drop_last) in place of Position, so that each step
trains the single-process run's global batch of batch_size samples, in its order, split between
the ranks. The sampler is saved as a replicated object, not as the rank's data position: a resume
at another world size re-splits the rest of the epoch, each sample once. The library checkpoints
with DCP and rank 0 writes final/model.pt and DONE, as for any script under torchrun.
"""
from __future__ import annotations

import random
import zlib

from spotshield.errors import SpotShieldError
from spotshield.layout import DONE_KEY
from spotshield.library.session import Finished, Preempted
from spotshield.library.settings import env_health_port, launched_distributed
from spotshield.storage import open_store
from spotshield.trainer.config import TrainConfig
from spotshield.trainer.preemption import PreemptionFlag, install_sigterm

_EVAL_BATCH = 512  # validation batch: memory-bounded, no effect on results
# Config keys that must match between a checkpoint and the run resuming it.
_RESUME_KEYS = ("model", "data", "seed", "batch_size", "epochs", "limit_train", "synthetic_size")


def health_port(cfg: TrainConfig) -> int:
    """SPOTSHIELD_HEALTH_PORT (the boot script's) wins over the config's health_port."""
    port = env_health_port()
    return cfg.health_port if port is None else port


class Position:
    """The sampler position: batches done in this epoch. The order itself is a pure function of
    (seed, epoch) (data.epoch_order), so this one number resumes the data exactly."""

    def __init__(self) -> None:
        self.pos = 0

    def state_dict(self) -> dict:
        return {"pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.pos = int(state["pos"])


def train(cfg: TrainConfig, flag: PreemptionFlag | None = None) -> int:
    """Run (or resume) training. Returns 0 when done, 75 when stopped by a preemption notice.

    SIGTERM sets the preemption flag while training runs (main thread only). An embedding
    caller may pass its own `flag` and set it to request the same graceful stop.
    """
    import signal
    import threading

    flag = flag or PreemptionFlag()
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = install_sigterm(flag) if in_main else None
    try:
        if open_store(cfg.store).exists(DONE_KEY):
            return 0  # finished: exit before torch and the data load (the library checks again)
        return _Trainer(cfg, flag).run()
    except Preempted as e:
        return e.code
    except Finished:
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous_handler)


class _Trainer:
    def __init__(self, cfg: TrainConfig, flag: PreemptionFlag):
        self.cfg = cfg
        self.flag = flag

    def _setup(self):
        cfg = self.cfg
        import numpy as np
        import torch

        from spotshield.trainer.data import load_dataset
        from spotshield.trainer.models import build_model

        self.torch = torch
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise SpotShieldError("device cuda requested but no CUDA device is available; use device: auto")
        self.device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if cfg.device == "auto" else cfg.device))
        use_cuda = self.device.type == "cuda"
        self.distributed = launched_distributed()
        self.rank, self.world = self._join_job() if self.distributed else (0, 1)
        self.amp = use_cuda if cfg.amp == "auto" else bool(cfg.amp)
        if self.amp and not use_cuda:
            raise SpotShieldError("amp needs a CUDA device; set amp: auto or false")
        if use_cuda:
            torch.backends.cudnn.benchmark = True
        if self.amp:
            import warnings

            # GradScaler skips the optimizer step while it calibrates the scale; the scheduler
            # still steps so that the schedule stays aligned with the step counter. Expected.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")

        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        ds = load_dataset(cfg.data, cfg.data_dir, download=cfg.download, limit_train=cfg.limit_train,
                          limit_val=cfg.limit_val, synthetic_size=cfg.synthetic_size)
        self.ds = ds
        self.steps_per_epoch = len(ds.y_train) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise SpotShieldError(f"batch_size {cfg.batch_size} is larger than the {len(ds.y_train)} training images")
        total_steps = self.steps_per_epoch * cfg.epochs
        model = build_model(cfg.model, ds.channels, ds.num_classes).to(self.device)
        if use_cuda:
            model = model.to(memory_format=torch.channels_last)
        self.net = model  # the plain module: validation runs it on every rank, without DDP's collectives
        self.sampler = None
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            from spotshield.distributed.sampler import ElasticSampler

            model = DDP(model, device_ids=[self.device.index] if use_cuda else None)
            self.sampler = ElasticSampler(len(ds.y_train), cfg.batch_size, cfg.seed, cfg.epochs, drop_last=True)
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=cfg.lr, total_steps=total_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.mean = torch.tensor(ds.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(ds.std, device=self.device).view(1, -1, 1, 1)
        self.position = Position()
        if self.rank:
            # each rank its own dropout and augmentation stream; rank 0 keeps the single-process one
            torch.manual_seed(zlib.crc32(f"train/{cfg.seed}/rank{self.rank}".encode()))

        from spotshield.library.run import Run

        objects = {"model": self.model, "optimizer": self.opt, "scheduler": self.sched, "scaler": self.scaler}
        if self.sampler is not None:
            objects["sampler"] = self.sampler  # replicated: the job's position, whatever the world size
        return Run(
            objects, loader=None if self.sampler is not None else self.position, store=cfg.store,
            run_id=cfg.run_id, strategy=cfg.strategy, strategy_params=cfg.strategy_params,
            checkpoint=cfg.checkpoint, epochs=cfg.epochs, total_steps=total_steps, batch_size=cfg.batch_size,
            must_match={k: getattr(cfg, k) for k in _RESUME_KEYS},
            info={"client": "train", "model": cfg.model, "data": cfg.data, "device": str(self.device),
                  "steps_per_epoch": self.steps_per_epoch, "seed": cfg.seed, "pace_step_s": cfg.pace_step_s,
                  "amp": self.amp, "config": cfg.to_dict()},
            health_port=health_port(cfg), metadata_watch=cfg.metadata_watch, log_every_s=cfg.log_every_s,
            stall_timeout_s=cfg.stall_timeout_s, flag=self.flag,
        )

    def _join_job(self) -> tuple[int, int]:
        """(rank, world) of the process group torchrun's environment describes; on CUDA the local
        rank's GPU is this process's device."""
        import os

        import torch.distributed as dist

        if self.device.type == "cuda":
            self.device = self.torch.device("cuda", int(os.environ.get("LOCAL_RANK") or 0))
            self.torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            if not os.environ.get("MASTER_ADDR"):
                raise SpotShieldError("WORLD_SIZE is set without a torchrun rendezvous (MASTER_ADDR is unset): "
                                      "launch spotshield train with torchrun, or unset WORLD_SIZE")
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        return dist.get_rank(), dist.get_world_size()

    def run(self) -> int:
        run = self._setup()
        torch = self.torch
        with run:
            try:
                self._loop(run)
            except torch.OutOfMemoryError:
                raise SpotShieldError(
                    f"out of {self.device.type} memory with batch_size {self.cfg.batch_size}; lower batch_size"
                ) from None
        if self.distributed:
            torch.distributed.destroy_process_group()  # every rank is past the library's last barrier
        return 0

    # --- the loop ---------------------------------------------------------------------------------
    def _loop(self, run) -> None:
        import time

        from spotshield.trainer.data import augment_batch

        cfg, ds, position = self.cfg, self.ds, self.position
        for epoch in run.epochs():
            batches = self._rank_batches(epoch) if self.sampler is not None else self._batches(epoch)
            for idx, scale in batches:
                t0 = time.monotonic()
                x = ds.x_train[idx]
                if cfg.augment and ds.size > 8:
                    x = augment_batch(x)
                loss = self._train_step(x, ds.y_train[idx], scale)
                if cfg.pace_step_s:
                    remaining = cfg.pace_step_s - (time.monotonic() - t0)
                    if remaining > 0:
                        self.flag.wait(remaining)  # wakes at once on a notice
                run.end_step(loss=loss)
            val_loss, accuracy = self._evaluate(run.check)
            position.pos = 0
            run.end_epoch(accuracy=accuracy, val_loss=round(val_loss, 5))

    # Both yield (indices, loss scale) with the position already past the batch: nothing saves
    # between the yield and run.end_step(), whose boundary records the position after the step.
    def _batches(self, epoch: int):
        """One process: batch k of epoch_order (whole batches only); scale None = mean loss."""
        from spotshield.trainer.data import epoch_order

        order = epoch_order(len(self.ds.y_train), self.cfg.seed, epoch)
        bs, position = self.cfg.batch_size, self.position
        while position.pos < self.steps_per_epoch:
            idx = order[position.pos * bs:(position.pos + 1) * bs]
            position.pos += 1
            yield idx, None

    def _rank_batches(self, epoch: int):
        """A rank: its part of the same global batches (none left when resumed after the epoch's last step)."""
        sampler = self.sampler
        while sampler.epoch == epoch:
            batch = sampler.next_batch(self.rank, self.world)
            sampler.advance()
            yield batch.indices, batch.scale

    def _train_step(self, x, y, scale=None):
        """scale None: the batch's mean loss. A rank's scale: its summed loss times Batch.scale, whose
        gradient DDP's average over the ranks makes the global batch's mean (sampler.Batch)."""
        torch = self.torch
        x = x.to(self.device, non_blocking=True).float().div(self.ds.scale)
        x = (x - self.mean) / self.std
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(self.device, non_blocking=True)
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            if scale is None:
                loss = torch.nn.functional.cross_entropy(self.model(x), y)
            else:
                loss = torch.nn.functional.cross_entropy(self.model(x), y, reduction="sum") * scale
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return loss

    def _evaluate(self, check) -> tuple[float, float]:
        torch, ds = self.torch, self.ds
        self.net.eval()
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            for i in range(0, len(ds.y_val), _EVAL_BATCH):
                check()  # a notice during validation still ends in an emergency checkpoint
                x = ds.x_val[i:i + _EVAL_BATCH].to(self.device).float().div(ds.scale)
                x = (x - self.mean) / self.std
                y = ds.y_val[i:i + _EVAL_BATCH].to(self.device)
                out = self.net(x)
                loss_sum += torch.nn.functional.cross_entropy(out.float(), y, reduction="sum")
                correct += (out.argmax(1) == y).sum()
        n = max(1, len(ds.y_val))
        return loss_sum.item() / n, correct.item() / n
