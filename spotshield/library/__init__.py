"""The library behind `import spotshield`: protect any PyTorch training loop (docs/own-code.md).

  run.py       Run: the public class for a plain loop (Stateful objects, data position, RNGs)
  session.py   Session: what every client shares (store, events, notice, strategy, checkpoints,
               heartbeat, DONE); Preempted (exit 75) and Finished (exit 0)
  state.py     what Run saves and how it is restored
  dcp.py       the same state as a DCP state dict, for a run under torchrun (WORLD_SIZE > 1)
  settings.py  arguments, else the boot script's environment, else laptop defaults
  workers.py   protect_workers: DataLoader workers that survive a group SIGTERM
  rng.py       python / numpy / torch / CUDA generator states
The framework adapters (spotshield/integrations/) and `spotshield train` are clients of Session.
"""
