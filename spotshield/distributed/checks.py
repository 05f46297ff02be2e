"""Checks of a distributed job's settings, as pure functions: each raises SpotShieldError with one line.

  check_nodes(min_nodes, fleet_size)       the elastic range torchrun gets (--nnodes=MIN:MAX)
  check_command(command, workdir=None)     a user's --command that torchrun can launch
  (GPU counts per machine type: spotshield/distributed/machines.py)

What "torchrun-compatible" means here: torchrun starts each worker itself, as
`python -u <script.py> args` or `python -u -m <module> args`, with no shell in between. So a
command is accepted when, after shell-style splitting, it is
    [python[3[.N]] [-u|-B ...]] script.py [args...]    or    [python...] -m package.module [args...]
and rejected when it
  - is empty, or uses shell syntax (|, &&, ;, >, $(...), backquotes): there is no shell;
  - already launches torchrun / torch.distributed.run / torch.distributed.launch: the boot
    script launches torchrun, and nesting it would start G x G workers per node;
  - runs another program (bash, ./train.sh, accelerate, deepspeed): not a Python entry point;
  - uses `python -c`, or a Python option other than -u/-B (torchrun passes only -u);
  - names a script that does not exist under `workdir` (when a workdir is given).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.errors import SpotShieldError

_PYTHON_RE = re.compile(r"^(.*/)?python(3(\.\d+)?)?$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SHELL_TOKENS = ("|", "||", "&", "&&", ";", ">", ">>", "<", "<<")
_SHELL_CHARS = ("$(", "`")
_LAUNCHERS = ("torchrun", "torch.distributed.run", "torch.distributed.launch")
_ALLOWED_PY_FLAGS = ("-u", "-B")


@dataclass
class LaunchTarget:
    """What torchrun runs on each worker: a module (`-m`) or a script, with its arguments."""

    target: str
    module: bool = False
    args: list[str] = field(default_factory=list)

    def torchrun_tail(self) -> list[str]:
        return (["-m"] if self.module else []) + [self.target, *self.args]


def check_nodes(min_nodes: int, fleet_size: int) -> tuple[int, int]:
    """(MIN, MAX) nodes for --nnodes: the job runs while at least min_nodes VMs of the group are up."""
    if not isinstance(fleet_size, int) or fleet_size < 1:
        raise SpotShieldError(f"fleet_size must be >= 1 for a distributed job, not {fleet_size!r}")
    if not isinstance(min_nodes, int) or min_nodes < 1:
        raise SpotShieldError(f"min_nodes must be >= 1, not {min_nodes!r}")
    if min_nodes > fleet_size:
        raise SpotShieldError(f"min_nodes {min_nodes} is greater than fleet_size {fleet_size}; "
                              f"set min_nodes to 1..{fleet_size}")
    return min_nodes, fleet_size


def check_command(command: str | list[str], workdir: str | Path | None = None) -> LaunchTarget:
    """The LaunchTarget of a user's command, or one line saying why torchrun cannot launch it."""
    if isinstance(command, str):
        if any(c in command for c in _SHELL_CHARS):
            raise SpotShieldError(f"command {command!r} uses shell substitution; torchrun runs it without a shell")
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise SpotShieldError(f"command {command!r} does not parse: {e}") from None
    else:
        argv = [str(a) for a in command]
    if not argv:
        raise SpotShieldError("command is empty; give a Python script or module, e.g. 'python train.py'")
    shown = shlex.join(argv)
    shell = next((a for a in argv if a in _SHELL_TOKENS), None)
    if shell:
        raise SpotShieldError(f"command {shown!r} uses shell syntax {shell!r}; torchrun runs it without a shell")
    rest = argv
    if _PYTHON_RE.match(argv[0]):
        rest = argv[1:]
        while rest and rest[0].startswith("-") and rest[0] != "-m":
            if rest[0] == "-c":
                raise SpotShieldError(f"command {shown!r} uses python -c; torchrun needs a script file or -m module")
            if rest[0] not in _ALLOWED_PY_FLAGS:
                raise SpotShieldError(f"command {shown!r} passes python option {rest[0]}; torchrun runs "
                                      f"'python -u' itself and accepts only {', '.join(_ALLOWED_PY_FLAGS)}")
            rest = rest[1:]
        if not rest:
            raise SpotShieldError(f"command {shown!r} names no script or module after python")
    if rest[0] == "-m":
        if len(rest) < 2 or not _MODULE_RE.match(rest[1]):
            raise SpotShieldError(f"command {shown!r}: -m needs a module name such as pkg.train")
        module, args = rest[1], rest[2:]
        if module in _LAUNCHERS:
            raise SpotShieldError(f"command {shown!r} launches {module} itself; give only the training script, "
                                  "SpotShield starts torchrun on every VM")
        return LaunchTarget(module, module=True, args=args)
    prog = rest[0]
    if Path(prog).name in _LAUNCHERS:
        raise SpotShieldError(f"command {shown!r} launches torchrun itself; give only the training script, "
                              "SpotShield starts torchrun on every VM")
    if not prog.endswith(".py"):
        raise SpotShieldError(f"command {shown!r} runs {prog!r}, not a Python script (.py) or -m module; "
                              "torchrun launches Python entry points only")
    if workdir is not None and not (Path(workdir) / prog).is_file():
        raise SpotShieldError(f"command {shown!r}: script {prog} is not in the workdir {workdir}")
    return LaunchTarget(prog, args=rest[1:])
