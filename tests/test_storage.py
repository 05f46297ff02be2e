"""The storage backends: file and GCS (against a real fake-gcs-server)."""
import pytest

from spotshield.errors import NotFoundError, PreconditionFailedError, StoreError
from spotshield.storage import open_store


@pytest.fixture(params=["file", "gcs"])
def store(request, tmp_path):
    if request.param == "file":
        return open_store(f"file://{tmp_path}/store")
    bucket = request.getfixturevalue("gcs_bucket")
    return open_store(f"gs://{bucket}/runs/r1")


def test_write_read_list_delete(store):
    store.write("ckpt/step-1/meta.json", b"{}")
    store.write("ckpt/step-2/state.pt", b"x" * 10)
    assert store.read("ckpt/step-1/meta.json") == b"{}"
    assert store.list("ckpt") == ["ckpt/step-1/meta.json", "ckpt/step-2/state.pt"]
    assert store.exists("ckpt/step-2/state.pt")
    store.delete("ckpt/step-2/state.pt")
    assert not store.exists("ckpt/step-2/state.pt")
    assert store.list("ckpt") == ["ckpt/step-1/meta.json"]


def test_create_only_never_overwrites(store):
    store.write("a", b"first", create_only=True)
    with pytest.raises(PreconditionFailedError):
        store.write("a", b"second", create_only=True)
    assert store.read("a") == b"first"


def test_upload_download_roundtrip(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 100)
    store.upload("big/blob", src, create_only=True)
    dst = tmp_path / "dst.bin"
    store.download("big/blob", dst)
    assert dst.read_bytes() == src.read_bytes()


def test_missing_key_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.read("nope")


def test_bad_urls_are_clear_errors():
    for url in ("s3://x/y", "gs://", "file://host/path"):
        with pytest.raises(StoreError):
            open_store(url)


def test_unreachable_gcs_is_one_error(monkeypatch):
    from spotshield.local.procs import free_port

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="cannot reach"):
        open_store("gs://bucket/prefix")


def test_missing_bucket_is_one_error(gcs_server, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    with pytest.raises(StoreError, match="does not exist"):
        open_store("gs://no-such-bucket/x")
