"""Stack settings: where and how a fleet runs. Shared by both backends and the CLI.

Trainer settings (model, data, epochs, strategy parameters) live in the trainer's
layered YAML config; this is the fleet around it. Loading with precedence
(CLI > SPOTSHIELD_* env > spotshield.yaml / [tool.spotshield] > defaults) is done by
the CLI's settings loader; this module only declares the fields and checks them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from spotshield.errors import SpotShieldError

BACKENDS = ("local", "gcp")
STRATEGIES = ("naive", "adaptive", "milestone", "none")
PATTERNS = ("none", "regular", "poisson", "bursty", "trace")
TERMINATION_ACTIONS = ("STOP", "DELETE")
_ZONE_RE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
# Until multi-node training lands, every VM of a group trains the same run into the same store:
# two of them race each other's checkpoints (issue 12). terraform/variables.tf holds the same limit.
MAX_FLEET_SIZE = 1


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
    fleet_size: int = 1  # target size of the managed instance group
    bucket: str | None = None  # checkpoint bucket; default "<project>-<name>-ckpt", or "spotshield-local"
    run_id: str | None = None  # default: "<strategy>-<UTC timestamp>"
    strategy: str = "adaptive"
    trainer_config: str | None = None  # path of a trainer YAML layered over the presets
    trainer_overrides: dict = field(default_factory=dict)  # e.g. {"model": "tiny-cnn", "epochs": 30}
    termination_action: str = "STOP"  # what GCE does to a preempted VM
    # local backend only
    pattern: str = "regular"  # preemption pattern the injector plays
    # preemptions per emulated hour (regular: 3600/rate emulated seconds apart). 2.4/h at
    # time_scale 60 is one every 25 real seconds: the local demo (~75 s of training) meets 3+.
    rate: float = 2.4
    time_scale: float = 60.0  # emulated seconds per real second
    trace: str | None = None  # CSV for pattern=trace

    def check(self) -> "StackSettings":
        if self.backend not in BACKENDS:
            raise SpotShieldError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.strategy not in STRATEGIES:
            raise SpotShieldError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.pattern not in PATTERNS:
            raise SpotShieldError(f"unknown preemption pattern {self.pattern!r}; choose one of {', '.join(PATTERNS)}")
        if self.termination_action not in TERMINATION_ACTIONS:
            raise SpotShieldError(f"termination action must be STOP or DELETE, not {self.termination_action!r}")
        if self.rate < 0:
            raise SpotShieldError(f"preemption rate must be >= 0 per hour, not {self.rate}")
        if self.time_scale <= 0:
            raise SpotShieldError(f"time scale must be > 0, not {self.time_scale}")
        if self.fleet_size < 0:
            raise SpotShieldError(f"fleet size must be >= 0, not {self.fleet_size}")
        if not self.zones:
            raise SpotShieldError("zone list is empty; give at least one zone, e.g. us-central1-a")
        for z in self.zones:
            if not _ZONE_RE.match(z) or not z.startswith(self.region + "-"):
                raise SpotShieldError(f"bad zone {z!r}: zones must be in region {self.region}, e.g. {self.region}-a")
        if not _NAME_RE.match(self.name):
            raise SpotShieldError(f"bad stack name {self.name!r}: lowercase letters, digits and '-', at most 32")
        if self.backend == "gcp" and not self.project:
            raise SpotShieldError("the gcp backend needs a project: pass --project or set SPOTSHIELD_PROJECT")
        return self

    def check_up(self) -> "StackSettings":
        """check(), and what only starting a fleet needs (a plan may show a larger one)."""
        self.check()
        if self.fleet_size > MAX_FLEET_SIZE:
            raise SpotShieldError(f"fleet size {self.fleet_size} is not supported yet: every VM would train the same "
                                  f"run and overwrite the others' checkpoints; use --fleet-size 1")
        return self

    @property
    def mig_name(self) -> str:
        return f"{self.name}-mig"

    @property
    def bucket_name(self) -> str:
        if self.bucket:
            return self.bucket
        return f"{self.project}-{self.name}-ckpt" if self.project else "spotshield-local"
