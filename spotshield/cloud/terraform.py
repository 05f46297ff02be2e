"""Run Terraform through python-terraform, streaming its output and keeping its errors.

python-terraform's helpers add flags Terraform 1.x rejects (`destroy -force`), write
temporary var files, and its cmd(synchronous=False) leaks `-synchronous=false` into the
command line (0.10). So we let python-terraform build the command line
(Terraform.generate_cmd_string) with our own flags and run it ourselves, pumping its output
line by line: the user sees progress live and a failure is reported with Terraform's own
"Error: ..." text.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable

from spotshield.errors import SpotShieldError

INSTALL_HINT = "terraform not found on PATH; install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)"
# The longest error text we put on the one error line; Terraform's full text was streamed above.
_MAX_ERROR_CHARS = 400
# The subcommands that take -input: `output` and `state list` reject it ("flag provided but not
# defined: -input"), so it is passed only to these (terraform 1.11 `<cmd> -help`).
INPUT_COMMANDS = frozenset({"init", "plan", "apply", "destroy", "import", "refresh"})


def terraform_bin() -> str:
    path = shutil.which("terraform")
    if not path:
        raise SpotShieldError(INSTALL_HINT)
    return path


def error_text(stderr: str) -> str:
    """Terraform's own first error, on one line: 'Error: <summary>: <detail>'."""
    lines = [line.strip(" │╷╵\t") for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines):
        if line.startswith("Error:"):
            detail = next((l for l in lines[i + 1:] if not l.startswith(("on ", "with "))), "")
            text = f"{line} {detail}".strip() if detail and not detail.startswith("Error:") else line
            return text[:_MAX_ERROR_CHARS]
    return (lines[-1] if lines else "no error output")[:_MAX_ERROR_CHARS]


class TerraformRunner:
    def __init__(self, working_dir: str | Path, echo: Callable[[str], None] | None = None):
        from python_terraform import Terraform

        self.working_dir = Path(working_dir)
        if not self.working_dir.is_dir():
            raise SpotShieldError(f"Terraform folder {self.working_dir} not found; run from the SpotShield repo")
        self.tf = Terraform(working_dir=str(self.working_dir), terraform_bin_path=terraform_bin())
        self.echo = echo or (lambda line: print(line, flush=True))

    def run(self, *args: str, **options) -> str:
        """Run `terraform <args> [options]`; return stdout, raise SpotShieldError with its error."""
        from python_terraform import IsFlagged

        options.setdefault("no_color", IsFlagged)
        if args[0] in INPUT_COMMANDS:
            options.setdefault("input", False)  # never wait on a prompt
        argv = self.tf.generate_cmd_string(" ".join(args), **options)
        try:
            proc = subprocess.Popen(argv, cwd=self.working_dir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise SpotShieldError(f"cannot run terraform: {e.strerror}; {INSTALL_HINT}") from None
        err_lines: list[str] = []

        def pump_err():
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                err_lines.append(line)
                self.echo(line)

        t = threading.Thread(target=pump_err, daemon=True)
        t.start()
        out_lines = []
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            out_lines.append(line)
            self.echo(line)
        code = proc.wait()
        t.join()
        if code != 0:
            raise SpotShieldError(f"terraform {args[0]} failed: {error_text(chr(10).join(err_lines))}")
        return "\n".join(out_lines)

    def init(self) -> None:
        self.run("init")

    def apply(self) -> None:
        from python_terraform import IsFlagged

        self.run("apply", auto_approve=IsFlagged)

    def plan(self) -> str:
        return self.run("plan")

    def destroy(self, targets: list[str] | None = None) -> None:
        """`terraform destroy`, of everything or only of `targets` (and what depends on them)."""
        from python_terraform import IsFlagged

        kw = {"target": list(targets)} if targets else {}
        self.run("destroy", auto_approve=IsFlagged, **kw)

    def state_list(self) -> list[str]:
        """The managed resources in the state (data sources left out)."""
        return [r for r in self.run_quiet("state", "list").split()
                if r and not r.startswith("data.") and ".data." not in r]

    def outputs(self) -> dict:
        """`terraform output -json` as {name: value}."""
        import json

        from python_terraform import IsFlagged

        proc_out = self.run_quiet("output", json=IsFlagged)
        try:
            data = json.loads(proc_out or "{}")
        except json.JSONDecodeError:
            raise SpotShieldError("terraform output -json did not print JSON") from None
        return {k: v.get("value") if isinstance(v, dict) else v for k, v in data.items()}

    def run_quiet(self, *args: str, **options) -> str:
        echo, self.echo = self.echo, (lambda line: None)
        try:
            return self.run(*args, **options)
        finally:
            self.echo = echo
