"""spotshield/analysis/emulated.py: real seconds -> emulated seconds under each time model."""
import pytest

from spotshield.analysis.emulated import Timeline, guest_intervals, timeline, to_emulated


def ev(event, t, boot="b0", **f):
    return {"event": event, "t": t, "host": "vm", "boot": boot, **f}


BOOTS = [ev("vm_boot", 100.0), ev("start", 105.0), ev("step", 106.0, step=1), ev("step", 110.0, step=5),
         ev("checkpoint", 110.5, step=5, stall_s=0.5, persist_s=0.2, snapshot_t=110.0),
         ev("preempt_notice", 111.0, step=5, notice_t=111.0), ev("exit", 111.5, step=5),
         ev("vm_boot", 113.0, boot="b1"), ev("start", 120.0, boot="b1"), ev("resume", 120.5, boot="b1", from_step=5),
         ev("step", 121.5, boot="b1", step=6)]


def test_guest_intervals_are_start_ups_and_shutdowns():
    # start-ups from power-on to the first step (walked back by seconds per step): 100-106 and
    # 113-121.5; boot 0's shutdown from its notice (111) to its last event (111.5)
    assert guest_intervals(BOOTS) == [(100.0, 106.0), (111.0, 111.5), (113.0, 121.5)]


def test_a_boot_that_never_trained_started_up_until_its_notice_then_shut_down():
    events = [ev("vm_boot", 0.0), ev("start", 3.0), ev("preempt_notice", 4.0, step=0), ev("exit", 4.2, step=0)]
    assert guest_intervals(events) == [(0.0, 4.2)]


def test_in_a_job_a_vm_without_events_of_its_own_trains_from_the_jobs_next_first_step():
    """Two VMs under torchrun: rank 0 on vm-a writes the trainer's events; vm-b's boot script writes
    only its own. vm-b is preempted (its notice ends the round), reboots, and the re-formed job's
    first step ends vm-b's second start-up, as the emulator's hold ends there (nodehealth's phase)."""
    nodes = [{"host": "vm-a", "boot": "a0", "ranks": [0]}, {"host": "vm-b", "boot": "b0", "ranks": [1]}]
    nodes2 = [nodes[0], {"host": "vm-b", "boot": "b1", "ranks": [1]}]

    def a(event, t, **f):
        return {"event": event, "t": t, "host": "vm-a", "boot": "a0", **f}

    def b(event, t, boot, **f):
        return {"event": event, "t": t, "host": "vm-b", "boot": boot, **f}

    events = [a("vm_boot", 0.0), b("vm_boot", 1.0, "b0"), a("start", 8.0, nodes=nodes, world_size=2),
              a("step", 10.0, step=1), a("step", 14.0, step=5),
              b("vm_notice", 15.0, "b0", preempted=True), a("preempt_notice", 15.2, step=5, noticed_by=1),
              a("emergency_checkpoint", 15.5, step=5, ok=True), a("exit", 15.6, step=5), b("command_exit", 16.0, "b0"),
              b("vm_boot", 20.0, "b1"), a("start", 30.0, nodes=nodes2, world_size=2),
              a("resume", 30.5, from_step=5), a("step", 32.0, step=6), a("step", 35.0, step=9), a("done", 36.0, step=9)]
    # vm-a: 0-10 (its own first step); vm-b's first boot: 1 until the job's first step at 10, then its
    # notice (15) to its last event (16); its second: 20 until the re-formed job's first step (32).
    # vm-a's trainer heard of vm-b's notice (noticed_by rank 1): vm-a itself never shut down.
    assert guest_intervals(events) == [(0.0, 10.0), (15.0, 16.0), (20.0, 32.0)]


def test_the_boot_scripts_start_is_the_power_on():
    events = [ev("vm_boot", 2.0, script_start_t=1.0), ev("start", 3.0), ev("step", 4.0, step=1)]
    assert guest_intervals(events) == [(1.0, 4.0)]


def test_the_timeline_counts_held_seconds_once():
    tl = Timeline(60, [(10.0, 20.0), (30.0, 31.0)], origin=0.0)
    assert tl.at(10.0) == 600.0 and tl.at(20.0) == 610.0 and tl.at(30.0) == 1210.0
    assert tl.span(25.0, 40.0) == pytest.approx(5 * 60 + 1 + 9 * 60)


def test_to_emulated_maps_times_and_scales_training_thread_durations():
    mapped = to_emulated(BOOTS, 60, "real")
    out = {(e["boot"], e["event"]): e for e in mapped}  # the last event of each kind
    assert out[("b0", "start")]["t"] == pytest.approx(105.0)  # inside the start-up: 1x from the origin 100
    assert [e["t"] for e in mapped if e["event"] == "step" and e["boot"] == "b0"] == pytest.approx([106.0, 346.0])
    ck = out[("b0", "checkpoint")]
    assert ck["t"] == pytest.approx(106 + 4.5 * 60) and ck["snapshot_t"] == pytest.approx(106 + 4 * 60)
    assert ck["stall_s"] == pytest.approx(30.0) and ck["persist_s"] == pytest.approx(12.0)
    # notice (111) -> exit (111.5): the guest's shutdown, 1x; exit -> the next power-on (113.0): 60x
    assert out[("b0", "exit")]["t"] - out[("b0", "preempt_notice")]["t"] == pytest.approx(0.5)
    assert out[("b1", "vm_boot")]["t"] - out[("b0", "exit")]["t"] == pytest.approx(1.5 * 60)
    scaled = {(e["boot"], e["event"]): e for e in to_emulated(BOOTS, 60, "scaled")}
    assert scaled[("b0", "start")]["t"] == pytest.approx(100 + 5 * 60)
    assert BOOTS[1]["t"] == 105.0  # the input is left alone


def test_a_bad_time_model_is_refused():
    with pytest.raises(ValueError, match="guest_time must be one of"):
        timeline(BOOTS, 60, "sometimes")
