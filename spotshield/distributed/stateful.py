"""Stateful wrappers that a distributed checkpoint saves and restores (DCP's Stateful protocol:
state_dict() / load_state_dict()), as in torchtitan's checkpointer.

  ModelOptimizer   model + optimizer through torch.distributed.checkpoint.state_dict, so keys
                   are parameter names (not optimizer indices) and sharded (FSDP/DTensor)
                   state reshards when the world size changes
  RankLocal        state that differs per rank (RNG streams): saved under rank<R>, restored
                   only when the job resumes with the same world size
  RankRNG          the torch (CPU and CUDA), Python and NumPy RNG streams of this rank
"""
from __future__ import annotations

import random
import zlib

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict


class ModelOptimizer:
    """A model (plain, DDP or FSDP) and its optimizer as one Stateful."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer = model, optimizer

    def state_dict(self) -> dict:
        model_sd, optim_sd = get_state_dict(self.model, self.optimizer)
        return {"model": model_sd, "optim": optim_sd}

    def load_state_dict(self, state: dict) -> None:
        set_state_dict(self.model, self.optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])


class RankLocal:
    """Wraps a Stateful whose value is this rank's own. DCP keeps one copy of equal keys across
    ranks, so each rank saves under its own key; a resume at another world size cannot map old
    ranks to new ones, so the checkpointer skips these and calls `on_world_change` instead."""

    def __init__(self, inner, rank: int | None = None):
        self.inner = inner
        self.rank = dist.get_rank() if rank is None else rank

    @property
    def key(self) -> str:
        return f"rank{self.rank}"

    def state_dict(self) -> dict:
        return {self.key: self.inner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state[self.key])

    def on_world_change(self, meta: dict) -> None:
        hook = getattr(self.inner, "on_world_change", None)
        if hook is not None:
            hook(meta, self.rank)


class RankRNG:
    """This process's RNG streams. After a world-size change they are reseeded from
    (seed, checkpoint step, rank): deterministic, and distinct from every earlier stream."""

    def __init__(self, seed: int):
        self.seed = seed

    def state_dict(self) -> dict:
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": np.random.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        if torch.cuda.is_available() and state["cuda"]:
            torch.cuda.set_rng_state_all(state["cuda"])
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])

    def on_world_change(self, meta: dict, rank: int) -> None:
        seed = zlib.crc32(f"{self.seed}/{meta.get('step')}/{rank}".encode())
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
