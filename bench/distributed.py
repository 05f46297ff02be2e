"""The distributed engine's costs (spotshield/distributed/, docs/distributed.md).

  save stall   DistributedCheckpointer.save() on each of 2 gloo ranks holding the same
               data-parallel state (DDP replicas), against CheckpointManager.save() of that
               state in one process: the ratio is what a step pays for going distributed.
  stop check   one StopAgreement.check() (a 3-element all-reduce), per step, 2 ranks.
  re-forming   real seconds from a node's notice (SIGTERM to its torchrun agent) to the job's
               first training step after torchrun has formed the job again, on loopback with
               the tiny job (spotshield.distributed.tinyjob), split into: the coordinated
               emergency checkpoint (until its last rank commits), torchrun noticing the
               exits + rendezvous + starting the workers (until the last new worker
               process starts), the workers' Python + torch imports, their process group
               and collective checkpoint load, and their first step. On loopback the new
               workers share this machine's cores: their imports are slower than on VMs.
                 world 1: the survivor goes on alone (min_nodes 1)
                 world 2: a replacement node is started as soon as the preempted one has
                          exited (the software part only: a real VM takes minutes to boot)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHECKS = {"tiny": 200, "full": 500}
SCENARIOS = {"tiny": ("world 1",), "full": ("world 1", "world 2")}
CHILD_TIMEOUT_S = 300
JOB = ["--samples", "96", "--global-batch", "8", "--epochs", "2", "--pace", "0.1", "--ckpt-every", "5"]


def _median_ms(xs) -> float:
    return statistics.median(xs) * 1000.0


def _ranks(size: str, repeats: int, root: Path, world: int = 2) -> list[dict]:
    import json

    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-m", "bench.distributed_child", str(r), str(world), str(root), size,
                               str(repeats), str(CHECKS[size])], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(world)]
    for p in procs:
        out, _ = p.communicate(timeout=CHILD_TIMEOUT_S)
        if p.returncode:
            raise RuntimeError(f"distributed save child failed: {out.strip().splitlines()[-1] if out.strip() else p.returncode}")
    return [json.loads((root / f"rank-{r}.json").read_text()) for r in range(world)]


def save_stall(size: str, repeats: int, workdir: Path) -> dict:
    from bench import spread
    from bench import state as bstate
    from bench.stall import bench_spotshield

    model, opt = bstate.build(size, "cpu")
    state = bstate.state_of(model, opt)
    single = bench_spotshield(state, "cpu", repeats, workdir / "single")
    ranks = _ranks(size, repeats, workdir / "dcp")
    # a step waits for its slowest rank: the stall of save i is the max over ranks
    stalls = [max(r["stalls_s"][i] for r in ranks) for i in range(repeats)]
    dist_ms = _median_ms(stalls)
    return {"state_mb": bstate.state_bytes(state) / 1e6, "world": len(ranks),
            "single_stall_ms": single["stall_ms"], "dcp_stall_ms": dist_ms,
            "single_stall": single["stall"], "dcp_stall": spread.summary(stalls), "single_first_ms": single["first_ms"],
            "dcp_first_stall_ms": max(r["first_stall_s"] for r in ranks) * 1000,
            "dcp_persist_ms": _median_ms([max(r["persists_s"][i] for r in ranks) for i in range(repeats)]),
            "dcp_vs_single": dist_ms / single["stall_ms"], "written_mb": ranks[0]["bytes"] / 1e6,
            "stop_check_us": max(r["check_us"] for r in ranks), "stop_check_p90_us": max(r["check_p90_us"] for r in ranks)}


def reform(scenario: str, root: Path) -> dict:
    """One preemption of the rank-0 node of a 2-node tiny job; seconds from the notice."""
    from spotshield.distributed.checks import LaunchTarget
    from spotshield.distributed.loopback import LoopbackCluster, descendants

    trace = root / "trace"
    target = LaunchTarget("spotshield.distributed.tinyjob", module=True,
                          args=["--store", f"file://{root}/store", "--trace", str(trace), "--staging", str(root / "st"),
                                *JOB])
    min_nodes = 1 if scenario == "world 1" else 2
    with LoopbackCluster(root, target, min_nodes=min_nodes, max_nodes=2, last_call_timeout_s=3,
                         keep_alive_interval_s=1) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        c.wait_for(lambda: any(e["event"] == "step" and e["step"] >= 5 and e["world"] == 2 for e in c.events(trace)),
                   CHILD_TIMEOUT_S, "step 5 at world size 2")
        first = {e["pid"] for e in c.events(trace) if e["event"] == "resume"}
        pid0 = [e for e in c.events(trace) if e["event"] == "resume" and e["rank"] == 0][-1]["pid"]
        victim = next(n for n, node in c.nodes.items() if pid0 in descendants(node.proc.pid))
        survivor = "b" if victim == "a" else "a"
        t_notice = c.preempt(victim)
        c.wait_node(victim, CHILD_TIMEOUT_S)
        if scenario == "world 2":
            c.start_node("c")
        c.wait_for(lambda: any(e["event"] == "step" and e["pid"] not in first for e in c.events(trace)),
                   CHILD_TIMEOUT_S, "the first step after re-forming")
        ev = c.events(trace)
        c.wait_node(survivor, CHILD_TIMEOUT_S)
    saved_t = max(e["t"] for e in ev if e["event"] == "emergency")
    later = [e for e in ev if e["pid"] not in first]
    # the new generation moves at the pace of its last worker: its start, its imports, its (collective) load
    resumes = [e for e in later if e["event"] == "resume"]
    start_t = max(e.get("process_start_t") or e["t"] for e in resumes)
    imported_t = max(e["imported_t"] for e in later if e["event"] == "init")
    resume_t = max(e["t"] for e in resumes)
    step_t = min(e["t"] for e in later if e["event"] == "step")
    return {"total_s": step_t - t_notice, "emergency_s": saved_t - t_notice, "rendezvous_s": start_t - saved_t,
            "import_s": imported_t - start_t, "init_load_s": resume_t - imported_t, "first_step_s": step_t - resume_t,
            "world": resumes[0]["world"]}


def run(size: str, repeats: int, workdir: Path) -> dict:
    out = {"save": save_stall(size, repeats, workdir / "save")}
    out["reform"] = {s: reform(s, workdir / f"reform-{s.replace(' ', '')}") for s in SCENARIOS[size]}
    return out


def show(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=130)
    s = res["save"]
    from bench import spread

    con.print(f"Distributed save ({s['world']} gloo ranks, each {s['state_mb']:.0f} MB of data-parallel state, "
              f"{s['written_mb']:.0f} MB written): stall {spread.text(s['dcp_stall'])} ms vs single-process "
              f"{spread.text(s['single_stall'])} ms = {s['dcp_vs_single']:.2f}x (medians); first save "
              f"{s['dcp_first_stall_ms']:.0f} ms vs {s['single_first_ms']:.0f} ms; "
              f"stop check {s['stop_check_us']:.0f} us per step (median, p90 {s['stop_check_p90_us']:.0f} us)")
    t = Table(title="Notice -> first step after torchrun re-forms the job (real seconds, one run each)")
    for c in ("re-formed at", "total s", "emergency ckpt s", "exit + rendezvous + spawn s", "python + torch import s",
              "group + load s", "first step s"):
        t.add_column(c)
    for name, r in res["reform"].items():
        t.add_row(name, f"{r['total_s']:.1f}", f"{r['emergency_s']:.2f}", f"{r['rendezvous_s']:.1f}",
                  f"{r['import_s']:.1f}", f"{r['init_load_s']:.1f}", f"{r['first_step_s']:.2f}")
    con.print(t)


def main() -> int:
    """`python -m bench.distributed [--size tiny|full]`: this part of `make bench` alone."""
    import argparse
    import json
    import tempfile

    ap = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("tiny", "full"), default="tiny")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="spotshield-bench-dist-") as tmp:
        res = run(args.size, args.repeats, Path(tmp))
    show(res)
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))
    print(f"{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
