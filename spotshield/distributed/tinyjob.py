"""A tiny elastic data-parallel job that runs the whole engine: the reference loop for the trainer.

    torchrun --nnodes=1:2 --nproc-per-node=1 --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT \\
        --rdzv-conf=is_host=false --max-restarts=3 -m spotshield.distributed.tinyjob --store URL

An MLP with dropout, DDP over gloo on CPU, synthetic data. Per step boundary:
  1. the stop agreement (one all-reduce): any rank's notice -> one emergency checkpoint -> exit 75
  2. one optimizer step on this rank's part of the global batch (ElasticSampler)
  3. every --ckpt-every steps an asynchronous distributed checkpoint
At the end rank 0 writes final/model.pt and DONE. With --trace DIR each rank appends what it did
to DIR/rank-<R>.jsonl (one line per event; 'step' lines list the sample indices) so that tests
can check every sample of every epoch is trained exactly once.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

from spotshield.events import EXIT_OK, EXIT_PREEMPTED
from spotshield.trainer.preemption import PreemptionFlag, install_sigterm


def _args(argv):
    ap = argparse.ArgumentParser(prog="python -m spotshield.distributed.tinyjob")
    ap.add_argument("--store", required=True, help="run store URL: file:///path or gs://bucket/prefix")
    ap.add_argument("--samples", type=int, default=96)
    ap.add_argument("--global-batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pace", type=float, default=0.0, help="minimum seconds per step (wakes at once on a notice)")
    ap.add_argument("--ckpt-every", type=int, default=5, help="steps between periodic checkpoints")
    ap.add_argument("--keep", type=int, default=3, help="newest committed checkpoints kept")
    ap.add_argument("--deadline", type=float, default=25.0, help="seconds from the notice for the emergency checkpoint")
    ap.add_argument("--staging", default=None, help="local folder for shards before upload")
    ap.add_argument("--trace", type=Path, default=None, help="folder for per-rank JSONL traces")
    ap.add_argument("--hidden", type=int, default=32)
    return ap.parse_args(argv)


class _Trace:
    def __init__(self, folder: Path | None, rank: int):
        self.path = folder / f"rank-{rank}.jsonl" if folder else None
        if self.path:
            folder.mkdir(parents=True, exist_ok=True)
        self.base = {"rank": rank, "pid": os.getpid(), "restart": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))}

    def __call__(self, event: str, **fields) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps({"event": event, "t": time.time(), **self.base, **fields}) + "\n")


def main(argv: list[str] | None = None) -> int:
    flag = PreemptionFlag()
    install_sigterm(flag)  # before torch is imported: a notice during start-up is not lost
    args = _args(argv)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from spotshield.distributed.checkpointer import DistributedCheckpointer
    from spotshield.distributed.sampler import ElasticSampler
    from spotshield.distributed.stateful import ModelOptimizer, RankLocal, RankRNG
    from spotshield.distributed.stop import StopAgreement, emergency_checkpoint, exit_now
    from spotshield.layout import DONE_KEY, FINAL_KEY
    from spotshield.storage import open_store
    from spotshield.trainer.config import CheckpointConfig

    torch.set_num_threads(1)
    t_import = time.time()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    trace = _Trace(args.trace, rank)
    trace("init", world=world, imported_t=t_import)  # torch imported at imported_t; the group formed now
    store = open_store(args.store)
    if store.exists(DONE_KEY):
        trace("exit", code=EXIT_OK, reason="done before")
        return EXIT_OK
    g = torch.Generator().manual_seed(1234)  # the data is fixed; the run seed drives order and init
    x = torch.randn(args.samples, 8, generator=g)
    y = torch.randint(0, 4, (args.samples,), generator=g)
    torch.manual_seed(args.seed)
    net = torch.nn.Sequential(torch.nn.Linear(8, args.hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(args.hidden, 4))
    model = DDP(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sampler = ElasticSampler(args.samples, args.global_batch, args.seed, args.epochs)
    torch.manual_seed(args.seed * 1000 + rank)  # each rank its own dropout stream
    state = {"train": ModelOptimizer(model, opt), "sampler": sampler, "rng": RankLocal(RankRNG(args.seed))}
    ckpt = DistributedCheckpointer(store, CheckpointConfig(keep=args.keep), staging_dir=args.staging)
    dropped = ckpt.discard_partial()
    meta, problems = ckpt.load(state)
    from spotshield.library.settings import process_start_t

    trace("resume", world=world, step=sampler.step, epoch=sampler.epoch, consumed=sampler.consumed,
          process_start_t=process_start_t(),
          checkpoint_world=meta and meta.get("world_size"), discarded=dropped,
          rejected=[p.problem for p in problems])
    stop = StopAgreement(flag)
    while not sampler.done:
        decision = stop.check(sampler.step)
        if decision.stop:
            out = emergency_checkpoint(ckpt, state, step=sampler.step, epoch=sampler.epoch,
                                       notice_t=decision.notice_t, deadline_s=args.deadline)
            trace("emergency", step=sampler.step, ok=out.ok, saved=out.saved, seconds=round(out.seconds, 4),
                  error=out.error, noticed_by=decision.rank, source=flag.source,
                  since_notice_s=time.time() - decision.notice_t)
            trace("exit", code=EXIT_PREEMPTED, step=sampler.step)
            exit_now(EXIT_PREEMPTED)
        t0 = time.monotonic()
        batch = sampler.next_batch(rank, world)
        model.train()
        loss = torch.nn.functional.cross_entropy(model(x[batch.indices]), y[batch.indices], reduction="sum") * batch.scale
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        epoch = sampler.epoch
        sampler.advance()
        trace("step", step=sampler.step, epoch=epoch, world=world, indices=batch.indices.tolist())
        if args.pace:
            flag.wait(max(0.0, args.pace - (time.monotonic() - t0)))
        if sampler.step % args.ckpt_every == 0 and not sampler.done:
            ckpt.save(state, step=sampler.step, epoch=sampler.epoch, reason="interval")
        elif ckpt.in_flight is None:
            ckpt.wait(0)  # a failed persist is raised here, in the training thread
    ckpt.wait()
    if sampler.step not in ckpt.committed_steps:
        ckpt.save(state, step=sampler.step, epoch=sampler.epoch, reason="final", block=True)
    ckpt.close()
    if rank == 0:
        buf = io.BytesIO()
        torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, buf)
        store.write(FINAL_KEY, buf.getvalue())
        store.write(DONE_KEY, json.dumps({"step": sampler.step, "t": time.time(), "world": world}).encode())
    dist.barrier()
    trace("exit", code=EXIT_OK, step=sampler.step)
    dist.destroy_process_group()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
