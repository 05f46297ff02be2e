"""A fresh process that resumes training from a checkpoint and takes one step.

Run by bench.recovery as `python -m bench.resume_child MODE STORE SIZE DEVICE`; prints one
JSON line of unix timestamps so the parent can measure process start -> first step.
  spotshield  CheckpointManager(store).load(): newest committed checkpoint, checksums verified
  bare        torch.load of the same state.pt + load_state_dict, nothing verified
"""
from __future__ import annotations

import json
import sys
import time


def main() -> None:
    mode, store_dir, size, device = sys.argv[1:5]
    t_main = time.time()
    import torch

    from bench import state as bstate

    model = bstate.build_model(size).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    t_built = time.time()
    if mode == "spotshield":
        from spotshield.storage import FileStore
        from spotshield.trainer.checkpoint import CheckpointManager

        state, meta, problems = CheckpointManager(FileStore(store_dir)).load(map_location=device)
        if state is None:
            raise SystemExit(f"no checkpoint in {store_dir}: {problems}")
    else:
        import glob

        path = sorted(glob.glob(f"{store_dir}/ckpt/*/state.pt"))[-1]
        state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    t_loaded = time.time()
    bstate.train_step(model, opt, device)
    t_step = time.time()
    print(json.dumps({"main": t_main, "built": t_built, "loaded": t_loaded, "step": t_step}))


if __name__ == "__main__":
    main()
