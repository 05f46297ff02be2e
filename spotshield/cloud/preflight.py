"""Checks before touching GCP, each failing with one line that says how to fix it.

Order matters: a missing terraform or credentials is cheaper to report than a disabled
API, and each later check needs the earlier one. Against the emulator
(SPOTSHIELD_COMPUTE_ENDPOINT set) credentials and API checks are skipped: it is anonymous.
"""
from __future__ import annotations

from spotshield.cloud import compute
from spotshield.cloud.terraform import terraform_bin
from spotshield.errors import SpotShieldError

# The APIs the root module uses; all must be enabled in the project. Resource Manager serves the
# project IAM bindings (google_project_iam_member, the custom role's binding): without it the
# apply fails halfway, after the network and the bucket exist.
REQUIRED_APIS = ("compute.googleapis.com", "storage.googleapis.com", "iam.googleapis.com",
                 "cloudresourcemanager.googleapis.com")
SERVICEUSAGE = "https://serviceusage.googleapis.com"
_TIMEOUT_S = 10
ADC_HINT = "run 'gcloud auth application-default login'"


def credentials(project: str | None):
    """Application Default Credentials, or a one-line error that says how to get them."""
    import google.auth
    from google.auth import exceptions as gaexc

    try:
        creds, adc_project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except gaexc.DefaultCredentialsError:
        raise SpotShieldError(f"no Application Default Credentials; {ADC_HINT}") from None
    if not (project or adc_project):
        raise SpotShieldError("no GCP project: pass --project, set SPOTSHIELD_PROJECT or 'project:' in spotshield.yaml")
    return creds


def with_quota_project(creds, project: str):
    """User credentials (gcloud auth application-default login) carry no project to bill API quota
    to, and Service Usage answers 403 without one: name `project` (google-auth then sends it as
    x-goog-user-project) unless the ADC file already names one. Service accounts need none."""
    from google.oauth2 import credentials as user_credentials

    if isinstance(creds, user_credentials.Credentials) and not creds.quota_project_id:
        return creds.with_quota_project(project)
    return creds


def disabled_apis(project: str, creds, endpoint: str | None = None) -> list[str]:
    """The REQUIRED_APIS that Service Usage reports as not ENABLED in `project`."""
    from google.auth import exceptions as gaexc
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(with_quota_project(creds, project))
    # services:batchGet takes `names` once per service (names=a&names=b), not comma-joined.
    names = [("names", f"projects/{project}/services/{api}") for api in REQUIRED_APIS]
    url = f"{endpoint or SERVICEUSAGE}/v1/projects/{project}/services:batchGet"
    try:
        r = session.get(url, params=names, timeout=_TIMEOUT_S)
    except gaexc.RefreshError:
        raise SpotShieldError(f"Application Default Credentials are expired or revoked; {ADC_HINT}") from None
    except Exception as e:
        raise SpotShieldError(f"cannot reach Service Usage API ({type(e).__name__}); check your network") from None
    if r.status_code == 403 and "quota project" in r.text.lower():
        raise SpotShieldError(
            f"Service Usage needs a quota project for your credentials (HTTP 403); run "
            f"'gcloud auth application-default set-quota-project {project}'"
        )
    if r.status_code == 403:
        raise SpotShieldError(
            f"no access to project {project} (HTTP 403); check the project id, or run "
            f"'gcloud services enable serviceusage.googleapis.com --project {project}'"
        )
    if r.status_code == 404:
        raise SpotShieldError(f"project {project} not found; check --project / SPOTSHIELD_PROJECT")
    if r.status_code != 200:
        raise SpotShieldError(f"Service Usage API answered HTTP {r.status_code} for project {project}")
    states = {s.get("config", {}).get("name") or s.get("name", "").rsplit("/", 1)[-1]: s.get("state")
              for s in r.json().get("services", [])}
    return [api for api in REQUIRED_APIS if states.get(api) != "ENABLED"]


def check_gcp(project: str) -> None:
    """Everything `up`/`down`/`plan` on gcp needs, in the order a user would fix it."""
    terraform_bin()
    if compute.endpoint():
        return  # the emulator: anonymous, every API "enabled"
    creds = credentials(project)
    off = disabled_apis(project, creds)
    if off:
        raise SpotShieldError(
            f"API(s) {', '.join(off)} disabled in project {project}; run "
            f"'gcloud services enable {' '.join(off)} --project {project}'"
        )
