"""A plain PyTorch loop protected by SpotShield: an MLP on scikit-learn's digits (no download).

    python train.py                         # checkpoints in ./spotshield-run
    SPOTSHIELD_STORE=gs://bucket/runs/r1 python train.py
On a preemption notice (SIGTERM, or GCE's metadata server) it saves an emergency checkpoint
and exits 75; run it again and it resumes exactly where it stopped. Done: exit 0, DONE in the store.
"""
import spotshield

spotshield.catch_notice()  # first: a notice while torch loads is kept

import argparse  # noqa: E402

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler  # noqa: E402


p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--strategy", default="adaptive", choices=["adaptive", "naive", "milestone", "none"])
p.add_argument("--save-every", type=int, default=50, help="steps between saves (naive)")
args = p.parse_args()

torch.manual_seed(args.seed)
torch.set_num_threads(1)  # a resumed run is bit-identical only with the same thread count
digits = load_digits()
order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(0))  # a fixed split
x, y = torch.tensor(digits.data, dtype=torch.float32)[order] / 16.0, torch.tensor(digits.target)[order]
train_set = torch.utils.data.TensorDataset(x[:1440], y[:1440])
x_val, y_val = x[1440:], y[1440:]
# Exact resume: a StatefulDataLoader restores its position in the epoch; the sampler draws each
# epoch's order from (seed, epoch); the loader's own generator keeps the global RNG (dropout) untouched.
sampler = StatefulDistributedSampler(train_set, num_replicas=1, rank=0, shuffle=True, seed=args.seed)
loader = StatefulDataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True,
                            generator=torch.Generator().manual_seed(args.seed))
model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                            torch.nn.Linear(128, 10))
opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * len(loader))


def evaluate(check) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y_val), 64):
            check()  # a notice during evaluation still ends in an emergency checkpoint
            correct += (model(x_val[i:i + 64]).argmax(1) == y_val[i:i + 64]).sum().item()
    model.train()
    return correct / len(y_val)


with spotshield.Run({"model": model, "optimizer": opt, "scheduler": sched}, loader=loader,
                    epochs=args.epochs, batch_size=args.batch_size, strategy=args.strategy,
                    strategy_params={"every_steps": args.save_every} if args.strategy == "naive" else None,
                    must_match={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                "seed": args.seed},
                    info={"model": "mlp", "data": "digits"}) as run:
    for epoch in run.epochs():
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            run.end_step(loss=loss)
        run.end_epoch(accuracy=evaluate(run.check))
print(f"done: step {run.step}, final weights in {run.store_url}/final/model.pt")
