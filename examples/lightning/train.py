"""PyTorch Lightning protected by SpotShield: an MLP on scikit-learn's digits (no download).

    python train.py                         # checkpoints in ./spotshield-run
    SPOTSHIELD_STORE=gs://bucket/runs/r1 python train.py
A preemption notice (SIGTERM, or GCE's metadata server) saves an emergency checkpoint (a Lightning
.ckpt, committed to the store with a marker and checksums) and exits 75; run it again to resume.
"""
import spotshield

spotshield.catch_notice()  # first: a notice while torch and the framework load is kept

import argparse  # noqa: E402
import logging  # noqa: E402
import warnings  # noqa: E402

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from torchdata.stateful_dataloader.sampler import StatefulDistributedSampler  # noqa: E402

from spotshield.integrations.lightning import SpotShieldCallback  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--strategy", default="adaptive", choices=["adaptive", "naive", "milestone", "none"])
p.add_argument("--save-every", type=int, default=50, help="steps between saves (naive)")
args = p.parse_args()
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", ".*does not have many workers.*")


class DigitsMLP(pl.LightningModule):
    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                       torch.nn.Linear(128, 10))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


pl.seed_everything(args.seed, verbose=False)
torch.set_num_threads(1)  # a resumed run is bit-identical only with the same thread count
digits = load_digits()
order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(0))  # a fixed split
x, y = torch.tensor(digits.data, dtype=torch.float32)[order] / 16.0, torch.tensor(digits.target)[order]
train_set = torch.utils.data.TensorDataset(x[:1440], y[:1440])
# Exact resume: the loader restores its position, the sampler draws each epoch's order from
# (seed, epoch) (Lightning calls set_epoch), and each loader's generator keeps the global RNG untouched.
sampler = StatefulDistributedSampler(train_set, num_replicas=1, rank=0, shuffle=True, seed=args.seed, drop_last=True)
train = StatefulDataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True,
                           generator=torch.Generator().manual_seed(args.seed))
val = StatefulDataLoader(torch.utils.data.TensorDataset(x[1440:], y[1440:]), batch_size=128,
                         generator=torch.Generator().manual_seed(args.seed))

shield = SpotShieldCallback(strategy=args.strategy,
                            strategy_params={"every_steps": args.save_every} if args.strategy == "naive" else None,
                            must_match={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                        "seed": args.seed}, info={"data": "digits"})
trainer = pl.Trainer(max_epochs=args.epochs, callbacks=[shield], accelerator="cpu", deterministic=True,
                     enable_checkpointing=False, logger=False, enable_progress_bar=False, enable_model_summary=False)
model = DigitsMLP(args.lr)
if shield.fit(trainer, model, train, val):
    print(f"done: step {trainer.global_step}, final weights in {shield.session.store.url}/final/model.pt")
