"""The rendezvous coordinator: the TCPStore server of torchrun's c10d rendezvous, on a machine
that is not a Spot VM.

    python -m spotshield.distributed.coordinator --port 29400 [--host 0.0.0.0] [--ready-file F]

torchrun's c10d backend keeps the rendezvous state (members, round, heartbeats) in a TCPStore.
By default the agent whose address matches --rdzv-endpoint hosts that store itself, so the
job loses its rendezvous with that one node. Here the store runs on its own: on GCP a small
on-demand VM (docs/distributed.md), locally a loopback process. Every agent connects as a
client (--rdzv-conf is_host=false). The store holds no durable state, only the rendezvous;
checkpoints live in the bucket. Prints "ready <host>:<port>" once it listens, and stops on
SIGTERM or SIGINT with exit 0.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

DEFAULT_PORT = 29400  # torchrun's default rendezvous port


def spawn(ready_file: Path, log_file: Path, env: dict | None = None, timeout_s: float = 60.0):
    """Start this module on a free loopback port in its own session (the local backend's coordinator
    beside the emulator, the loopback cluster's in tests and benchmarks) and wait until it listens.
    Returns (process, "127.0.0.1:PORT"); one line and no process left when it does not start."""
    import subprocess
    import time

    from spotshield.errors import SpotShieldError

    ready_file.unlink(missing_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spotshield.distributed.coordinator", "--host", "127.0.0.1",
                                 "--port", "0", "--ready-file", str(ready_file)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.monotonic() + timeout_s  # real seconds: torch's import on a loaded machine
    while not ready_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SpotShieldError(f"the rendezvous coordinator did not start: {tail[0]}")
        time.sleep(0.05)
    return proc, ready_file.read_text().split()[-1]  # "ready 127.0.0.1:PORT"


def serve(host: str, port: int, ready_file: Path | None = None, stop: threading.Event | None = None) -> int:
    """Serve until `stop` is set (or SIGTERM/SIGINT when run as a program). Returns the port."""
    from torch.distributed import TCPStore

    # wait_for_workers=False: the agents come and go; the store must not wait for a count
    store = TCPStore(host, port, is_master=True, wait_for_workers=False, multi_tenant=True)
    line = f"ready {host}:{store.port}"
    print(line, flush=True)
    if ready_file is not None:
        ready_file.write_text(line + "\n")
    stop = stop or threading.Event()
    stop.wait()
    del store  # closes the listening socket
    return port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spotshield.distributed.coordinator", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0: all interfaces)")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port; 0 picks a free one and prints it")
    ap.add_argument("--ready-file", type=Path, default=None, help="also write the ready line to this file")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, not {args.port}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(args.host, args.port, args.ready_file, stop)
    except (RuntimeError, OSError) as e:  # the port is taken, or the address is not ours
        print(f"error: cannot listen on {args.host}:{args.port}: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
