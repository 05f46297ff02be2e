"""Where a run lives and how it reports: from explicit arguments, else the boot script's environment.

The rule is the same for every setting: an explicit argument wins, then the environment that
startup-scripts/startup.sh exports on a VM (docs/boot-contract.md), then a default that works on
a laptop with no cloud at all. So a script that passes none of them runs unchanged as
`python train.py` (a file store under ./spotshield-run) and on the fleet (the run's bucket).
Nothing here imports torch.
"""
from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from spotshield.errors import SpotShieldError
from spotshield.trainer.config import CheckpointConfig, check_checkpoint, check_run_id, default_run_id

ENV_STORE = "SPOTSHIELD_STORE"
ENV_RUN_ID = "SPOTSHIELD_RUN_ID"
ENV_HOST = "SPOTSHIELD_HOST"
ENV_BOOT = "SPOTSHIELD_BOOT"
ENV_HEALTH_PORT = "SPOTSHIELD_HEALTH_PORT"
# under torchrun (startup.sh): the file a node's first local rank writes its phase to, for the
# node's /healthz beside the agent (spotshield/distributed/nodehealth.py)
ENV_PHASE_FILE = "SPOTSHIELD_PHASE_FILE"
# torchrun's variables: a later distributed checkpointer keys its shards by rank
ENV_RANK = "RANK"
ENV_WORLD_SIZE = "WORLD_SIZE"
# set by torchrun's agent in every worker: a job launched by torchrun keeps its DCP checkpoints
# even when it re-forms at world size 1 (docs/distributed.md)
ENV_TORCHRUN = "TORCHELASTIC_RUN_ID"
DEFAULT_STORE = "spotshield-run"  # relative to the current folder


@dataclass
class Settings:
    """Everything a Session needs besides the state it protects."""

    store: str  # a store URL: file:///abs/path or gs://bucket/prefix
    run_id: str
    host: str
    boot: str
    rank: int = 0
    world_size: int = 1
    torchrun: bool = False  # launched by torchrun (TORCHELASTIC_RUN_ID): distributed checkpoints
    health_port: int = 0  # 0: no /healthz server
    strategy: Any = "adaptive"  # a name from the registry, or a Strategy instance
    strategy_params: dict = field(default_factory=dict)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    metadata_watch: Any = "auto"  # auto | True | False
    log_every_s: float = 5.0
    stall_timeout_s: float = 300.0

    @property
    def strategy_name(self) -> str:
        return self.strategy if isinstance(self.strategy, str) else getattr(self.strategy, "name", "custom")

    @property
    def distributed(self) -> bool:
        """One rank of a torchrun job: the DistributedCheckpointer and the stop agreement."""
        return self.world_size > 1 or self.torchrun


def store_url(value: str | None = None) -> str:
    """The store URL: `value`, else $SPOTSHIELD_STORE, else ./spotshield-run. A plain path becomes file://."""
    raw = value or os.environ.get(ENV_STORE) or DEFAULT_STORE
    if "://" not in raw:
        return f"file://{Path(raw).expanduser().absolute()}"
    return raw


def host_and_boot() -> tuple[str, str]:
    """Host from SPOTSHIELD_HOST else the hostname; boot from SPOTSHIELD_BOOT else a new id."""
    host = os.environ.get(ENV_HOST) or socket.gethostname()
    boot = os.environ.get(ENV_BOOT) or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    return host, boot


def launched_distributed() -> bool:
    """This process is one rank of a torchrun job (Settings.distributed, from the environment alone):
    a client that builds its own process group and DDP model asks before spotshield.Run does."""
    return _env_int(ENV_WORLD_SIZE, 1) > 1 or bool(os.environ.get(ENV_TORCHRUN))


def env_health_port() -> int | None:
    """SPOTSHIELD_HEALTH_PORT as a port number; None when unset."""
    raw = os.environ.get(ENV_HEALTH_PORT)
    if raw is None or raw == "":
        return None
    try:
        port = int(raw)
    except ValueError:
        raise SpotShieldError(f"{ENV_HEALTH_PORT} must be a port number, not {raw!r}") from None
    return check_port(ENV_HEALTH_PORT, port)


def check_port(name: str, port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SpotShieldError(f"{name} must be a port number 0..65535, not {port!r}")
    return port


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SpotShieldError(f"{name} must be a whole number, not {raw!r}") from None


def checkpoint_config(value) -> CheckpointConfig:
    """A CheckpointConfig from one, or from a dict of its fields (keep, emergency_deadline_s, ...)."""
    if value is None:
        ck = CheckpointConfig()
    elif isinstance(value, CheckpointConfig):
        ck = value
    elif isinstance(value, dict):
        known = [f.name for f in fields(CheckpointConfig)]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise SpotShieldError(f"unknown checkpoint setting {unknown[0]!r}; known: {', '.join(known)}")
        ck = CheckpointConfig(**value)
    else:
        raise SpotShieldError(f"checkpoint must be a dict of settings, not {type(value).__name__}")
    check_checkpoint(ck)
    return ck


def resolve(*, store: str | None = None, run_id: str | None = None, health_port: int | None = None,
            strategy: Any = None, strategy_params: dict | None = None, checkpoint=None,
            metadata_watch: Any = "auto", log_every_s: float = 5.0, stall_timeout_s: float = 300.0) -> Settings:
    """Settings from arguments and the environment, validated (SpotShieldError names the bad one)."""
    url = store_url(store)
    env_store = os.environ.get(ENV_STORE)
    if store and env_store and store_url(env_store) != url:
        # On a VM the boot script looks for DONE in its own store: say so, once, and keep the argument.
        print(f"spotshield: store {url} differs from {ENV_STORE}={env_store}; using {url}", file=sys.stderr)
    rid = check_run_id(run_id or os.environ.get(ENV_RUN_ID) or default_run_id(url))
    port = check_port("health_port", health_port) if health_port is not None else (env_health_port() or 0)
    if metadata_watch not in ("auto", True, False):
        raise SpotShieldError(f"metadata_watch must be auto, True or False, not {metadata_watch!r}")
    for name, value in (("log_every_s", log_every_s), ("stall_timeout_s", stall_timeout_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise SpotShieldError(f"{name} must be a number > 0, not {value!r}")
    from spotshield.trainer.strategies import DEFAULT, Strategy, make

    params = dict(strategy_params or {})
    if isinstance(strategy, Strategy):
        if params:
            raise SpotShieldError("strategy_params go with a strategy name, not a Strategy instance")
    elif strategy is None or isinstance(strategy, str):
        make(strategy or DEFAULT, **params)  # bad names and parameters fail now, not at the first step
        strategy = strategy or DEFAULT
    else:
        raise SpotShieldError(f"strategy must be a name (adaptive, naive, milestone, none), not {type(strategy).__name__}")
    host, boot = host_and_boot()
    return Settings(store=url, run_id=rid, host=host, boot=boot, rank=_env_int(ENV_RANK, 0),
                    world_size=_env_int(ENV_WORLD_SIZE, 1), torchrun=bool(os.environ.get(ENV_TORCHRUN)),
                    health_port=port, strategy=strategy,
                    strategy_params=params, checkpoint=checkpoint_config(checkpoint), metadata_watch=metadata_watch,
                    log_every_s=float(log_every_s), stall_timeout_s=float(stall_timeout_s))


def process_start_t() -> float | None:
    """Unix time this process started (Linux), so recovery can count interpreter start-up."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
