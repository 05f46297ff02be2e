"""render(): the Rich view as plain text, and `spotshield status` / `--json` on a recorded stack."""
from __future__ import annotations

import json

from rich.console import Console
from runs import write_run
from test_collect import RUN, record

from spotshield.status.collect import collect
from spotshield.backends.record import save_record
from spotshield.status.render import duration, render, size, sparkline, usd
from spotshield.storage import open_store


def text_of(renderable, width: int = 110) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text()


def test_helpers():
    assert [duration(s) for s in (None, 5, 65, 3725)] == ["-", "5s", "1m05s", "1h02m"]
    assert [size(n) for n in (None, 512, 2 << 20)] == ["-", "512 B", "2.0 MB"]
    assert sparkline([0.1, 0.5, 0.9]) == "▁▄█"
    assert sparkline([]) == ""
    assert [usd(x) for x in (None, 0.0123, 12.5)] == ["-", "$0.0123", "$12.50"]


def test_view_shows_every_section(gcs_bucket, gcs_server, region):
    region.create_fleet("fleet-mig", 1)
    region.fill()
    rec = record(gcs_bucket, gcs_server.url, region.url)
    host = region.backend.members("fleet-mig")[0].name
    write_run(open_store(rec.store), RUN, host, t0=2000.0)
    d = collect(rec, now=2100.0)
    out = text_of(render(d))
    assert d["job"] is None and "Job" not in out and "rank" not in out  # one process on one VM: as before
    for needle in ("backend=gcp", "fleet-mig", "g2-standard-4 + 1x nvidia-l4", host, "RUNNING",
                   "step 600/1000", "epoch 2/4", "60.0%", "700 images/s", "ETA", "40s",
                   "93.0% (epoch 2)", "step 300 (adaptive)", "1m08s ago", "stall 0.04s", "2.0 MB",
                   "preemptions", "1  (resumes 1", "0 ok / 1 missed", "work lost", "3s  (20 steps)",
                   "epoch_end", "from step 300, lost 20 steps",
                   "spot spent vs", "on-demand equivalent  saving 56.5%", "(spot price estimated)",
                   "price discount 60.2% (spot vs on-demand price alone)"):
        assert needle in out, needle
    assert "stopped" not in out


def test_view_says_why_the_group_was_stopped(gcs_bucket, gcs_server, region):
    region.create_fleet("fleet-mig", 1)
    rec = record(gcs_bucket, gcs_server.url, region.url)
    store = open_store(rec.store)
    write_run(store, RUN, "vm-x", t0=2000.0)
    store.write("STOPPED", json.dumps({"reason": "crash loop", "error": "RuntimeError: CUDA out of memory",
                                       "boots": 3, "t": 2050.0}).encode())
    out = text_of(render(collect(rec, now=2100.0)), width=140)
    assert "stopped: crash loop: RuntimeError: CUDA out of memory" in out
    assert "STOPPED" in out  # the training state


def test_status_command_text_and_json(gcs_bucket, gcs_server, region, monkeypatch):
    from typer.testing import CliRunner

    from spotshield.cli.main import app

    region.create_fleet("fleet-mig", 2)
    region.fill()
    rec = record(gcs_bucket, gcs_server.url, region.url)
    write_run(open_store(rec.store), RUN, region.backend.members("fleet-mig")[0].name, t0=2000.0)
    save_record(rec)
    monkeypatch.setenv("COLUMNS", "120")
    r = CliRunner().invoke(app, ["status"])
    assert r.exit_code == 0, r.output
    assert "Instances" in r.stdout and "step 600/1000" in r.stdout
    r = CliRunner().invoke(app, ["status", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data["instances"]) == 2 and data["progress"]["step"] == 600
    assert data["stack"]["run_id"] == RUN and data["preemptions"]["count"] == 1


def test_a_bill_under_guest_time_real_says_how_its_emulated_hours_were_counted():
    from spotshield.status.render import _cost_rows

    c = {"spot_usd": 0.01, "on_demand_vm_usd": 0.0, "spent_usd": 0.01, "on_demand_usd": 0.02, "savings_pct": 50.0,
         "price_discount_pct": 60.2, "hours": 1.25, "billable_s": 4500.0, "time_scale": 1.0,
         "guest_time": "real", "stack_time_scale": 60.0}
    billed = dict(_cost_rows(c))["billed"]
    assert billed.startswith("1.250 h emulated (guests' own start-up and shutdown at 1x, the rest at 60x)")
    c.pop("guest_time")
    assert dict(_cost_rows(c))["billed"].startswith("1.250 h;")


def test_a_job_of_two_vms_shows_its_nodes_ranks_state_and_the_preempted_vm(gcs_bucket, gcs_server, region):
    from job_events import two_vm_job
    from runs import write_events

    region.create_fleet("fleet-mig", 2)
    region.fill()
    a, b = sorted(m.name for m in region.backend.members("fleet-mig"))
    rec = record(gcs_bucket, gcs_server.url, region.url)
    rec.fleet_size, rec.min_nodes = 2, 1
    store = open_store(rec.store)
    write_events(store, RUN, two_vm_job(2000.0, until=31, a=a, b=b))
    d = collect(rec, now=2035.0)
    assert d["problems"] == [] and d["job"]["state"] == "RE-FORMING"
    by = {i["name"]: i["preemptions"] for i in d["instances"]}
    assert (by[a], by[b], d["preemptions"]["count"], d["preemptions"]["steps_lost"]) == (0, 1, 1, 0)
    json.dumps(d)  # --json prints it
    out = text_of(render(d), width=140)
    for needle in ("Job (torchrun)", f"RE-FORMING  for 5s: {b} preempted; the survivors wait in the rendezvous for the next round",
                   "world      4 of 4 ranks  (2 of 2 nodes; 2 ranks each; elastic 1-2 nodes)  in the round that "
                   "ended",
                   f"nodes      {a}  ranks 0-1", f"{b}  ranks 2-3  preempted", "round      1, started 25s ago",
                   f"preempted  {b} 5s ago  (1 in all)", "at step 28 via peer (rank 3)"):
        assert needle in out, needle

    write_events(store, RUN, two_vm_job(2000.0, until=150, a=a, b=b))
    out = text_of(render(collect(rec, now=2150.0)), width=140)
    for needle in ("RUNNING  training at world 4", "round      3, started 30s ago, resumed from step 60",
                   f"preempted  {b} 2m00s ago  (1 in all)"):
        assert needle in out, needle
    assert f"{b}  ranks 2-3  preempted" not in out


def test_job_lines_for_a_round_of_an_older_library_and_before_any_round():
    from job_events import two_vm_job

    from spotshield.boots import split_boots
    from spotshield.status.job import job
    from spotshield.status.render import ranks

    assert [ranks(r) for r in ([0], [0, 1, 2, 5], [3, 1], None)] == ["rank 0", "ranks 0-2, 5", "ranks 1, 3", "ranks ?"]
    evs = two_vm_job(2000.0, until=26)  # VMs booted (their scripts began) at 1999.5 and 2001.5
    old = [{k: v for k, v in e.items() if k != "nodes"} for e in evs]  # a library before the nodes field
    for events, now, needles in (
            (old, 2030.0, ("RUNNING  training at world 4", "vm-a  rank 0 (other ranks' VMs not recorded)",
                           "world      4 ranks  (elastic 1-2 nodes)", "preempted  no VM yet")),
            (evs[:4], 2005.0, ("WAITING  no round yet: the rendezvous waits for at least 1 node",
                               "up         vm-a  (booted 6s ago)", "vm-b  (booted 4s ago)"))):
        d = {"job": job(events, split_boots(events), fleet_size=2, min_nodes=1, instances=[], now=now,
                        stopped=False), "now": now}
        out = text_of(_job_panel(d), width=120)
        for needle in needles:
            assert needle in out, (needle, out)


def _job_panel(d):
    from spotshield.status.render import _job

    return _job(d)
