"""Every stack command's options, help and errors through typer's CliRunner."""
from __future__ import annotations

import json

import pytest

from spotshield.backends.record import StackRecord, record_path, save_record

COMMANDS = ("up", "status", "down", "teardown", "plan", "logs")


def one_error_line(r) -> str:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def a_record(**kw) -> StackRecord:
    base = dict(backend="local", name="spotshield", project="spotshield-local", region="us-central1",
                zones=["us-central1-a"], mig="spotshield-mig", bucket="spotshield-local", run_id="adaptive-1",
                store="gs://spotshield-local/runs/adaptive-1", strategy="adaptive")
    return StackRecord(**{**base, **kw})


@pytest.mark.parametrize("command", COMMANDS)
def test_help_documents_every_option(cli, command):
    r = cli(command, "--help")
    assert r.exit_code == 0
    assert "--help" in r.stdout
    if command in ("up", "plan"):
        assert "Precedence: command line > SPOTSHIELD_* env > spotshield.yaml" in " ".join(r.stdout.split())
        for opt, env in (("--strategy", "SPOTSHIELD_STRATEGY"), ("--backend", "SPOTSHIELD_BACKEND"),
                         ("--zones", "SPOTSHIELD_ZONES"), ("--pattern", "SPOTSHIELD_PATTERN")):
            assert opt in r.stdout and env in r.stdout
    if command == "up":
        assert "--detach" in r.stdout and "--config" in r.stdout and "--rate" in r.stdout
    if command == "status":
        assert "--watch" in r.stdout and "--json" in r.stdout
    if command in ("down", "teardown"):
        assert "--delete-checkpoints" in r.stdout


def test_root_help_lists_the_commands(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for c in COMMANDS:
        assert c in r.stdout


@pytest.mark.parametrize("args,needle", [
    (("up", "--strategy", "yolo"), "unknown strategy 'yolo'"),
    (("up", "--zones", "us-central1-a,nowhere"), "bad zone 'nowhere'"),
    (("up", "--zones", "europe-west4-a"), "bad zone 'europe-west4-a': zones must be in region us-central1"),
    (("up", "--zones", ","), "zone list is empty"),
    (("up", "--rate", "-3"), "preemption rate must be >= 0"),
    (("up", "--pattern", "storm"), "unknown preemption pattern 'storm'"),
    (("up", "--backend", "aws"), "unknown backend 'aws'"),
    (("up", "--backend", "gcp"), "the gcp backend needs a project"),
    (("up", "--rate", "lots"), "Invalid value for '--rate'"),
    (("up", "--frobnicate"), "No such option: --frobnicate"),
    (("status", "--watch", "--json"), "nothing is up"),
    (("down",), "nothing is up"),
    (("teardown",), "nothing is up"),
    (("logs",), "nothing is up"),
    (("down", "--backend", "azure"), "unknown backend 'azure'"),
])
def test_bad_input_is_one_line_and_exit_1(cli, args, needle):
    assert needle in one_error_line(cli(*args))


def test_up_twice_refuses_and_keeps_the_record(cli, root):
    save_record(a_record())
    before = record_path().read_text()
    line = one_error_line(cli("up", "--strategy", "adaptive"))
    assert "a stack is already up (local, run adaptive-1); run 'spotshield down' first" in line
    assert record_path().read_text() == before


def test_corrupt_record_is_reported_and_left_alone(cli, root):
    path = record_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"backend": "local", "na')
    for args in (("status",), ("down",), ("logs",), ("up",)):
        line = one_error_line(cli(*args))
        assert "stack record" in line and "is corrupt" in line and "move it aside" in line
    assert path.read_text() == '{"backend": "local", "na'  # nothing lost
    path.write_text(json.dumps({"backend": "local"}))
    assert "is incomplete" in one_error_line(cli("status"))


def test_state_dir_that_is_a_file(cli, root):
    (root / ".spotshield").write_text("not a dir")
    assert "nothing is up" in one_error_line(cli("status"))


def test_watch_and_json_do_not_mix(cli, root):
    save_record(a_record())
    assert "--watch and --json do not mix" in one_error_line(cli("status", "--watch", "--json"))


def test_delete_checkpoints_needs_confirmation(cli, root):
    save_record(a_record())
    r = cli("down", "--delete-checkpoints", input="n\n")
    assert r.exit_code == 1 and "aborted" in r.stderr
    assert record_path().exists()  # nothing was stopped, nothing deleted


def test_unknown_setting_in_file_names_the_file(cli, root):
    (root / "spotshield.yaml").write_text("machine: big\n")
    line = one_error_line(cli("up"))
    assert "unknown setting 'machine'" in line and "spotshield.yaml" in line


def test_missing_trainer_config(cli, root):
    line = one_error_line(cli("up", "--config", str(root / "nope.yaml")))
    assert "trainer config" in line and "not found" in line


def test_down_with_a_dead_emulator_clears_the_stale_record(cli, root):
    save_record(a_record(endpoints={"compute": "http://127.0.0.1:9", "storage": "http://127.0.0.1:9"}))
    r = cli("down")
    assert r.exit_code == 0, r.output
    assert "not running" in r.stderr and "checkpoints kept" in r.stdout
    assert not record_path().exists()
    assert "nothing is up" in one_error_line(cli("down"))


def test_plan_local_shows_what_up_would_create_and_starts_nothing(cli, root):
    r = cli("plan", "--strategy", "milestone", "--pattern", "poisson", "--rate", "6", "--fleet-size", "2", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["backend"] == "local" and plan["emulator"]["running"] is False
    assert plan["preemptions"] == {"pattern": "poisson", "rate_per_hour": 6.0, "trace": None}
    assert plan["region_instance_group_manager"]["targetSize"] == 2
    assert not record_path().exists() and not (root / ".spotshield" / "local" / "daemon.json").exists()


def test_plan_local_table_names_each_resource(cli, root):
    from rich.console import Console

    from spotshield.cli.plan_view import local_plan_table

    args = ("plan", "--pattern", "poisson", "--rate", "6", "--fleet-size", "2", "--zones", "us-central1-b,us-central1-c")
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert "managed group" in r.stdout and "spotshield-mig" in r.stdout  # the table, not JSON
    wide = Console(width=220, record=True, file=open("/dev/null", "w"))
    wide.print(local_plan_table(json.loads(cli(*args, "--json").stdout)))
    rows = {line.split("│")[1].strip(): line for line in wide.export_text().splitlines() if line.count("│") >= 3}
    assert {"emulator", "bucket", "build", "instance template", "managed group", "preemptions"} <= set(rows)
    assert "size 2 over us-central1-b, us-central1-c" in rows["managed group"]
    assert "spot" in rows["instance template"] and "nvidia-l4" in rows["instance template"]
    assert "poisson" in rows["preemptions"] and "6 per emulated hour" in rows["preemptions"]


def test_every_option_has_help_and_an_envvar():
    import typer

    from spotshield.cli.main import app

    group = typer.main.get_command(app)
    no_env = {"delete_checkpoints", "yes"}  # deleting checkpoints is asked on the command line only
    for name in COMMANDS:
        for p in group.commands[name].params:
            assert p.help, (name, p.name)
            if p.name not in no_env:
                assert p.envvar and str(p.envvar).startswith("SPOTSHIELD_"), (name, p.name)
