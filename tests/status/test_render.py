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
    out = text_of(render(collect(rec, now=2100.0)))
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
