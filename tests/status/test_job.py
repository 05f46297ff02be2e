"""spotshield/status/job.py: a job of two VMs under torchrun through a preemption, a round alone,
a VM back and the grown round (tests/job_events.py), as status's Job section sees it."""
from __future__ import annotations

import pytest
from job_events import A, B, START, nodes, two_vm_job

from spotshield.boots import split_boots
from spotshield.status.job import job

T0 = 1000.0


def at(until: float, *, instances=(), fleet_size=2, events=None, **kw) -> dict | None:
    evs = two_vm_job(T0, until=until, **kw) if events is None else events
    return job(evs, split_boots(evs), fleet_size=fleet_size, min_nodes=1, instances=list(instances),
               now=T0 + until, stopped=False)


def hosts(j: dict) -> list[tuple]:
    return [(n["host"], n["ranks"], n["left"]) for n in j["nodes"]]


def test_the_state_goes_running_reforming_running_and_names_the_preempted_vm():
    j = at(5)
    assert (j["state"], j["round"], j["world_size"]) == ("WAITING", 0, None)
    assert [n["host"] for n in j["joining"]] == [A, B]  # both VMs are up, no round has formed

    j = at(26)
    assert (j["state"], j["world_size"], j["max_world_size"], j["ranks_per_node"]) == ("RUNNING", 4, 4, 2)
    assert hosts(j) == [(A, [0, 1], None), (B, [2, 3], None)]
    assert j["last_preempted"] is None and j["preempted"] == 0

    j = at(31)  # vm-b's notice, rank 0's stop: no new round yet
    assert j["state"] == "RE-FORMING" and j["why"] == f"{B} preempted"
    assert j["since_t"] == T0 + 30.0 and j["since_s"] == 1.0
    assert hosts(j) == [(A, [0, 1], None), (B, [2, 3], "preempted")]
    assert j["last_preempted"] == {"host": B, "boot": "b1", "t": T0 + 30.0} and j["preempted"] == 1

    j = at(60)  # vm-a alone
    assert (j["state"], j["round"], j["world_size"], j["max_world_size"]) == ("RUNNING", 2, 2, 4)
    assert hosts(j) == [(A, [0, 1], None)] and j["resumed_from"] == 28 and j["joining"] == []
    assert j["last_preempted"]["host"] == B

    j = at(105)  # vm-b is back and waits in the rendezvous; the round goes on until the agents stop it
    assert j["state"] == "RUNNING" and [(n["host"], n["boot"]) for n in j["joining"]] == [(B, "b2")]

    j = at(112)
    assert j["state"] == "RE-FORMING" and j["why"] == f"{B} joining"
    assert j["preempted"] == 1  # the stop vm-a's own agent sent is no preemption of vm-a

    j = at(150)
    assert (j["state"], j["round"], j["world_size"], j["resumed_from"]) == ("RUNNING", 3, 4, 60)
    assert hosts(j) == [(A, [0, 1], None), (B, [2, 3], None)] and j["joining"] == []
    assert j["preempted"] == 1 and j["last_preempted"]["host"] == B  # vm-a trained on: not preempted

    j = at(300, done=True)
    assert j["state"] == "DONE" and j["since_t"] == T0 + 200.0
    assert all(n["left"] is None for n in j["nodes"])  # the commands' exits after DONE are no loss


def test_a_vm_down_without_any_event_is_lost_by_the_compute_api():
    j = at(26, instances=[{"name": A, "status": "RUNNING"}, {"name": B, "status": "STOPPING"}])
    assert j["state"] == "RE-FORMING" and j["why"] == f"{B} lost without a notice"
    assert hosts(j)[1] == (B, [2, 3], "lost")
    assert at(26, instances=[{"name": A, "status": "RUNNING"}, {"name": B, "status": "RUNNING"}])["state"] == "RUNNING"


def test_a_failed_worker_and_a_notice_from_a_rank_name_what_ended_the_round():
    evs = two_vm_job(T0, until=26)
    failed = evs + [{"event": "exit", "t": T0 + 27, "host": A, "boot": "a1", "step": 26, "code": 1, "reason": "error",
                     "error": "RuntimeError: Connection closed by peer"}]
    assert at(27, events=failed)["why"] == "a worker failed: RuntimeError: Connection closed by peer"
    told = evs + [{"event": "preempt_notice", "t": T0 + 27, "host": A, "boot": "a1", "step": 26, "source": "peer",
                   "noticed_by": 2}]
    assert at(27, events=told)["why"] == f"a stop notice (rank 2 on {B})"


def test_one_process_on_one_vm_has_no_job_and_an_older_library_names_rank_0_only():
    single = [{"event": "start", "t": T0, "host": A, "boot": "a1", **START, "pid": 1, "world_size": 1}]
    assert at(1, events=single, fleet_size=1) is None
    assert at(1, events=[{**single[0], "world_size": None}], fleet_size=1) is None  # older events: no world size
    old = [{**single[0], "world_size": 4}]  # no nodes field
    j = at(1, events=old, fleet_size=2)
    assert j["state"] == "RUNNING" and not j["ranks_known"] and hosts(j) == [(A, [0], None)]
    assert at(26, events=[{k: v for k, v in e.items() if k != "nodes"} for e in two_vm_job(T0, until=26)])[
        "joining"] == []  # vm-b may well be in the round: it is not said to join
    assert j["max_world_size"] is None  # ranks per node unknown
    assert at(1, events=[{**single[0], "nodes": nodes((A, "a1"))}], fleet_size=1) is None  # one VM, one rank


@pytest.mark.parametrize("stopped", [True, False])
def test_stopped_by_the_boot_script(stopped):
    evs = two_vm_job(T0, until=26)
    j = job(evs, split_boots(evs), fleet_size=2, min_nodes=None, instances=[], now=T0 + 30, stopped=stopped)
    assert j["state"] == ("STOPPED" if stopped else "RUNNING")
