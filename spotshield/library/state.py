"""What spotshield.Run saves: the user's Stateful objects, the data position and the RNGs.

A checkpoint's state.pt holds
    {"objects": {name: obj.state_dict() (or the dict itself)},
     "loader":  the data loader's state_dict() at the step boundary (or None),
     "rng":     python / numpy / torch / CUDA generator states at the step boundary}
and loads with torch.load(weights_only=True). Step, epoch and the strategy's estimates live in
the marker (session.py), the same for every format.

The data position and the RNGs are recorded at every step boundary (boundary()), not at the
save: a save from check() inside evaluation or a long step then resumes exactly from the
boundary, although evaluation has drawn random numbers and the loader has moved on since.
At an epoch boundary (and at a fresh start) the position is "a new iterator": the loader's
state is not recorded, and a resume there iterates from the start of the next epoch, whose
order the sampler must derive from (seed, epoch) (set_epoch), as DistributedSampler does.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

from spotshield.errors import SpotShieldError
from spotshield.library import rng


def _stateful(obj) -> bool:
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


def check_objects(state: Mapping[str, Any]) -> dict:
    """{name: object}, each with state_dict()/load_state_dict() or a plain dict."""
    if not isinstance(state, Mapping) or not state:
        raise SpotShieldError("Run needs a dict of what to save, e.g. {'model': model, 'optimizer': optimizer}")
    out = {}
    for name, obj in state.items():
        if not isinstance(name, str) or not name:
            raise SpotShieldError(f"state names must be non-empty strings, not {name!r}")
        if not (_stateful(obj) or isinstance(obj, dict)):
            raise SpotShieldError(
                f"state[{name!r}] is a {type(obj).__name__}, which has no state_dict()/load_state_dict(): "
                "give a model, optimizer, scheduler, GradScaler, StatefulDataLoader or a dict")
        out[name] = obj
    return out


def check_loader(loader):
    if loader is None or _stateful(loader):
        return loader
    kind = type(loader).__name__
    hint = ("a torch DataLoader cannot save its position; use torchdata.stateful_dataloader.StatefulDataLoader "
            "(pip install torchdata)") if kind == "DataLoader" else "it has no state_dict()/load_state_dict()"
    raise SpotShieldError(f"loader is a {kind}: {hint}")


def _check_tree(obj, path: str) -> None:
    """Everything torch.load(weights_only=True) reads back; anything else fails at the save, not
    at the resume (where a valid checkpoint would be quarantined as unreadable)."""
    import torch

    if isinstance(obj, (dict, OrderedDict)):
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, type(None), tuple)):
                raise SpotShieldError(f"{path} has a key of type {type(k).__name__}; use strings or numbers")
            _check_tree(v, f"{path}[{k!r}]")
    elif isinstance(obj, (list, tuple, set)):
        for i, v in enumerate(obj):
            _check_tree(v, f"{path}[{i}]")
    elif not isinstance(obj, (torch.Tensor, int, float, complex, str, bytes, bytearray, type(None),
                              torch.dtype, torch.device)):
        raise SpotShieldError(
            f"{path} is a {type(obj).__module__}.{type(obj).__name__}, which a safe checkpoint load cannot read; "
            "store tensors, numbers, strings, lists and dicts")


class StatefulState:
    def __init__(self, objects: dict, loader=None):
        self.objects = objects
        self.loader = loader
        self._rng: dict | None = None
        self._loader_state = None

    def boundary(self, epoch_start: bool = False) -> None:
        """Record the step boundary's data position and RNGs (cheap: ~0.15 ms). At an epoch's
        end the position is 'the start of the next epoch', which a fresh iterator gives: nothing
        is recorded (a loaded end-of-epoch state can make torchdata skip the next epoch)."""
        self._rng = rng.capture()
        self._loader_state = self.loader.state_dict() if self.loader is not None and not epoch_start else None

    def tree(self) -> dict:
        tree = {
            "objects": {name: dict(obj) if isinstance(obj, dict) else obj.state_dict()
                        for name, obj in self.objects.items()},
            "loader": self._loader_state,
            "rng": rng.to_tree(self._rng or rng.capture()),
        }
        _check_tree(tree, "state")
        return tree

    def apply(self, tree: dict, step: int) -> None:
        saved = tree.get("objects") or {}
        missing = [name for name in self.objects if name not in saved]
        if missing:
            raise SpotShieldError(
                f"the checkpoint at step {step} has no state for {', '.join(map(repr, missing))} "
                f"(it holds {', '.join(map(repr, saved)) or 'nothing'}); use a new store for a changed script")
        for name, obj in self.objects.items():
            if isinstance(obj, dict):
                obj.clear()
                obj.update(saved[name])
            else:
                obj.load_state_dict(saved[name])
        if self.loader is not None and tree.get("loader") is not None:
            self.loader.load_state_dict(tree["loader"])
        rng.restore(tree["rng"])
        # the restored state is this boundary's; asking the loader again would start its iterator
        # now, and that draws a seed from a generator
        self._loader_state, self._rng = tree.get("loader"), rng.capture()
