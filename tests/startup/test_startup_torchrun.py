"""startup.sh with metadata spotshield-coordinator (a job under torchrun, docs/distributed.md): the user's
command, or the built-in trainer's own command line, goes through `python -m spotshield.distributed.launch` with the node range and rendezvous from
the boot contract, /healthz comes from nodehealth beside the agent, and an agent that dies by the
forwarded signal after this VM's notice is a preemption, not a crash."""
from __future__ import annotations

import json

import pytest

from servers import MetadataServer
from test_startup import attrs
from test_startup_command_mode import boot, command_attrs, ship

TORCHRUN = {"spotshield-coordinator": "10.64.0.2:29400", "spotshield-min-nodes": "1", "spotshield-max-nodes": "2",
            "spotshield-nproc": "4"}


def test_the_command_runs_through_the_launcher_with_the_contracts_node_range(
        tmp_path, fake_python, gcs_server, gcs_bucket):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    with MetadataServer({**command_attrs(gcs_bucket, url, sha), **TORCHRUN}) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python, FAKE_TRAIN_RC="0")
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "fake" / "command.json").read_text())
    assert rec["argv"] == ["-m", "spotshield.distributed.launch", "--endpoint", "10.64.0.2:29400", "--run-id",
                           "adaptive-1", "--min-nodes", "1", "--max-nodes", "2", "--nproc", "4", "--",
                           "python", "train.py", "--epochs", "2"]
    assert rec["cwd"] == str(tmp_path / "home" / "workdir")
    env = rec["env"]
    assert env["SPOTSHIELD_HEALTH_PORT"] == "0"  # the workers serve none: nodehealth has the VM's port
    assert env["SPOTSHIELD_DCP_STAGING"] == str(tmp_path / "home" / "dcp-staging")
    # the first local rank writes its phase where nodehealth reads it (the emulator's end of start-up)
    assert env["SPOTSHIELD_PHASE_FILE"] == str(tmp_path / "home" / "phase")
    health = json.loads((tmp_path / "fake" / "nodehealth.json").read_text())
    assert health[:2] == ["--port", "18080"] and health[2] == "--pid"
    assert health[4:] == ["--phase-file", env["SPOTSHIELD_PHASE_FILE"]]


def test_the_built_in_trainer_runs_through_the_launcher_as_one_rank_per_worker(
        tmp_path, fake_python, gcs_server, gcs_bucket):
    with MetadataServer({**attrs(gcs_bucket), **TORCHRUN}) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python, FAKE_TRAIN_RC="0")
    assert proc.returncode == 0, proc.stderr
    fake, home = tmp_path / "fake", tmp_path / "home"
    assert not (fake / "train.json").exists(), "spotshield train runs under torchrun, not beside it"
    rec = json.loads((fake / "command.json").read_text())
    config = str(home / "runs" / "adaptive-1" / "config.json")
    assert rec["argv"] == ["-m", "spotshield.distributed.launch", "--endpoint", "10.64.0.2:29400", "--run-id",
                           "adaptive-1", "--min-nodes", "1", "--max-nodes", "2", "--nproc", "4", "--",
                           "-m", "spotshield.cli.main", "train", "--store", f"gs://{gcs_bucket}/runs/adaptive-1",
                           "--config", config]
    assert rec["python"] == str(fake_python) and rec["cwd"] == str(home)  # torchrun's workers run this python
    assert (rec["env"]["SPOTSHIELD_HEALTH_PORT"], rec["env"]["SPOTSHIELD_DCP_STAGING"]) == \
        ("0", str(home / "dcp-staging"))
    assert json.loads((home / "runs" / "adaptive-1" / "config.json").read_text()) == json.loads(
        attrs(gcs_bucket)["spotshield-config"])
    assert json.loads((fake / "nodehealth.json").read_text())[:2] == ["--port", "18080"]


@pytest.mark.parametrize("over,needle", [
    ({"spotshield-coordinator": "10.64.0.2"}, "spotshield-coordinator must be host:port, not '10.64.0.2'"),
    ({"spotshield-coordinator": "a;b:1"}, "spotshield-coordinator must be host:port"),
    ({"spotshield-min-nodes": "two"}, "must be whole numbers, not 'two'"),
])
def test_a_bad_torchrun_contract_is_one_line_and_runs_nothing(tmp_path, fake_python, gcs_server, gcs_bucket,
                                                              over, needle):
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    # each case its own store: the cases share a bucket, and each failed boot counts towards a crash loop
    case = f"case-{abs(hash(needle)) % 10_000}"
    own = {"spotshield-run-id": case, "spotshield-store": f"gs://{gcs_bucket}/runs/{case}"}
    with MetadataServer({**command_attrs(gcs_bucket, url, sha), **TORCHRUN, **over, **own}) as md:
        proc = boot(tmp_path, md, gcs_server, fake_python)
    assert proc.returncode != 0
    assert needle in proc.stderr, proc.stderr[-1500:]
    assert not (tmp_path / "fake" / "command.json").exists()


def test_an_agent_killed_by_the_notice_is_a_preemption_not_a_crash(tmp_path, fake_python, gcs_server, gcs_bucket):
    """torchrun's agent exits 1 after the SIGTERM it forwarded (its workers saved and exited 75)."""
    url, sha = ship(tmp_path, gcs_server, gcs_bucket, {"train.py": ""})
    with MetadataServer({**command_attrs(gcs_bucket, url, sha), **TORCHRUN}) as md:
        md.values["instance/preempted"] = "TRUE"
        proc = boot(tmp_path, md, gcs_server, fake_python, FAKE_TRAIN_RC="1")
    assert proc.returncode == 1
    assert "exit 1 after this VM's preemption notice: a preemption, not a crash" in proc.stderr
    assert "failed boot" not in proc.stderr
