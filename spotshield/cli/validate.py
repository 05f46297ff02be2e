"""`spotshield validate`: CI plan validation of terraform/ (make validate)."""
from __future__ import annotations

from pathlib import Path

import typer


def _repo_root(start: Path) -> Path:
    for d in (start, *start.parents):
        if (d / "terraform").is_dir() and (d / "startup-scripts").is_dir():
            return d
    from spotshield.errors import SpotShieldError

    raise SpotShieldError(f"no SpotShield repo (terraform/ and startup-scripts/) at or above {start}; "
                          f"run from the repo or pass --repo")


def register(app: typer.Typer) -> None:
    @app.command("validate", help="Validate the Terraform stack: fmt, init/validate/test, "
                                  "hcl2 invariants, checkov. One line per step; exit 1 if any failed.")
    def validate(
        repo: Path = typer.Option(None, "--repo", help="Repository root (default: found from the current folder)."),
    ) -> None:
        from spotshield.cli.common import console
        from spotshield.validate.runner import default_steps, format_result, run_steps

        root = _repo_root((repo or Path.cwd()).resolve())
        results = run_steps(default_steps(root), emit=lambda r: console.print(format_result(r), markup=False, soft_wrap=True))
        failed = [r.name for r in results if r.failed]
        total = sum(r.seconds for r in results)
        if failed:
            console.print(f"validate: {len(failed)} of {len(results)} steps failed ({', '.join(failed)}) "
                          f"in {total:.1f}s", markup=False, soft_wrap=True)
            raise typer.Exit(1)
        skips = sum(r.was_skipped for r in results)
        note = f" ({skips} skipped)" if skips else ""
        console.print(f"validate: {len(results) - skips} of {len(results)} steps passed{note} in {total:.1f}s",
                      markup=False, soft_wrap=True)
