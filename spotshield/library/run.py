"""spotshield.Run: protect any PyTorch training loop (docs/own-code.md).

    with spotshield.Run({"model": model, "optimizer": opt, "scheduler": sched}, loader=loader,
                        epochs=5, batch_size=64) as run:
        for epoch in run.epochs():
            for x, y in loader:
                ...one optimizer step...
                run.end_step(loss=loss)
            run.end_epoch(accuracy=evaluate(model, run.check))

Entering resumes from the newest verified checkpoint (objects, data position, RNGs, step and
epoch); end_step() is the step boundary where the strategy saves and a preemption notice
becomes the emergency checkpoint and Preempted (exit code 75); leaving the block normally
writes the final checkpoint, final/model.pt and DONE. The objects' state_dict() and
load_state_dict() are called by the library, never by the user.
"""
from __future__ import annotations

import os
from typing import Any, Iterator, Mapping

from spotshield.errors import SpotShieldError
from spotshield.library.session import EMERGENCY, Finished, Preempted, Session, install_excepthook
from spotshield.library.settings import resolve
from spotshield.library.state import StatefulState, check_loader, check_objects
from spotshield.library.workers import protect_workers


def _positive_int(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpotShieldError(f"{name} must be a whole number > 0, not {value!r}")
    return value


class Run:
    """One training process of a protected run. See the module docstring and docs/own-code.md."""

    def __init__(self, state: Mapping[str, Any], *, loader: Any = None, store: str | None = None,
                 run_id: str | None = None, strategy: Any = None, strategy_params: dict | None = None,
                 checkpoint: Any = None, epochs: int | None = None, total_steps: int | None = None,
                 batch_size: int | None = None, must_match: dict | None = None, info: dict | None = None,
                 final: str = "model", health_port: int | None = None, metadata_watch: Any = "auto",
                 log_every_s: float = 5.0, stall_timeout_s: float = 300.0, flag=None, checkpointer=None):
        install_excepthook()
        self._objects = check_objects(state)
        self._loader = check_loader(loader)
        if final not in self._objects:
            raise SpotShieldError(f"final={final!r} names no entry of the state ({', '.join(self._objects)}); "
                                  "name the model whose weights final/model.pt should hold")
        self._final = final
        self.total_epochs = _positive_int("epochs", epochs)
        self.batch_size = _positive_int("batch_size", batch_size)
        if total_steps is None and self.total_epochs and loader is not None and hasattr(loader, "__len__"):
            total_steps = self.total_epochs * len(loader)
        self.total_steps = _positive_int("total_steps", total_steps)
        self._must_match = dict(must_match or {})
        self._info = dict(info or {})
        settings = resolve(store=store, run_id=run_id, health_port=health_port, strategy=strategy,
                           strategy_params=strategy_params, checkpoint=checkpoint, metadata_watch=metadata_watch,
                           log_every_s=log_every_s, stall_timeout_s=stall_timeout_s)
        self._state = StatefulState(self._objects, self._loader)
        self._dcp = None  # the DCP state dict of a multi-process run
        if settings.distributed and checkpointer is None:
            checkpointer = self._join_job(settings)
        self._session = Session(settings, flag=flag, client=self._info.pop("client", "library"),
                                checkpointer=checkpointer)
        self._started = False
        self._finished = False

    # --- read-only views ----------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Optimizer steps done (restored on resume)."""
        return self._session.step

    @property
    def epoch(self) -> int:
        """Epochs completed (restored on resume)."""
        return self._session.epoch

    @property
    def resumed_from(self) -> int | None:
        """The step this process resumed from; None for a fresh start."""
        return self._session.resumed_from

    @property
    def store_url(self) -> str:
        return self._session.settings.store

    @property
    def run_id(self) -> str:
        return self._session.settings.run_id

    @property
    def notice(self) -> bool:
        """True once a preemption notice arrived (the next end_step() or check() acts on it)."""
        return self._session.flag.is_set()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "Run":
        """Open the store and resume from its newest verified checkpoint. Raises Finished (exit 0)
        when the store already holds DONE. Idempotent."""
        if self._started:
            return self
        self._started = True
        s = self._session
        try:
            if not s.open():
                s.report_done()
                raise Finished()
            if hasattr(self._loader, "_get_iterator"):
                protect_workers(self._loader)  # before its first iterator starts workers
            s.started(**self._start_fields())
            if self._dcp is not None:  # DCP loads in place, into the objects (library/dcp.py)
                s.restore(lambda ck: (None, *ck.load(self._dcp)), lambda tree, meta: None, self._must_match)
            else:
                s.restore(lambda ck: ck.load(map_location="cpu"),
                          lambda tree, meta: self._state.apply(tree, meta["step"]), self._must_match)
            if s.resumed_from is None:
                self._state.boundary(epoch_start=True)
            self.check()  # a notice during start-up
        except BaseException as e:
            if not isinstance(e, (Preempted, Finished)):
                s.fail(e)
            raise
        return self

    def finish(self) -> None:
        """The final checkpoint, final/model.pt (the state_dict of `final`) and DONE."""
        self._require_started()
        if self._finished:
            return
        self._finished = True
        model = self._objects[self._final]
        if self._dcp is not None and hasattr(model, "parameters"):
            from spotshield.library.dcp import final_weights

            weights = final_weights(model)  # without DDP's "module." prefix
        else:
            weights = model.state_dict()
        self._session.finish(self._save_fn, weights, self._must_match)

    def __enter__(self) -> "Run":
        return self.start()

    def __exit__(self, tp, exc, tb) -> bool:
        if exc is None:
            self.finish()
        elif not isinstance(exc, (Preempted, Finished)):
            self._session.fail(exc)
        return False

    # --- the loop -------------------------------------------------------------------------------------
    def end_step(self, loss: Any = None, samples: int | None = None) -> None:
        """Call after each optimizer step: a step event now and then, a checkpoint when the
        strategy says so, and on a preemption notice the emergency checkpoint and Preempted.
        `loss` may be a tensor (read only when an event is written); `samples` defaults to batch_size."""
        self._require_started()
        s = self._session
        s.step += 1
        self._state.boundary()
        s.record_step(loss, samples if samples is not None else self.batch_size)
        self._act(s.boundary())

    def end_epoch(self, accuracy: float | None = None, **metrics) -> None:
        """Call after an epoch (and its validation): the epoch_end event with the mean training
        loss and `accuracy` (the status view and the milestone strategy read it), epoch += 1."""
        self._require_started()
        s = self._session
        s.end_epoch(accuracy, **_plain(metrics))
        self._state.boundary(epoch_start=True)
        self._act(s.boundary(epoch_end=True, metric=accuracy))

    def metrics(self, accuracy: float | None = None, **metrics) -> None:
        """A validation result between epoch ends (the `metrics` event; the milestone strategy sees it)."""
        self._require_started()
        self._session.metrics(accuracy=accuracy, **_plain(metrics))
        self._act(self._session.boundary(metric=accuracy))

    def check(self) -> None:
        """Cheap: call inside evaluation, warm-up or a long step. On a pending notice it takes the
        emergency checkpoint of the last step boundary and raises Preempted (exit code 75).
        Exact only where the saved objects are as they were at the last end_step()."""
        self._require_started()
        s = self._session
        s.heartbeat.beat(s.step, "busy")
        if s.agree_stop():  # under torchrun a collective: every rank calls check() at the same points
            self._emergency()

    def epochs(self) -> Iterator[int]:
        """The epochs still to run (from the resumed one to Run(epochs=N) - 1). An epoch whose
        body did not call end_epoch() is closed when the next one is asked for."""
        if self.total_epochs is None:
            raise SpotShieldError("run.epochs() needs Run(..., epochs=N)")
        while self.epoch < self.total_epochs:
            e = self.epoch
            yield e
            if self.epoch == e:
                self.end_epoch()

    # --- internals ------------------------------------------------------------------------------------
    def _join_job(self, settings):
        """Under torchrun (WORLD_SIZE > 1): the process group (created here unless the script
        did), rank 0's boot id for every rank of the node, and the DistributedCheckpointer."""
        import torch
        import torch.distributed as dist

        from spotshield.distributed.checkpointer import DistributedCheckpointer
        from spotshield.library.dcp import dcp_state
        from spotshield.library.settings import ENV_BOOT

        if not dist.is_initialized():
            if not os.environ.get("MASTER_ADDR"):
                raise SpotShieldError(
                    f"WORLD_SIZE={settings.world_size} without a torchrun rendezvous (MASTER_ADDR is unset): launch the "
                    "script with torchrun, or call torch.distributed.init_process_group() before spotshield.Run")
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if settings.world_size > 1 and dist.get_world_size() != settings.world_size:
            raise SpotShieldError(f"WORLD_SIZE={settings.world_size} but the process group has "
                                  f"{dist.get_world_size()} ranks")
        settings.rank, settings.world_size = dist.get_rank(), dist.get_world_size()
        if not os.environ.get(ENV_BOOT):
            # one boot per launch (boots.py counts preemptions per boot): rank 0's id for every rank
            box = [settings.boot]
            dist.broadcast_object_list(box, src=0)
            settings.boot = box[0]
        self._dcp = dcp_state(self._state, settings.run_id)
        return DistributedCheckpointer

    def _require_started(self) -> None:
        if not self._started:
            raise SpotShieldError("call run.start() (or use `with spotshield.Run(...) as run:`) before the training loop")

    def _start_fields(self) -> dict:
        model = self._objects[self._final]
        device = "cpu"
        params = getattr(model, "parameters", None)
        if callable(params):
            first = next(iter(params()), None)
            device = str(first.device) if first is not None else "cpu"
        dataset = getattr(self._loader, "dataset", None)
        return {"model": type(model).__name__, "data": type(dataset).__name__ if dataset is not None else None,
                "epochs": self.total_epochs, "total_steps": self.total_steps, "device": device,
                "batch_size": self.batch_size, "objects": sorted(self._objects),
                "loader": type(self._loader).__name__ if self._loader is not None else None, **self._info}

    def _save_fn(self, ck, *, step, epoch, reason, block, meta):
        tree = self._dcp if self._dcp is not None else self._state.tree()
        return ck.save(tree, step=step, epoch=epoch, reason=reason, block=block, meta=meta)

    def _act(self, decision: str | None) -> None:
        if decision == EMERGENCY:
            self._emergency()
        elif decision:
            self._session.save(decision, self._save_fn, must_match=self._must_match)

    def _emergency(self) -> None:
        self._session.emergency(self._save_fn, self._must_match)


def _plain(metrics: dict) -> dict:
    """Metric values for an event: numbers (tensors read once), strings, None."""
    out = {}
    for k, v in metrics.items():
        if hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out
