"""Preflight: missing credentials, project or APIs each give one line that says how to fix it."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials

from spotshield.cloud import preflight
from spotshield.errors import SpotShieldError


@pytest.fixture
def no_adc(tmp_path, monkeypatch):
    """No key file, no gcloud config, and a metadata server that refuses connections."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    # NO_GCE_CHECK=true is google-auth's own switch, read at import; set its flag directly
    # so the test does not wait 3 s for the refused metadata pings.
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)


@pytest.fixture
def service_usage():
    """A loopback Service Usage API: services:batchGet answers from `states`."""
    states: dict[str, str] = {}
    seen: list[str] = []
    headers: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append(self.path)
            headers.append({k.lower(): v for k, v in self.headers.items()})
            # as Service Usage does: one `names` per service; a comma-joined value is one bad name
            names = parse_qs(urlsplit(self.path).query).get("names", [])
            if "/projects/missing-proj/" in self.path:
                body, code = {"error": {"code": 404}}, 404
            elif "/projects/no-quota-proj/" in self.path and "x-goog-user-project" not in headers[-1]:
                body, code = {"error": {"code": 403, "message": "Your application is authenticating by using "
                              "local Application Default Credentials. The serviceusage.googleapis.com API "
                              "requires a quota project, which is not set by default."}}, 403
            elif any("," in n for n in names):
                body, code = {"error": {"code": 400, "message": "Invalid name"}}, 400
            else:
                asked = {n.rsplit("/", 1)[-1] for n in names}
                body, code = {"services": [{"name": f"projects/123/services/{api}", "config": {"name": api},
                                            "state": state} for api, state in states.items() if api in asked]}, 200
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", states, seen
    httpd.shutdown()
    httpd.server_close()


def test_no_adc_says_run_gcloud_login(no_adc):
    with pytest.raises(SpotShieldError, match="no Application Default Credentials; run 'gcloud auth "
                                              "application-default login'"):
        preflight.credentials("my-proj-1")


def test_disabled_apis_are_named_with_the_enable_command(service_usage):
    url, states, seen = service_usage
    states.update({"compute.googleapis.com": "ENABLED", "storage.googleapis.com": "DISABLED"})
    off = preflight.disabled_apis("my-proj-1", AnonymousCredentials(), endpoint=url)
    assert off == ["storage.googleapis.com", "iam.googleapis.com", "cloudresourcemanager.googleapis.com"]
    assert parse_qs(urlsplit(seen[0]).query)["names"] == [
        f"projects/my-proj-1/services/{api}" for api in preflight.REQUIRED_APIS]
    states.update({"storage.googleapis.com": "ENABLED", "iam.googleapis.com": "ENABLED",
                   "cloudresourcemanager.googleapis.com": "ENABLED"})
    assert preflight.disabled_apis("my-proj-1", AnonymousCredentials(), endpoint=url) == []


def test_user_credentials_name_the_project_as_quota_project(service_usage):
    """gcloud auth application-default login gives user credentials without a quota project."""
    from google.oauth2.credentials import Credentials

    url, states, _ = service_usage
    states.update({api: "ENABLED" for api in preflight.REQUIRED_APIS})
    assert preflight.disabled_apis("no-quota-proj", Credentials(token="user-token"), endpoint=url) == []


def test_a_quota_project_refusal_says_how_to_set_one(service_usage, monkeypatch):
    url, _, _ = service_usage
    monkeypatch.setattr(preflight, "with_quota_project", lambda creds, project: creds)  # as before the fix
    with pytest.raises(SpotShieldError, match="run 'gcloud auth application-default set-quota-project no-quota-proj'"):
        preflight.disabled_apis("no-quota-proj", AnonymousCredentials(), endpoint=url)


def test_check_gcp_message(service_usage, fake_terraform, monkeypatch):
    url, states, _ = service_usage
    states.update({"compute.googleapis.com": "DISABLED"})
    monkeypatch.setattr(preflight, "SERVICEUSAGE", url)
    monkeypatch.setattr(preflight, "credentials", lambda project: AnonymousCredentials())
    with pytest.raises(SpotShieldError) as e:
        preflight.check_gcp("my-proj-1")
    assert str(e.value) == ("API(s) compute.googleapis.com, storage.googleapis.com, iam.googleapis.com, "
                            "cloudresourcemanager.googleapis.com disabled in project my-proj-1; run 'gcloud "
                            "services enable compute.googleapis.com storage.googleapis.com iam.googleapis.com "
                            "cloudresourcemanager.googleapis.com --project my-proj-1'")


def test_unknown_project(service_usage):
    url, _, _ = service_usage
    with pytest.raises(SpotShieldError, match="project missing-proj not found"):
        preflight.disabled_apis("missing-proj", AnonymousCredentials(), endpoint=url)


def test_missing_terraform_comes_first(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpotShieldError, match="terraform not found on PATH"):
        preflight.check_gcp("my-proj-1")


def test_cli_gcp_without_adc_is_one_line(cli, no_adc, fake_terraform, root):
    r = cli("plan", "--backend", "gcp", "--project", "my-proj-1")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip() == "error: no Application Default Credentials; run 'gcloud auth application-default login'"
