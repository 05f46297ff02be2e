"""Test helpers, moto style: a pytest fixture and Google clients bound to a local region.

    from spotshield.local.testing import local_region_fixture
    region = local_region_fixture(time_scale=60)        # in a conftest.py

    def test_x(region):
        clients = compute_clients(region)
"""
from __future__ import annotations

import time

import pytest

from spotshield.local.emulator import local_region
from spotshield.local.procs import alive


def local_region_fixture(scope: str = "function", **defaults):
    """A pytest fixture that yields a started Region (free ports, state under tmp_path)."""

    @pytest.fixture(scope=scope)
    def region(tmp_path_factory, request):
        kw = dict(defaults)
        kw.update(getattr(request, "param", None) or {})
        with local_region(tmp_path_factory.mktemp("region"), **kw) as r:
            yield r

    return region


def compute_clients(region) -> dict:
    """google-cloud-compute REST clients pointed at the region (anonymous credentials)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    kw = dict(credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=region.compute_url),
              transport="rest")
    return {"templates": compute_v1.InstanceTemplatesClient(**kw),
            "migs": compute_v1.RegionInstanceGroupManagersClient(**kw),
            "instances": compute_v1.InstancesClient(**kw),
            "zone_ops": compute_v1.ZoneOperationsClient(**kw)}


def wait_for(predicate, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; returns its value or fails the test with `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


pid_alive = alive  # True while the pid exists and is not a zombie (spotshield/local/procs.py)
