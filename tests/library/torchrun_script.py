"""A user's DDP script protected by spotshield.Run, for `python -m torch.distributed.run --nproc-per-node 2`
(tests/library/test_run_under_torchrun.py). gloo on CPU; dropout draws each rank's own RNG stream; the
sampler splits each epoch between the ranks; Adam, a scheduler and a counter are saved too.
    torchrun_script.py STORE [PACE_S]
"""
import sys
import time

import spotshield

flag = spotshield.catch_notice()  # before torch: a notice during start-up is kept

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler  # noqa: E402

EPOCHS = 3
store, pace = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
g = torch.Generator().manual_seed(1)
data = torch.utils.data.TensorDataset(torch.randn(192, 6, generator=g), torch.randint(0, 4, (192,), generator=g))
sampler = StatefulDistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
# generator=: a new iterator draws a seed from it, not from the global RNG (docs/own-code.md)
loader = StatefulDataLoader(data, batch_size=16, sampler=sampler, generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 4))
model = DDP(net)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
sched = torch.optim.lr_scheduler.StepLR(opt, 5, 0.5)
torch.manual_seed(100 + rank)  # each rank its own dropout stream
counters = {"seen": 0}
with spotshield.Run({"model": model, "optimizer": opt, "scheduler": sched, "counters": counters}, loader=loader,
                    store=store, epochs=EPOCHS, batch_size=16, strategy="naive", strategy_params={"every_steps": 4},
                    metadata_watch=False, log_every_s=0.05) as run:
    for epoch in run.epochs():
        sampler.set_epoch(epoch)
        for x, y in loader:
            t0 = time.monotonic()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            counters["seen"] += len(y)
            if pace:
                flag.wait(max(0.0, pace - (time.monotonic() - t0)))
            run.end_step(loss=loss)
        torch.rand(3)  # evaluation draws the global RNG
        run.check()
        run.end_epoch(accuracy=0.5 + epoch / 10)
if rank == 0:
    print("seen", counters["seen"], flush=True)
dist.destroy_process_group()
