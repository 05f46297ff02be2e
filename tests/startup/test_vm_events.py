"""The boot scripts' own events (vm_boot, command_start, command_exit, vm_notice), the keys they
share with spotshield/layout.py, and the interpreter startup.sh picks."""
from __future__ import annotations

import json
import re

from boot_helpers import SHUTDOWN, STARTUP, boot_env, run_script, vm_events
from servers import MetadataServer

from spotshield import layout
from spotshield.events import EVENT_FIELDS, read_events, validate_event
from spotshield.storage import open_store


def file_attrs(store, **over) -> dict:
    base = {"spotshield-run-id": "r1", "spotshield-store": f"file://{store}", "spotshield-mig": "ss-mig",
            "spotshield-config": json.dumps({"model": "tiny-cnn"})}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_startup_and_shutdown_write_the_vm_events_of_the_boot(tmp_path, fake_python, gcs_server):
    store = tmp_path / "store"
    with MetadataServer(file_attrs(store)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env["FAKE_TRAIN_RC"] = "75"
        proc = run_script(STARTUP, env)
        assert proc.returncode == 75, proc.stderr
        md.values["instance/preempted"] = "TRUE"
        down = run_script(SHUTDOWN, env)  # the trainer is gone: nothing to signal, the event still counts
    assert down.returncode == 0, down.stderr
    events = vm_events(store, "r1")
    assert [e["event"] for e in events] == ["vm_boot", "command_start", "command_exit", "vm_notice"]
    assert all(validate_event(e) == [] for e in events)
    assert {(e["run_id"], e["host"], e["boot"]) for e in events} == {("r1", "ss-vm-1", "boot-1")}
    assert all(isinstance(e["t"], float) for e in events) and [e["t"] for e in events] == sorted(e["t"] for e in events)
    boot, start, exit_, notice = events
    # the VM's power-on as the emulator sees it: when the script began, before its metadata reads
    assert isinstance(boot["script_start_t"], float) and boot["script_start_t"] <= boot["t"]
    assert start["command"] == [str(fake_python), "-m", "spotshield.cli.main", "train", "--store", f"file://{store}",
                                "--config", str(tmp_path / "home" / "runs" / "r1" / "config.json")]
    assert exit_["code"] == 75 and notice["preempted"] is True
    # the same host and boot as the trainer gets, so a reader can join the two
    rec = json.loads((tmp_path / "fake" / "train.json").read_text())
    assert (rec["env"]["SPOTSHIELD_HOST"], rec["env"]["SPOTSHIELD_BOOT"]) == ("ss-vm-1", "boot-1")


def test_vm_events_reach_gcs_and_read_events_returns_them(tmp_path, fake_python, gcs_server, gcs_bucket):
    url = f"gs://{gcs_bucket}/runs/r2"
    with MetadataServer(file_attrs("unused", **{"spotshield-run-id": "r2", "spotshield-store": url})) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env["FAKE_TRAIN_RC"] = "3"
        proc = run_script(STARTUP, env)
    assert proc.returncode == 3, proc.stderr
    store = open_store(url)
    assert layout.vm_events_key("r2", "ss-vm-1", "boot-1") in store.list("events")
    names = [e["event"] for e in read_events(store, "r2")]
    assert names == ["vm_boot", "command_start", "command_exit"]
    assert [e["code"] for e in read_events(store, "r2") if e["event"] == "command_exit"] == [3]


def test_a_store_that_refuses_events_does_not_stop_training(tmp_path, fake_python, gcs_server):
    store = tmp_path / "store"
    store.mkdir()
    (store / "events").write_text("a file where the events folder should be")  # every event write fails
    with MetadataServer(file_attrs(store)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        env["FAKE_TRAIN_RC"] = "75"
        proc = run_script(STARTUP, env)
    assert proc.returncode == 75, proc.stderr
    assert (tmp_path / "fake" / "train.json").exists()
    assert "warning: event vm_boot not uploaded" in proc.stderr


def test_the_scripts_name_the_keys_layout_names():
    text = STARTUP.read_text()

    def assigned(name: str) -> str:
        m = re.search(rf"^{name}=(\S+)$", text, re.M)
        assert m, f"startup.sh no longer assigns {name}"
        return m.group(1)

    assert assigned("DONE_KEY") == layout.DONE_KEY
    assert assigned("STOPPED_KEY") == layout.STOPPED_KEY
    assert assigned("CRASHES_KEY") == layout.CRASHES_KEY
    assert assigned("EVENTS_PREFIX") == layout.EVENTS_PREFIX
    assert assigned("VM_EVENTS_SUFFIX") == layout.VM_EVENTS_SUFFIX
    written = set(re.findall(r'(?m)(?:^\s*|startup\.sh" )event ([a-z_]+)\b', text + SHUTDOWN.read_text()))
    assert written == {"vm_boot", "command_start", "command_exit", "vm_notice", "crash_loop"}
    assert written <= set(EVENT_FIELDS)  # events.py is the one list of event names


def test_the_python_that_imports_torch_is_chosen_and_logged(tmp_path, fake_python, gcs_server):
    torch_python = tmp_path / "dlvm-python"  # like /opt/conda/bin/python3 on a Deep Learning VM image
    torch_python.write_text(f'#!/bin/sh\nif [ "$1" = -c ]; then echo 2.7.0+cu128; exit 0; fi\nexec {fake_python} "$@"\n')
    torch_python.chmod(0o755)
    store = tmp_path / "store"
    with MetadataServer(file_attrs(store)) as md:
        env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
        del env["SPOTSHIELD_PYTHON"]
        # a missing one, one without torch (the fake answers no -c), then the DLVM one
        env["SPOTSHIELD_PYTHON_CANDIDATES"] = f"/nonexistent/python3 {fake_python} {torch_python}"
        env["FAKE_TRAIN_RC"] = "75"
        proc = run_script(STARTUP, env)
    assert proc.returncode == 75, proc.stderr
    assert f"spotshield-startup: python: {torch_python} (torch 2.7.0+cu128)" in proc.stderr
    assert vm_events(store, "r1")[1]["command"][0] == str(torch_python)
