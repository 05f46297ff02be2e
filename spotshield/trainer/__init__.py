"""The preemption-safe trainer behind `spotshield train` (see docs/trainer.md).

  config.py        layered YAML config -> TrainConfig (no torch)
  run.py           train(cfg) -> exit code: the loop, resume, emergency save, export
  checkpoint.py    CheckpointManager: two-phase async save, verified load, retention
  strategies/      when to save: adaptive (Young/Daly), naive, milestone, none (no torch)
  preemption.py    SIGTERM + GCE metadata watcher -> one flag
  health.py        /healthz for managed-instance-group auto-healing
  data.py, models.py  digits / CIFAR-100 / synthetic; tiny-cnn / CIFAR ResNets
Nothing here imports torch at package import time, so the CLI stays fast.
"""
