"""Hugging Face transformers protected by SpotShield: a tiny ResNet built from a config (no
download) classifies scikit-learn's 8x8 digits.

    python train.py                         # checkpoints in ./spotshield-run
    SPOTSHIELD_STORE=gs://bucket/runs/r1 python train.py
A preemption notice (SIGTERM, or GCE's metadata server) makes the Trainer write a checkpoint
folder, which is committed to the store with a marker and checksums; exit 75. Run it again to resume.
"""
import spotshield

spotshield.catch_notice()  # first: a notice while torch and the framework load is kept

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from transformers import PrinterCallback, ResNetConfig, ResNetForImageClassification, Trainer, TrainingArguments  # noqa: E402

from spotshield.integrations.huggingface import SpotShieldCallback  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--strategy", default="adaptive", choices=["adaptive", "naive", "milestone", "none"])
p.add_argument("--save-every", type=int, default=50, help="steps between saves (naive)")
p.add_argument("--output-dir", default=os.path.join(tempfile.gettempdir(), "spotshield-hf-example"),
               help="the Trainer's local scratch (checkpoints live in the store)")
args = p.parse_args()
torch.set_num_threads(1)  # a resumed run is bit-identical only with the same thread count
transformers.utils.logging.disable_progress_bar()


class Digits(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.tensor(x, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0, torch.tensor(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"pixel_values": self.x[i], "labels": self.y[i]}


digits = load_digits()
order = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(0)).numpy()  # a fixed split
x, y = digits.data[order], digits.target[order]
# (transformers 5.24's Trainer does not load a ViT's weights back on resume: its checkpoint keys
# are renamed on save; a ResNet's round-trip exactly)
config = ResNetConfig(num_channels=1, embedding_size=32, hidden_sizes=[32, 64], depths=[1, 1], layer_type="basic",
                      downsample_in_first_stage=False, num_labels=10)
torch.manual_seed(args.seed)
model = ResNetForImageClassification(config)
shield = SpotShieldCallback(strategy=args.strategy,
                            strategy_params={"every_steps": args.save_every} if args.strategy == "naive" else None,
                            must_match={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                        "seed": args.seed}, info={"data": "digits"})
training = TrainingArguments(
    output_dir=args.output_dir, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
    per_device_eval_batch_size=128, learning_rate=args.lr, seed=args.seed, eval_strategy="epoch",
    save_strategy="no",  # SpotShield decides when to save
    save_total_limit=1, logging_steps=10, report_to=[], use_cpu=True, disable_tqdm=True,
    dataloader_num_workers=0)


def accuracy(pred):
    return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}


trainer = Trainer(model=model, args=training, train_dataset=Digits(x[:1440], y[:1440]),
                  eval_dataset=Digits(x[1440:], y[1440:]), compute_metrics=accuracy, callbacks=[shield])
trainer.remove_callback(PrinterCallback)  # the events in the store say it all
if shield.train(trainer):
    print(f"done: step {trainer.state.global_step}, final weights in {shield.session.store.url}/final/model.pt")
