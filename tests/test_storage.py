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


def test_the_vms_bucket_role_covers_every_store_call(gcs_server, gcs_bucket, monkeypatch, tmp_path):
    """The VMs hold roles/storage.objectUser on the bucket and nothing on bucket metadata: the
    start-up probe and every Store call must pass an IAM check that grants only that role."""
    from gcs_iam import GcsIam

    from spotshield.cloud.permissions import ROLE_FACTS, needed

    with GcsIam(gcs_server.url, ROLE_FACTS["roles/storage.objectUser"].permissions) as iam:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", iam.url)
        store = open_store(f"gs://{gcs_bucket}/runs/r1")  # the probe: a listing, not bucket.exists()
        store.write("events/r1/h-b.jsonl", b"{}\n")
        store.write("events/r1/h-b.jsonl", b"{}\n{}\n")  # rewritten in place, as EventLog does
        store.write("ckpt/step-000001/meta.json", b"{}", create_only=True)
        src = tmp_path / "state.pt"
        src.write_bytes(b"x" * 1000)
        store.upload("ckpt/step-000001/state.pt", src, create_only=True)
        store.download("ckpt/step-000001/state.pt", tmp_path / "back.pt")
        assert store.read("events/r1/h-b.jsonl") == b"{}\n{}\n" and store.exists("ckpt/step-000001/meta.json")
        assert store.list("ckpt") == ["ckpt/step-000001/meta.json", "ckpt/step-000001/state.pt"]
        store.delete("ckpt/step-000001/state.pt")
    assert iam.denied == []
    # every permission used is in the manifest (spotshield/cloud/permissions.py), and each it lists was used
    assert iam.used == needed("bucket") == {"storage.objects.list", "storage.objects.get",
                                           "storage.objects.create", "storage.objects.delete"}


def test_a_role_without_list_is_one_clear_line(gcs_server, gcs_bucket, monkeypatch):
    from gcs_iam import GcsIam

    with GcsIam(gcs_server.url, {"storage.objects.get", "storage.buckets.get"}) as iam:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", iam.url)
        with pytest.raises(StoreError, match=r"no permission to list gs://.*/runs/r1 \(storage.objects.list\)"):
            open_store(f"gs://{gcs_bucket}/runs/r1")
