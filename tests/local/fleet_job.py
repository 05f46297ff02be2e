"""A user's DDP script for a job of several emulated VMs under torchrun (tests/local/test_fleet_job.py):
shipped with `up --command 'python train.py PACE' --workdir`, started by each VM's startup.sh through
torchrun. The store, run id, host and boot come from the environment startup.sh exports. gloo on CPU;
each rank's own dropout stream; the sampler splits each epoch between the ranks.
    train.py [PACE_S]
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

EPOCHS, SAMPLES, BATCH = 3, 384, 16  # 12 steps per epoch at world size 2
pace = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
g = torch.Generator().manual_seed(1)
data = torch.utils.data.TensorDataset(torch.randn(SAMPLES, 6, generator=g), torch.randint(0, 4, (SAMPLES,), generator=g))
sampler = StatefulDistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
loader = StatefulDataLoader(data, batch_size=BATCH, sampler=sampler, generator=torch.Generator().manual_seed(0))
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 4))
model = DDP(net)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
torch.manual_seed(100 + rank)  # each rank its own dropout stream
with spotshield.Run({"model": model, "optimizer": opt}, loader=loader, epochs=EPOCHS, batch_size=BATCH,
                    strategy="naive", strategy_params={"every_steps": 6}, log_every_s=0.2) as run:
    for epoch in run.epochs():
        sampler.set_epoch(epoch)
        for x, y in loader:
            t0 = time.monotonic()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if pace:
                flag.wait(max(0.0, pace - (time.monotonic() - t0)))
            run.end_step(loss=loss)
        run.end_epoch(accuracy=0.5)
dist.destroy_process_group()
