"""The metadata server answers like metadata.google.internal for what the VMs read."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from spotshield.local.metadata import MetadataServer

H = {"Metadata-Flavor": "Google"}


@pytest.fixture
def md():
    server = MetadataServer(name="fleet-abcd", instance_id="42", zone="us-central1-a", project_id="proj",
                            attributes={"spotshield-run-id": "r1", "spotshield-health-port": "8080"}).start()
    yield server
    server.stop()


def url(md, path):
    return f"http://{md.host}/computeMetadata/v1/{path}"


def test_requires_flavor_header(md):
    r = requests.get(url(md, "instance/name"), timeout=5)
    assert r.status_code == 403
    assert r.headers["Metadata-Flavor"] == "Google"


def test_instance_values(md):
    get = lambda p: requests.get(url(md, p), headers=H, timeout=5)
    assert get("instance/name").text == "fleet-abcd"
    assert get("instance/id").text == "42"
    assert get("instance/zone").text.endswith("/zones/us-central1-a")
    assert get("instance/hostname").text.startswith("fleet-abcd.us-central1-a.")
    assert get("project/project-id").text == "proj"
    assert get("instance/preempted").text == "FALSE"
    r = get("instance/attributes/spotshield-run-id")
    assert r.text == "r1" and r.headers["Metadata-Flavor"] == "Google" and r.headers["ETag"]
    assert get("instance/attributes/nope").status_code == 404
    assert get("instance/attributes/").text.split() == ["spotshield-health-port", "spotshield-run-id"]
    rec = get("instance/attributes/?recursive=true").json()
    assert rec == {"spotshield-run-id": "r1", "spotshield-health-port": "8080"}
    tok = get("instance/service-accounts/default/token").json()
    assert tok["token_type"] == "Bearer" and tok["access_token"] and tok["expires_in"] > 0


def test_wait_for_change_returns_when_preempted(md):
    first = requests.get(url(md, "instance/preempted"), headers=H, timeout=5)
    threading.Timer(0.3, md.set_preempted).start()
    t0 = time.monotonic()
    r = requests.get(url(md, "instance/preempted?wait_for_change=true&timeout_sec=10"), headers=H, timeout=15)
    assert r.text == "TRUE"
    assert 0.2 < time.monotonic() - t0 < 5
    assert r.headers["ETag"] != first.headers["ETag"]


def test_wait_for_change_times_out_and_stale_etag_returns_at_once(md):
    t0 = time.monotonic()
    r = requests.get(url(md, "instance/preempted?wait_for_change=true&timeout_sec=0.3"), headers=H, timeout=5)
    assert r.text == "FALSE" and time.monotonic() - t0 >= 0.25
    t0 = time.monotonic()
    r = requests.get(url(md, "instance/preempted?wait_for_change=true&last_etag=stale&timeout_sec=10"),
                     headers=H, timeout=5)
    assert r.text == "FALSE" and time.monotonic() - t0 < 1


def test_google_auth_detects_it(md, monkeypatch):
    """Google's own client code finds and reads this server through GCE_METADATA_HOST."""
    from google.auth.compute_engine import _metadata
    import google.auth.transport.requests as gtr

    # The module reads GCE_METADATA_HOST at import; a VM process imports it with the env already set.
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", md.host)
    req = gtr.Request()
    assert _metadata.get_project_id(req) == "proj"
    assert json.loads(json.dumps(_metadata.get(req, "instance/attributes/", recursive=True)))["spotshield-run-id"] == "r1"
