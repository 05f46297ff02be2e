"""Every random number generator a training loop draws from: python, numpy, torch, CUDA.

capture() is cheap enough to call at every step boundary (the library keeps the boundary's
state, so a save inside evaluation still resumes from the boundary); to_tree() turns a capture
into plain tensors and numbers that torch.load(weights_only=True) reads back.
"""
from __future__ import annotations

import random


def capture() -> dict:
    import numpy as np
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        # only once CUDA is in use: asking earlier would create a CUDA context for nothing
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }


def to_tree(cap: dict) -> dict:
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = cap["numpy"]
    return {
        "python": cap["python"],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": cap["torch"],
        "cuda": list(cap["cuda"]),
    }


def restore(tree: dict) -> None:
    import numpy as np
    import torch

    random.setstate(_to_tuple(tree["python"]))
    n = tree["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), int(n["pos"]), int(n["has_gauss"]),
                         float(n["cached_gaussian"])))
    torch.set_rng_state(tree["torch"])
    if tree.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(tree["cuda"])


def _to_tuple(obj):
    """random.setstate needs tuples; a checkpoint round-trip may give lists."""
    if isinstance(obj, (list, tuple)):
        return tuple(_to_tuple(o) for o in obj)
    return obj
