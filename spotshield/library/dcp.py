"""What spotshield.Run saves under torchrun: the same state as state.py, as a DCP state dict.

Every rank of the job saves its part with the DistributedCheckpointer (spotshield/distributed/):
    models/<name>   each nn.Module (plain or DDP) through torch.distributed.checkpoint.state_dict,
                    so keys are parameter names without DDP's "module." and sharded state reshards
    objects/<name>  every other object's state_dict() (optimizer, scheduler, GradScaler, dict)
                    as one pickled value: replicated under DDP, so DCP keeps one copy (rank 0's)
    local/rank<R>   this rank's own data position and RNG streams (RankLocal): restored only
                    at the checkpoint's world size; at another world size they are reseeded
The optimizer is saved as its plain state_dict, not resharded: exact for DDP (every rank holds
the same optimizer state), not for FSDP (docs/distributed.md). Values are built lazily, when
DCP asks (Stateful), so a fresh start without any checkpoint reads no state at all.
"""
from __future__ import annotations

import io
import sys
import zlib

from spotshield.library import rng
from spotshield.library.state import StatefulState, _check_tree


def _pack(tree) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(tree, buf)
    return buf.getvalue()


def _unpack(blob: bytes):
    import torch

    return torch.load(io.BytesIO(blob), weights_only=True)


class _Module:
    """An nn.Module as a DCP Stateful (full, unprefixed parameter names)."""

    def __init__(self, module):
        self.module = module

    def state_dict(self) -> dict:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(self.module)

    def load_state_dict(self, sd: dict) -> None:
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        set_model_state_dict(self.module, sd)


class _Blob:
    """Any other object's state_dict() as one pickled value (DCP keeps rank 0's copy)."""

    def __init__(self, name: str, obj):
        self.name, self.obj = name, obj

    def state_dict(self) -> dict:
        sd = dict(self.obj) if isinstance(self.obj, dict) else self.obj.state_dict()
        _check_tree(sd, f"state[{self.name!r}]")
        return {"blob": _pack(sd)}

    def load_state_dict(self, sd: dict) -> None:
        value = _unpack(sd["blob"])
        if isinstance(self.obj, dict):
            self.obj.clear()
            self.obj.update(value)
        else:
            self.obj.load_state_dict(value)


class _Local:
    """This rank's data position and RNGs at the last step boundary (wrapped in RankLocal)."""

    def __init__(self, state: StatefulState, seed_text: str):
        self.state, self.seed_text = state, seed_text

    def state_dict(self) -> dict:
        s = self.state
        tree = {"loader": s._loader_state, "rng": rng.to_tree(s._rng or rng.capture())}
        _check_tree(tree, "state")
        return {"blob": _pack(tree)}

    def load_state_dict(self, sd: dict) -> None:
        tree = _unpack(sd["blob"])
        s = self.state
        if s.loader is not None and tree.get("loader") is not None:
            s.loader.load_state_dict(tree["loader"])
        rng.restore(tree["rng"])
        s._loader_state, s._rng = tree.get("loader"), rng.capture()

    def on_world_change(self, meta: dict, rank: int) -> None:
        """Another world size: old ranks' streams and positions do not map onto new ranks."""
        import random

        import numpy as np
        import torch

        seed = zlib.crc32(f"{self.seed_text}/{meta.get('step')}/{rank}".encode())
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        self.state._rng, self.state._loader_state = rng.capture(), None
        if rank == 0:
            print(f"spotshield: resumed step {meta.get('step')} of a world of {meta.get('world_size')} ranks: "
                  "model and objects resharded; RNG streams reseeded and the data position restarts the epoch "
                  "(not exact, docs/distributed.md)", file=sys.stderr)


def dcp_state(state: StatefulState, run_id: str) -> dict:
    """The DCP state dict of a Run's objects, loader position and RNGs (module docstring)."""
    import torch

    from spotshield.distributed.stateful import RankLocal

    out = {}
    for name, obj in state.objects.items():
        out[f"models/{name}" if isinstance(obj, torch.nn.Module) else f"objects/{name}"] = (
            _Module(obj) if isinstance(obj, torch.nn.Module) else _Blob(name, obj))
    out["local"] = RankLocal(_Local(state, run_id))
    return out


def final_weights(model) -> dict:
    """final/model.pt's state_dict: full, unprefixed names (a DDP-wrapped model loads into the plain one)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model)
