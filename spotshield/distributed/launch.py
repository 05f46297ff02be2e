"""The torchrun command line of one node of an elastic job (what the boot script will run).

Every node runs the same command; torchrun's c10d rendezvous on the coordinator forms the job:
    python -m torch.distributed.run --nnodes=MIN:MAX --nproc-per-node=G
        --rdzv-backend=c10d --rdzv-endpoint=COORDINATOR:PORT --rdzv-id=RUN
        --rdzv-conf=is_host=false,... --max-restarts=R --shutdown-timeout=S  <target>
Why each setting, in short (docs/distributed.md has the long form):
  is_host=false      no Spot node hosts the rendezvous store; the coordinator does
  max_restarts       a survivor's agent restarts its workers after every stop (they exit 75,
                     which torchrun counts as a failure); an agent that runs out of restarts
                     closes the rendezvous for good, so this is generous
  shutdown_timeout   how long an agent lets its workers finish their emergency checkpoint
                     after it forwards SIGTERM (torchrun's default is 30 s)
  keep_alive_*       how soon a vanished node (a hard preemption) is dropped from the rendezvous
  last_call_timeout  how long a rendezvous that has reached MIN nodes waits for more
and in the environment (TORCHRUN_ENV):
  TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1   each rendezvous round's rank-0 node publishes a fresh
                     store address for the workers. With sharing (torch's default) an agent
                     keeps the address of the first round it saw, and a node that joins later
                     as a non-zero rank waits forever for an address the old rank 0 never
                     republishes (seen with torch 2.14 on a scale-up from 1 to 2 nodes).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from spotshield.distributed.checks import LaunchTarget


TORCHRUN_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


@dataclass
class Rendezvous:
    endpoint: str  # host:port of the coordinator
    run_id: str
    min_nodes: int
    max_nodes: int
    nproc_per_node: int = 1
    max_restarts: int = 100
    shutdown_timeout_s: int = 28  # inside GCE's 30 s notice, with 2 s for the agent itself
    join_timeout_s: int = 600  # a rendezvous below MIN nodes waits this long for replacements
    last_call_timeout_s: int = 5
    keep_alive_interval_s: int = 2
    keep_alive_max_attempt: int = 3
    monitor_interval_s: float = 0.5
    read_timeout_s: int = 60  # a store request that gets no answer in this long fails
    # False gives torchrun's default instead: the agent whose address is the endpoint hosts the
    # store. Only the tests use it, to show what happens when that node is preempted.
    coordinator: bool = True

    def conf(self) -> str:
        return ",".join([
            *(["is_host=false"] if self.coordinator else []), f"join_timeout={self.join_timeout_s}",
            f"last_call_timeout={self.last_call_timeout_s}", f"read_timeout={self.read_timeout_s}",
            f"keep_alive_interval={self.keep_alive_interval_s}", f"keep_alive_max_attempt={self.keep_alive_max_attempt}",
        ])


def torchrun_argv(rdzv: Rendezvous, target: LaunchTarget, python: str | None = None) -> list[str]:
    """The argv of `python -m torch.distributed.run` for one node (torchrun on PATH is the same program)."""
    return [
        python or sys.executable, "-m", "torch.distributed.run",
        f"--nnodes={rdzv.min_nodes}:{rdzv.max_nodes}", f"--nproc-per-node={rdzv.nproc_per_node}",
        "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv.endpoint}", f"--rdzv-id={rdzv.run_id}",
        f"--rdzv-conf={rdzv.conf()}", f"--max-restarts={rdzv.max_restarts}",
        f"--monitor-interval={rdzv.monitor_interval_s}", f"--shutdown-timeout={rdzv.shutdown_timeout_s}",
        *target.torchrun_tail(),
    ]
