"""The `spotshield` command: a thin Typer app. Each command lives in its own module.

Heavy imports (torch, google clients, pandas) happen inside the commands, so that
`spotshield --help` is instant and the CLI works without the train extra.
"""
from __future__ import annotations

import typer

from spotshield.cli.common import SpotShieldGroup

app = typer.Typer(
    cls=SpotShieldGroup,
    name="spotshield",
    help="Train on Google Cloud Spot VMs without losing work. "
    "Options are taken from the command line, then SPOTSHIELD_* environment variables, "
    "then spotshield.yaml / [tool.spotshield], then defaults.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Keeps `spotshield` a command group even while few commands are registered."""


def _register() -> None:
    from spotshield.cli import emulator, stack, study, train, validate

    for mod in (train, stack, validate, study, emulator):  # each module exposes register(app)
        mod.register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
