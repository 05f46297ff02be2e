"""startup.sh runs the trainer as its own systemd unit where systemd runs the machine.

On GCE the guest agent runs startup-script inside google-startup-scripts.service (Type=oneshot,
KillMode=process; GoogleCloudPlatform/guest-agent google-startup-scripts.service), so the trainer
gets a transient unit of its own. Here `systemd-run` and `systemctl` are stand-ins on PATH that do
what those do for the options startup.sh uses: --wait runs the command in a clean environment
(only --setenv variables), outside the caller's process group, and exits with its exit code;
`systemctl show -p MainPID --value` names its pid. The no-systemd path is the one every other
test in this folder (and the emulator) runs.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from boot_helpers import STARTUP, boot_env
from servers import MetadataServer

SYSTEMD_RUN = r'''#!{python}
import json, os, subprocess, sys
from pathlib import Path
out = Path(os.environ["FAKE_DIR"])
args, env, unit, i = sys.argv[1:], {"PATH": "/usr/bin:/bin"}, None, 0
(out / "systemd-run.json").write_text(json.dumps(args))
while args[i].startswith("-"):
    a = args[i]
    if a in ("-p", "--property"):
        i += 1
    elif a.startswith("--setenv="):
        k, v = a[len("--setenv="):].split("=", 1)
        env[k] = v
    elif a.startswith("--unit="):
        unit = a[len("--unit="):]
    elif a == "--":
        i += 1
        break
    i += 1
# a test double needs its own knobs: FAKE_* reach the command, nothing else of the caller does
env.update({k: v for k, v in os.environ.items() if k.startswith("FAKE_")})
proc = subprocess.Popen(args[i:], env=env, cwd="/", start_new_session=True, stdin=subprocess.DEVNULL)
(out / f"{unit}.mainpid").write_text(str(proc.pid))
code = proc.wait()
(out / f"{unit}.mainpid").unlink()
sys.exit(code if code >= 0 else 255)  # systemd-run --wait: the exit code, or EXIT_EXCEPTION on a signal
'''
SYSTEMCTL = r'''#!{python}
import os, sys
from pathlib import Path
args = sys.argv[1:]
assert args[:4] == ["show", "-p", "MainPID", "--value"], args
p = Path(os.environ["FAKE_DIR"]) / f"{args[4]}.mainpid"
print(p.read_text() if p.exists() else "0")
'''


@pytest.fixture
def systemd(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("systemd-run", SYSTEMD_RUN), ("systemctl", SYSTEMCTL)):
        (bindir / name).write_text(text.replace("{python}", sys.executable))
        (bindir / name).chmod(0o755)
    return bindir


def unit_env(tmp_path, md, gcs_server, fake_python, systemd) -> dict:
    env = boot_env(tmp_path, md.host, gcs_server.url, fake_python)
    env.update(PATH=f"{systemd}{os.pathsep}{env['PATH']}", SPOTSHIELD_SYSTEMD="yes")
    return env


def attrs(store) -> dict:
    return {"spotshield-run-id": "r1", "spotshield-store": f"file://{store}", "spotshield-health-port": "18080",
            "spotshield-preemption-notice-s": "0"}


def test_the_trainer_runs_as_its_own_unit_with_the_boot_contract(tmp_path, fake_python, gcs_server, systemd):
    store = tmp_path / "store"
    with MetadataServer(attrs(store)) as md:
        env = unit_env(tmp_path, md, gcs_server, fake_python, systemd)
        env["FAKE_TRAIN_RC"] = "3"
        proc = subprocess.run(["bash", str(STARTUP)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr  # the unit's exit code is the script's
    argv = json.loads((tmp_path / "fake" / "systemd-run.json").read_text())
    assert "--wait" in argv and "--collect" in argv and "--unit=spotshield-trainer-boot-1" in argv
    assert "KillMode=mixed" in argv and "TimeoutStopSec=30" in argv
    rec = json.loads((tmp_path / "fake" / "train.json").read_text())
    assert rec["argv"][:3] == ["train", "--store", f"file://{store}"]
    # the unit starts from a clean environment: everything the trainer needs came with --setenv
    assert {k: rec["env"][k] for k in ("SPOTSHIELD_RUN_ID", "SPOTSHIELD_STORE", "SPOTSHIELD_HEALTH_PORT",
                                       "SPOTSHIELD_HOST", "SPOTSHIELD_BOOT", "SPOTSHIELD_HOME", "GCE_METADATA_HOST")} == {
        "SPOTSHIELD_RUN_ID": "r1", "SPOTSHIELD_STORE": f"file://{store}", "SPOTSHIELD_HEALTH_PORT": "18080",
        "SPOTSHIELD_HOST": "ss-vm-1", "SPOTSHIELD_BOOT": "boot-1", "SPOTSHIELD_HOME": str(tmp_path / "home"),
        "GCE_METADATA_HOST": md.host}
    assert "STORAGE_EMULATOR_HOST" not in rec["env"]
    assert "starting unit spotshield-trainer-boot-1" in proc.stderr


def test_sigterm_reaches_the_units_trainer_and_75_comes_back(tmp_path, fake_python, gcs_server, systemd):
    store = tmp_path / "store"
    with MetadataServer(attrs(store)) as md:
        env = unit_env(tmp_path, md, gcs_server, fake_python, systemd)
        env["FAKE_TRAIN_WAIT_TERM"] = "1"
        proc = subprocess.Popen(["bash", str(STARTUP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            ready = tmp_path / "fake" / "ready"
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "trainer never started"
            trainer = int(ready.read_text())
            pidfile = tmp_path / "home" / "trainer.pid"
            deadline = time.monotonic() + 10
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert int(pidfile.read_text()) == trainer  # the unit's MainPID, for shutdown.sh
            assert os.getpgid(trainer) != os.getpgid(proc.pid)  # not in the script's process group
            os.kill(proc.pid, signal.SIGTERM)
            rc = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert rc == 75
    assert (tmp_path / "fake" / "sigterm").exists()
