"""The gcp backend end to end through the CLI: a fake terraform first on PATH, the emulator's
Compute API standing in for GCP's, fake-gcs-server for the bucket."""
from __future__ import annotations

import json

import pytest

from spotshield.backends.record import load_record, record_path
from spotshield.storage import open_store

PROJECT = "proj-test"  # the emulated region's project
UP = ("up", "--backend", "gcp", "--project", PROJECT, "--name", "fleet", "--zones", "us-central1-a,us-central1-b",
      "--fleet-size", "1", "--run-id", "adaptive-1", "--detach", "--wait-timeout", "20")


@pytest.fixture
def gcp(fake_terraform, region, gcs_server, monkeypatch):
    """Everything the gcp path talks to, on loopback."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    region.run_filler()  # the MIG's job: bring the group to its target size
    return fake_terraform


def test_up_status_down(cli, gcp, region, gcs_server, root):
    bucket = f"{PROJECT}-fleet-ckpt"
    r = cli(*UP)
    assert r.exit_code == 0, r.output
    argvs = gcp.argvs()
    # first up: the bucket does not exist, so apply once with an empty group, publish, apply again
    assert [a[0] for a in argvs] == ["init", "apply", "apply"]
    assert argvs[0] == ["init", "-no-color", "-input=false"]
    assert argvs[1] == argvs[2] == ["apply", "-auto-approve", "-no-color", "-input=false"]
    first, second = gcp.calls()[1]["tfvars"], gcp.calls()[2]["tfvars"]
    assert first["fleet_size"] == 0 and second["fleet_size"] == 1
    assert second["project"] == PROJECT and second["zones"] == ["us-central1-a", "us-central1-b"]
    assert second["bucket_name"] == bucket and second["run_id"] == "adaptive-1"
    assert json.loads(second["trainer_config"])["store"] == f"gs://{bucket}/runs/adaptive-1"
    # the build the VMs will install is in the bucket before the group has members
    store = open_store(f"gs://{bucket}")
    assert second["build_url"].startswith(f"gs://{bucket}/")
    import hashlib

    archive = store.read(second["build_url"].removeprefix(f"gs://{bucket}/"))
    assert hashlib.sha256(archive).hexdigest() == second["build_sha256"]
    from spotshield import __version__

    assert second["build_id"] == f"{__version__}+{second['build_sha256'][:12]}"
    assert "Apply complete!" in r.stdout  # Terraform's output streamed through
    rec = load_record()
    assert (rec.backend, rec.project, rec.mig, rec.run_id) == ("gcp", PROJECT, "fleet-mig", "adaptive-1")

    r = cli("status", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data["instances"]) == 1
    assert {i["status"] for i in data["instances"]} == {"RUNNING"}
    assert {i["zone"] for i in data["instances"]} <= {"us-central1-a", "us-central1-b"}
    r = cli("status")
    assert r.exit_code == 0 and "fleet-mig" in r.stdout and "backend=gcp" in r.stdout

    r = cli("up", "--backend", "gcp", "--project", PROJECT)
    assert r.exit_code == 1 and "already up" in r.stderr

    store.write("runs/adaptive-1/ckpt/step-000010/meta.json", b'{"step": 10}')
    r = cli("down")
    assert r.exit_code == 0, r.output
    destroy = gcp.argvs()[-1]
    assert destroy[0] == "destroy" and "-auto-approve" in destroy
    # every resource but the checkpoint bucket (module.checkpoint_bucket.google_storage_bucket.this)
    assert sorted(a for a in destroy if a.startswith("-target=")) == [
        "-target=module.spot_fleet.google_compute_instance_template.trainer",
        "-target=module.spot_fleet.google_compute_region_instance_group_manager.fleet",
        "-target=module.spot_fleet.google_storage_bucket_iam_member.trainer_objects",
    ]
    assert not record_path().exists()
    assert store.exists("runs/adaptive-1/ckpt/step-000010/meta.json")  # checkpoints remain
    assert region.backend.migs == {}


def test_apply_failure_is_terraforms_error_and_records_nothing(cli, gcp, monkeypatch, root):
    """A first up (no bucket yet) that fails in the bucket's apply has created no VM: nothing to record."""
    monkeypatch.setenv("FAKE_TF_FAIL", "apply")
    fresh = list(UP)
    fresh[fresh.index("fleet")] = "fresh"  # a bucket no earlier test created
    r = cli(*fresh)
    assert r.exit_code == 1 and "Traceback" not in r.output
    err = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert err == ["error: terraform apply failed: Error: Error creating InstanceGroupManager: googleapi: "
                   "Error 403: Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."]
    assert not record_path().exists()


def test_second_up_after_down_applies_once(cli, gcp, root):
    assert cli(*UP).exit_code == 0
    assert cli("down").exit_code == 0
    n = len(gcp.argvs())
    r = cli(*UP)
    assert r.exit_code == 0, r.output
    assert [a[0] for a in gcp.argvs()[n:]] == ["init", "apply"]  # the bucket is there: one apply


def test_delete_checkpoints_empties_the_bucket_and_destroys_all(cli, gcp, root):
    bucket = f"{PROJECT}-fleet-ckpt"
    assert cli(*UP).exit_code == 0
    store = open_store(f"gs://{bucket}")
    store.write("runs/adaptive-1/ckpt/step-000010/meta.json", b"{}")
    r = cli("down", "--delete-checkpoints", input="y\n")
    assert r.exit_code == 0, r.output
    assert gcp.argvs()[-1] == ["destroy", "-auto-approve", "-no-color", "-input=false"]
    assert store.list("") == []


def test_plan_runs_terraform_plan(cli, gcp, root):
    r = cli("plan", "--backend", "gcp", "--project", PROJECT, "--name", "fleet")
    assert r.exit_code == 0, r.output
    assert [a[0] for a in gcp.argvs()] == ["init", "plan"]
    assert "Plan: 4 to add" in r.stdout
    assert (root / "terraform" / "spotshield.auto.tfvars.json").exists()


def test_wait_times_out_with_a_clear_line(cli, fake_terraform, region, gcs_server, monkeypatch, root):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)  # no filler: the group never fills
    r = cli(*UP[:-1], "1")
    assert r.exit_code == 1
    assert "group fleet-mig not stable after 1s" in r.stderr
    assert load_record().backend == "gcp"  # applied, so recorded: `down` can find it


def test_the_stack_is_recorded_before_the_apply_that_waits_for_vms(cli, gcp, monkeypatch, root):
    """The sized apply waits for the members (wait_for_instances): if it fails or times out, `down`
    must still find the stack, or its VMs would keep billing."""
    assert cli(*UP).exit_code == 0 and cli("down").exit_code == 0  # the bucket now exists: one apply
    monkeypatch.setenv("FAKE_TF_FAIL", "apply")
    r = cli(*UP)
    assert r.exit_code == 1 and "Quota 'GPUS_ALL_REGIONS' exceeded" in r.stderr
    assert load_record().run_id == "adaptive-1"
    monkeypatch.delenv("FAKE_TF_FAIL")
    assert cli("down").exit_code == 0


@pytest.mark.parametrize("backend", ["gcp", "local"])
def test_up_rejects_a_built_in_job_of_two_nodes_with_a_minimum_of_three_with_one_line(cli, fake_terraform, root,
                                                                                     backend):
    """fleet_size 2 without --command is one job of the built-in trainer under torchrun; its node range is checked."""
    r = cli("up", "--backend", backend, "--project", PROJECT, "--fleet-size", "2", "--min-nodes", "3", "--detach")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip() == "error: min_nodes 3 is greater than fleet_size 2; set min_nodes to 1..2"
    assert fake_terraform.argvs() == [] and not record_path().exists()


def test_up_with_a_deadline_hands_terraform_the_controllers_config(cli, gcp, root):
    from spotshield.deadline.work import total_steps

    fresh = list(UP)
    fresh[fresh.index("fleet")] = "dlfleet"  # a bucket no earlier test created: the first up's two applies
    r = cli(*fresh, "--deadline", "8h", "--step-time", "0.5")
    assert r.exit_code == 0, r.output
    calls = [c for c in gcp.calls() if c["argv"][0] == "apply"]
    # no controller before the build is published (its VM installs it); then the full config
    assert calls[0]["tfvars"]["deadline_config"] == ""
    cfg = json.loads(calls[-1]["tfvars"]["deadline_config"])
    assert (cfg["spot_mig"], cfg["on_demand_mig"], cfg["policy"]) == ("dlfleet-mig", "dlfleet-od-mig", "uniform-progress")
    assert cfg["time_scale"] == 1.0 and cfg["compute_endpoint"] is None  # Google's own endpoint from the VM
    assert cfg["deadline"] - cfg["start"] == pytest.approx(8 * 3600)
    steps = total_steps(json.loads(calls[-1]["tfvars"]["trainer_config"]))
    assert steps > 0 and cfg["work_estimate_s"] == pytest.approx(steps * 0.5)  # the job's steps, 0.5 s each
    rec = load_record()
    assert rec.deadline["controller"]["mig"] == "dlfleet-dl-mig" and rec.deadline["on_demand_mig"] == "dlfleet-od-mig"
    assert cli("down").exit_code == 0


def test_a_deadline_the_gcp_backend_cannot_meet_is_refused_before_terraform_runs(cli, gcp, root):
    r = cli(*UP, "--deadline", "10m", "--step-time", "0.5")
    assert r.exit_code == 1 and "shorter than" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert gcp.argvs() == []


def test_a_torchrun_job_records_its_coordinators_machine_for_the_bill(monkeypatch, root):
    """status bills the coordinator VM that Terraform declares for such a job (issue 13)."""
    from spotshield.backends.gcp import GcpBackend
    from spotshield.settings import load_settings

    applied = []
    monkeypatch.setattr("spotshield.cloud.gcp.up", lambda *a, on_applied, **kw: applied.append(on_applied()))
    (root / "train.py").write_text("")
    job = load_settings({"project": PROJECT, "run_id": "r1", "fleet_size": 2, "command": "python train.py",
                         "workdir": str(root)})
    assert GcpBackend(root).up(job).resources["coordinator_machine_type"] == "e2-small"
    alone = load_settings({"project": PROJECT, "run_id": "r1", "fleet_size": 1})
    assert "coordinator_machine_type" not in GcpBackend(root).up(alone).resources
    assert len(applied) == 2
