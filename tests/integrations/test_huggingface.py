"""SpotShieldCallback for Hugging Face transformers, with the real Trainer on a tiny model built
from a config (no download): the emergency checkpoint on a notice (mid-epoch, at an epoch's last
step, inside evaluation), exact resume from the Trainer's own checkpoint folder committed through
the store, events; the example under SIGTERM."""
import random

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

import spotshield  # noqa: E402
from spotshield.errors import SpotShieldError  # noqa: E402
from spotshield.events import EXIT_PREEMPTED  # noqa: E402
from spotshield.integrations.huggingface import SpotShieldCallback  # noqa: E402
from spotshield.storage import open_store  # noqa: E402
from spotshield.trainer.checkpoint import CheckpointManager  # noqa: E402
from spotshield.trainer.preemption import PreemptionFlag  # noqa: E402

from script_helpers import EXAMPLES, assert_same_weights, resumed_from_the_notice, survive_notices  # noqa: E402

STEPS_PER_EPOCH, EPOCHS = 16, 3
g = torch.Generator().manual_seed(1)
IDS = torch.randint(1, 17, (256, 16), generator=g)
LABELS = IDS[:, 0] % 3


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"input_ids": IDS[i], "labels": LABELS[i]}


class Notice(TrainerCallback):
    """Sets the preemption flag (as SIGTERM does) at a chosen step end or evaluation batch."""

    def __init__(self, flag, notice):
        self.flag, self.notice, self.batches = flag, notice, 0

    def on_step_end(self, args, state, control, **kw):
        if self.notice == ("step", state.global_step):
            self.flag.set("sigterm")

    def on_prediction_step(self, args, state, control, **kw):
        self.batches += 1
        if self.notice == ("eval", state.global_step) and self.batches % 4 == 2:
            self.flag.set("sigterm")


def accuracy(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


def train(root, notice=None, **args_kw):
    config = BertConfig(vocab_size=17, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16, num_labels=3)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    flag = PreemptionFlag()
    shield = SpotShieldCallback(store=f"{root}/store", strategy="naive", strategy_params={"every_steps": 5},
                                flag=flag, metadata_watch=False)
    args = TrainingArguments(output_dir=f"{root}/out", num_train_epochs=EPOCHS, per_device_train_batch_size=16,
                             per_device_eval_batch_size=16, eval_strategy="epoch", save_strategy="no",
                             logging_steps=4, report_to=[], seed=0, use_cpu=True, disable_tqdm=True,
                             learning_rate=1e-3, **args_kw)
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(256), eval_dataset=Tokens(64),
                      compute_metrics=accuracy, callbacks=[Notice(flag, notice), shield])
    assert shield.train(trainer)
    return {k: v.clone() for k, v in model.state_dict().items()}, trainer


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return train(tmp_path_factory.mktemp("base"))[0]


@pytest.mark.parametrize("notice", [("step", 7), ("step", STEPS_PER_EPOCH), ("eval", 2 * STEPS_PER_EPOCH)],
                         ids=["mid-epoch", "last-step-of-epoch", "inside-evaluation"])
def test_a_notice_ends_in_an_emergency_checkpoint_and_the_resume_is_exact(tmp_path, baseline, notice):
    with pytest.raises(spotshield.Preempted) as e:
        train(tmp_path, notice)
    assert e.value.code == EXIT_PREEMPTED
    weights, trainer = train(tmp_path)
    assert trainer.state.global_step == EPOCHS * STEPS_PER_EPOCH
    assert_same_weights(baseline, weights)
    store = open_store(f"file://{tmp_path}/store")
    evs = resumed_from_the_notice(tmp_path / "store")
    assert next(e for e in evs if e["event"] == "preempt_notice")["step"] == notice[1]
    closed = [e for e in evs if e["event"] == "epoch_end"]
    assert [e["epoch"] for e in closed] == [1, 2, 3]
    # a notice at an epoch's last step is taken inside its evaluation (the Trainer keeps its RNG after
    # it); such a checkpoint resumes in the next epoch, and the interrupted one has no accuracy
    interrupted = {("step", 7): None, ("step", STEPS_PER_EPOCH): 0, ("eval", 2 * STEPS_PER_EPOCH): 1}[notice]
    assert [e["accuracy"] is None for e in closed] == [i == interrupted for i in range(EPOCHS)]
    assert evs[0]["client"] == "huggingface" and evs[0]["total_steps"] == EPOCHS * STEPS_PER_EPOCH
    # the committed checkpoint is the Trainer's own folder
    folder, meta, _ = CheckpointManager(store).load_files(tmp_path / "check")
    names = {p.name for p in folder.iterdir()}
    assert {"trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth", "model.safetensors"} <= names
    assert meta["client"] == "huggingface" and set(meta["files"]) == names


def test_misuse_is_one_clear_error(tmp_path):
    shield = SpotShieldCallback(store=f"{tmp_path}/s", metadata_watch=False)
    model = BertForSequenceClassification(BertConfig(vocab_size=17, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=1, intermediate_size=8, num_labels=3))
    args = TrainingArguments(output_dir=f"{tmp_path}/out", report_to=[], use_cpu=True)
    with pytest.raises(SpotShieldError, match="add the callback to the trainer"):
        shield.train(Trainer(model=model, args=args, train_dataset=Tokens(8)))
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(8), callbacks=[shield])
    with pytest.raises(SpotShieldError, match="takes resume_from_checkpoint from the store"):
        shield.train(trainer, resume_from_checkpoint=True)
    with pytest.raises(SpotShieldError, match=r"start training with shield.train\(trainer\)"):
        trainer.train()
    only_model = TrainingArguments(output_dir=f"{tmp_path}/out", report_to=[], use_cpu=True, save_only_model=True)
    with pytest.raises(SpotShieldError, match="save_only_model=True"):
        shield.train(Trainer(model=model, args=only_model, train_dataset=Tokens(8), callbacks=[shield]))


@pytest.mark.slow
def test_the_example_survives_two_sigterms_with_no_step_lost(tmp_path):
    rng = random.Random(11)
    # 16 epochs (~720 steps, several real s): after two notices up to 1.5 s apart there is still work
    # left, so the second notice cannot meet a run that already finished (seen with 6 on a loaded CI box)
    survive_notices(str(EXAMPLES / "huggingface" / "train.py"), ["--epochs", "16", "--strategy", "naive", "--save-every", "40"],
                    tmp_path, [rng.uniform(0.1, 1.5), rng.uniform(0.1, 1.5)], scratch=True)
