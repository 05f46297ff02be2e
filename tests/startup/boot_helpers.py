"""Helpers for running the real boot scripts against real servers on 127.0.0.1.

A module of its own (not conftest.py): tests import these by name, and every test folder has a
conftest module, so `from conftest import ...` would depend on which folder pytest put first on sys.path.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTUP = REPO / "startup-scripts" / "startup.sh"
SHUTDOWN = REPO / "startup-scripts" / "shutdown.sh"

# A stand-in for $SPOTSHIELD_PYTHON: answers `-m spotshield.buildinfo`, records `-m pip install`
# and plays `spotshield train` (records argv, env and config; exits with FAKE_TRAIN_RC, or
# waits for SIGTERM and exits 75 like the real trainer after its emergency checkpoint; FAKE_TRAIN_LATE_S
# delays its handler like the real trainer's interpreter start-up; FAKE_TRAIN_ERR is printed on stderr);
# `-m spotshield.layout`, `-m spotshield.workdir` and `-m spotshield.venvlayer` run the real modules;
# command mode: `-m venv DIR` makes DIR/bin/python this fake again, and `<script>.py args` records
# argv, cwd and env in command.json.
FAKE_PYTHON = r'''#!{python}
import json, os, signal, sys, time
from pathlib import Path
out = Path(os.environ["FAKE_DIR"])
args = sys.argv[1:]
if args[:2] == ["-m", "spotshield.buildinfo"]:
    build = os.environ.get("FAKE_INSTALLED_BUILD")
    if not build:
        sys.exit("No module named spotshield.buildinfo")
    print(build)
    sys.exit(0)
if args[:2] == ["-m", "spotshield.layout"]:  # the real module (the crash-loop breaker asks it)
    os.execv("{python}", ["{python}", *args])
if args[:2] == ["-m", "spotshield.workdir"]:  # the real module (command mode fetches the workdir)
    os.execv("{python}", ["{python}", *args])
if args[:2] == ["-m", "spotshield.venvlayer"]:  # the real module (layers the requirements venv)
    os.execv("{python}", ["{python}", *args])
if args[:2] == ["-m", "venv"]:  # command mode's requirements venv: its python is this fake again
    venv = Path(args[-1])
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "python3" / "site-packages").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.argv[0]))
    with open(out / "venv.log", "a") as f:
        f.write(json.dumps(args[2:]) + "\n")
    sys.exit(0)
if args[:2] == ["-m", "spotshield.distributed.nodehealth"]:  # a torchrun job's /healthz: recorded only
    (out / "nodehealth.json").write_text(json.dumps(args[2:]))
    sys.exit(0)
if args and (args[0].endswith(".py") or args[:2] == ["-m", "spotshield.distributed.launch"]):
    # command mode: `python train.py ...` run in the workdir (under torchrun: through the launcher)
    record = {"argv": args, "cwd": os.getcwd(), "python": sys.argv[0], "pid": os.getpid(),
              "env": {k: v for k, v in os.environ.items() if k.startswith(("SPOTSHIELD_", "GCE_", "STORAGE_"))},
              "files": sorted(os.listdir("."))}
    (out / "command.json").write_text(json.dumps(record))
    sys.exit(int(os.environ.get("FAKE_TRAIN_RC", "0")))
if args[:3] == ["-m", "pip", "--version"]:
    print("pip 24.0 (fake)")
    sys.exit(0)
if args[:3] == ["-m", "pip", "install"]:
    with open(out / "pip.log", "a") as f:
        f.write(json.dumps(args[3:]) + "\n")
    sys.exit(0)
if args[:2] == ["-m", "spotshield.cli.main"]:
    argv = args[2:]
    config = argv[argv.index("--config") + 1] if "--config" in argv else None
    record = {"argv": argv, "pid": os.getpid(),
              "env": {k: v for k, v in os.environ.items() if k.startswith(("SPOTSHIELD_", "GCE_", "STORAGE_"))},
              "config": Path(config).read_text() if config else None}
    (out / "train.json").write_text(json.dumps(record))
    if os.environ.get("FAKE_TRAIN_ERR"):  # what the real trainer prints before it exits 1
        print(os.environ["FAKE_TRAIN_ERR"], file=sys.stderr, flush=True)
    if os.environ.get("FAKE_WRITE_DONE"):  # a fake-gcs media-upload URL: the run finishes
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(os.environ["FAKE_WRITE_DONE"], data=b"{}", method="POST"))
    if os.environ.get("FAKE_TRAIN_WAIT_TERM"):
        time.sleep(float(os.environ.get("FAKE_TRAIN_LATE_S", "0")))  # start-up before the handler exists
        signal.signal(signal.SIGTERM, lambda *a: (out.joinpath("sigterm").write_text("1"), sys.exit(75)))
        out.joinpath("ready").write_text(str(os.getpid()))
        time.sleep(60)
        sys.exit(3)
    time.sleep(float(os.environ.get("FAKE_TRAIN_SLEEP_S", "0")))  # a run that lasts (past a token's life)
    sys.exit(int(os.environ.get("FAKE_TRAIN_RC", "0")))
sys.exit(f"fake python: unexpected arguments {args}")
'''


def gcs_put(server_url: str, bucket: str, name: str, data: bytes) -> dict:
    """Upload one object to fake-gcs-server through the JSON API (media upload)."""
    url = (f"{server_url}/upload/storage/v1/b/{bucket}/o?uploadType=media&name="
           + urllib.parse.quote(name, safe=""))
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def boot_env(tmp_path: Path, metadata_host: str, gcs_url: str, python: Path, compute_url: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTSHIELD_", "GCE_", "FAKE_"))}
    env.update({
        "GCE_METADATA_HOST": metadata_host,
        "STORAGE_EMULATOR_HOST": gcs_url,
        "SPOTSHIELD_COMPUTE_ENDPOINT": compute_url or "http://127.0.0.1:9",  # closed port: must not be used
        "SPOTSHIELD_PYTHON": str(python),
        "SPOTSHIELD_HOME": str(tmp_path / "home"),
        "SPOTSHIELD_BOOT": "boot-1",
        "FAKE_DIR": str(tmp_path / "fake"),
    })
    return env


def run_script(script: Path, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def vm_events(store_root: Path, run_id: str, host: str = "ss-vm-1", boot: str = "boot-1") -> list[dict]:
    """The boot scripts' events of one boot, from a file:// store (spotshield.layout names the key)."""
    from spotshield.events import parse_lines
    from spotshield.layout import vm_events_key

    path = store_root / vm_events_key(run_id, host, boot)
    return parse_lines(path.read_text()) if path.exists() else []


# ---- the service VMs' boot scripts (controller.sh, coordinator.sh) ---------------------------------
SERVICE_LIB = REPO / "startup-scripts" / "install-build.sh"
# Their virtualenv's python: answers buildinfo once "installed", `-c "import torch"` once torch is,
# records pip installs (pip.log, one JSON list per call) and each service's argv (+ its config file);
# the service exits FAKE_SERVICE_RC (0), or with FAKE_SERVICE_WAIT_TERM set writes service.pid and
# waits for SIGTERM (recorded in service-sigterm, then exit 0, like the coordinator).
SERVICE_VENV_PYTHON = r'''#!{python}
import json, os, sys
from pathlib import Path
out = Path(os.environ["FAKE_DIR"])
args = sys.argv[1:]
if args[:2] == ["-m", "spotshield.buildinfo"]:
    f = out / "installed"
    sys.exit(print(f.read_text()) if f.exists() else "No module named spotshield")
if args[:2] == ["-c", "import torch"]:
    sys.exit(0 if (out / "torch").exists() else "No module named torch")
if args[:3] == ["-m", "pip", "install"]:
    with open(out / "pip.log", "a") as f:
        f.write(json.dumps(args[3:]) + "\n")
    if "--index-url" in args:
        (out / "torch").write_text(args[-1])
    else:
        (out / "installed").write_text(os.environ["FAKE_BUILD_ID"])
    sys.exit(0)
if args[:2] in (["-m", "spotshield.deadline.service"], ["-m", "spotshield.distributed.coordinator"]):
    record = {"argv": args}
    if "--config" in args:
        record["config"] = json.loads(Path(args[args.index("--config") + 1]).read_text())
    (out / "service.json").write_text(json.dumps(record))
    if os.environ.get("FAKE_SERVICE_WAIT_TERM"):
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: (out.joinpath("service-sigterm").write_text("1"), sys.exit(0)))
        out.joinpath("service.pid").write_text(str(os.getpid()))
        time.sleep(60)
        sys.exit(3)
    sys.exit(int(os.environ.get("FAKE_SERVICE_RC", "0")))
sys.exit(f"fake venv python: unexpected {args}")
'''


def service_home(tmp_path: Path, installed: str | None = None, torch: bool = False) -> Path:
    """$SPOTSHIELD_HOME with the fake virtualenv in it (optionally with a build and torch installed)."""
    home = tmp_path / "home"
    (home / "venv" / "bin").mkdir(parents=True)
    py = home / "venv" / "bin" / "python"
    py.write_text(SERVICE_VENV_PYTHON.replace("{python}", sys.executable))
    py.chmod(0o755)
    (tmp_path / "fake").mkdir()
    # coordinator.sh powers the VM off after a clean exit: never this machine (service_env points there)
    stub = tmp_path / "fake" / "poweroff-stub"
    stub.write_text(f"#!/bin/sh\necho \"$*\" > '{tmp_path / 'fake' / 'poweroff'}'\n")
    stub.chmod(0o755)
    if installed:
        (tmp_path / "fake" / "installed").write_text(installed)
    if torch:
        (tmp_path / "fake" / "torch").write_text("torch")
    return home


def service_env(tmp_path: Path, metadata_host: str, gcs_url: str, build_id: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTSHIELD_", "GCE_", "FAKE_"))}
    env.update(GCE_METADATA_HOST=metadata_host, STORAGE_EMULATOR_HOST=gcs_url, SPOTSHIELD_HOME=str(tmp_path / "home"),
               FAKE_DIR=str(tmp_path / "fake"), FAKE_BUILD_ID=build_id,
               SPOTSHIELD_POWEROFF=str(tmp_path / "fake" / "poweroff-stub"))
    return env


def rendered(script: Path, folder: Path) -> Path:
    """The service script as its Terraform module renders the metadata startup-script
    (join("\\n", [install-build.sh, script])), written alone into `folder`: no sibling to source."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"rendered-{script.name}"
    out.write_text("\n".join([SERVICE_LIB.read_text(), script.read_text()]))
    return out
