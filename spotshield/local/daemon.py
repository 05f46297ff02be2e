"""The emulator daemon: one Region in a background process, found through its state directory.

State lives in <project root>/.spotshield/local/ (SPOTSHIELD_ROOT moves the root):
  daemon.json        pid, endpoints, project, region, settings (written when ready)
  daemon.log         the daemon's own output
  processes.json     instance process groups (fleet.py), for crash clean-up
  gcs/               fake-gcs-server's filesystem root: checkpoints survive any crash
  instances/, logs/  boot disks and serial consoles

`start()` refuses a second daemon, kills what a crashed one left behind, and waits until the
new one answers. `stop()` asks it to shut down, then signals it, and always ends with no
instance process left.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from spotshield.errors import SpotShieldError
from spotshield.local.hypervisor import kill_leftovers
from spotshield.local.procs import alive, proc_start_time, stop_pid
from spotshield.local.region_args import check_region_args

DAEMON_FILE = "daemon.json"
READY_TIMEOUT_S = 30  # fake-gcs-server + servers start in ~1 s; a loaded CI box needs more
STOP_TIMEOUT_S = 60  # instances get their (floored) notice window to checkpoint on a clean stop
HTTP_TIMEOUT_S = 5


def default_state_dir() -> Path:
    from spotshield.project import state_dir

    return state_dir() / "local"


def read_state(state_dir: Path | None = None) -> dict | None:
    """The running daemon's record, or None when no daemon is running (stale files are ignored)."""
    path = Path(state_dir or default_state_dir()) / DAEMON_FILE
    try:
        rec = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    if not alive(rec.get("pid", 0), rec.get("pid_start")):
        return None
    return rec


def request(rec: dict, method: str, path: str, body: dict | None = None) -> dict:
    """Call the daemon's emulator API; a refusal becomes one SpotShieldError line."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(rec["endpoints"]["compute"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read())["error"]["message"]
        except Exception:
            msg = f"HTTP {e.code}"
        raise SpotShieldError(f"emulator: {msg}") from None
    except OSError as e:
        raise SpotShieldError(f"emulator at {rec['endpoints']['compute']} does not answer ({e}); "
                              "run 'spotshield local stop' and start it again") from None


def start(state_dir: Path | None = None, *, time_scale: float = 60.0, pattern: str = "none", rate: float = 0.0,
          seed: int = 0, trace: str | None = None, compute_port: int | None = None, gcs_port: int | None = None,
          project: str = "spotshield-local", region: str = "us-central1", zones: list[str] | None = None,
          fleet: dict | None = None) -> dict:
    """Start the daemon in the background; returns its record. Bad input raises before anything starts."""
    state_dir = Path(state_dir or default_state_dir()).absolute()
    running = read_state(state_dir)
    if running:
        raise SpotShieldError(f"the emulator is already running (pid {running['pid']}, "
                              f"compute {running['endpoints']['compute']}); stop it with 'spotshield local stop'")
    check_region_args(time_scale=time_scale, pattern=pattern, rate=rate, trace=trace,
                      ports={"compute": compute_port, "storage": gcs_port})
    state_dir.mkdir(parents=True, exist_ok=True)
    _clean_after_crash(state_dir)
    config = {"time_scale": time_scale, "pattern": pattern, "rate": rate, "seed": seed, "trace": trace,
              "compute_port": compute_port, "gcs_port": gcs_port, "project": project, "region": region,
              "zones": zones, "fleet": {k: str(v) if isinstance(v, Path) else v for k, v in (fleet or {}).items()}}
    log = open(state_dir / "daemon.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "spotshield.local.daemon", "--state-dir", str(state_dir),
                             "--config", json.dumps(config)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SpotShieldError(f"the emulator exited at start: {_last_line(state_dir / 'daemon.log')}")
        rec = read_state(state_dir)
        if rec and rec.get("pid") == proc.pid:
            return rec
        time.sleep(0.1)
    stop_pid(proc.pid)
    raise SpotShieldError(f"the emulator did not come up within {READY_TIMEOUT_S}s; see {state_dir / 'daemon.log'}")


def _clean_after_crash(state_dir: Path) -> None:
    """Kill what a crashed daemon left: its VMs (they must not keep running or billing) and its
    fake-gcs-server (it holds the bucket's files). The files themselves stay."""
    kill_leftovers(state_dir)
    try:
        old = json.loads((state_dir / DAEMON_FILE).read_text())
    except (OSError, ValueError):
        old = {}
    if old.get("gcs_pid") and alive(old["gcs_pid"], old.get("gcs_pid_start")):
        stop_pid(old["gcs_pid"])
    (state_dir / DAEMON_FILE).unlink(missing_ok=True)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def stop(state_dir: Path | None = None) -> bool:
    """Stop the daemon and every instance process. Returns False when none was running."""
    state_dir = Path(state_dir or default_state_dir()).absolute()
    rec = read_state(state_dir)
    if rec is None:
        _clean_after_crash(state_dir)  # a crashed daemon may still have left VMs
        return False
    try:
        request(rec, "POST", "/spotshield/v1/shutdown", {})
    except SpotShieldError:
        pass  # not answering: signal it instead
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and alive(rec["pid"], rec.get("pid_start")):
        time.sleep(0.1)
    if alive(rec["pid"], rec.get("pid_start")):
        stop_pid(rec["pid"], grace_s=5)
    kill_leftovers(state_dir)
    if rec.get("gcs_pid") and alive(rec["gcs_pid"], rec.get("gcs_pid_start")):
        stop_pid(rec["gcs_pid"])
    (state_dir / DAEMON_FILE).unlink(missing_ok=True)
    return True


def _serve(state_dir: Path, config: dict) -> int:
    from spotshield.local.emulator import Region

    fleet = dict(config.get("fleet") or {})
    for k in ("startup_script", "shutdown_script", "state_dir"):
        if fleet.get(k):
            fleet[k] = Path(fleet[k])
    region = Region(state_dir, project=config["project"], region=config["region"], zones=config.get("zones"),
                    time_scale=config["time_scale"], compute_port=config.get("compute_port"),
                    gcs_port=config.get("gcs_port"), pattern=config["pattern"], rate=config["rate"],
                    seed=config["seed"], trace=config.get("trace"), fleet=fleet)

    def on_signal(signum, frame):
        region.stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        region.start()
    except SpotShieldError as e:
        print(f"error: {e}", flush=True)
        return 1
    rec = {"pid": os.getpid(), "pid_start": proc_start_time(os.getpid()), "endpoints": region.endpoints(),
           "project": region.project, "region": region.region, "state_dir": str(state_dir),
           "gcs_pid": region.gcs.pid, "gcs_pid_start": proc_start_time(region.gcs.pid),
           "started": time.time(), "config": config}
    tmp = state_dir / (DAEMON_FILE + ".tmp")
    tmp.write_text(json.dumps(rec, indent=2))
    os.replace(tmp, state_dir / DAEMON_FILE)
    print(f"spotshield emulator up: compute {region.compute_url} storage {region.storage_url}", flush=True)
    region.stopped.wait()
    region.stop()
    (state_dir / DAEMON_FILE).unlink(missing_ok=True)
    print("spotshield emulator stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spotshield.local.daemon")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--config", required=True, help="JSON written by daemon.start()")
    args = ap.parse_args(argv)
    return _serve(Path(args.state_dir), json.loads(args.config))


if __name__ == "__main__":
    sys.exit(main())
