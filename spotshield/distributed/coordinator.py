"""The rendezvous coordinator: the TCPStore server of torchrun's c10d rendezvous, on a machine
that is not a Spot VM.

    python -m spotshield.distributed.coordinator --port 29400 [--host 0.0.0.0] [--ready-file F]
                                                 [--store URL [--poll-s 30] [--grace-s 30]]

torchrun's c10d backend keeps the rendezvous state (members, round, heartbeats) in a TCPStore.
By default the agent whose address matches --rdzv-endpoint hosts that store itself, so the
job loses its rendezvous with that one node. Here the store runs on its own: on GCP a small
on-demand VM (docs/distributed.md), locally a loopback process. Every agent connects as a
client (--rdzv-conf is_host=false). The store holds no durable state, only the rendezvous;
checkpoints live in the bucket. Prints "ready <host>:<port>" once it listens, and stops on
SIGTERM or SIGINT with exit 0.

With --store (the run's store URL) it also stops by itself once the run is over: it looks for the
store's DONE object (spotshield/layout.py DONE_KEY, written by the job's rank 0 after the final
weights) at start and every --poll-s seconds, says so in one line, serves --grace-s seconds more
(the agents' exit barrier runs on this store after their workers have finished) and exits 0. On
GCP the boot script then powers the VM off (startup-scripts/coordinator.sh), which ends its bill;
locally the process beside the emulator is gone. A store that cannot be read is retried, never
fatal: stopping the rendezvous of a running job would be worse than serving a finished one.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

DEFAULT_PORT = 29400  # torchrun's default rendezvous port
# One object read every 30 s is ~2,900 reads a day (a few cents per month); DONE is seen at most
# POLL + GRACE (about a minute) after it is written, a minute of e2-small (a fraction of a cent).
DEFAULT_POLL_S = 30.0
DEFAULT_GRACE_S = 30.0
LOG = "spotshield-coordinator"  # prefix of its own lines (coordinator.sh's too)


def spawn(ready_file: Path, log_file: Path, env: dict | None = None, timeout_s: float = 60.0,
          args: tuple[str, ...] = ()):
    """Start this module on a free loopback port in its own session (the local backend's coordinator
    beside the emulator, the loopback cluster's in tests and benchmarks) and wait until it listens;
    `args` are more of its options (--store ...). Returns (process, "127.0.0.1:PORT"); one line and
    no process left when it does not start."""
    import subprocess
    import time

    from spotshield.errors import SpotShieldError

    ready_file.unlink(missing_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "spotshield.distributed.coordinator", "--host", "127.0.0.1",
                                 "--port", "0", "--ready-file", str(ready_file), *args], stdout=log,
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


def watch_done(store, stop: threading.Event, poll_s: float = DEFAULT_POLL_S, grace_s: float = DEFAULT_GRACE_S) -> None:
    """Set `stop` grace_s seconds after the store's DONE object appears (or return once `stop` is
    set otherwise). Checks at once (a coordinator that boots after the run ended stops too), then
    every poll_s seconds. A failed read is said once per distinct error and retried."""
    from spotshield.layout import DONE_KEY

    last_error = None
    while not stop.is_set():
        try:
            done = store.exists(DONE_KEY)
        except Exception as e:  # StoreError, and the transport's own errors: retried, never fatal
            done, error = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if error != last_error:
                print(f"{LOG}: warning: cannot read {store.url}/{DONE_KEY} ({error}); "
                      f"trying again every {poll_s:g} s", file=sys.stderr, flush=True)
                last_error = error
        if done:
            print(f"{LOG}: the run is done ({store.url}/{DONE_KEY} exists); stopping the rendezvous in "
                  f"{grace_s:g} s", flush=True)
            stop.wait(grace_s)
            stop.set()
            return
        stop.wait(poll_s)


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
    ap.add_argument("--store", default=None, help="the run's store URL: stop (exit 0) once its DONE object exists")
    ap.add_argument("--poll-s", type=float, default=DEFAULT_POLL_S, help="seconds between two looks for DONE")
    ap.add_argument("--grace-s", type=float, default=DEFAULT_GRACE_S,
                    help="seconds it serves on after DONE (the agents' exit barrier)")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, not {args.port}", file=sys.stderr)
        return 1
    if not args.poll_s > 0 or not args.grace_s >= 0:
        print(f"error: --poll-s must be > 0 and --grace-s >= 0, not {args.poll_s:g} and {args.grace_s:g}",
              file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.store:
        from spotshield.errors import SpotShieldError
        from spotshield.storage import open_store

        try:  # check=False: the probe lists the bucket, and the coordinator may read DONE only
            store = open_store(args.store, check=False)
        except SpotShieldError as e:
            print(f"error: --store: {e}", file=sys.stderr)
            return 1
        threading.Thread(target=watch_done, args=(store, stop, args.poll_s, args.grace_s), name="watch-done",
                         daemon=True).start()
    try:
        serve(args.host, args.port, args.ready_file, stop)
    except (RuntimeError, OSError) as e:  # the port is taken, or the address is not ours
        print(f"error: cannot listen on {args.host}:{args.port}: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
