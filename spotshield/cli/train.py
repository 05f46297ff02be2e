"""`spotshield train`: placeholder registered until the trainer lands."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("version", help="Print the SpotShield version.")
    def version() -> None:
        from spotshield import __version__

        typer.echo(__version__)
