"""The crash-loop breaker in startup.sh: K failed boots in a row without a new committed checkpoint
stop the group for good. Each boot here has a fresh disk (a new SPOTSHIELD_HOME), as a VM the group
recreates does, so the counter can live only in the run store. The emulator test is
tests/local/test_crash_loop.py."""
from __future__ import annotations

import json

from boot_helpers import SHUTDOWN, STARTUP, boot_env, run_script, vm_events
from servers import ComputeRecorder, MetadataServer

from spotshield import layout
from spotshield.storage import open_store

ERROR = 'error: cannot load "state.pt" from C:\\ckpt: boom'  # quotes and a backslash survive JSON


def boot(tmp_path, n, md, gcs, fake_python, compute, rc="1", **env_over):
    env = boot_env(tmp_path / f"disk{n}", md.host, gcs.url, fake_python, compute.url)
    (tmp_path / f"disk{n}" / "fake").mkdir(parents=True)
    env.update(SPOTSHIELD_BOOT=f"boot-{n}", FAKE_TRAIN_RC=rc, FAKE_TRAIN_ERR=ERROR, **env_over)
    return run_script(STARTUP, env)


def attrs(store, k="3") -> dict:
    return {"spotshield-run-id": "r1", "spotshield-store": f"file://{store}", "spotshield-mig": "ss-mig",
            "spotshield-region": "us-central1", "spotshield-build-id": "", "spotshield-crash-loop-boots": k}


def resizes(compute) -> int:
    return sum(1 for r in compute.requests if r["path"].endswith("/instanceGroupManagers/ss-mig/resize"))


def test_k_failed_boots_write_stopped_and_resize_to_zero(tmp_path, fake_python, gcs_server):
    store = tmp_path / "store"
    with MetadataServer(attrs(store)) as md, ComputeRecorder() as compute:
        for n in (1, 2):
            proc = boot(tmp_path, n, md, gcs_server, fake_python, compute)
            assert proc.returncode == 1, proc.stderr
            assert json.loads((store / layout.CRASHES_KEY).read_text())["failures"] == n
            assert not (store / layout.STOPPED_KEY).exists() and resizes(compute) == 0
        proc = boot(tmp_path, 3, md, gcs_server, fake_python, compute)
        assert proc.returncode == 1  # the trainer's code, still
        stopped = json.loads((store / layout.STOPPED_KEY).read_text())
        assert {k: stopped[k] for k in ("reason", "error", "boots")} == {"reason": "crash loop", "error": ERROR,
                                                                         "boots": 3}
        assert isinstance(stopped["t"], int)
        assert resizes(compute) == 1
        assert [e for e in vm_events(store, "r1", boot="boot-3") if e["event"] == "crash_loop"][0]["error"] == ERROR
        # a VM that boots anyway (a resize raced, a hand-made one) does not train
        proc = boot(tmp_path, 4, md, gcs_server, fake_python, compute)
        assert proc.returncode == 0 and "holds STOPPED" in proc.stderr
        assert not (tmp_path / "disk4" / "fake" / "train.json").exists()
        assert resizes(compute) == 2


def test_a_new_checkpoint_or_a_preempted_boot_ends_the_streak(tmp_path, fake_python, gcs_server):
    store = tmp_path / "store"
    with MetadataServer(attrs(store, k="2")) as md, ComputeRecorder() as compute:
        assert boot(tmp_path, 1, md, gcs_server, fake_python, compute).returncode == 1
        # the trainer got further: a committed checkpoint (marker last, current format)
        open_store(f"file://{store}").write(f"{layout.folder_for(40)}/{layout.MARKER}",
                                            json.dumps({"step": 40, "format": layout.FORMAT, "files": {}}).encode())
        assert boot(tmp_path, 2, md, gcs_server, fake_python, compute).returncode == 1
        counter = json.loads((store / layout.CRASHES_KEY).read_text())
        assert (counter["failures"], counter["step"]) == (1, "40")  # a new streak, from step 40
        assert boot(tmp_path, 3, md, gcs_server, fake_python, compute, rc="75").returncode == 75
        assert json.loads((store / layout.CRASHES_KEY).read_text())["failures"] == 0
        assert boot(tmp_path, 4, md, gcs_server, fake_python, compute).returncode == 1
        assert not (store / layout.STOPPED_KEY).exists() and resizes(compute) == 0


def test_a_command_killed_by_the_preemption_is_not_a_crash(tmp_path, fake_python, gcs_server):
    """A script without the library dies of the stop's SIGTERM (143, not 75): preempted boots in a row
    must not trip the breaker; a real failure afterwards starts the count at 1."""
    store = tmp_path / "store"
    with MetadataServer(attrs(store, k="2")) as md, ComputeRecorder() as compute:
        assert boot(tmp_path, 1, md, gcs_server, fake_python, compute).returncode == 1  # one real crash first
        md.values["instance/preempted"] = "TRUE"
        for n in (2, 3, 4):
            assert boot(tmp_path, n, md, gcs_server, fake_python, compute, rc="143").returncode == 143
            assert json.loads((store / layout.CRASHES_KEY).read_text())["failures"] == 0
        assert not (store / layout.STOPPED_KEY).exists() and resizes(compute) == 0
        md.values["instance/preempted"] = "FALSE"
        assert boot(tmp_path, 5, md, gcs_server, fake_python, compute, rc="143").returncode == 143  # killed, not preempted
        assert json.loads((store / layout.CRASHES_KEY).read_text())["failures"] == 1


def test_a_failing_install_counts_and_its_error_stays_the_last_line(tmp_path, fake_python, gcs_server, gcs_bucket):
    url = f"gs://{gcs_bucket}/runs/r1"  # the counter goes to GCS this time
    a = {**attrs("x", k="1"), "spotshield-store": url, "spotshield-build-id": "0.1.0+3f2a9c1d2e4b",
         "spotshield-build-url": f"gs://{gcs_bucket}/builds/missing.tar.gz"}
    with MetadataServer(a) as md, ComputeRecorder() as compute:
        proc = boot(tmp_path, 1, md, gcs_server, fake_python, compute)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("spotshield-startup: error: build gs://")
    store = open_store(url)
    assert json.loads(store.read(layout.STOPPED_KEY))["error"].startswith("build gs://")
    assert resizes(compute) == 1


def test_every_gcs_call_of_the_boot_scripts_passes_the_vms_bucket_role(tmp_path, fake_python, gcs_server,
                                                                       gcs_bucket):
    """startup.sh and shutdown.sh through an IAM check that grants only roles/storage.objectUser:
    DONE/STOPPED checks, the crash counter (read, overwrite), STOPPED, VM events, and the
    breaker's newest-committed listing."""
    from gcs_iam import GcsIam

    from spotshield.cloud.permissions import ROLE_FACTS, needed

    url = f"gs://{gcs_bucket}/runs/r1"
    with GcsIam(gcs_server.url, ROLE_FACTS["roles/storage.objectUser"].permissions) as iam, \
            MetadataServer({**attrs("x", k="2"), "spotshield-store": url}) as md, ComputeRecorder() as compute:
        for n in (1, 2):
            env = boot_env(tmp_path / f"disk{n}", md.host, iam.url, fake_python, compute.url)
            (tmp_path / f"disk{n}" / "fake").mkdir(parents=True)
            env.update(SPOTSHIELD_BOOT=f"boot-{n}", FAKE_TRAIN_RC="1", FAKE_TRAIN_ERR=ERROR)
            assert run_script(STARTUP, env).returncode == 1
        md.values["instance/preempted"] = "TRUE"
        assert run_script(SHUTDOWN, env).returncode == 0
    assert iam.denied == []
    assert iam.used == needed("bucket")  # list (the breaker), get, create, delete (overwrites)
    store = open_store(url)
    assert json.loads(store.read(layout.STOPPED_KEY))["boots"] == 2
    assert [e["event"] for e in vm_events_of(store, "boot-2")] == [
        "vm_boot", "command_start", "command_exit", "crash_loop", "vm_notice"]


def vm_events_of(store, boot):
    from spotshield.events import parse_lines

    return parse_lines(store.read(layout.vm_events_key("r1", "ss-vm-1", boot)).decode())
