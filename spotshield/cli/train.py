"""`spotshield train` (and `spotshield version`).

Config layers: defaults <- model preset <- strategy preset <- --config files <- flags.
The config is validated before torch is imported, so bad input fails in a blink.
Every option also reads SPOTSHIELD_TRAIN_<NAME> (prefixed so that the stack's own
SPOTSHIELD_STRATEGY / SPOTSHIELD_RUN_ID never leak into a trainer by accident).
Exit codes: 0 done (or DONE already in the store), 1 error, 75 preempted (see docs/trainer.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer


def _parse_sets(items: list[str]) -> dict:
    import yaml

    from spotshield.errors import SpotShieldError

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpotShieldError(f"--set needs KEY=VALUE (e.g. checkpoint.keep=2), not {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise SpotShieldError(f"--set {key}: value {raw!r} is not valid YAML") from None
    return out


def register(app: typer.Typer) -> None:
    @app.command("version", help="Print the SpotShield version.")
    def version() -> None:
        from spotshield import __version__

        typer.echo(__version__)

    @app.command("train", help="Train (or resume) a model, checkpointing into --store. "
                 "Exit 0 done, 1 error, 75 stopped on a preemption notice.")
    def train(
        config: Annotated[Optional[List[Path]], typer.Option(
            "--config", "-c", envvar="SPOTSHIELD_TRAIN_CONFIG",
            help="Experiment YAML (repeatable; later wins; the envvar takes space-separated paths).")] = None,
        model: Annotated[Optional[str], typer.Option(
            "--model", envvar="SPOTSHIELD_TRAIN_MODEL", help="tiny-cnn | resnet18 | resnet50")] = None,
        data: Annotated[Optional[str], typer.Option(
            "--data", envvar="SPOTSHIELD_TRAIN_DATA", help="digits | cifar100 | synthetic")] = None,
        epochs: Annotated[Optional[int], typer.Option(
            "--epochs", envvar="SPOTSHIELD_TRAIN_EPOCHS", help="Number of epochs.")] = None,
        strategy: Annotated[Optional[str], typer.Option(
            "--strategy", envvar="SPOTSHIELD_TRAIN_STRATEGY", help="adaptive | naive | milestone | none")] = None,
        store: Annotated[Optional[str], typer.Option(
            "--store", envvar="SPOTSHIELD_TRAIN_STORE", help="file:///path or gs://bucket/prefix")] = None,
        seed: Annotated[Optional[int], typer.Option(
            "--seed", envvar="SPOTSHIELD_TRAIN_SEED", help="Random seed.")] = None,
        run_id: Annotated[Optional[str], typer.Option(
            "--run-id", envvar="SPOTSHIELD_TRAIN_RUN_ID",
            help="Run id for events (default: last part of --store).")] = None,
        sets: Annotated[Optional[List[str]], typer.Option(
            "--set", envvar="SPOTSHIELD_TRAIN_SET",
            help="Any config key: --set checkpoint.keep=2 (repeatable; the envvar takes space-separated items).")] = None,
    ) -> None:
        from spotshield.trainer.config import load_config

        overrides = _parse_sets(sets or [])
        flags = {"model": model, "data": data, "epochs": epochs, "strategy": strategy, "store": store,
                 "seed": seed, "run_id": run_id}
        overrides.update({k: v for k, v in flags.items() if v is not None})  # flags win over --set
        cfg = load_config(config or [], overrides)
        from spotshield.trainer.run import train as run_train

        code = run_train(cfg)
        raise typer.Exit(code)
