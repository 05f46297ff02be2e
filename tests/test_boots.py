"""spotshield/boots.py: boots, the one preemption definition, work lost, billable and on-demand time."""
from __future__ import annotations

import pytest

from boot_events import BILLABLE_S, ON_DEMAND_S, four_boots
from spotshield import boots
from spotshield.billing import billable_seconds
from spotshield.events import validate_event


def ev(event, t, boot, host="vm-a", **f):
    return {"event": event, "t": t, "host": host, "boot": boot, **f}


def test_fixture_events_are_well_formed():
    assert all(validate_event(e) == [] for e in four_boots())


def test_boots_are_ordered_by_their_first_event_and_start_at_vm_boot():
    bs = boots.split_boots(four_boots())
    assert [b.boot for b in bs] == ["b0", "b1", "b2", "b3"]
    assert bs[1].t_start == 1030.0 and bs[1].t_ready == 1038.5 and bs[1].from_step == 100
    assert [round(end - start, 6) for start, end in boots.spans(bs)] == [20.2, 20.2, 20.2, 19.7]


def test_a_boot_starts_when_its_boot_script_did():
    """vm_boot comes after the script's metadata reads; its script_start_t is the VM's power-on."""
    b, = boots.split_boots([ev("vm_boot", 10.0, "b0", script_start_t=9.2), ev("exit", 20.0, "b0")])
    assert b.t_start == 9.2 and b.span == (9.2, 20.0)
    b, = boots.split_boots([ev("vm_boot", 10.0, "b0", script_start_t=11.0), ev("exit", 20.0, "b0")])
    assert b.t_start == 10.0  # a start after the event itself is not believed


def test_billable_and_on_demand_seconds():
    bs = boots.split_boots(four_boots())
    assert billable_seconds(boots.spans(bs)) == pytest.approx(BILLABLE_S)
    assert boots.on_demand_seconds(bs) == pytest.approx(ON_DEMAND_S)


def test_without_boot_script_events_billing_falls_back_to_each_boots_first_event():
    bs = boots.split_boots(four_boots(vm_events=False))
    # each boot from its trainer start (+8.5 s) to its exit (+20.0 s, or +19.6 s for the last)
    assert billable_seconds(boots.spans(bs)) == pytest.approx(3 * 11.5 + 11.1)
    assert boots.on_demand_seconds(bs) == pytest.approx(3 * 10.0 + 11.0 + 0.1)  # no start-up is seen
    assert len(boots.preempted_boots(bs)) == 3


def test_uninterrupted_run_costs_the_same_on_demand():
    one = [e for e in four_boots() if e["boot"] == "b3"]
    bs = boots.split_boots(one)
    assert boots.on_demand_seconds(bs) == pytest.approx(billable_seconds(boots.spans(bs)))
    assert boots.preempted_boots(bs) == []


def test_one_preemption_definition():
    notice = [ev("start", 0, "a"), ev("preempt_notice", 5, "a", step=1), ev("exit", 6, "a", step=1, code=75)]
    vm_says_stop = notice + [ev("vm_notice", 5.1, "a", preempted=False)]
    crashed = [ev("start", 0, "a"), ev("exit", 3, "a", step=0, code=1)]
    vanished = [ev("start", 0, "a"), ev("step", 3, "a", step=10)]
    later = [ev("start", 10, "b")]
    count = lambda evs: len(boots.preempted_boots(boots.split_boots(evs)))  # noqa: E731
    assert count(notice) == 1  # the trainer saw the notice
    assert count(vm_says_stop) == 0  # shutdown.sh says it was a stop or deletion: not a preemption
    assert count([*vm_says_stop[:-1], ev("vm_notice", 5.1, "a", preempted=True)]) == 1
    assert count(crashed + later) == 0  # an error exit is not a preemption
    assert count(vanished) == 0  # no goodbye, but nothing replaced it: it may still be running
    assert count(vanished + later) == 1  # replaced without a goodbye: a hard stop


def test_work_lost_is_the_redone_steps_on_the_dying_boots_clock():
    evs = [ev("start", 0, "a"), ev("step", 10, "a", step=100), ev("checkpoint", 12, "a", step=100, snapshot_t=10),
           ev("step", 20, "a", step=200), ev("preempt_notice", 25, "a", step=250),
           ev("start", 40, "b"), ev("resume", 41, "b", from_step=100), ev("step", 51, "b", step=200)]
    lost = boots.work_lost(boots.split_boots(evs))
    assert lost.steps == 150 and lost.seconds == pytest.approx(25 - 10)  # step 100 at 10 s (its snapshot) .. 250 at 25 s
    assert boots.work_lost(boots.split_boots(four_boots())) == boots.WorkLost(0, 0.0)  # emergency saves lose nothing


def test_run_history_has_the_trainers_shape_and_uses_the_one_preemption_definition():
    evs = [ev("vm_boot", 0.0, "a"), ev("start", 5.0, "a"), ev("step", 20.0, "a", step=40),
           ev("vm_notice", 21.0, "a", preempted=True), ev("exit", 22.0, "a", step=40, code=75),  # preempted
           ev("start", 30.0, "b"), ev("exit", 31.0, "b", step=40, code=1),  # crashed: not a preemption
           ev("start", 40.0, "c"), ev("step", 50.0, "c", step=60),  # vanished: a hard stop
           ev("start", 60.0, "d"), ev("preempt_notice", 61.0, "d", step=60), ev("vm_notice", 61.1, "d", preempted=False),
           ev("exit", 62.0, "d", step=60, code=75),  # `down` stopped it: not a preemption
           ev("start", 90.0, "me")]
    h = boots.run_history(evs, boot="me")
    assert set(h) == {"preemptions", "exposure_s", "last_step", "last_t", "boots"}
    assert (h["preemptions"], h["boots"]) == (2, 4)
    assert h["exposure_s"] == pytest.approx(22.0 + 1.0 + 10.0 + 2.0)  # from vm_boot where the script wrote one
    assert (h["last_step"], h["last_t"]) == (60, 62.0)
    assert boots.run_history([], boot="me") == {"preemptions": 0, "exposure_s": 0, "last_step": -1, "last_t": None,
                                                "boots": 0}


def test_run_history_counts_preemptions_and_uses_the_latest_boot():
    ev = [
        {"event": "start", "t": 0.0, "boot": "a"}, {"event": "step", "step": 100, "t": 50.0, "boot": "a"},
        {"event": "preempt_notice", "step": 100, "t": 60.0, "boot": "a"},
        {"event": "exit", "step": 100, "code": 75, "t": 61.0, "boot": "a"},
        {"event": "start", "t": 70.0, "boot": "b"}, {"event": "step", "step": 95, "t": 80.0, "boot": "b"},  # kill -9
        {"event": "start", "t": 90.0, "boot": "me"},
    ]
    h = boots.run_history(ev, boot="me")
    assert h["preemptions"] == 2 and h["boots"] == 2
    assert h["exposure_s"] == pytest.approx(61.0 + 10.0)
    assert (h["last_step"], h["last_t"]) == (95, 80.0)  # the most recent boot, not the highest step ever


def test_a_job_of_two_vms_counts_the_preempted_vm_only():
    """Rank 0's notice on vm-a came from a rank on vm-b (noticed_by), and vm-a trained on: vm-b
    alone was preempted; vm-b's boot beside vm-a is not a replacement of vm-a's."""
    from job_events import B, two_vm_job

    bs = boots.split_boots(two_vm_job())
    assert boots.side_by_side(bs)
    assert [(b.host, b.boot) for b in boots.preempted_boots(bs)] == [(B, "b1")]
    # the other VMs' boots resume nothing: no work is counted lost between them and rank 0's
    assert boots.work_lost(bs) == boots.WorkLost(0, 0.0)
    # a new round's rank 0 on vm-a counts vm-b's preemption, not the boot running beside it
    assert boots.run_history(two_vm_job(), boot="a1")["preemptions"] == 1
    before_any_round = boots.split_boots(two_vm_job(until=5))
    assert boots.preempted_boots(before_any_round, several=True) == []  # vm-b booting after vm-a replaces nothing


def test_in_a_job_of_two_vms_a_vm_that_vanished_is_preempted_once_the_group_recreates_it():
    from job_events import A, B, nodes, START

    def ev(t, host, boot, event, **f):
        return {"event": event, "t": t, "host": host, "boot": boot, **f}

    job = [ev(0, A, "a1", "vm_boot"), ev(1, B, "b1", "vm_boot"),
           ev(10, A, "a1", "start", **START, pid=1, world_size=4, nodes=nodes((A, "a1"), (B, "b1"))),
           ev(20, A, "a1", "step", step=10), ev(25, A, "a1", "exit", step=12, code=1, reason="error")]
    assert boots.preempted_boots(boots.split_boots(job)) == []  # a worker failed; nothing says why yet
    back = job + [ev(60, B, "b2", "vm_boot")]
    assert [(b.host, b.boot) for b in boots.preempted_boots(boots.split_boots(back))] == [(B, "b1")]


def test_in_a_job_of_two_vms_rank_0s_own_notice_counts_once_its_vm_is_gone():
    """A stop from vm-a's own agent (a VM joining) is no preemption while vm-a trains on; a notice
    on vm-a whose vm_notice never reached the store counts once vm-a's command has ended."""
    from job_events import A, two_vm_job

    def count(evs):
        return [(b.host, b.boot) for b in boots.preempted_boots(boots.split_boots(evs))]

    assert len(count(two_vm_job(until=112))) == 1  # between the stop and the next round's start
    gone = two_vm_job(until=150) + [
        {"event": "preempt_notice", "t": 1160.0, "host": A, "boot": "a1", "step": 90, "source": "sigterm",
         "noticed_by": 0, "world_size": 4},
        {"event": "exit", "t": 1161.0, "host": A, "boot": "a1", "step": 90, "code": 75, "reason": "preempted"}]
    assert (A, "a1") not in count(gone)  # so far only its workers stopped
    assert (A, "a1") in count(gone + [{"event": "command_exit", "t": 1162.0, "host": A, "boot": "a1", "code": 143}])
    assert (A, "a1") in count(gone + [{"event": "vm_boot", "t": 1200.0, "host": A, "boot": "a2"}])


def test_one_vm_of_two_ranks_a_notice_that_rank_1_saw_is_a_preemption_of_that_vm():
    """torchrun --standalone (tests/library/test_run_under_torchrun.py): both ranks on one VM, one boot per launch."""
    both = [{"host": "vm-a", "boot": "b1", "ranks": [0, 1]}]
    evs = [ev("start", 0, "b1", world_size=2, nodes=both), ev("step", 5, "b1", step=9),
           ev("preempt_notice", 6, "b1", step=9, source="peer", noticed_by=1, world_size=2),
           ev("exit", 7, "b1", step=9, code=75), ev("start", 20, "b2", world_size=2, nodes=[{**both[0], "boot": "b2"}])]
    bs = boots.split_boots(evs)
    assert not boots.side_by_side(bs) and [b.boot for b in boots.preempted_boots(bs)] == ["b1"]
