"""What every command shares: the error boundary and the stderr console.

Library code raises SpotShieldError; this is the only place it becomes a red one-line
message and exit code 1. Usage errors (unknown option, bad choice) get the same
treatment so that bad input never shows a traceback or a box.
"""
from __future__ import annotations

import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

try:  # typer >= 0.22 vendors click; older releases use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exc

# typer.Exit/Abort are click's own classes in older typer and typer's in newer ones.
_EXIT = tuple({typer.Exit, getattr(click_exc, "Exit", typer.Exit)})
_ABORT = tuple({typer.Abort, getattr(click_exc, "Abort", typer.Abort)})

from spotshield.errors import SpotShieldError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)


def fail(message: str) -> None:
    """Print one red line on stderr."""
    first = " ".join(str(message).split())  # one line, whatever the message holds
    err_console.print(f"[red]error:[/red] {first}", markup=True, emoji=False)


class SpotShieldGroup(TyperGroup):
    """Click group whose main() turns every expected failure into one line + exit 1."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except _EXIT as e:
            sys.exit(e.exit_code)
        except _ABORT:
            fail("aborted")
            sys.exit(1)
        except click_exc.ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `spotshield`: help is not an error
                typer.echo(e.ctx.get_help() if e.ctx else str(e))
                sys.exit(0)
            fail(e.format_message())
            sys.exit(1)
        except SpotShieldError as e:
            fail(str(e))
            sys.exit(1)
        except KeyboardInterrupt:
            fail("interrupted")
            sys.exit(130)
        # In non-standalone mode typer returns Exit's code as the value.
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return rv
