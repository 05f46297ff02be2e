"""Rank processes for the checkpointer and stop tests: `python ranks.py SCENARIO[,SCENARIO...] RANK WORLD ROOT STORE`.

Each rank joins one gloo group (file:// rendezvous under ROOT), runs the scenarios in order,
each in its own store STORE/<scenario> and folder ROOT/<scenario>, and writes what it observed
to ROOT/out/<scenario>-rank-<R>.json; the tests assert on those files. Several scenarios share
one launch because starting torch twice per rank costs seconds. They use the real
DistributedCheckpointer, a real Store (file:// or gs:// on fake-gcs-server) and DCP.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from spotshield import layout
from spotshield.distributed.checkpointer import DistributedCheckpointer
from spotshield.distributed.sampler import ElasticSampler
from spotshield.distributed.stateful import ModelOptimizer, RankLocal, RankRNG
from spotshield.distributed.stop import StopAgreement, emergency_checkpoint, exit_now
from spotshield.errors import StoreError
from spotshield.storage import open_store
from spotshield.trainer.config import CheckpointConfig
from spotshield.trainer.preemption import PreemptionFlag

N, BATCH, SEED = 48, 8, 3


class SlowStore:
    """A Store whose uploads on this rank take `delay` seconds longer, or fail at `fail_step`."""

    def __init__(self, inner, delay: float = 0.0, fail_step: int | None = None):
        self.inner, self.delay, self.fail_step = inner, delay, fail_step
        self.url = inner.url

    def upload(self, key, path, *, create_only=False):
        if self.fail_step is not None and key.startswith(layout.folder_for(self.fail_step) + "/"):
            raise StoreError(f"injected upload failure for {key}")
        time.sleep(self.delay)
        self.inner.upload(key, path, create_only=create_only)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def job(world: int, rank: int):
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 4))
    model = DDP(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sampler = ElasticSampler(N, BATCH, SEED, epochs=3)
    torch.manual_seed(SEED * 100 + rank)
    state = {"train": ModelOptimizer(model, opt), "sampler": sampler, "rng": RankLocal(RankRNG(SEED))}
    return net, model, opt, sampler, state


def data():
    g = torch.Generator().manual_seed(7)
    return torch.randn(N, 8, generator=g), torch.randint(0, 4, (N,), generator=g)


def train(model, opt, sampler, steps: int, rank: int, world: int):
    x, y = data()
    for _ in range(steps):
        b = sampler.next_batch(rank, world)
        loss = torch.nn.functional.cross_entropy(model(x[b.indices]), y[b.indices], reduction="sum") * b.scale
        opt.zero_grad()
        loss.backward()
        opt.step()
        sampler.advance()


def start(rank, world, root, store_url, *, rank1_store=None, config=None, steps=2):
    """A job trained `steps` steps, with its checkpointer; rank 1's store wrapped by rank1_store(store)."""
    store = open_store(store_url)
    if rank == 1 and rank1_store is not None:
        store = rank1_store(store)
    net, model, opt, sampler, state = job(world, rank)
    ckpt = DistributedCheckpointer(store, config, staging_dir=root / "staging")
    train(model, opt, sampler, steps, rank, world)
    return store, net, model, opt, sampler, state, ckpt


def weights(net) -> list[list[float]]:
    return [p.detach().flatten().tolist() for p in net.state_dict().values()]


# --- scenarios --------------------------------------------------------------------------------------
def roundtrip(rank, world, root, store_url):
    """Train, save, train on; a fresh job loads the save and must reach the very same weights."""
    store = open_store(store_url)
    net, model, opt, sampler, state = job(world, rank)
    ckpt = DistributedCheckpointer(store, staging_dir=root / "staging")
    train(model, opt, sampler, 3, rank, world)
    info = ckpt.save(state, step=sampler.step, epoch=sampler.epoch, reason="test", block=True)
    train(model, opt, sampler, 4, rank, world)
    expected = weights(net)
    ckpt.close()
    net2, model2, opt2, sampler2, state2 = job(world, rank)
    ckpt2 = DistributedCheckpointer(store, staging_dir=root / "staging2")
    meta, problems = ckpt2.load(state2)
    resumed_at = sampler2.step
    train(model2, opt2, sampler2, 4, rank, world)
    ckpt2.close()
    return {"committed": info.committed, "bytes": info.bytes, "stall_s": info.stall_s, "meta": meta,
            "problems": [p.problem for p in problems], "resumed_at": resumed_at,
            "identical": weights(net2) == expected, "staging_left": sorted(os.listdir(root / "staging" / f"rank-{rank}"))}


def slow_rank(rank, world, root, store_url):
    """Rank 1's uploads are slow: rank 0 must not write the marker before they are durable."""
    store, net, model, opt, sampler, state, ckpt = start(rank, world, root, store_url,
                                                         rank1_store=lambda s: SlowStore(s, delay=1.5))
    t0 = time.time()
    info = ckpt.save(state, step=2, epoch=0, reason="test", block=True)
    ckpt.close()
    return {"committed": info.committed, "save_s": time.time() - t0, "stall_s": info.stall_s}


def failing_rank(rank, world, root, store_url):
    """Rank 1 cannot upload step 4: no marker, every rank raises, step 2 stays the newest."""
    store, net, model, opt, sampler, state, ckpt = start(rank, world, root, store_url,
                                                         rank1_store=lambda s: SlowStore(s, fail_step=4))
    ckpt.save(state, step=2, epoch=0, reason="test", block=True)
    train(model, opt, sampler, 2, rank, world)
    error = None
    try:
        ckpt.save(state, step=4, epoch=0, reason="test", block=True)
    except StoreError as e:
        error = str(e)
    dist.barrier()
    newest = layout.newest_committed(open_store(store_url))
    dropped = ckpt.discard_partial()
    net2, model2, opt2, sampler2, state2 = job(world, rank)
    meta, _ = ckpt.load(state2)
    ckpt.close()
    return {"error": error, "newest": newest[0] if newest else None, "loaded": meta["step"], "dropped": dropped,
            "sampler_step": sampler2.step}


def corrupt_newest(rank, world, root, store_url):
    """Step 4's shard of rank 1 rots in the bucket: load quarantines step 4 and resumes step 2."""
    store, net, model, opt, sampler, state, ckpt = start(rank, world, root, store_url)
    ckpt.save(state, step=2, epoch=0, reason="test", block=True)
    at_two = weights(net)
    train(model, opt, sampler, 2, rank, world)
    ckpt.save(state, step=4, epoch=0, reason="test", block=True)
    dist.barrier()
    if rank == 0:
        key = f"{layout.folder_for(4)}/__1_0.distcp"
        blob = bytearray(store.read(key))
        blob[len(blob) // 2] ^= 0xFF
        store.write(key, bytes(blob))
    dist.barrier()
    net2, model2, opt2, sampler2, state2 = job(world, rank)
    meta, problems = ckpt.load(state2)
    ckpt.close()
    folders = layout.list_checkpoints(store)
    return {"loaded": meta["step"], "problems": [p.problem for p in problems], "identical": weights(net2) == at_two,
            "folders": sorted(folders), "quarantined": sorted({k.split("/")[1] for k in store.list(layout.QUARANTINE_PREFIX)})}


def keep_k(rank, world, root, store_url):
    store = open_store(store_url)
    net, model, opt, sampler, state = job(world, rank)
    ckpt = DistributedCheckpointer(store, CheckpointConfig(keep=2), staging_dir=root / "staging")
    for step in (1, 2, 3, 4):
        train(model, opt, sampler, 1, rank, world)
        ckpt.save(state, step=step, epoch=0, reason="test")  # not blocking: the next save waits
    ckpt.close()
    dist.barrier()
    return {"folders": sorted(layout.list_checkpoints(store)), "committed": sorted(ckpt.committed_steps)}


def save_for_reshard(rank, world, root, store_url):
    """World 2 saves a DDP job at step 5 plus a tensor sharded across the ranks (a DTensor)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    store = open_store(store_url)
    net, model, opt, sampler, state = job(world, rank)
    train(model, opt, sampler, 5, rank, world)
    mesh = init_device_mesh("cpu", (world,))
    full = torch.arange(24, dtype=torch.float32).view(6, 4)
    state["sharded"] = {"table": distribute_tensor(full, mesh, [Shard(0)])}
    ckpt = DistributedCheckpointer(store, staging_dir=root / "staging")
    ckpt.save(state, step=sampler.step, epoch=sampler.epoch, reason="test", block=True)
    ckpt.close()
    return {"weights": weights(net), "step": sampler.step, "consumed": sampler.consumed,
            "local_rows": state["sharded"]["table"].to_local().shape[0]}


def load_resharded(rank, world, root, store_url):
    """World 1 loads the world-2 save: weights, sampler and the sharded tensor; RNG is reseeded."""
    store = open_store(store_url.rsplit("/", 1)[0] + "/save_for_reshard")
    net, model, opt, sampler, state = job(world, rank)
    state["sharded"] = {"table": torch.zeros(6, 4)}
    ckpt = DistributedCheckpointer(store, staging_dir=root / "staging")
    before = torch.get_rng_state()
    meta, problems = ckpt.load(state)
    ckpt.close()
    return {"weights": weights(net), "step": sampler.step, "consumed": sampler.consumed, "meta_world": meta["world_size"],
            "table": state["sharded"]["table"].tolist(), "rng_reseeded": not torch.equal(before, torch.get_rng_state()),
            "problems": [p.problem for p in problems]}


def stop_agreement(rank, world, root, store_url):
    """Rank 1 gets a notice before step 3: every rank must stop at step 3, told the same notice time."""
    flag = PreemptionFlag()
    stop = StopAgreement(flag)
    decisions = []
    for step in range(6):
        if rank == 1 and step == 3:
            flag.set("test")
        d = stop.check(step)
        decisions.append(d.stop)
        if d.stop:
            return {"stopped_at": step, "notice_t": d.notice_t, "by": d.rank, "own_notice": flag.notice_t,
                    "decisions": decisions}
    return {"stopped_at": None, "decisions": decisions}


def missed_deadline(rank, world, root, store_url):
    """The emergency persist is slower than the deadline: ok=False, and step 2 stays the valid one."""
    store, net, model, opt, sampler, state, ckpt = start(rank, world, root, store_url,
                                                         config=CheckpointConfig(persist_pace_s=3.0))
    ckpt.save(state, step=2, epoch=0, reason="test", block=True)
    train(model, opt, sampler, 2, rank, world)
    out = emergency_checkpoint(ckpt, state, step=4, epoch=0, notice_t=time.time(), deadline_s=1.0)
    result = {"ok": out.ok, "saved": out.saved, "error": out.error, "seconds": out.seconds}
    (root.parent / "out" / f"missed_deadline-rank-{rank}.json").write_text(json.dumps(result))
    exit_now(75)  # as a preempted worker does: the late persist dies with the process


SCENARIOS = {f.__name__: f for f in (roundtrip, slow_rank, failing_rank, corrupt_newest, keep_k, save_for_reshard,
                                     load_resharded, stop_agreement, missed_deadline)}


def main() -> int:
    names, rank, world, root, store_url = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
    torch.set_num_threads(1)
    (root / "out").mkdir(parents=True, exist_ok=True)
    # a fresh rendezvous file per launch (dist_helpers names it): a stale one would mix launches
    dist.init_process_group("gloo", init_method=f"file://{os.environ['RANKS_PG_FILE']}", rank=rank, world_size=world)
    for name in names:
        folder = root / name
        folder.mkdir(exist_ok=True)
        (folder / "out").mkdir(exist_ok=True)
        result = SCENARIOS[name](rank, world, folder, f"{store_url.rstrip('/')}/{name}")
        (root / "out" / f"{name}-rank-{rank}.json").write_text(json.dumps(result))
        dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
