"""`spotshield train` (and `spotshield version`).

Config layers: defaults <- model preset <- strategy preset <- --config files <- flags.
The config is validated before torch is imported, so bad input fails in a blink.
Exit codes: 0 done (or DONE already in the store), 1 error, 75 preempted (see docs/trainer.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

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
        config: Optional[List[Path]] = typer.Option(None, "--config", "-c", help="Experiment YAML (repeatable; later wins)."),
        model: Optional[str] = typer.Option(None, "--model", help="tiny-cnn | resnet18 | resnet50"),
        data: Optional[str] = typer.Option(None, "--data", help="digits | cifar100 | synthetic"),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Number of epochs."),
        strategy: Optional[str] = typer.Option(None, "--strategy", help="adaptive | naive | milestone | none"),
        store: Optional[str] = typer.Option(None, "--store", help="file:///path or gs://bucket/prefix"),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
        run_id: Optional[str] = typer.Option(None, "--run-id", help="Run id for events (default: last part of --store)."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Any config key: --set checkpoint.keep=2 (repeatable)."),
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
