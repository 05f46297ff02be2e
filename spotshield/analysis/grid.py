"""Experiment grids: a YAML file -> the ordered list of runs, each with its own store.

    name: study-local            # results go to <results>/<name>/ unless --out is given
    backend: local               # local (emulator, default) | gcp | process (see drivers.py)
    trainer_config: spotshield/trainer/presets/experiments/local-demo.yaml   # optional
    trainer: {epochs: 8}         # optional overrides on top of it
    strategies: [naive, adaptive, milestone]
    patterns: [regular, poisson, bursty]
    seeds: [0]
    rate: 2.4                    # preemptions per emulated hour
    time_scale: 60               # emulated seconds per real second (local/process)
    baseline: true               # plus one on-demand run per seed: strategy none, no preemptions
    run_timeout_s: 900           # a run that has not finished by then fails the grid
    restart_s: 40                # process backend: emulated seconds a preempted VM is gone
    machine_type: g2-standard-4  # priced by analyze; run on by gcp
    gpu_type: nvidia-l4
    guest_time: real             # real (default): a guest's own start-up and shutdown count 1x on
                                 # the emulated clock; scaled: x time_scale like the rest
                                 # (spotshield/analysis/emulated.py)
    data_fallback: synthetic     # optional, with trainer data cifar100: when CIFAR-100 is not in the
                                 # data dir (`experiment --data-dir`), train on synthetic data of its
                                 # shape instead, and say so (Grid.data_note, grid.json)

Baselines run on STANDARD (on-demand) VMs (terraform/variables.tf provisioning_model). On the gcp
backend the preemptions are Google's own, with no injector: such a grid's only pattern is the
label `google` (and an injector pattern there is refused, it would only label repeated runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spotshield.analysis.emulated import GUEST_TIMES
from spotshield.errors import SpotShieldError
from spotshield.local.injector import PATTERNS
from spotshield.settings import STRATEGIES

BACKENDS = ("local", "gcp", "process")
GRID_STRATEGIES = tuple(s for s in STRATEGIES if s != "none")
GRID_PATTERNS = tuple(p for p in PATTERNS if p != "none")
GOOGLE_PATTERN = "google"  # the gcp backend's one pattern: whatever preemptions Google makes
_KEYS = {"name", "backend", "trainer_config", "trainer", "strategies", "patterns", "seeds", "rate", "time_scale",
         "baseline", "run_timeout_s", "restart_s", "machine_type", "gpu_type", "trace", "project", "description",
         "guest_time", "data_fallback"}
DATA_FALLBACKS = ("synthetic",)


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    strategy: str
    pattern: str
    seed: int
    baseline: bool

    @property
    def provisioning_model(self) -> str:
        return "STANDARD" if self.baseline else "SPOT"

    def labels(self, grid: "Grid") -> dict:
        injected = not self.baseline and grid.backend != "gcp"
        return {"strategy": self.strategy, "pattern": self.pattern, "seed": self.seed, "baseline": self.baseline,
                "rate": grid.rate if injected else 0.0, "time_scale": grid.time_scale,
                "guest_time": grid.guest_time, "provisioning_model": self.provisioning_model}


@dataclass
class Grid:
    name: str
    backend: str = "local"
    trainer_config: str | None = None
    trainer: dict = field(default_factory=dict)
    strategies: list[str] = field(default_factory=lambda: list(GRID_STRATEGIES))
    patterns: list[str] = field(default_factory=lambda: ["regular", "poisson", "bursty"])
    seeds: list[int] = field(default_factory=lambda: [0])
    rate: float = 2.4
    time_scale: float = 60.0
    baseline: bool = True
    run_timeout_s: float = 900.0
    restart_s: float = 40.0
    machine_type: str = "g2-standard-4"
    gpu_type: str | None = "nvidia-l4"
    trace: str | None = None
    project: str | None = None
    description: str = ""
    guest_time: str = "real"
    data_fallback: str | None = None
    data_note: str = ""  # what use_data_dir() decided, for the manifest and the user
    source: Path | None = None

    def use_data_dir(self, data_dir: str | None = None) -> str:
        """Point the trainer at `data_dir` (else its own data_dir) and settle the dataset: with
        data_fallback synthetic and no CIFAR-100 there, synthetic data of CIFAR-100's shape
        (3x32x32, 100 classes). Returns the note that says which, "" when nothing changed."""
        if data_dir:
            self.trainer["data_dir"] = str(data_dir)
        if self.trainer.get("data") != "cifar100" or not self.data_fallback:
            return ""
        from spotshield.trainer.config import TrainConfig
        from spotshield.trainer.data import has_cifar100

        where = str(self.trainer.get("data_dir") or TrainConfig.__dataclass_fields__["data_dir"].default)
        if has_cifar100(where):
            self.data_note = f"real CIFAR-100 from {where}"
        else:
            self.trainer.update(data="synthetic", download=False)
            self.data_note = (f"CIFAR-100 is not in {where}: synthetic data of CIFAR-100's shape "
                              f"(3x32x32, 100 classes, {self.trainer.get('synthetic_size', 'the default')} "
                              f"images); its accuracy means nothing")
        return self.data_note

    def runs(self) -> list[RunSpec]:
        out = []
        for seed in self.seeds:
            if self.baseline:
                out.append(RunSpec(f"ondemand-s{seed}", "none", "none", seed, True))
            for pattern in self.patterns:
                for strategy in self.strategies:
                    out.append(RunSpec(f"{strategy}-{pattern}-s{seed}", strategy, pattern, seed, False))
        return out

    def trainer_config_path(self) -> Path | None:
        if not self.trainer_config:
            return None
        p = Path(self.trainer_config).expanduser()
        if not p.is_absolute() and self.source is not None and not p.exists():
            p = self.source.parent / p  # relative to the grid file when not relative to the cwd
        if not p.is_file():
            raise SpotShieldError(f"grid {self.name}: trainer_config {self.trainer_config} not found")
        return p


def _list(data: dict, key: str, allowed: tuple[str, ...] | None, default: list) -> list:
    v = data.get(key, default)
    if not isinstance(v, list) or not v:
        raise SpotShieldError(f"grid: {key} must be a non-empty list, not {v!r}")
    if allowed is not None:
        bad = [x for x in v if x not in allowed]
        if bad:
            raise SpotShieldError(f"grid: unknown {key[:-1]} {bad[0]!r}; choose from {', '.join(allowed)}")
    return v


def _num(data: dict, key: str, default: float, *, positive: bool = False) -> float:
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (positive and v == 0):
        raise SpotShieldError(f"grid: {key} must be a number {'> 0' if positive else '>= 0'}, not {v!r}")
    return float(v)


def load_grid(path: str | Path) -> Grid:
    from spotshield.yamlfile import read_mapping

    p = Path(path)
    data = read_mapping(p, "grid file")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise SpotShieldError(f"grid file {p}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    backend = data.get("backend", "local")
    if backend not in BACKENDS:
        raise SpotShieldError(f"grid: backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "gcp" and any(x in GRID_PATTERNS for x in data.get("patterns") or []):
        raise SpotShieldError(f"grid: on backend gcp the preemptions are Google's own, with no injector; "
                              f"use patterns: [{GOOGLE_PATTERN}]")
    patterns_allowed = (GOOGLE_PATTERN,) if backend == "gcp" else GRID_PATTERNS
    patterns = _list(data, "patterns", patterns_allowed, [GOOGLE_PATTERN] if backend == "gcp" else
                     ["regular", "poisson", "bursty"])
    guest_time = data.get("guest_time", "real")
    if guest_time not in GUEST_TIMES:
        raise SpotShieldError(f"grid: guest_time must be one of {', '.join(GUEST_TIMES)}, not {guest_time!r}")
    seeds = _list(data, "seeds", None, [0])
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SpotShieldError(f"grid: seeds must be whole numbers >= 0, not {seeds!r}")
    trainer = data.get("trainer") or {}
    if not isinstance(trainer, dict):
        raise SpotShieldError("grid: trainer must be a mapping of trainer config keys")
    g = Grid(
        name=str(data.get("name") or p.stem), backend=backend, trainer_config=data.get("trainer_config"),
        trainer=trainer, strategies=_list(data, "strategies", GRID_STRATEGIES, list(GRID_STRATEGIES)),
        patterns=patterns, seeds=seeds,
        rate=_num(data, "rate", 2.4, positive=True), time_scale=_num(data, "time_scale", 60.0, positive=True),
        baseline=bool(data.get("baseline", True)), run_timeout_s=_num(data, "run_timeout_s", 900.0, positive=True),
        restart_s=_num(data, "restart_s", 40.0), machine_type=str(data.get("machine_type", "g2-standard-4")),
        gpu_type=data.get("gpu_type", "nvidia-l4"), trace=data.get("trace"), project=data.get("project"),
        description=str(data.get("description", "")), guest_time=guest_time, source=p,
        data_fallback=data.get("data_fallback"),
    )
    if g.data_fallback is not None and g.data_fallback not in DATA_FALLBACKS:
        raise SpotShieldError(f"grid: data_fallback must be {' or '.join(DATA_FALLBACKS)}, not {g.data_fallback!r}")
    if g.backend == "gcp" and not g.project:
        raise SpotShieldError("grid: backend gcp needs a project: set project: in the grid file")
    g.trainer_config_path()
    return g
