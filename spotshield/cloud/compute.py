"""Compute API access with one code path for real GCP and the local emulator.

SPOTSHIELD_COMPUTE_ENDPOINT (or an explicit endpoint) points the client at the emulator
with anonymous credentials; without it the client uses Application Default Credentials
and Google's endpoint. We only read (get/list), so no long-running operation is waited on.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime

from spotshield.errors import SpotShieldError

ENDPOINT_ENV = "SPOTSHIELD_COMPUTE_ENDPOINT"
# Reads must fail fast so `status` stays responsive when the API is unreachable.
_CALL_TIMEOUT_S = 10
# A GPU MIG on GCP takes a few minutes to create and boot; 15 minutes covers a stockout retry.
STABLE_TIMEOUT_S = 900
_STABLE_POLL_S = 5  # at most one get per 5 s against GCP's read quota...
_FIRST_POLL_S = 0.5  # ...after a quick first look: a small group is often stable at once


def endpoint(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get(ENDPOINT_ENV) or None


def client_kwargs(explicit: str | None = None) -> dict:
    ep = endpoint(explicit)
    if not ep:
        return {}  # ADC and compute.googleapis.com
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return {"client_options": ClientOptions(api_endpoint=ep), "credentials": AnonymousCredentials()}


def _clients(explicit: str | None):
    from google.cloud import compute_v1

    kw = client_kwargs(explicit)
    try:
        return compute_v1.RegionInstanceGroupManagersClient(**kw), compute_v1.InstancesClient(**kw)
    except Exception as e:  # DefaultCredentialsError and friends
        raise SpotShieldError(
            f"cannot create a Compute API client ({type(e).__name__}); "
            "run 'gcloud auth application-default login'"
        ) from None


def _api_error(e: Exception, what: str) -> SpotShieldError:
    msg = getattr(e, "message", None) or str(e)
    return SpotShieldError(f"Compute API: {what}: {' '.join(str(msg).split())[:300]}")


@dataclass
class InstanceInfo:
    name: str
    zone: str
    status: str  # RUNNING, STOPPING, TERMINATED, PROVISIONING, ... (Compute's words)
    action: str  # the MIG's current action: NONE, CREATING, RECREATING, ...
    created: float | None  # unix seconds
    last_start: float | None
    error: str | None = None  # the group's last failed attempt at it (ZONE_RESOURCE_POOL_EXHAUSTED: a stockout)


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _last(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _zone_of(url: str) -> str:
    parts = url.split("/")
    return parts[parts.index("zones") + 1] if "zones" in parts else ""


class Compute:
    """The few reads `up` and `status` need from one regional managed instance group."""

    def __init__(self, project: str, region: str, mig: str, endpoint: str | None = None):
        self.project, self.region, self.mig = project, region, mig
        self.migs, self.instances = _clients(endpoint)

    def group(self):
        """The InstanceGroupManager, or None when it does not exist."""
        from google.api_core import exceptions as gexc

        try:
            return self.migs.get(project=self.project, region=self.region,
                                 instance_group_manager=self.mig, timeout=_CALL_TIMEOUT_S)
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as e:
            raise _api_error(e, f"get group {self.mig}") from None
        except Exception as e:  # transport errors: connection refused, DNS, TLS
            raise SpotShieldError(f"Compute API unreachable ({type(e).__name__}) reading group {self.mig}") from None

    def is_stable(self) -> bool:
        g = self.group()
        if g is None:
            raise SpotShieldError(f"group {self.mig} does not exist in {self.project}/{self.region}")
        return bool(g.status.is_stable)

    def wait_stable(self, timeout_s: float = STABLE_TIMEOUT_S, poll_s: float = _STABLE_POLL_S,
                    on_poll=None) -> None:
        deadline = time.monotonic() + timeout_s
        wait = _FIRST_POLL_S
        while True:
            stable = self.is_stable()
            if on_poll:
                on_poll(stable)
            if stable:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpotShieldError(
                    f"group {self.mig} not stable after {timeout_s:.0f}s; "
                    "see 'spotshield status' (Spot capacity may be short: add zones)"
                )
            time.sleep(min(wait, left))
            wait = min(wait * 2, poll_s)

    def list_instances(self) -> list[InstanceInfo]:
        from google.api_core import exceptions as gexc

        try:
            managed = list(self.migs.list_managed_instances(
                project=self.project, region=self.region, instance_group_manager=self.mig,
                timeout=_CALL_TIMEOUT_S))
        except gexc.NotFound:
            return []
        except gexc.GoogleAPICallError as e:
            raise _api_error(e, f"list instances of {self.mig}") from None
        except Exception as e:
            raise SpotShieldError(f"Compute API unreachable ({type(e).__name__}) listing {self.mig}") from None
        out = []
        for m in managed:
            name, zone = _last(m.instance), _zone_of(m.instance)
            created = last_start = None
            status = m.instance_status or ""
            try:
                if status:  # else not created yet (a stockout, or being recreated): no instance to get
                    inst = self.instances.get(project=self.project, zone=zone, instance=name,
                                              timeout=_CALL_TIMEOUT_S)
                    status = inst.status or status
                    created, last_start = _ts(inst.creation_timestamp), _ts(inst.last_start_timestamp)
            except gexc.NotFound:
                pass  # the MIG is recreating it; the managed-instance view is all there is
            except Exception as e:
                raise SpotShieldError(f"Compute API: get instance {name}: {type(e).__name__}") from None
            errors = [e.code for e in m.last_attempt.errors.errors] if m.last_attempt else []
            out.append(InstanceInfo(name=name, zone=zone, status=status or "UNKNOWN",
                                    action=m.current_action or "NONE", created=created, last_start=last_start,
                                    error=errors[0] if errors else None))
        return sorted(out, key=lambda i: i.name)
