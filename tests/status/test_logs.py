"""`spotshield logs`: the run's events from the bucket, or an instance's serial console."""
from __future__ import annotations

from runs import write_run
from test_collect import RUN, record
from typer.testing import CliRunner

from spotshield.cli.main import app
from spotshield.backends.record import save_record
from spotshield.storage import open_store


def test_events_and_instance_console(gcs_bucket, gcs_server, region, tmp_path):
    region.create_fleet("fleet-mig", 1)
    region.fill()
    inst = region.backend.members("fleet-mig")[0]
    console = tmp_path / "serial.log"
    console.write_text("startup.sh: installing build 0.1.0+abc\nstartup.sh: exec spotshield train\n")
    inst.serial_path = str(console)
    rec = record(gcs_bucket, gcs_server.url, region.url)
    write_run(open_store(rec.store), RUN, inst.name, t0=2000.0)
    save_record(rec)

    r = CliRunner().invoke(app, ["logs", "-n", "3"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith(f"{inst.name}/b2 epoch_end: epoch 2 acc 93.0%")
    r = CliRunner().invoke(app, ["logs", "-n", "0"])
    assert r.exit_code == 0 and r.stdout == ""
    r = CliRunner().invoke(app, ["logs", "-n", "100"])
    every = r.stdout.splitlines()
    assert len(every) == 14  # 8 events of boot b1, 6 of b2, in time order
    assert f"{inst.name}/b2 resume: from step 300, lost 20 steps" in every[9]

    r = CliRunner().invoke(app, ["logs", "--instance", inst.name])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["startup.sh: installing build 0.1.0+abc", "startup.sh: exec spotshield train"]

    r = CliRunner().invoke(app, ["logs", "--instance", "ghost"])
    assert r.exit_code == 1
    assert f"no instance 'ghost' in fleet-mig; instances: {inst.name}" in r.stderr


def test_watch_follows_until_done(gcs_bucket, gcs_server, region, capsys):
    from spotshield.cli.stack import _watch

    rec = record(gcs_bucket, gcs_server.url, region.url)
    write_run(open_store(rec.store), RUN, "vm-1", t0=2000.0, done=True)
    _watch(rec, until_done=True, interval=0.01)  # returns by itself: the run is DONE
    out = capsys.readouterr().out
    assert "DONE" in out and "run DONE: 'spotshield status' shows the summary" in out
