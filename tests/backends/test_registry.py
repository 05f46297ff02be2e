"""Backends by name, like the strategies; the grid runner's stack drivers only call the protocol."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spotshield import backends
from spotshield.backends.record import StackRecord
from spotshield.errors import SpotShieldError


def a_record(**kw) -> StackRecord:
    base = dict(backend="local", name="ss", project="p", region="us-central1", zones=["us-central1-a"], mig="ss-mig",
                bucket="b", run_id="r1", store="gs://b/runs/r1", strategy="adaptive")
    return StackRecord(**{**base, **kw})


def test_names_and_make():
    assert backends.NAMES == ("local", "gcp")
    assert backends.make("local").name == "local" and backends.make("gcp").name == "gcp"
    with pytest.raises(SpotShieldError, match="unknown backend 'azure'; choose one of local, gcp"):
        backends.make("azure")


def test_sources_come_from_the_record_on_both_backends():
    local = backends.sources(a_record(endpoints={"compute": "http://127.0.0.1:1", "storage": "http://127.0.0.1:2"}))
    assert local.store == "gs://b/runs/r1" and local.compute == "http://127.0.0.1:1"
    assert local.env == {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:2", "SPOTSHIELD_COMPUTE_ENDPOINT": "http://127.0.0.1:1"}
    gcp = backends.sources(a_record(backend="gcp"))
    assert gcp.compute is None and gcp.env == {}  # Google's own endpoints


def test_sources_applied_sets_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "before")
    src = backends.sources(a_record(endpoints={"storage": "during"}))
    import os

    with src.applied():
        assert os.environ["STORAGE_EMULATOR_HOST"] == "during"
    assert os.environ["STORAGE_EMULATOR_HOST"] == "before"


def test_the_record_names_the_bucket_layout(tmp_path):
    from spotshield.settings import StackSettings

    s = StackSettings(name="ss", run_id="r9", time_scale=30)
    rec = StackRecord.for_settings(s, project="spotshield-local", time_scale=s.time_scale)
    assert (rec.bucket, rec.store, rec.mig, rec.time_scale) == ("spotshield-local", "gs://spotshield-local/runs/r9",
                                                                "ss-mig", 30)
    assert rec.min_nodes is None  # one process per VM
    job = StackSettings(name="ss", run_id="r9", fleet_size=3, min_nodes=2, command="python train.py")
    rec = StackRecord.for_settings(job, project="p")
    assert (rec.min_nodes, rec.fleet_size) == (2, 3)  # status shows the elastic range


def test_reading_a_record_imports_no_backend_and_no_emulator():
    code = ("import sys, spotshield.backends.record, spotshield.status.collect, spotshield.status.render;"
            "bad = [m for m in sys.modules if m.startswith(('spotshield.local', 'spotshield.backends.local',"
            " 'spotshield.backends.gcp', 'spotshield.cloud'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


class FakeBackend:
    """A Backend whose `up` writes a finished run's store: the driver must only wait, copy, and take it down."""

    name = "fake"

    def __init__(self, root):
        self.root, self.calls = root, []

    def up(self, settings, echo=None, on_record=None, **kw):
        from spotshield.storage import open_store

        store = open_store(f"file://{self.root}/runs/{settings.run_id}")
        store.write(f"events/{settings.run_id}/vm-b1.jsonl", json.dumps({"event": "start", "t": 1.0}).encode() + b"\n")
        store.write("DONE", b'{"step": 1}')
        self.calls.append(("up", settings.run_id, settings.pattern))
        return a_record(run_id=settings.run_id, store=f"file://{self.root}/runs/{settings.run_id}")

    def sources(self, record):
        return backends.Sources(store=record.store)

    def down(self, record, *, delete_checkpoints=False, echo=None):
        self.calls.append(("down", record.run_id, delete_checkpoints))


def test_a_stack_driver_runs_no_backend_step_itself(tmp_path):
    from spotshield.analysis.drivers import LocalDriver
    from spotshield.analysis.grid import Grid, RunSpec

    fake = FakeBackend(tmp_path / "bucket")

    class Driver(LocalDriver):
        def backend(self, grid, spec, run_dir):
            return fake

    run_dir = tmp_path / "results" / "runs" / "naive-poisson-s0"
    Driver().run(Grid(name="g"), RunSpec("naive-poisson-s0", "naive", "poisson", 0, False), run_dir)
    assert fake.calls == [("up", "naive-poisson-s0", "poisson"), ("down", "naive-poisson-s0", True)]
    assert (run_dir / "DONE").read_bytes() == b'{"step": 1}'
    assert (run_dir / "events" / "naive-poisson-s0" / "vm-b1.jsonl").is_file()
