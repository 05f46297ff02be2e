"""One rank of the distributed save benchmark: `python -m bench.distributed_child RANK WORLD ROOT SIZE REPEATS CHECKS`.

Every rank holds the same data-parallel state (bench.state, seeded alike, as DDP replicas are)
and saves it with DistributedCheckpointer into one FileStore, waiting for each commit so that
each measured stall is the staging copy alone (as bench.stall does for CheckpointManager).
Then it times CHECKS calls of the stop agreement (one all-reduce each). Rank R writes
ROOT/rank-R.json.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    rank, world, root, size, repeats, checks = (int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4],
                                                int(sys.argv[5]), int(sys.argv[6]))
    import torch
    import torch.distributed as dist

    from bench import state as bstate
    from spotshield.distributed.checkpointer import DistributedCheckpointer
    from spotshield.distributed.stateful import ModelOptimizer
    from spotshield.distributed.stop import StopAgreement
    from spotshield.storage import FileStore
    from spotshield.trainer.preemption import PreemptionFlag

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/pg", rank=rank, world_size=world)
    torch.manual_seed(0)
    model, opt = bstate.build(size, "cpu")
    state = {"train": ModelOptimizer(model, opt)}
    ckpt = DistributedCheckpointer(FileStore(root / "store"), staging_dir=root / "staging")
    stalls, persists, first = [], [], None
    for i in range(repeats + 1):
        dist.barrier()  # every rank starts the save together, as at a real step boundary
        info = ckpt.save(state, step=i + 1, epoch=0, reason="bench", block=True)
        if i == 0:
            first = info.stall_s  # allocates the cached staging buffers
            continue
        stalls.append(info.stall_s)
        persists.append(info.persist_s)
    ckpt.close()
    stop = StopAgreement(PreemptionFlag())
    times = []
    for step in range(checks + 10):
        t0 = time.perf_counter()
        stop.check(step)
        if step >= 10:  # the first calls warm the connection up
            times.append(time.perf_counter() - t0)
    out = {"stalls_s": stalls, "persists_s": persists, "first_stall_s": first, "bytes": info.bytes,
           "check_us": statistics.median(times) * 1e6, "check_p90_us": sorted(times)[int(0.9 * len(times))] * 1e6}
    (root / f"rank-{rank}.json").write_text(json.dumps(out))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
