"""End to end with real torchrun: two "nodes" (two torchrun agents) on loopback, gloo on CPU, a
rendezvous coordinator process, and spotshield.distributed.tinyjob as the training job.

A preemption is what shutdown.sh does on a Spot VM: SIGTERM to the node's agent, which
forwards it to its worker. Every test stops every process it started (LoopbackCluster.close).
"""
from __future__ import annotations

import io
import socket
import time
from collections import defaultdict

import pytest

from spotshield import layout
from spotshield.distributed.checks import LaunchTarget
from spotshield.distributed.loopback import LoopbackCluster, descendants
from spotshield.storage import open_store

pytestmark = pytest.mark.slow

SAMPLES, BATCH, EPOCHS = 96, 8, 2
STEPS = SAMPLES // BATCH * EPOCHS  # 24
JOB = ["--samples", str(SAMPLES), "--global-batch", str(BATCH), "--epochs", str(EPOCHS), "--pace", "0.15",
       "--ckpt-every", "5", "--keep", "50"]  # keep every checkpoint, so the tests can read their markers
RUN_S = 150  # generous: two cores shared with other test runs


def _cluster(root, **kw) -> LoopbackCluster:
    target = LaunchTarget("spotshield.distributed.tinyjob", module=True,
                          args=["--store", f"file://{root}/store", "--trace", str(root / "trace"),
                                "--staging", str(root / "staging"), *JOB])
    kw.setdefault("last_call_timeout_s", 3)
    return LoopbackCluster(root, target, keep_alive_interval_s=1, **kw)


def _events(c, root, event=None):
    return [e for e in c.events(root / "trace") if event is None or e["event"] == event]


def _stepped(c, root, step, world):
    return any(e["step"] >= step and e["world"] == world for e in _events(c, root, "step"))


def _pids_at(c, root, world: int) -> set[int]:
    """The workers that resumed at this world size. With min_nodes=1 the first agent may form a
    world-1 round alone before the second agent joins (slow start-up on a loaded machine); that round
    stops with its own emergency checkpoint and is not the generation a test preempts."""
    return {e["pid"] for e in _events(c, root, "resume") if e["world"] == world}


def _node_of_rank0(c, root) -> str:
    pid = [e for e in _events(c, root, "resume") if e["rank"] == 0 and e["world"] == 2][-1]["pid"]
    return next(name for name, node in c.nodes.items() if pid in descendants(node.proc.pid))


def _final(root):
    import torch

    return torch.load(io.BytesIO(open_store(f"file://{root}/store").read(layout.FINAL_KEY)), weights_only=True)


def _uninterrupted(root):
    with _cluster(root, min_nodes=2, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        assert c.wait_node("a", RUN_S) == 0 and c.wait_node("b", RUN_S) == 0, c.tail("a")
    return _final(root)


def _check_stop(c, root, first_pids):
    """Every worker of the first generation stopped at the same step with a committed emergency checkpoint
    and exit 75. Returns that step."""
    first = [e for e in _events(c, root) if e["pid"] in first_pids]
    exits = [e for e in first if e["event"] == "exit"]
    assert sorted(e["code"] for e in exits) == [75, 75], exits
    emerg = [e for e in first if e["event"] == "emergency"]
    assert len(emerg) == 2 and all(e["ok"] and e["saved"] for e in emerg), emerg
    assert len({e["step"] for e in emerg}) == 1
    step = emerg[0]["step"]
    meta = layout.read_marker(open_store(f"file://{root}/store"), step)
    assert meta["reason"] == "emergency" and meta["world_size"] == 2
    assert all(e["since_notice_s"] < 25 for e in emerg)  # within the deadline
    return step


def test_a_preempted_node_stops_every_rank_and_the_job_resumes_bit_identical(tmp_path):
    import torch

    reference = _uninterrupted(tmp_path / "reference")
    root = tmp_path / "preempted"
    with _cluster(root, min_nodes=2, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        c.wait_for(lambda: _stepped(c, root, 6, 2), RUN_S, "step 6 at world size 2")
        first_pids = _pids_at(c, root, 2)
        c.preempt("a")
        assert c.wait_node("a", RUN_S) != 0  # the preempted VM's agent is gone
        c.start_node("c")  # the group's replacement VM
        assert c.wait_node("b", RUN_S) == 0 and c.wait_node("c", RUN_S) == 0, c.tail("b")
    stop_step = _check_stop(c, root, first_pids)
    resumes = [e for e in _events(c, root, "resume") if e["pid"] not in first_pids]
    assert len(resumes) == 2 and all(e["step"] == stop_step and e["world"] == 2 for e in resumes)
    steps = defaultdict(list)
    for e in _events(c, root, "step"):
        steps[e["step"]].append(e["rank"])
    assert sorted(steps) == list(range(1, STEPS + 1))
    assert all(sorted(r) == [0, 1] for r in steps.values())  # no step trained twice: nothing was redone
    final = _final(root)
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in final), "resumed weights differ from the uninterrupted run"


def test_a_job_that_loses_a_node_goes_on_at_world_one_and_trains_every_sample_once(tmp_path):
    root = tmp_path
    with _cluster(root, min_nodes=1, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")  # started first: in torchrun's default set-up, the node that hosts the rendezvous
        c.start_node("b")
        c.wait_for(lambda: _stepped(c, root, 6, 2), RUN_S, "step 6 at world size 2")
        first_pids = _pids_at(c, root, 2)
        victim = _node_of_rank0(c, root)  # also the node whose agent serves this round's worker store
        survivor = "b" if victim == "a" else "a"
        t_notice = c.preempt(victim)
        assert c.wait_node(victim, RUN_S) != 0
        assert c.wait_node(survivor, RUN_S) == 0, c.tail(survivor)  # no replacement: it finishes alone
    stop_step = _check_stop(c, root, first_pids)
    later = [e for e in _events(c, root) if e["pid"] not in first_pids and e["t"] > t_notice]
    resume = next(e for e in later if e["event"] == "resume")
    assert (resume["world"], resume["checkpoint_world"], resume["step"]) == (1, 2, stop_step)
    first_step_after = min(e["t"] for e in later if e["event"] == "step")
    assert first_step_after > t_notice
    seen = defaultdict(list)
    for e in _events(c, root, "step"):
        seen[e["epoch"]].extend(e["indices"])
    assert sorted(seen) == list(range(EPOCHS))
    for epoch, idx in seen.items():
        assert sorted(idx) == list(range(SAMPLES)), f"epoch {epoch}: a sample was skipped or trained twice"
    done = open_store(f"file://{root}/store").read(layout.DONE_KEY)
    assert b'"world": 1' in done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_without_a_coordinator_preempting_the_rendezvous_host_ends_the_job(tmp_path):
    """The alternative this design avoids: torchrun's default, where the agent at the endpoint hosts the
    rendezvous store. Its node is preempted: the workers still save their emergency checkpoint, but the
    survivor's agent cannot rendezvous again and the job is over until something restarts every node."""
    root = tmp_path
    port = _free_port()
    endpoint = f"127.0.0.1:{port}"
    with _cluster(root, min_nodes=1, max_nodes=2, coordinator=False, read_timeout_s=10) as c:
        c.start_node("host", endpoint=endpoint)
        c.wait_for(lambda: _listening(port), RUN_S, "the first agent to host the rendezvous store")
        c.start_node("b", endpoint=endpoint)
        c.wait_for(lambda: _stepped(c, root, 4, 2), RUN_S, "step 4 at world size 2")
        first_pids = _pids_at(c, root, 2)
        t_notice = c.preempt("host")
        assert c.wait_node("host", RUN_S) != 0
        assert c.wait_node("b", RUN_S) != 0  # the survivor's agent fails instead of going on alone
    stop_step = _check_stop(c, root, first_pids)  # the emergency checkpoint itself still worked
    started_again = [e for e in _events(c, root, "resume") if e["t"] > t_notice]
    assert not started_again  # no worker ever started again
    assert not open_store(f"file://{root}/store").exists(layout.DONE_KEY)
    assert layout.newest_committed(open_store(f"file://{root}/store"))[0] == stop_step


def test_a_node_that_vanishes_without_notice_costs_the_steps_since_the_last_checkpoint(tmp_path):
    """A hard preemption (no notice, the VM is just gone): the survivor's next collective fails, torchrun
    restarts its worker, the job re-forms at world size 1 from the newest periodic checkpoint, redoes the
    steps since, and the steps that count (each step's latest run) still cover every sample once."""
    root = tmp_path
    with _cluster(root, min_nodes=1, max_nodes=2) as c:
        c.start_coordinator()
        c.start_node("a")
        c.start_node("b")
        c.wait_for(lambda: _stepped(c, root, 8, 2), RUN_S, "step 8 at world size 2")
        t_kill = time.time()
        c.kill("a")
        assert c.wait_node("b", RUN_S) == 0, c.tail("b")
    events = _events(c, root)
    after = [e for e in events if e["t"] > t_kill]
    assert not [e for e in after if e["event"] == "emergency"]  # no notice, no emergency checkpoint
    # a world-1 round before b joined (see _pids_at) ends in an emergency checkpoint of its own
    committed = {5, 10} | {e["step"] for e in events if e["event"] == "emergency" and e["t"] < t_kill}
    resume = [e for e in after if e["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["world"] == 1 and resume[0]["step"] in committed  # --ckpt-every 5
    redo_pid = resume[0]["pid"]
    before: dict[int, list[dict]] = defaultdict(list)
    redo: dict[int, list[dict]] = defaultdict(list)
    for e in (e for e in events if e["event"] == "step"):
        (redo if e["pid"] == redo_pid else before)[e["step"]].append(e)
    latest = {**before, **redo}  # a later run of a step replaces the lost one
    assert sorted(latest) == list(range(1, STEPS + 1))
    redone = [s for s in redo if s in before]
    assert redone and min(redone) == resume[0]["step"] + 1  # the work since the checkpoint, done again
    seen = defaultdict(list)
    for evs in latest.values():
        for e in evs:
            seen[e["epoch"]].extend(e["indices"])
    for epoch, idx in seen.items():
        assert sorted(idx) == list(range(SAMPLES)), f"epoch {epoch}"


def test_a_replacement_node_joining_a_shrunk_job_grows_it_back_through_an_emergency_checkpoint(tmp_path):
    """The job runs at world size 1 (below its maximum) when a second node joins: torchrun stops the running
    worker with SIGTERM, which is the same coordinated emergency checkpoint, and the job re-forms at 2."""
    root = tmp_path
    job = ["--samples", "192", "--pace", "0.3"]  # 48 steps, ~14 s of training: the join lands mid-run
    target = LaunchTarget("spotshield.distributed.tinyjob", module=True,
                          args=["--store", f"file://{root}/store", "--trace", str(root / "trace"),
                                "--staging", str(root / "staging"), *JOB, *job])
    with LoopbackCluster(root, target, min_nodes=1, max_nodes=2, last_call_timeout_s=1, keep_alive_interval_s=1) as c:
        c.start_coordinator()
        c.start_node("a")
        c.wait_for(lambda: _stepped(c, root, 4, 1), RUN_S, "step 4 at world size 1")
        c.start_node("b")
        assert c.wait_node("a", RUN_S) == 0 and c.wait_node("b", RUN_S) == 0, c.tail("a")
    events = _events(c, root)
    emerg = [e for e in events if e["event"] == "emergency"]
    assert len(emerg) == 1 and emerg[0]["ok"] and emerg[0]["source"] == "sigterm"
    grown = [e for e in events if e["event"] == "resume" and e["world"] == 2]
    assert len(grown) == 2 and all(e["step"] == emerg[0]["step"] and e["checkpoint_world"] == 1 for e in grown)
    seen = defaultdict(list)
    for e in (e for e in events if e["event"] == "step"):
        seen[e["epoch"]].extend(e["indices"])
    for epoch, idx in seen.items():
        assert sorted(idx) == list(range(192)), f"epoch {epoch}"
