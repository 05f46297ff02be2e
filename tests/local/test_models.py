"""The compute model computes a group's own work (moto-style), without HTTP or processes."""
from __future__ import annotations

import json
import urllib.request

from spotshield.errors import SpotShieldError
from spotshield.local.compute.models import ComputeBackend
from spotshield.local.compute.responses import Router
from spotshield.local.compute.server import ComputeServer

P, R = "proj", "us-central1"
TPL = {"name": "tpl", "properties": {"machineType": "g2-standard-4"}}


def group(size: int) -> ComputeBackend:
    b = ComputeBackend(project=P, region=R)
    b.insert_template(P, TPL)
    b.insert_mig(P, R, {"name": "g", "instanceTemplate": "global/instanceTemplates/tpl", "targetSize": size})
    return b


def test_reconcile_creates_up_to_the_target_size_spread_over_zones():
    b = group(3)
    done = b.reconcile()
    assert [what for what, _ in done] == ["create"] * 3
    assert sorted(i.zone for _, i in done) == [f"{R}-a", f"{R}-b", f"{R}-c"]
    assert b.reconcile() == []  # at its size: nothing to do


def test_reconcile_deletes_the_surplus_not_running_first_then_the_oldest():
    b = group(3)
    insts = [i for _, i in b.reconcile()]
    for i, created in zip(insts[:2], ("2026-01-01T00:00:00.000+00:00", "2026-01-02T00:00:00.000+00:00")):
        b.transition(i, "STAGING")
        b.transition(i, "RUNNING")
        i.created = created
    b.resize(P, R, "g", 1)
    done = b.reconcile()
    assert [what for what, _ in done] == ["delete", "delete"]
    assert {i.name for _, i in done} == {insts[2].name, insts[0].name}  # the provisioning one, then the oldest
    assert all(i.current_action == "DELETING" for _, i in done)


def test_repair_recreates_a_stopped_member_only_while_it_is_the_groups():
    b = group(1)
    (_, inst), = b.reconcile()
    assert b.repair(inst) is None  # not stopped
    b.transition(inst, "TERMINATED")
    fresh = b.repair(inst)
    assert fresh is not None and fresh.name == inst.name and fresh.id != inst.id
    assert fresh.current_action == "RECREATING" and b.repair(inst) is None  # replaced already
    b.transition(fresh, "TERMINATED")
    b.delete_mig(P, R, "g")
    assert b.repair(fresh) is None
    assert [what for what, _ in b.reconcile()] == ["remove"]  # a stopped member of a deleted group goes


def test_a_second_router_serves_the_paths_it_owns_with_googles_error_shape():
    control = Router("/x/v1", errors={SpotShieldError: lambda e: __import__(
        "spotshield.local.compute.exceptions", fromlist=["Invalid"]).Invalid(str(e))})

    @control.route("GET", "/echo")
    def echo(target, p, q, body):
        if q.get("fail"):
            raise SpotShieldError("bad input")
        return {"target": target, "q": q}

    server = ComputeServer(group(0), routers=[(control, "the-target")]).start()
    try:
        def get(path):
            try:
                with urllib.request.urlopen(server.url + path, timeout=5) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        assert get("/x/v1/echo?a=1") == (200, {"target": "the-target", "q": {"a": "1"}})
        code, err = get("/x/v1/echo?fail=1")
        assert code == 400 and err["error"]["message"] == "bad input"
        assert get("/x/v1/nope")[0] == 404
        assert get(f"/compute/v1/projects/{P}/global/instanceTemplates/tpl")[1]["name"] == "tpl"  # Compute still
    finally:
        server.stop()
