"""/healthz of a node whose job runs under torchrun: healthy while the node's torchrun agent lives.

    python -m spotshield.distributed.nodehealth --port 8080 --pid AGENT_PID [--phase-file PATH]

On a single-process VM the trainer serves /healthz from its step heartbeat. Under torchrun that
does not work: while the job re-forms after another node's preemption, the agent has stopped its
workers and waits in the rendezvous for the replacement VM, so no worker serves anything, and the
group's auto-healing would re-create the survivor too. So startup.sh runs this server beside the
agent (the workers get SPOTSHIELD_HEALTH_PORT=0): a dead agent is unhealthy; a worker that hangs
is torchrun's to detect (a collective's timeout fails the worker, the agent restarts it).
The phase is what the node's first local rank last wrote to the phase file (trainer/health.py):
"starting" until the job's first step on this boot, which is where the local emulator ends a
guest's start-up (guest_time real: its clock runs at 1x until then, local/hypervisor.StartupHold).
Exits 0 once the agent is gone.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.trainer.health import Heartbeat, HealthServer, read_phase


def agent_alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited agent its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class AgentHeartbeat(Heartbeat):
    def __init__(self, pid: int, phase_file: Path | None = None):
        super().__init__(stall_timeout_s=0)
        self.pid, self.worker_phase = pid, phase_file

    @property
    def phase(self) -> str:
        return read_phase(self.worker_phase)

    @phase.setter
    def phase(self, value: str) -> None:  # Heartbeat.__init__ sets it; the workers' file says it here
        pass

    def age(self) -> float:
        return 0.0 if agent_alive(self.pid) else float("inf")

    def healthy(self) -> bool:
        return agent_alive(self.pid)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spotshield.distributed.nodehealth", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="the VM's health port")
    ap.add_argument("--pid", type=int, required=True, help="the torchrun agent's pid")
    ap.add_argument("--phase-file", type=Path, help="where the node's first local rank writes its phase")
    ap.add_argument("--poll-s", type=float, default=1.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        server = HealthServer(AgentHeartbeat(args.pid, args.phase_file), args.port).start()
    except SpotShieldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    while agent_alive(args.pid):
        time.sleep(args.poll_s)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
