"""Session: one process's part in a protected run, whatever saves the training state.

spotshield.Run (any PyTorch loop) and the framework adapters (Lightning, Hugging Face) differ
only in *what* a checkpoint holds and how it is restored; everything else is here, once:
  open()        the store; DONE already there? the run's history; events, /healthz, the
                metadata watcher; the strategy; the CheckpointManager
  started()     the start event
  restore()     discard half-written folders, load the newest verified checkpoint (the caller's
                loader), check must_match, hand it to the caller's apply(), the resume event
  boundary()    at a step boundary: heartbeat, commits -> checkpoint events, then
                'emergency' when a notice is pending, else the strategy's save reason
  save()        a checkpoint by the caller's save function (phase 1 now, persist in the background)
  emergency()   the preemption notice: finish the persist in flight, save this step, all within
                the deadline from the notice; events; raise Preempted (exit code 75)
  finish()      the final checkpoint, final/model.pt, DONE; events
Under torchrun (a checkpointer such as the DistributedCheckpointer, torch.distributed initialised)
every boundary is one all-reduce (StopAgreement) that carries any rank's notice and rank 0's
save decision, so all ranks save and stop at the same step; only rank 0 writes events,
final/model.pt and DONE (after a barrier).
The SIGTERM handler is installed when the Session is created, so a notice that arrives while
the caller still builds its model is kept. A save function has the signature
    save(ckpt: CheckpointManager, *, step, epoch, reason, block, meta) -> CheckpointInfo
and is called in the training thread.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable

from spotshield.errors import PreconditionFailedError, SpotShieldError, StoreError
from spotshield.events import EXIT_ERROR, EXIT_OK, EXIT_PREEMPTED, EventLog, read_events
from spotshield.layout import DONE_KEY, FINAL_KEY, folder_for
from spotshield.boots import run_history
from spotshield.library.meter import StepMeter
from spotshield.library.settings import ENV_PHASE_FILE, Settings, process_start_t
from spotshield.storage import open_store
from spotshield.trainer.preemption import MetadataWatcher, PreemptionFlag, install_sigterm

EMERGENCY = "emergency"  # boundary()'s answer when a notice is pending
# Save reasons as numbers, so that rank 0's decision rides in the stop agreement's all-reduce
# (every rank must save at the same step; the adaptive strategy's clock differs per rank).
_REASONS = ("interval", "adaptive", "milestone", "max_gap", "final", EMERGENCY)
_OTHER_REASON = len(_REASONS)  # a custom strategy's own reason name: saved as "strategy"
_RESERVED = {"event", "t", "run_id", "host", "boot", "step", "epoch", "loss", "accuracy", "images_per_s",
             "epoch_seconds"}
SaveFn = Callable[..., Any]


class Preempted(SystemExit):
    """Raised after the emergency checkpoint: exit code 75, and the fleet restarts the run."""

    def __init__(self) -> None:
        super().__init__(EXIT_PREEMPTED)


class Finished(SystemExit):
    """Raised at start when the store already holds DONE: the run is finished, exit code 0."""

    def __init__(self) -> None:
        super().__init__(EXIT_OK)


_EARLY: PreemptionFlag | None = None  # the flag catch_notice() installed
_EARLY_PREVIOUS = None  # the SIGTERM handler before it


def catch_notice() -> PreemptionFlag:
    """Install the SIGTERM handler now. Call it first in a script, before importing torch or a
    framework (seconds): a notice that arrives meanwhile is kept, and the Run or callback created
    later takes its emergency checkpoint at once. Idempotent."""
    global _EARLY, _EARLY_PREVIOUS
    if _EARLY is None:
        _EARLY = PreemptionFlag()
        if threading.current_thread() is threading.main_thread():
            _EARLY_PREVIOUS = install_sigterm(_EARLY)
    return _EARLY


class _NoEvents:
    """The event log of a rank other than 0: one writer per (host, boot) object."""

    def emit(self, event: str, flush: bool = True, **fields) -> dict:
        return {"event": event, **fields}


class Session:
    def __init__(self, settings: Settings, *, flag: PreemptionFlag | None = None, client: str = "library",
                 checkpointer: Callable | None = None):
        if settings.world_size > 1 and checkpointer is None:
            raise SpotShieldError(
                f"WORLD_SIZE={settings.world_size}: a multi-process run needs a distributed checkpointer; "
                "spotshield.Run saves the state of one process")
        self.settings = settings
        self.flag = flag or _EARLY or PreemptionFlag()
        self.client = client
        self._checkpointer = checkpointer
        self.step = 0
        self.epoch = 0
        self.accuracy: float | None = None  # the last validation result
        self.best: float | None = None
        self.total_steps: int | None = None
        self.resumed_from: int | None = None
        self.opened = False
        self.closed = False
        self.watcher = self.health = None
        self.agreement = None  # StopAgreement of a multi-process run (open())
        self.nodes: list[dict] | None = None  # which node holds which ranks, under torchrun (open())
        self._in_main = threading.current_thread() is threading.main_thread()
        self._previous_handler = install_sigterm(self.flag) if self._in_main else None

    # --- start ------------------------------------------------------------------------------
    def open(self) -> bool:
        """Everything but the state. False when the store already holds DONE (nothing started)."""
        s = self.settings
        self.store = open_store(s.store)
        if self.store.exists(DONE_KEY):
            return False
        from spotshield.trainer.checkpoint import CheckpointManager
        from spotshield.trainer.health import HealthServer, Heartbeat
        from spotshield.trainer.strategies import make

        self.history = run_history(read_events(self.store, s.run_id), s.boot)
        self.events = EventLog(self.store, s.run_id, s.host, s.boot) if s.rank == 0 else _NoEvents()
        # one /healthz per machine: the port is the VM's, and local ranks share it
        first_local = int(os.environ.get("LOCAL_RANK") or 0) == 0
        self.heartbeat = Heartbeat(s.stall_timeout_s, os.environ.get(ENV_PHASE_FILE) if first_local else None)
        serve = s.health_port and first_local
        self.health = HealthServer(self.heartbeat, s.health_port).start() if serve else None
        if s.metadata_watch is True or s.metadata_watch == "auto":
            self.watcher = MetadataWatcher(self.flag, only_if_available=s.metadata_watch == "auto").start()
        self.strategy = s.strategy if not isinstance(s.strategy, str) else make(s.strategy, **s.strategy_params)
        self.commits: queue.SimpleQueue = queue.SimpleQueue()
        self.meter = StepMeter(s.log_every_s)
        make_ckpt = self._checkpointer or CheckpointManager
        self.ckpt = make_ckpt(self.store, s.checkpoint, strategy=s.strategy_name,
                              extra_meta={"host": s.host, "boot": s.boot, "run_id": s.run_id, "rank": s.rank},
                              on_commit=self.commits.put)
        if s.distributed and _in_process_group():
            from spotshield.distributed.stop import StopAgreement

            from spotshield.distributed.nodes import gather_nodes

            self.agreement = StopAgreement(self.flag)
            # for the round's start event (status: nodes and ranks); over the checkpointer's gloo group
            self.nodes = gather_nodes(s.host, s.boot, getattr(self.ckpt, "group", None))
        self.opened = True
        return True

    def report_done(self) -> None:
        """The store holds DONE (open() returned False): say so once, release the handler."""
        print(f"spotshield: {self.store.url} holds DONE: this run is finished; nothing to do", file=sys.stderr)
        self.close()

    def started(self, *, model: str, data: str | None, epochs: int | None, total_steps: int | None,
                device: str, **fields) -> None:
        s = self.settings
        self.total_steps = total_steps
        self.events.emit("start", strategy=s.strategy_name, model=model, data=data, epochs=epochs,
                         total_steps=total_steps, device=device, pid=os.getpid(),
                         **{"client": self.client, "rank": s.rank, "world_size": s.world_size,
                            "strategy_params": s.strategy_params, "process_start_t": process_start_t(),
                            "store": self.store.url, **({"nodes": self.nodes} if self.nodes else {}), **fields})

    def restore(self, load: Callable, apply: Callable[[Any, dict], None], must_match: dict | None = None) -> None:
        """load(ckpt) -> (payload, meta, problems), as CheckpointManager.load/load_files return;
        apply(payload, meta) restores the caller's state. Emits resume; starts the strategy."""
        h = self.history
        dropped = self.ckpt.discard_partial()
        payload, meta, problems = load(self.ckpt)
        rejected = [vars(p) for p in problems]
        if meta is None:
            if problems or dropped or h["boots"]:
                # earlier boots ran but left nothing usable: everything they did is redone
                self.events.emit("resume", from_step=0, epoch=0, checkpoint=None,
                                 seconds_lost=round(h["exposure_s"], 3), steps_lost=max(0, h["last_step"]),
                                 rejected=rejected, discarded_partial=dropped, fresh=True)
            self.strategy.on_start(time.monotonic(), 0, h["preemptions"], h["exposure_s"])
            return
        saved = meta.get("must_match") or {}
        for key, want in (must_match or {}).items():
            if key in saved and saved[key] != want:
                raise SpotShieldError(f"{self.store.url} holds a checkpoint with {key}={saved[key]!r}, not {want!r}; "
                                      "use a new store for a different run")
        apply(payload, meta)
        run = meta.get("run") or {}
        self.step, self.epoch = int(meta["step"]), int(meta["epoch"])
        self.accuracy, self.best = run.get("accuracy"), run.get("best")
        self.meter.load(run.get("epoch_loss"))
        self.resumed_from = self.step
        self.strategy.on_start(time.monotonic(), self.step, h["preemptions"], h["exposure_s"])
        self.strategy.load_state_dict(meta.get("strategy_state") or {})
        last_step, last_t = h["last_step"], h["last_t"]
        steps_lost = max(0, last_step - self.step)
        seconds_lost = max(0.0, last_t - meta["wall_time"]) if steps_lost and last_t else 0.0
        self.events.emit(
            "resume", from_step=self.step, epoch=self.epoch, checkpoint=folder_for(self.step),
            seconds_lost=round(seconds_lost, 3), steps_lost=steps_lost, checkpoint_reason=meta.get("reason"),
            checkpoint_t=meta.get("wall_time"), rejected=rejected, discarded_partial=dropped,
        )

    # --- the step boundary --------------------------------------------------------------------
    def boundary(self, *, epoch_end: bool = False, metric: float | None = None) -> str | None:
        """self.step / self.epoch are already advanced. 'emergency', a save reason, or None."""
        from spotshield.trainer.strategies import Progress

        self.heartbeat.beat(self.step)
        self.drain_commits()
        if self.agreement is not None:
            return self._agreed_boundary(Progress(now=time.monotonic(), step=self.step, epoch=self.epoch,
                                                  epoch_end=epoch_end, metric=metric))
        if self.flag.is_set():
            return EMERGENCY
        return self.strategy.should_save(Progress(now=time.monotonic(), step=self.step, epoch=self.epoch,
                                                  epoch_end=epoch_end, metric=metric))

    def _agreed_boundary(self, progress) -> str | None:
        """Every rank at the same boundary: one all-reduce carries any rank's notice and rank 0's
        save decision, so all ranks stop, or save, at the same step."""
        code = -1.0
        if self.settings.rank == 0:
            reason = self.strategy.should_save(progress)
            code = -1.0 if reason is None else float(_REASONS.index(reason) if reason in _REASONS else _OTHER_REASON)
        decision = self.agreement.check(self.step, value=code)
        if decision.stop:
            self.agreed_stop = decision
            return EMERGENCY
        if decision.value < 0:
            return None
        i = int(decision.value)
        return _REASONS[i] if i < len(_REASONS) else "strategy"

    def agree_stop(self) -> bool:
        """check() between boundaries: True when any rank has a notice (collective under torchrun)."""
        if self.agreement is None:
            return self.flag.is_set()
        decision = self.agreement.check(self.step)
        if decision.stop:
            self.agreed_stop = decision
        return decision.stop

    def marker_meta(self, must_match: dict | None = None) -> dict:
        """What a checkpoint's marker carries besides its files: the run state that no format
        holds (strategy estimates, last and best accuracy, the epoch's loss so far)."""
        return {"strategy_state": self.strategy.state_dict(), "must_match": dict(must_match or {}),
                "run": {"accuracy": self.accuracy, "best": self.best, "epoch_loss": self.meter.state()},
                "client": self.client}

    def save(self, reason: str, save: SaveFn, *, block: bool = False, must_match: dict | None = None):
        """A checkpoint of this step by `save`, unless this exact step is already saved."""
        ck = self.ckpt
        if self.step in ck.committed_steps or (ck.in_flight and ck.in_flight.step == self.step):
            return None  # e.g. right after a resume, or a notice right after a save
        self.strategy.on_save(time.monotonic(), self.step)
        return save(ck, step=self.step, epoch=self.epoch, reason=reason, block=block,
                    meta=self.marker_meta(must_match))

    def drain_commits(self) -> None:
        """Checkpoint events for commits of the background persist (raises a failed one here)."""
        if self.ckpt.in_flight is None:
            self.ckpt.wait(0)
        while True:
            try:
                info = self.commits.get_nowait()
            except queue.Empty:
                return
            self.strategy.on_checkpoint(time.monotonic(), info.step, info.stall_s, info.persist_s)
            self.events.emit(
                "checkpoint", step=info.step, epoch=info.epoch, reason=info.reason,
                stall_s=round(info.stall_s, 6), persist_s=round(info.persist_s, 6), bytes=info.bytes,
                path=folder_for(info.step), wait_s=round(info.wait_s, 6),
                snapshot_t=info.snapshot_t, strategy_state=self.strategy.describe(),
            )

    # --- progress events ------------------------------------------------------------------------
    def record_step(self, loss=None, samples: int | None = None) -> None:
        """The step just done (self.step already counts it): a step event now and then."""
        due = self.meter.add(loss, samples)
        if due is not None:
            self.events.emit("step", step=self.step, epoch=self.epoch, loss=due["loss"],
                             images_per_s=due["samples_per_s"], first=due["first"], total_steps=self.total_steps)

    @staticmethod
    def _extra(metrics: dict) -> dict:
        """A caller's metrics for an event, minus names the event itself uses (HF reports 'epoch')."""
        return {k: v for k, v in metrics.items() if k not in _RESERVED}

    def _record_metric(self, accuracy: float | None) -> None:
        if accuracy is not None:
            self.accuracy = float(accuracy)
            self.best = self.accuracy if self.best is None else max(self.best, self.accuracy)

    def end_epoch(self, accuracy: float | None = None, **metrics) -> None:
        """An epoch is done (and validated, when accuracy is given): epoch_end, epoch += 1."""
        self._record_metric(accuracy)
        m = self.meter.end_epoch()
        self.events.emit("epoch_end", epoch=self.epoch + 1, step=self.step, loss=m["loss"],
                         accuracy=None if accuracy is None else round(float(accuracy), 5),
                         images_per_s=m["samples_per_s"], epoch_seconds=m["epoch_seconds"], **self._extra(metrics))
        self.epoch += 1

    def catch_up_epochs(self, epochs_done: int) -> None:
        """A framework that resumes past an epoch's end (a checkpoint from its last step or from
        inside its evaluation) closes that epoch without telling: close it here, without accuracy."""
        while self.epoch < epochs_done:
            self.end_epoch(None)

    def metrics(self, *, accuracy: float | None, **metrics) -> None:
        """A validation result between epoch ends."""
        self._record_metric(accuracy)
        self.events.emit("metrics", step=self.step, epoch=self.epoch,
                         accuracy=None if accuracy is None else round(float(accuracy), 5), **self._extra(metrics))

    # --- the notice ---------------------------------------------------------------------------------
    def emergency(self, save: SaveFn, must_match: dict | None = None):
        """The emergency checkpoint within the deadline from the notice, then raise Preempted."""
        flag, ck_cfg = self.flag, self.settings.checkpoint
        agreed = getattr(self, "agreed_stop", None) if self.agreement is not None else None
        notice_mono, ranks = flag.notice_mono, {}
        if agreed is not None:
            # the job's deadline counts from the earliest notice on any rank (maybe another node's)
            notice_mono = time.monotonic() - max(0.0, time.time() - agreed.notice_t)
            ranks = {"noticed_by": agreed.rank, "world_size": self.settings.world_size}
        source = flag.source if flag.is_set() else "peer"  # a rank that only learnt it from the agreement
        self.events.emit("preempt_notice", step=self.step, source=source,
                         notice_t=agreed.notice_t if agreed is not None else flag.notice_t, epoch=self.epoch, **ranks)
        self.strategy.on_preemption(time.monotonic())
        if ck_cfg.emergency:
            deadline = notice_mono + ck_cfg.emergency_deadline_s
            t0 = time.monotonic()
            ok, saved, error = self._emergency_save(deadline, save, must_match)
            self.events.emit("emergency_checkpoint", step=self.step, ok=ok, seconds=round(time.monotonic() - t0, 4),
                             saved=saved, deadline_s=ck_cfg.emergency_deadline_s,
                             since_notice_s=round(time.monotonic() - notice_mono, 4), error=error, **ranks)
        failed = None if ck_cfg.emergency else self._settle_in_flight(notice_mono + ck_cfg.emergency_deadline_s)
        self.events.emit("exit", step=self.step, code=EXIT_PREEMPTED, reason="preempted",
                         **({"error": failed} if failed else {}))
        # the handler stays: a second SIGTERM while the process exits must not turn 75 into a kill
        self.close(keep_handler=True)
        if self.agreement is not None:
            _exit_hard_at_exit(EXIT_PREEMPTED)
        raise Preempted()

    def _settle_in_flight(self, deadline: float) -> str | None:
        """Without an emergency save, a regular one already persisting at the notice still commits
        (its thread finishes it): wait for it within the deadline and record its checkpoint event,
        or the next boot would resume from a checkpoint that no event announced. Returns the
        error of a persist that failed (the exit event carries it), else None."""
        try:
            if self.ckpt.in_flight is not None:
                self.ckpt.wait(max(0.0, deadline - time.monotonic()))
            self.drain_commits()
        except Exception as e:  # a failed persist must not turn the preemption's exit into a crash
            return f"the checkpoint in flight at the notice failed: {e}"[:500]
        return None

    def _emergency_save(self, deadline: float, save: SaveFn, must_match) -> tuple[bool, bool, str | None]:
        """(ok, saved a new checkpoint, error). A missed deadline leaves the previous checkpoint valid."""
        try:
            # 1. an in-flight persist finishes first (it may already hold this very step)
            if not self.ckpt.wait(max(0.0, deadline - time.monotonic())):
                return False, False, "deadline passed while the previous persist was in flight"
            self.drain_commits()
            # 2. snapshot + persist this step, unless it is already committed
            if self.save(EMERGENCY, save, must_match=must_match) is None:
                return True, False, None
            if not self.ckpt.wait(max(0.0, deadline - time.monotonic())):
                return False, True, "deadline passed during the emergency persist"
            self.drain_commits()
            return True, True, None
        except StoreError as e:
            return False, False, str(e)

    # --- the end ------------------------------------------------------------------------------------
    def finish(self, save: SaveFn, final_weights: dict, must_match: dict | None = None) -> None:
        """The final checkpoint, final/model.pt (a plain state_dict of CPU tensors), DONE."""
        import io

        import torch

        self.ckpt.wait()
        self.drain_commits()
        self.save("final", save, block=True, must_match=must_match)
        self.drain_commits()
        s = self.settings
        if self.agreement is not None:
            import torch.distributed as dist

            dist.barrier()  # every rank is past its final save
            if s.rank != 0:
                dist.barrier()  # rank 0 writes final/model.pt and DONE meanwhile
                self.close()
                return
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in final_weights.items()}, buf)
        self.store.write(FINAL_KEY, buf.getvalue())
        try:
            self.store.write(DONE_KEY, json.dumps({"step": self.step, "accuracy": self.accuracy, "t": time.time(),
                                                   "host": s.host, "boot": s.boot}).encode(), create_only=True)
        except PreconditionFailedError:
            pass  # another boot finished the same run first; its weights are the same
        self.events.emit("done", step=self.step, epoch=self.epoch, accuracy=self.accuracy,
                         final_path=f"{self.store.url}/{FINAL_KEY}", best_accuracy=self.best)
        self.events.emit("exit", step=self.step, code=EXIT_OK, reason="done")
        if self.agreement is not None:
            import torch.distributed as dist

            dist.barrier()  # no rank leaves before DONE is written
        self.close()

    def fail(self, exc: BaseException) -> None:
        """An error ends the process: the exit event (best effort), then close."""
        if self.opened and not self.closed:
            code = 130 if isinstance(exc, KeyboardInterrupt) else EXIT_ERROR
            try:
                self.events.emit("exit", step=self.step, code=code, reason="error", error=str(exc)[:500])
            except Exception:
                pass  # the store may be the problem; the error itself matters more
        self.close()

    def close(self, keep_handler: bool = False) -> None:
        """Stop the watcher and /healthz, give SIGTERM back. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.watcher:
            self.watcher.stop()
        if self.health:
            self.health.stop()
        if self._in_main and not keep_handler and threading.current_thread() is threading.main_thread():
            # the handler before ours, or before catch_notice()'s: after the run SIGTERM ends the process again
            previous = _EARLY_PREVIOUS if self.flag is _EARLY and _EARLY is not None else self._previous_handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _in_process_group() -> bool:
    """torch.distributed is initialised (without importing torch when the script never did)."""
    dist = sys.modules.get("torch.distributed")
    return bool(dist is not None and dist.is_available() and dist.is_initialized())


def _exit_hard_at_exit(code: int) -> None:
    """After a stop under torchrun: exit with `code` once the script has unwound, without the
    interpreter's teardown of process groups whose peers may already be gone (which can abort:
    SIGABRT instead of 75; spotshield.distributed.stop.exit_now). Registered last, so it runs
    first of the exit hooks: it stops protected DataLoader workers itself."""
    import atexit

    def hook() -> None:
        from spotshield.distributed.stop import exit_now
        from spotshield.library.workers import shutdown_workers

        shutdown_workers()
        exit_now(code)

    atexit.register(hook)


def install_excepthook() -> None:
    """An uncaught SpotShieldError in a user's script prints one line (exit code 1), not a traceback:
    the library's stand-in for the CLI's error boundary."""
    if getattr(sys.excepthook, "_spotshield", False):
        return
    previous = sys.excepthook

    def hook(tp, value, tb):
        if isinstance(value, SpotShieldError):
            print(f"spotshield: error: {' '.join(str(value).split())}", file=sys.stderr)
        else:
            previous(tp, value, tb)

    hook._spotshield = True
    sys.excepthook = hook
