"""A loopback "cluster" for tests and benchmarks: a coordinator plus torchrun agents on this machine.

Each node is one torchrun agent (its own process group) running the same command, as each
VM's boot script will. `preempt(name)` sends SIGTERM to a node's agent, as shutdown.sh does
on a Spot VM; the agent forwards it to its workers. close() stops everything it started:
agents by process group, workers (torchrun starts them in their own sessions) by walking
/proc for descendants, and the coordinator.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from spotshield.distributed.checks import LaunchTarget
from spotshield.distributed.launch import TORCHRUN_ENV, Rendezvous, torchrun_argv


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    log: Path
    workers: set[int] = field(default_factory=set)  # every worker pid seen, for close()

    def poll(self) -> int | None:
        self.workers.update(descendants(self.proc.pid))
        return self.proc.poll()


class LoopbackCluster:
    def __init__(self, root: Path, target: LaunchTarget, *, min_nodes: int, max_nodes: int, nproc: int = 1,
                 max_restarts: int = 3, run_id: str = "job", env: dict | None = None, **rdzv):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.target, self.run_id = target, run_id
        self.rdzv_args = dict(min_nodes=min_nodes, max_nodes=max_nodes, nproc_per_node=nproc,
                              max_restarts=max_restarts, **rdzv)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **TORCHRUN_ENV, **(env or {})}
        self.coordinator: subprocess.Popen | None = None
        self.port: int | None = None
        self.nodes: dict[str, Node] = {}

    # --- processes ----------------------------------------------------------------------------
    def start_coordinator(self, timeout: float = 60) -> int:
        from spotshield.distributed.coordinator import spawn

        self.coordinator, endpoint = spawn(self.root / "coordinator.ready", self.root / "coordinator.log",
                                           env=self.env, timeout_s=timeout)
        self.port = int(endpoint.rsplit(":", 1)[1])
        return self.port

    def rendezvous(self, endpoint: str | None = None) -> Rendezvous:
        return Rendezvous(endpoint=endpoint or f"127.0.0.1:{self.port}", run_id=self.run_id, **self.rdzv_args)

    def start_node(self, name: str, endpoint: str | None = None) -> Node:
        log = self.root / f"node-{name}.log"
        argv = torchrun_argv(self.rendezvous(endpoint), self.target)
        proc = subprocess.Popen(argv, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
                                env=self.env, cwd=self.root)
        node = self.nodes[name] = Node(name, proc, log)
        return node

    def preempt(self, name: str, sig: int = signal.SIGTERM) -> float:
        """Send `sig` to the node's agent (what shutdown.sh does); returns the time it was sent."""
        node = self.nodes[name]
        node.poll()
        t = time.time()
        node.proc.send_signal(sig)
        return t

    def kill(self, name: str) -> None:
        """A node vanishes without notice: its agent and workers are SIGKILLed."""
        node = self.nodes[name]
        node.poll()
        for pid in [node.proc.pid, *node.workers]:
            _kill(pid)
        node.proc.wait()

    def wait_node(self, name: str, timeout: float) -> int:
        node = self.nodes[name]
        deadline = time.monotonic() + timeout
        while (rc := node.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {name} still running after {timeout} s; log tail:\n{self.tail(name)}")
            time.sleep(0.1)
        return rc

    def tail(self, name: str, n: int = 3000) -> str:
        log = self.nodes[name].log
        return log.read_text(errors="replace")[-n:] if log.exists() else ""

    def close(self) -> None:
        for node in self.nodes.values():
            node.poll()
            try:
                os.killpg(node.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for pid in node.workers:
                _kill(pid)
            node.proc.wait()
        if self.coordinator is not None and self.coordinator.poll() is None:
            self.coordinator.terminate()
            try:
                self.coordinator.wait(10)
            except subprocess.TimeoutExpired:
                self.coordinator.kill()
                self.coordinator.wait()

    def __enter__(self) -> "LoopbackCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what the workers traced (spotshield.distributed.tinyjob --trace) ----------------------------
    def events(self, trace: Path) -> list[dict]:
        out = []
        for path in sorted(Path(trace).glob("rank-*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line being written right now
        return sorted(out, key=lambda e: e["t"])

    def wait_for(self, predicate, timeout: float, what: str, poll: float = 0.1):
        """Poll `predicate()` until it returns something truthy; TimeoutError names `what`."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.nodes.values():
                node.poll()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}:\n{self.tail(n, 1500)}" for n in self.nodes)
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            time.sleep(poll)
