"""Structured run events: the one record that status, analysis and the study read.

Each trainer process appends JSON lines to
    <store>/events/<run-id>/<host>-<boot>.jsonl
one file per (host, boot) so that no two writers ever share an object. GCS objects cannot be
appended to, so a writer rewrites its own object on each flush; once that object passes
SEGMENT_BYTES it is left as it is and the writer goes on in <host>-<boot>.<n>.jsonl, which keeps
each flush small however long the run. The boot scripts write their own object per boot,
<host>-<boot>-vm.jsonl, in the same line format. Readers take every *.jsonl under events/<run-id>/;
spotshield/boots.py turns them into boots (preemptions, work lost, billable time).

Every line has: {"event": <name>, "t": <unix seconds, float>, "run_id", "host", "boot", ...}
plus the fields listed in EVENT_FIELDS for that event. Readers must ignore unknown fields.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Iterable

from spotshield.layout import events_prefix
from spotshield.storage import Store, join

# event name -> required extra fields (beyond event, t, run_id, host, boot)
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    # a trainer process began; strategy and config summary. Under torchrun (rank 0 only, once per
    # round of the job) also rank, world_size and nodes: [{"host", "boot", "ranks"}] of every node
    "start": ("strategy", "model", "data", "epochs", "total_steps", "device", "pid"),
    # state restored from a checkpoint; seconds_lost = wall time of work since that checkpoint
    # that must be redone (estimated from the previous boot's last step event)
    "resume": ("from_step", "epoch", "checkpoint", "seconds_lost", "steps_lost"),
    # periodic progress (at most every few seconds): lets status draw progress without epochs
    "step": ("step", "epoch", "loss", "images_per_s"),
    # end of an epoch with validation
    "epoch_end": ("epoch", "step", "loss", "accuracy", "images_per_s", "epoch_seconds"),
    # a validation result between epoch ends (spotshield.Run.metrics, the framework adapters)
    "metrics": ("step", "epoch", "accuracy"),
    # a checkpoint committed (meta.json written). reason: interval|adaptive|milestone|emergency|final
    "checkpoint": ("step", "epoch", "reason", "stall_s", "persist_s", "bytes", "path"),
    # the preemption notice was seen (SIGTERM or metadata preempted=TRUE); source: sigterm|metadata
    "preempt_notice": ("step", "source"),
    # the emergency checkpoint outcome; ok=False means the deadline was missed
    "emergency_checkpoint": ("step", "ok", "seconds"),
    # the process is exiting; code is the exit code
    "exit": ("step", "code", "reason"),
    # the run finished: final weights exported and DONE written
    "done": ("step", "epoch", "accuracy", "final_path"),
    # --- written by the boot scripts (startup-scripts/*.sh) to <host>-<boot>-vm.jsonl, so that
    # billing includes start-up and a command that does not use the library still shows ---
    # startup.sh began: the VM is up and billed from here
    "vm_boot": (),
    # the boot script started the trainer or the user's command
    "command_start": ("command",),
    # that command ended with this exit code
    "command_exit": ("code",),
    # shutdown.sh saw the stop; preempted: true for a Spot preemption, false for a stop or deletion
    "vm_notice": ("preempted",),
    # the boot script stopped the group after `boots` failed boots in a row; error: the last error line
    "crash_loop": ("boots", "error"),
}

# Exit codes of `spotshield train`, documented in README.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped on a preemption notice after an emergency checkpoint


# Largest object a flush rewrites: at ~200 bytes an event and one step event per few seconds,
# that is a few hours of events per segment, and one flush costs one small PUT.
SEGMENT_BYTES = 256 * 1024


class EventLog:
    """Append-only event writer for one (run, host, boot). Rewrites its current segment per flush."""

    def __init__(self, store: Store, run_id: str, host: str, boot: str, segment_bytes: int = SEGMENT_BYTES):
        self.store = store
        self._stem = join(events_prefix(run_id), f"{host}-{boot}")
        self.base = {"run_id": run_id, "host": host, "boot": boot}
        self.segment_bytes = segment_bytes
        # A second writer of the same (host, boot), the worker torchrun restarts within one VM boot
        # after every stop of the job, goes on after the last segment there instead of overwriting it.
        self._segment = self._first_free_segment()
        self._lines: list[str] = []
        self._dirty = False  # lines emitted since the last flush

    def _first_free_segment(self) -> int:
        head = self._stem.rsplit("/", 1)[-1]
        taken = [-1]
        for key in self.store.list(self._stem.rsplit("/", 1)[0]):
            name = key.rsplit("/", 1)[-1]
            if name == f"{head}.jsonl":
                taken.append(0)
            elif name.startswith(f"{head}.") and name.endswith(".jsonl") and name[len(head) + 1:-6].isdigit():
                taken.append(int(name[len(head) + 1:-6]))
        return max(taken) + 1

    @property
    def key(self) -> str:
        """The object the next flush writes."""
        suffix = "" if self._segment == 0 else f".{self._segment:04d}"  # the first keeps the plain name
        return f"{self._stem}{suffix}.jsonl"

    def emit(self, event: str, flush: bool = True, **fields) -> dict:
        if event not in EVENT_FIELDS:
            raise ValueError(f"unknown event {event!r}")
        missing = [f for f in EVENT_FIELDS[event] if f not in fields]
        if missing:
            raise ValueError(f"event {event!r} is missing {missing}")
        rec = {"event": event, "t": time.time(), **self.base, **fields}
        self._lines.append(json.dumps(rec, sort_keys=True))
        self._dirty = True
        if flush:
            self.flush()
        return rec

    def flush(self) -> None:
        if not self._dirty:
            return
        payload = ("\n".join(self._lines) + "\n").encode()
        self.store.write(self.key, payload)
        self._dirty = False
        if len(payload) >= self.segment_bytes:  # sealed: its last write holds every line it will ever hold
            self._segment += 1
            self._lines = []


def parse_lines(text: str) -> list[dict]:
    """Parse JSONL, skipping a torn last line (a writer killed mid-write)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


# Parsed sealed segments, by (store URL, key): a sealed segment never changes, so `status --watch` reads
# only each writer's open segment on a refresh. Bounded, oldest out first.
_SEALED_CACHE: "OrderedDict[tuple[str, str], list[dict]]" = OrderedDict()
_SEALED_CACHE_MAX = 256  # segments (at most ~64 MiB of event text)


def _next_segment(key: str) -> str:
    """The key a writer goes on in once `key` is sealed."""
    stem = key[: -len(".jsonl")]
    head, dot, n = stem.rpartition(".")
    if dot and len(n) == 4 and n.isdigit():
        return f"{head}.{int(n) + 1:04d}.jsonl"
    return f"{stem}.0001.jsonl"


def read_events(store: Store, run_id: str) -> list[dict]:
    """All events of a run from every host and boot, ordered by time."""
    events: list[dict] = []
    keys = [k for k in store.list(events_prefix(run_id)) if k.endswith(".jsonl")]
    present = set(keys)
    for key in keys:
        sealed = _next_segment(key) in present
        cache_key = (store.url, key)
        parsed = _SEALED_CACHE.get(cache_key) if sealed else None
        if parsed is not None:
            _SEALED_CACHE.move_to_end(cache_key)
        else:
            parsed = parse_lines(store.read(key).decode(errors="replace"))
            if sealed:
                _SEALED_CACHE[cache_key] = parsed
                while len(_SEALED_CACHE) > _SEALED_CACHE_MAX:
                    _SEALED_CACHE.popitem(last=False)
        # cached lists outlive this call: hand out copies, since callers may annotate events
        events.extend(map(dict, parsed) if sealed else parsed)
    events.sort(key=lambda e: e.get("t", 0))
    return events


def validate_event(rec: dict) -> list[str]:
    """Problems with one event record (empty list when well formed)."""
    problems = []
    name = rec.get("event")
    if name not in EVENT_FIELDS:
        return [f"unknown event {name!r}"]
    for f in ("t", "run_id", "host", "boot", *EVENT_FIELDS[name]):
        if f not in rec:
            problems.append(f"{name}: missing {f}")
    return problems


def iter_runs(store: Store) -> Iterable[str]:
    seen = set()
    for key in store.list("events"):
        parts = key.split("/")
        if len(parts) >= 3 and parts[1] not in seen:
            seen.add(parts[1])
            yield parts[1]
