"""One training job over many GPUs and Spot VMs: torchrun elastic + torch.distributed.checkpoint.

  checkpointer   DistributedCheckpointer: CheckpointManager's rules (marker last, checksums,
                 keep-k, quarantine) for every rank of a job, on DCP async_save
  shards         moving a rank's DCP files between its local staging folder and the Store
  stateful       ModelOptimizer, RankLocal, RankRNG: what a checkpoint saves and restores
  stop           StopAgreement (a notice on any rank -> a stop at the same step on all),
                 emergency_checkpoint (bounded by the deadline), exit_now
  sampler        ElasticSampler: every sample of each epoch once, at any world size
  launch         the torchrun command line of one node (and a CLI that execs it)
  coordinator    the rendezvous store server, on a machine that is not a Spot VM
  checks         min_nodes vs fleet_size, torchrun-compatible commands
  machines       which GPUs a Compute Engine machine type can carry
  loopback       coordinator + torchrun agents on this machine (tests, benchmarks)
  tinyjob        the reference training loop that uses all of the above

docs/distributed.md has the design. Nothing here imports the CLI, the emulator or status.
"""
