"""The event log: one object per (host, boot), rolled into segments so that no flush rewrites much."""
import pytest

from spotshield.events import EventLog, read_events, validate_event
from spotshield.storage import FileStore


class CountingStore(FileStore):
    """A real file store that also records each write's size and each key read."""

    def __init__(self, root):
        super().__init__(root)
        self.writes: list[tuple[str, int]] = []
        self.reads: list[str] = []

    def read(self, key):
        self.reads.append(key)
        return super().read(key)

    def write(self, key, data, create_only=False):
        self.writes.append((key, len(data)))
        return super().write(key, data, create_only=create_only)


def step(log, i):
    return log.emit("step", step=i, epoch=0, loss=1.0 / (i + 1), images_per_s=100.0)


def test_every_event_reads_back_in_order_across_segments(tmp_path):
    store = CountingStore(tmp_path / "s")
    log = EventLog(store, "r1", "vm-a", "b1", segment_bytes=2_000)
    emitted = [step(log, i) for i in range(100)]
    got = read_events(store, "r1")
    assert [e["step"] for e in got] == list(range(100))
    assert got == emitted and all(validate_event(e) == [] for e in got)
    keys = store.list("events/r1")
    assert len(keys) > 5 and "events/r1/vm-a-b1.jsonl" in keys  # the first segment keeps the plain name


def test_a_flush_never_rewrites_more_than_one_segment(tmp_path):
    store = CountingStore(tmp_path / "s")
    log = EventLog(store, "r1", "vm-a", "b1", segment_bytes=2_000)
    step(log, 0)
    line = store.writes[0][1]  # one event's size
    for i in range(1, 500):
        step(log, i)
    biggest = max(n for _, n in store.writes)
    assert biggest < 2_000 + 2 * line  # bounded by the segment size, not by the run's length
    assert len(store.writes) == 500  # still one write per flushed event


def test_unflushed_events_go_out_with_the_next_flush(tmp_path):
    store = CountingStore(tmp_path / "s")
    log = EventLog(store, "r1", "vm-a", "b1")
    log.emit("preempt_notice", flush=False, step=3, source="sigterm")
    assert store.writes == [] and read_events(store, "r1") == []
    log.flush()
    log.flush()  # nothing new: no second write
    assert [e["event"] for e in read_events(store, "r1")] == ["preempt_notice"] and len(store.writes) == 1


def test_two_boots_never_share_an_object(tmp_path):
    store = FileStore(tmp_path / "s")
    a, b = EventLog(store, "r1", "vm-a", "b1"), EventLog(store, "r1", "vm-a", "b2")
    step(a, 1)
    step(b, 2)
    step(a, 3)
    assert sorted(e["step"] for e in read_events(store, "r1")) == [1, 2, 3]
    assert len(store.list("events/r1")) == 2


def test_a_second_writer_of_one_boot_goes_on_after_the_first_and_overwrites_nothing(tmp_path):
    """torchrun restarts its workers within one VM boot after every stop of the job: same host and boot."""
    store = FileStore(tmp_path / "s")
    first = EventLog(store, "r1", "vm-a", "b1", segment_bytes=300)
    for i in range(1, 5):
        step(first, i)  # rolls into a second segment
    step(EventLog(store, "r1", "vm-a", "b1-other"), 99)  # a boot whose id extends this one's: not a segment of it
    second = EventLog(store, "r1", "vm-a", "b1", segment_bytes=300)
    step(second, 5)
    assert [e["step"] for e in read_events(store, "r1") if e["boot"] == "b1"] == [1, 2, 3, 4, 5]


def test_unknown_event_or_missing_field_is_refused(tmp_path):
    log = EventLog(FileStore(tmp_path / "s"), "r1", "vm-a", "b1")
    with pytest.raises(ValueError, match="unknown event"):
        log.emit("stepp", step=1)
    with pytest.raises(ValueError, match="missing"):
        log.emit("step", step=1)


def test_a_second_read_fetches_only_open_segments(tmp_path):
    """status --watch re-reads a run every few seconds: sealed segments never change, so they come from memory."""
    store = CountingStore(tmp_path / "s")
    a, b = EventLog(store, "r1", "vm-a", "b1", segment_bytes=2_000), EventLog(store, "r1", "vm-b", "b1")
    for i in range(60):
        step(a, i)
    step(b, 1000)
    first = read_events(store, "r1")
    store.reads.clear()
    step(a, 60)
    second = read_events(store, "r1")
    assert sorted(store.reads) == sorted([a.key, "events/r1/vm-b-b1.jsonl"])  # one open segment per writer
    assert [e["step"] for e in second] == [e["step"] for e in first] + [60]
    second[0]["note"] = "callers may annotate"
    assert "note" not in read_events(store, "r1")[0]
