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


def main(argv: list[str] | None = None) -> int:
    """`python -m spotshield.distributed.launch --endpoint H:P --run-id R --min-nodes 1 --max-nodes N
    [--nproc G] [--print] -- COMMAND...`: check COMMAND, then exec torchrun for this node (the boot
    script's last step), or only print the command line with --print."""
    import argparse
    import os
    import shlex

    from spotshield.distributed.checks import check_command, check_nodes
    from spotshield.errors import SpotShieldError

    ap = argparse.ArgumentParser(prog="python -m spotshield.distributed.launch", description=main.__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="host:port of the rendezvous coordinator")
    ap.add_argument("--run-id", required=True, help="the rendezvous id: the run id")
    ap.add_argument("--min-nodes", type=int, required=True)
    ap.add_argument("--max-nodes", type=int, required=True, help="the fleet size")
    ap.add_argument("--nproc", type=int, default=1, help="workers on this node: its GPU count, or 1 on CPU")
    ap.add_argument("--print", action="store_true", help="print the torchrun command line instead of running it")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the training command")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        min_nodes, max_nodes = check_nodes(args.min_nodes, args.max_nodes)
        if args.nproc < 1:
            raise SpotShieldError(f"--nproc must be >= 1, not {args.nproc}")
        target = check_command(command)
    except SpotShieldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rdzv = Rendezvous(endpoint=args.endpoint, run_id=args.run_id, min_nodes=min_nodes, max_nodes=max_nodes,
                      nproc_per_node=args.nproc)
    argv_out = torchrun_argv(rdzv, target)
    if args.print:
        print(" ".join(f"{k}={v}" for k, v in TORCHRUN_ENV.items()), shlex.join(argv_out))
        return 0
    # exec: torchrun takes this process's pid, so the boot script's SIGTERM reaches the agent itself
    os.execvpe(argv_out[0], argv_out, {**os.environ, **TORCHRUN_ENV})
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
