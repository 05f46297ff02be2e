"""Stack settings: where and how a fleet runs, and their one loader. Shared by both backends and the CLI.

Trainer settings (model, data, epochs, strategy parameters) live in the trainer's own layered
YAML config (spotshield/trainer/config.py); this is the fleet around it. `load_settings` merges
with one precedence: CLI > SPOTSHIELD_* env > settings file > defaults. The CLI and the
environment are merged by Typer itself (every option declares its envvar=), so the CLI hands over
only the values that were given one way or the other (None means "not given"). Below them come,
first found wins:
  spotshield.yaml          in the project root (a `trainer:` section holds trainer overrides)
  [tool.spotshield]        in the project's pyproject.toml
and then the dataclass defaults of StackSettings.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotshield.errors import SpotShieldError
from spotshield.project import SETTINGS_FILE, project_root
from spotshield.trainer.strategies import NAMES as STRATEGIES  # no torch: the registry is pure Python
from spotshield.yamlfile import read_mapping

BACKENDS = ("local", "gcp")
TERMINATION_ACTIONS = ("STOP", "DELETE")
# SPOT: the fleet; STANDARD: the same VMs at the on-demand price, never preempted (a study's baseline)
PROVISIONING_MODELS = ("SPOT", "STANDARD")
_ZONE_RE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_TRAINER_KEY = "trainer"  # the settings file's section of trainer overrides


@dataclass
class StackSettings:
    backend: str = "local"  # local emulator unless a GCP project is configured
    project: str | None = None  # GCP project id; None selects the local backend
    region: str = "us-central1"
    zones: list[str] = field(default_factory=lambda: ["us-central1-a", "us-central1-b", "us-central1-c"])
    name: str = "spotshield"  # prefix of every resource: <name>-mig, <name>-template-..., <name>-sa
    machine_type: str = "g2-standard-4"
    gpu_type: str | None = "nvidia-l4"
    gpu_count: int = 1
    fleet_size: int = 1  # target size of the managed instance group; > 1: one job under torchrun
    min_nodes: int | None = None  # the fewest nodes that job trains on; None: fleet_size (a fixed world size)
    # gcp: a compact placement policy keeps the job's VMs close together in one zone (terraform/variables.tf)
    compact_placement: bool = False
    bucket: str | None = None  # checkpoint bucket; default "<project>-<name>-ckpt", or "spotshield-local"
    run_id: str | None = None  # default: "<strategy>-<UTC timestamp>"
    strategy: str = "adaptive"
    trainer_config: str | None = None  # path of a trainer YAML layered over the presets
    trainer_overrides: dict = field(default_factory=dict)  # e.g. {"model": "tiny-cnn", "epochs": 30}
    termination_action: str = "STOP"  # what GCE does to a preempted VM
    provisioning_model: str = "SPOT"  # gcp: STANDARD runs the trainer VMs on demand (terraform/variables.tf)
    # local backend only (checked by the emulator: spotshield/local/region_args.py)
    pattern: str = "regular"  # preemption pattern the injector plays
    # preemptions per emulated hour (regular: 3600/rate emulated seconds apart). 2.4/h at
    # time_scale 60 is one every 25 real seconds: the local demo (~75 s of training) meets 3+.
    rate: float = 2.4
    time_scale: float = 60.0  # emulated seconds per real second
    trace: str | None = None  # CSV for pattern=trace
    # local backend only: spot capacity per zone (spotshield/local/capacity.py): a trace for every
    # zone, or {zone: true | false | trace | {trace, offset_s}}; None: always available
    spot_capacity: str | dict | None = None
    # a deadline (docs/deadline.md): None runs as without one. 8h, 90m, or an ISO 8601 time (UTC
    # without an offset); on the local backend it counts on the emulated clock from `up`
    deadline: str | None = None
    deadline_policy: str = "uniform-progress"  # spotshield/deadline/policies: make(name)
    step_time_s: float | None = None  # stated seconds per training step, for the work before a first run
    deadline_restart_s: float = 600.0  # restart overhead d (stack seconds) until one is measured
    # command mode (docs/own-code.md): the user's command, run on each VM in the shipped workdir
    # instead of `spotshield train`; None: the built-in trainer
    command: str | None = None
    workdir: str | None = None  # the folder packed and shipped with the command (default: the current one)

    def check(self) -> "StackSettings":
        if self.backend not in BACKENDS:
            raise SpotShieldError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.strategy not in STRATEGIES:
            raise SpotShieldError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.termination_action not in TERMINATION_ACTIONS:
            raise SpotShieldError(f"termination action must be STOP or DELETE, not {self.termination_action!r}")
        if self.provisioning_model not in PROVISIONING_MODELS:
            raise SpotShieldError(f"provisioning model must be SPOT or STANDARD, not {self.provisioning_model!r}")
        if self.fleet_size < 0:
            raise SpotShieldError(f"fleet size must be >= 0, not {self.fleet_size}")
        if not self.zones:
            raise SpotShieldError("zone list is empty; give at least one zone, e.g. us-central1-a")
        for z in self.zones:
            if not _ZONE_RE.match(z) or not z.startswith(self.region + "-"):
                raise SpotShieldError(f"bad zone {z!r}: zones must be in region {self.region}, e.g. {self.region}-a")
        if not _NAME_RE.match(self.name):
            raise SpotShieldError(f"bad stack name {self.name!r}: lowercase letters, digits and '-', at most 32")
        if self.deadline is not None:
            from spotshield.deadline.policies import NAMES as DEADLINE_POLICIES

            if self.deadline_policy not in DEADLINE_POLICIES:
                raise SpotShieldError(f"unknown deadline policy {self.deadline_policy!r}; choose one of "
                                      f"{', '.join(DEADLINE_POLICIES)}")
            if self.step_time_s is not None and not self.step_time_s > 0:
                raise SpotShieldError(f"step_time_s must be > 0 seconds per step, not {self.step_time_s}")
            if not self.deadline_restart_s >= 0:
                raise SpotShieldError(f"deadline_restart_s must be >= 0 seconds, not {self.deadline_restart_s}")
        from spotshield.distributed.machines import check_gpus

        check_gpus(self.machine_type, self.gpu_type, self.gpu_count)  # GCE refuses the template otherwise
        if self.compact_placement:
            from spotshield.distributed.machines import check_compact

            check_compact(self.machine_type)  # as terraform/variables.tf compact_placement validates
        if self.spot_capacity is not None and not isinstance(self.spot_capacity, (str, dict)):
            raise SpotShieldError("spot_capacity must be a trace name or path, or a mapping of zones")
        if self.min_nodes is not None:
            from spotshield.distributed.checks import check_nodes

            check_nodes(self.min_nodes, max(self.fleet_size, 1))
        if self.command is not None:
            check_command(self.command, self.workdir_path)
        elif self.workdir is not None:
            raise SpotShieldError("--workdir ships a folder for --command; give a command too, e.g. "
                                  "--command 'python train.py'")
        if self.backend == "gcp" and not self.project:
            raise SpotShieldError("the gcp backend needs a project: pass --project or set SPOTSHIELD_PROJECT")
        return self

    def _check_torchrun_job(self) -> None:
        """More than one VM is one data-parallel job under torchrun (docs/distributed.md): the built-in
        trainer (spotshield train runs as one rank of it), or a command that torchrun can launch."""
        from spotshield.distributed.checks import check_command as check_torchrun_command

        if self.command is not None:
            check_torchrun_command(self.command, self.workdir_path)

    @property
    def torchrun_nodes(self) -> tuple[int, int] | None:
        """(min, max) nodes of the job under torchrun, or None for one process per VM."""
        if self.fleet_size <= 1:
            return None
        return (self.min_nodes if self.min_nodes is not None else self.fleet_size), self.fleet_size

    def check_up(self) -> "StackSettings":
        """check(), and what only starting a fleet needs (a plan may show a larger one)."""
        self.check()
        if self.fleet_size > 1:
            self._check_torchrun_job()
        return self

    @property
    def workdir_path(self) -> Path:
        return Path(self.workdir or ".").expanduser()

    @property
    def mig_name(self) -> str:
        return f"{self.name}-mig"

    @property
    def on_demand_mig_name(self) -> str:
        """The deadline's on-demand group (terraform/modules/on-demand-fleet); its VMs are <name>-od-*."""
        return f"{self.name}-od-mig"

    @property
    def bucket_name(self) -> str:
        if self.bucket:
            return self.bucket
        return f"{self.project}-{self.name}-ckpt" if self.project else "spotshield-local"


def check_command(command: str, workdir: Path) -> None:
    """One line for a command mode that cannot work: an empty or multi-line command, one that does not
    parse as shell words, a missing workdir, or `python X.py` whose X.py is not in it."""
    import shlex

    if not isinstance(command, str) or not command.strip():
        raise SpotShieldError("command is empty; give the command that trains, e.g. --command 'python train.py'")
    if "\n" in command or "\r" in command:
        raise SpotShieldError("command must be one line; put longer scripts in a file in the workdir")
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise SpotShieldError(f"command {command!r} does not parse: {e}") from None
    if not workdir.is_dir():
        raise SpotShieldError(f"workdir {workdir} is not a folder; pass an existing folder to --workdir")
    if re.match(r"^(.*/)?python(3(\.\d+)?)?$", argv[0]):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script and "-m" not in argv[1:argv.index(script)] and script.endswith(".py") \
                and not (workdir / script).is_file():
            raise SpotShieldError(f"command {command!r}: script {script} is not in the workdir {workdir}")


def _read_pyproject(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpotShieldError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpotShieldError(f"{path} is not valid TOML ({e}); fix it") from None
    section = data.get("tool", {}).get("spotshield", {})
    if not isinstance(section, dict):
        raise SpotShieldError(f"[tool.spotshield] in {path} must be a table")
    return section


def file_settings(root: Path | None = None) -> tuple[dict, Path | None]:
    """The settings file's values and where they came from (spotshield.yaml wins over pyproject)."""
    root = root or project_root()
    yml = root / SETTINGS_FILE
    if yml.is_file():
        return read_mapping(yml, "settings file"), yml
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        section = _read_pyproject(pyproject)
        if section:
            return section, pyproject
    return {}, None


_FIELDS = {f.name for f in dataclasses.fields(StackSettings)}


def _normalise(key: str, value: Any, source: str) -> Any:
    if key == "zones":
        if isinstance(value, str):
            value = [z.strip() for z in value.split(",") if z.strip()]
        if not isinstance(value, list) or not all(isinstance(z, str) for z in value):
            raise SpotShieldError(f"zones in {source} must be a list or comma-separated string of zones")
    if key == "deadline" and isinstance(value, (dt.date, dt.datetime)):
        # YAML reads an unquoted ISO time as a timestamp; a naive one is UTC, as parse_deadline reads text
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.isoformat()
    if key == "compact_placement" and not isinstance(value, bool):
        raise SpotShieldError(f"compact_placement in {source} must be true or false, not {value!r}")
    if key == "trainer_overrides" and not isinstance(value, dict):
        raise SpotShieldError(f"{_TRAINER_KEY} in {source} must be a mapping of trainer settings")
    return value


def load_settings(cli: dict[str, Any] | None = None, root: Path | None = None) -> StackSettings:
    """Merge CLI/env values over the settings file over defaults, then check the result."""
    values, path = file_settings(root)
    source = str(path) if path else "settings"
    merged: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key == _TRAINER_KEY:
            key = "trainer_overrides"
        if key not in _FIELDS:
            raise SpotShieldError(f"unknown setting {key!r} in {source}; known: {', '.join(sorted(_FIELDS))}")
        merged[key] = _normalise(key, value, source)
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key not in _FIELDS:
            raise ValueError(f"load_settings: no such setting {key!r}")  # a bug in the CLI, not user input
        merged[key] = _normalise(key, value, "the command line")
    # The local emulator is the default until a GCP project is configured.
    if "backend" not in merged:
        merged["backend"] = "gcp" if merged.get("project") else "local"
    try:
        settings = StackSettings(**merged)
    except TypeError as e:
        raise SpotShieldError(f"bad settings in {source}: {e}") from None
    numbers = (("gpu_count", int), ("fleet_size", int), ("min_nodes", int), ("rate", float), ("time_scale", float),
               ("step_time_s", float), ("deadline_restart_s", float))
    for name, typ in numbers:
        value = getattr(settings, name)
        if value is None and name in ("step_time_s", "min_nodes"):
            continue
        try:
            setattr(settings, name, typ(value))
        except (TypeError, ValueError):
            raise SpotShieldError(f"{name} must be a number, not {value!r}") from None
    return settings.check()


def default_run_id(strategy: str) -> str:
    """'<strategy>-<UTC timestamp>': sortable, and says what ran."""
    import time

    return f"{strategy}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
