"""A training script whose data come from DataLoader worker processes (run by test_workers.py).

argv: START_METHOD PROTECT(1|0) PHASE(train|eval)
Prints READY once the phase the test should interrupt is under way (training: after a few steps;
eval: inside the validation loop, whose loader has workers of its own).
"""
import sys
import time

import torch
from torchdata.stateful_dataloader import StatefulDataLoader
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler

import spotshield
import spotshield.library.run


class Slow(torch.utils.data.Dataset):
    """Deterministic samples that take a little while, so workers are busy when the notice comes."""

    def __init__(self, n: int):
        g = torch.Generator().manual_seed(7)
        self.x, self.y = torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        time.sleep(0.004)
        return self.x[i], self.y[i]


if __name__ == "__main__":
    method, protect, phase = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
    if not protect:  # the control: what happens without the library's protection
        spotshield.library.run.protect_workers = lambda loader: loader
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = Slow(480)
    sampler = StatefulDistributedSampler(train, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = StatefulDataLoader(train, batch_size=16, sampler=sampler, num_workers=2, multiprocessing_context=method,
                                persistent_workers=method != "fork", generator=torch.Generator().manual_seed(0))
    val = StatefulDataLoader(Slow(160), batch_size=16, num_workers=2, multiprocessing_context=method,
                             persistent_workers=method != "fork")
    if protect:
        spotshield.protect_workers(val)
    model = torch.nn.Linear(8, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with spotshield.Run({"model": model, "optimizer": opt}, loader=loader, epochs=3, batch_size=16,
                        strategy="naive", strategy_params={"every_steps": 10}) as run:
        for epoch in run.epochs():
            sampler.set_epoch(epoch)
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                run.end_step(loss=loss)
                if phase == "train" and run.step == 5:
                    print("READY", flush=True)
            correct = 0
            for i, (x, y) in enumerate(val):
                if phase == "eval" and epoch == 1 and i == 2:
                    print("READY", flush=True)
                run.check()
                correct += (model(x).argmax(1) == y).sum().item()
            run.end_epoch(accuracy=correct / 160)
