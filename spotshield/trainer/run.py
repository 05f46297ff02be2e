"""train(cfg) -> exit code: the training loop, resume, preemption handling and export.

Order of a step boundary (the only place state changes hands):
  1. a preemption notice?  -> emergency checkpoint within the deadline, exit 75
  2. one optimizer step (paced to pace_step_s), heartbeat, progress event
  3. end of epoch?         -> validation, epoch_end event
  4. commits from the background persist -> checkpoint events, strategy measurements
  5. the strategy says save? -> snapshot now, persist in the background
Torch is imported inside train(), after the SIGTERM handler is installed, so a notice
that arrives during start-up is not lost.
"""
from __future__ import annotations

import os
import queue
import random
import socket
import time
import uuid

from spotshield.errors import PreconditionFailedError, SpotShieldError, StoreError
from spotshield.events import EXIT_OK, EXIT_PREEMPTED, EventLog, read_events
from spotshield.layout import DONE_KEY, FINAL_KEY
from spotshield.storage import open_store
from spotshield.trainer.config import TrainConfig
from spotshield.trainer.preemption import MetadataWatcher, PreemptionFlag, install_sigterm

_EVAL_BATCH = 512  # validation batch: memory-bounded, no effect on results
# Config keys that must match between a checkpoint and the run resuming it.
_RESUME_KEYS = ("model", "data", "seed", "batch_size", "epochs", "limit_train", "synthetic_size")


def host_and_boot() -> tuple[str, str]:
    """Host from SPOTSHIELD_HOST else the hostname; boot from SPOTSHIELD_BOOT else a new id."""
    host = os.environ.get("SPOTSHIELD_HOST") or socket.gethostname()
    boot = os.environ.get("SPOTSHIELD_BOOT") or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    return host, boot


def health_port(cfg: TrainConfig) -> int:
    raw = os.environ.get("SPOTSHIELD_HEALTH_PORT")
    if raw is None or raw == "":
        return cfg.health_port
    try:
        port = int(raw)
    except ValueError:
        raise SpotShieldError(f"SPOTSHIELD_HEALTH_PORT must be a port number, not {raw!r}") from None
    if not 0 <= port <= 65535:
        raise SpotShieldError(f"SPOTSHIELD_HEALTH_PORT must be 0..65535, not {port}")
    return port


def process_start_t() -> float | None:
    """Unix time this process started (Linux), so recovery can count interpreter start-up."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def run_history(events: list[dict], boot: str) -> dict:
    """What earlier boots of this run tell us: preemptions, exposure, and the last progress
    of the most recent boot (the work a resume may have to redo)."""
    by_boot: dict[tuple, list[dict]] = {}
    for e in events:
        if e.get("boot") != boot and isinstance(e.get("t"), (int, float)):
            by_boot.setdefault((e.get("host"), e.get("boot")), []).append(e)
    preemptions = 0
    exposure = 0.0
    for evs in by_boot.values():
        names = {e.get("event") for e in evs}
        # a notice, or a boot that vanished without an exit event (killed: a hard preemption)
        if "preempt_notice" in names or not names & {"exit", "done"}:
            preemptions += 1
        exposure += max(e["t"] for e in evs) - min(e["t"] for e in evs)
    last_step, last_t = -1, None
    if by_boot:
        latest = max(by_boot.values(), key=lambda evs: max(e["t"] for e in evs))
        for e in latest:
            s = e.get("step")
            if isinstance(s, int) and s >= last_step:
                last_step, last_t = s, e["t"]
    return {"preemptions": preemptions, "exposure_s": exposure, "last_step": last_step, "last_t": last_t,
            "boots": len(by_boot)}


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
        return _Trainer(cfg, flag).run()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous_handler)


class _Trainer:
    def __init__(self, cfg: TrainConfig, flag: PreemptionFlag):
        self.cfg = cfg
        self.flag = flag
        self.store = open_store(cfg.store)

    # --- set-up ------------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.cfg
        if self.store.exists(DONE_KEY):
            return EXIT_OK
        self.host, self.boot = host_and_boot()
        history = run_history(read_events(self.store, cfg.run_id), self.boot)
        self.events = EventLog(self.store, cfg.run_id, self.host, self.boot)
        port = health_port(cfg)

        from spotshield.trainer.health import HealthServer, Heartbeat

        self.heartbeat = Heartbeat(cfg.stall_timeout_s)
        self.health = HealthServer(self.heartbeat, port).start() if port else None
        watch = cfg.metadata_watch
        self.watcher = None
        if watch is True or watch == "auto":
            self.watcher = MetadataWatcher(self.flag, only_if_available=watch == "auto").start()
        try:
            return self._run(history)
        finally:
            if self.watcher:
                self.watcher.stop()
            if self.health:
                self.health.stop()

    def _run(self, history: dict) -> int:
        cfg = self.cfg
        import numpy as np
        import torch

        from spotshield.trainer.checkpoint import CheckpointManager, folder_for
        from spotshield.trainer.data import load_dataset
        from spotshield.trainer.models import build_model
        from spotshield.trainer.strategies import Progress, make

        self.torch, self.np, self.Progress, self.folder_for = torch, np, Progress, folder_for
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise SpotShieldError("device cuda requested but no CUDA device is available; use device: auto")
        self.device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if cfg.device == "auto" else cfg.device))
        use_cuda = self.device.type == "cuda"
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
        self.total_steps = self.steps_per_epoch * cfg.epochs
        model = build_model(cfg.model, ds.channels, ds.num_classes).to(self.device)
        if use_cuda:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=cfg.lr, total_steps=self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.mean = torch.tensor(ds.mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(ds.std, device=self.device).view(1, -1, 1, 1)
        self.strategy = make(cfg.strategy, **cfg.strategy_params)
        self.commits: queue.SimpleQueue = queue.SimpleQueue()
        self.ckpt = CheckpointManager(self.store, cfg.checkpoint, strategy=cfg.strategy,
                                      extra_meta={"host": self.host, "boot": self.boot, "run_id": cfg.run_id},
                                      on_commit=self.commits.put)
        # progress counters (all part of the checkpoint)
        self.step = 0
        self.epoch = 0
        self.pos = 0  # steps done within the current epoch: the sampler position
        self.best = None
        self.accuracy = None
        self.epoch_loss = 0.0
        self.epoch_loss_n = 0

        self.events.emit(
            "start", strategy=cfg.strategy, model=cfg.model, data=cfg.data, epochs=cfg.epochs,
            total_steps=self.total_steps, device=str(self.device), pid=os.getpid(),
            steps_per_epoch=self.steps_per_epoch, batch_size=cfg.batch_size, seed=cfg.seed,
            strategy_params=cfg.strategy_params, pace_step_s=cfg.pace_step_s, amp=self.amp,
            process_start_t=process_start_t(), config=cfg.to_dict(),
        )
        self._resume(history)
        now = time.monotonic()
        self.strategy.on_start(now, self.step, history["preemptions"], history["exposure_s"])
        try:
            try:
                return self._loop()
            except torch.OutOfMemoryError:
                raise SpotShieldError(
                    f"out of {self.device.type} memory with batch_size {cfg.batch_size}; lower batch_size"
                ) from None
        except BaseException as e:
            code = 130 if isinstance(e, KeyboardInterrupt) else 1
            try:
                self.events.emit("exit", step=self.step, code=code, reason="error", error=str(e)[:500])
            except Exception:
                pass  # the store may be the problem; the error itself matters more
            raise

    def _resume(self, history: dict) -> None:
        torch = self.torch
        dropped = self.ckpt.discard_partial()
        state, meta, problems = self.ckpt.load(map_location="cpu")
        if state is None:
            if problems or dropped or history["boots"]:
                # earlier boots ran but left nothing usable: everything they did is redone
                self.events.emit("resume", from_step=0, epoch=0, checkpoint=None,
                                 seconds_lost=round(history["exposure_s"], 3), steps_lost=max(0, history["last_step"]),
                                 rejected=[vars(p) for p in problems], discarded_partial=dropped, fresh=True)
            return
        saved_cfg = state.get("config", {})
        for key in _RESUME_KEYS:
            if key in saved_cfg and saved_cfg[key] != getattr(self.cfg, key):
                raise SpotShieldError(
                    f"{self.store.url} holds a checkpoint with {key}={saved_cfg[key]!r}, not {getattr(self.cfg, key)!r}; "
                    "use a new store for a different run"
                )
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.strategy.load_state_dict(state.get("strategy") or {})
        rng = state["rng"]
        random.setstate(_to_tuple(rng["python"]))
        np_state = rng["numpy"]
        self.np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(self.np.uint32),
                                  int(np_state["pos"]), int(np_state["has_gauss"]), float(np_state["cached_gaussian"])))
        torch.set_rng_state(rng["torch"])
        if torch.cuda.is_available() and rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        p = state["progress"]
        self.step, self.epoch, self.pos = p["step"], p["epoch"], p["pos"]
        self.best, self.accuracy = p["best"], p["accuracy"]
        self.epoch_loss, self.epoch_loss_n = p["epoch_loss"], p["epoch_loss_n"]
        last_step, last_t = history["last_step"], history["last_t"]
        steps_lost = max(0, last_step - self.step)
        seconds_lost = max(0.0, last_t - meta["wall_time"]) if steps_lost and last_t else 0.0
        self.events.emit(
            "resume", from_step=self.step, epoch=self.epoch, checkpoint=self.folder_for(self.step),
            seconds_lost=round(seconds_lost, 3), steps_lost=steps_lost, checkpoint_reason=meta.get("reason"),
            checkpoint_t=meta.get("wall_time"), rejected=[vars(p) for p in problems], discarded_partial=dropped,
        )

    # --- state ------------------------------------------------------------------------------------
    def state(self) -> dict:
        torch, np = self.torch, self.np
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "strategy": self.strategy.state_dict(),
            "rng": {
                "python": random.getstate(),
                "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                          "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "progress": {"step": self.step, "epoch": self.epoch, "pos": self.pos, "best": self.best,
                         "accuracy": self.accuracy, "epoch_loss": self.epoch_loss, "epoch_loss_n": self.epoch_loss_n},
            "config": {k: getattr(self.cfg, k) for k in _RESUME_KEYS},
        }

    # --- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> int:
        from spotshield.trainer.data import augment_batch, epoch_order

        cfg, torch = self.cfg, self.torch
        ds = self.ds
        last_log = time.monotonic()
        logged_step = self.step
        loss_acc = torch.zeros((), device=self.device)
        loss_n = 0
        first = True
        order = None
        epoch_t0 = time.monotonic()
        epoch_start_step = self.step
        while self.epoch < cfg.epochs:
            # 1. a preemption notice?
            if self.flag.is_set():
                return self._preempted()
            if order is None:
                order = epoch_order(len(ds.y_train), cfg.seed, self.epoch)
            # 2. one optimizer step
            t0 = time.monotonic()
            idx = order[self.pos * cfg.batch_size:(self.pos + 1) * cfg.batch_size]
            x = ds.x_train[idx]
            if cfg.augment and ds.size > 8:
                x = augment_batch(x)
            loss = self._train_step(x, ds.y_train[idx])
            loss_acc += loss.detach().float()
            loss_n += 1
            self.step += 1
            self.pos += 1
            if cfg.pace_step_s:
                remaining = cfg.pace_step_s - (time.monotonic() - t0)
                if remaining > 0:
                    self.flag.wait(remaining)  # wakes at once on a notice
            self.heartbeat.beat(self.step)
            now = time.monotonic()
            if first or now - last_log >= cfg.log_every_s or self.pos == self.steps_per_epoch:
                mean_loss = (loss_acc / max(1, loss_n)).item()
                self.epoch_loss += mean_loss * loss_n
                self.epoch_loss_n += loss_n
                if first or now - last_log >= cfg.log_every_s:
                    ips = (self.step - logged_step) * cfg.batch_size / max(1e-9, now - last_log)
                    self.events.emit("step", step=self.step, epoch=self.epoch, loss=round(mean_loss, 5),
                                     images_per_s=round(ips, 1), first=first, total_steps=self.total_steps)
                    last_log, logged_step = now, self.step
                loss_acc.zero_()
                loss_n = 0
                first = False
            # 3. end of epoch: validate
            epoch_end = self.pos == self.steps_per_epoch
            if epoch_end:
                self.heartbeat.beat(self.step, "validating")
                val_loss, self.accuracy = self._evaluate()
                self.heartbeat.beat(self.step)
                secs = time.monotonic() - epoch_t0
                self.events.emit(
                    "epoch_end", epoch=self.epoch + 1, step=self.step,
                    loss=round(self.epoch_loss / max(1, self.epoch_loss_n), 5), accuracy=round(self.accuracy, 5),
                    images_per_s=round((self.step - epoch_start_step) * cfg.batch_size / max(1e-9, secs), 1),
                    epoch_seconds=round(secs, 3), val_loss=round(val_loss, 5),
                )
                self.best = self.accuracy if self.best is None else max(self.best, self.accuracy)
                self.epoch += 1
                self.pos = 0
                self.epoch_loss, self.epoch_loss_n = 0.0, 0
                order = None
                epoch_t0, epoch_start_step = time.monotonic(), self.step
            # 4. commits of the background persist
            self._drain_commits()
            # 5. does the strategy want a checkpoint?
            progress = self.Progress(now=time.monotonic(), step=self.step, epoch=self.epoch,
                                     epoch_end=epoch_end, metric=self.accuracy if epoch_end else None)
            reason = self.strategy.should_save(progress)
            if reason:
                self._save(reason)
        return self._finish()

    def _train_step(self, x, y):
        torch = self.torch
        x = x.to(self.device, non_blocking=True).float().div(self.ds.scale)
        x = (x - self.mean) / self.std
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(self.device, non_blocking=True)
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss = torch.nn.functional.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return loss

    def _evaluate(self) -> tuple[float, float]:
        torch, ds = self.torch, self.ds
        self.model.eval()
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            for i in range(0, len(ds.y_val), _EVAL_BATCH):
                x = ds.x_val[i:i + _EVAL_BATCH].to(self.device).float().div(ds.scale)
                x = (x - self.mean) / self.std
                y = ds.y_val[i:i + _EVAL_BATCH].to(self.device)
                out = self.model(x)
                loss_sum += torch.nn.functional.cross_entropy(out.float(), y, reduction="sum")
                correct += (out.argmax(1) == y).sum()
        n = max(1, len(ds.y_val))
        return loss_sum.item() / n, correct.item() / n

    # --- checkpoints ------------------------------------------------------------------------------
    def _save(self, reason: str, block: bool = False):
        if self.step in self.ckpt.committed_steps or (self.ckpt.in_flight and self.ckpt.in_flight.step == self.step):
            return None  # this exact state is already saved (e.g. right after a resume)
        self.strategy.on_save(time.monotonic(), self.step)
        return self.ckpt.save(self.state(), step=self.step, epoch=self.epoch, reason=reason, block=block)

    def _drain_commits(self) -> None:
        if self.ckpt.in_flight is None:
            self.ckpt.wait(0)  # raises a failed persist here, in the training thread
        while True:
            try:
                info = self.commits.get_nowait()
            except queue.Empty:
                return
            self.strategy.on_checkpoint(time.monotonic(), info.step, info.stall_s, info.persist_s)
            self.events.emit(
                "checkpoint", step=info.step, epoch=info.epoch, reason=info.reason,
                stall_s=round(info.stall_s, 6), persist_s=round(info.persist_s, 6), bytes=info.bytes,
                path=self.folder_for(info.step), wait_s=round(info.wait_s, 6),
                snapshot_t=info.snapshot_t, strategy_state=self.strategy.describe(),
            )

    def _preempted(self) -> int:
        cfg = self.cfg
        flag = self.flag
        self.events.emit("preempt_notice", step=self.step, source=flag.source, notice_t=flag.notice_t,
                         epoch=self.epoch)
        self.strategy.on_preemption(time.monotonic())
        if cfg.checkpoint.emergency:
            deadline = flag.notice_mono + cfg.checkpoint.emergency_deadline_s
            t0 = time.monotonic()
            ok, saved, error = self._emergency(deadline)
            self.events.emit("emergency_checkpoint", step=self.step, ok=ok, seconds=round(time.monotonic() - t0, 4),
                             saved=saved, deadline_s=cfg.checkpoint.emergency_deadline_s,
                             since_notice_s=round(time.monotonic() - flag.notice_mono, 4), error=error)
        self.events.emit("exit", step=self.step, code=EXIT_PREEMPTED, reason="preempted")
        return EXIT_PREEMPTED

    def _emergency(self, deadline: float) -> tuple[bool, bool, str | None]:
        """(ok, saved a new checkpoint, error). A missed deadline leaves the previous checkpoint valid."""
        try:
            # 1. an in-flight persist finishes first (it may already hold this very step)
            if not self.ckpt.wait(max(0.0, deadline - time.monotonic())):
                return False, False, "deadline passed while the previous persist was in flight"
            self._drain_commits()
            # 2. snapshot + persist this step, unless it is already committed
            if self._save("emergency") is None:
                return True, False, None
            if not self.ckpt.wait(max(0.0, deadline - time.monotonic())):
                return False, True, "deadline passed during the emergency persist"
            self._drain_commits()
            return True, True, None
        except StoreError as e:
            return False, False, str(e)

    def _finish(self) -> int:
        torch = self.torch
        self.ckpt.wait()
        self._drain_commits()
        self._save("final", block=True)
        self._drain_commits()
        import io

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, buf)
        self.store.write(FINAL_KEY, buf.getvalue())
        import json

        try:
            self.store.write(DONE_KEY, json.dumps({"step": self.step, "accuracy": self.accuracy, "t": time.time(),
                                                   "host": self.host, "boot": self.boot}).encode(), create_only=True)
        except PreconditionFailedError:
            pass  # another boot finished the same run first; its weights are the same
        final = f"{self.store.url}/{FINAL_KEY}"
        self.events.emit("done", step=self.step, epoch=self.epoch, accuracy=self.accuracy, final_path=final,
                         best_accuracy=self.best)
        self.events.emit("exit", step=self.step, code=EXIT_OK, reason="done")
        return EXIT_OK


def _to_tuple(obj):
    """random.setstate needs tuples; a checkpoint round-trip may give lists."""
    if isinstance(obj, (list, tuple)):
        return tuple(_to_tuple(o) for o in obj)
    return obj
