"""Thin request layer: Compute v1 REST paths -> ComputeBackend calls -> v1 JSON.

Paths are those google-cloud-compute's REST transport sends (compute_v1/services/*/transports/
rest_base.py). Anything the backend raises as ComputeError becomes Google's error JSON.
`Router` is the one request router of the emulator: the Compute API below, and the emulator's
own control API (spotshield/local/control.py), are each one Router.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from spotshield.local.compute.exceptions import ComputeError, Invalid, NotFound
from spotshield.local.compute.models import ComputeBackend

V1 = "/compute/v1/projects/(?P<project>[^/]+)"
# handler(target, path parameters, query, JSON body) -> JSON
Handler = Callable[[Any, dict, dict, dict], dict]


class Router:
    """(method, path pattern) -> handler, for paths under one prefix. Handlers raise ComputeError
    (or an error type given in `errors`, mapped to a ComputeError) for Google's error JSON."""

    def __init__(self, prefix: str, errors: dict[type, Callable[[Exception], ComputeError]] | None = None):
        self.prefix = prefix
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self.errors = {ComputeError: lambda e: e, **(errors or {})}

    def route(self, method: str, pattern: str):
        def deco(fn: Handler) -> Handler:
            self.routes.append((method, re.compile(self.prefix + pattern + "$"), fn))
            return fn
        return deco

    def owns(self, path: str) -> bool:
        return re.match(self.prefix, path) is not None

    def dispatch(self, target, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        """(HTTP status, JSON) for one request. Never raises for API errors."""
        for m, rx, fn in self.routes:
            hit = rx.match(path)
            if hit and m == method:
                try:
                    return 200, fn(target, hit.groupdict(), query, body)
                except tuple(self.errors) as e:
                    err = next(to(e) for kind, to in self.errors.items() if isinstance(e, kind))
                    return err.code, err.to_json()
        if any(rx.match(path) for _, rx, _ in self.routes):
            err = ComputeError(f"Method {method} is not allowed on {path}")
            err.code, err.reason = 405, "methodNotAllowed"
            return 405, err.to_json()
        return 404, NotFound(path.removeprefix("/compute/v1/")).to_json()


COMPUTE = Router(V1)
route = COMPUTE.route


def _list(kind: str, items: list[dict], self_link: str) -> dict:
    return {"kind": kind, "id": self_link, "items": items, "selfLink": self_link}


# ---- instance templates ----------------------------------------------------
@route("POST", "/global/instanceTemplates")
def insert_template(b: ComputeBackend, p, q, body):
    return b.insert_template(p["project"], body).to_json()


@route("GET", "/global/instanceTemplates")
def list_templates(b, p, q, body):
    b._check_scope(p["project"])
    with b.lock:
        items = [t.to_json() for t in b.templates.values()]
    return _list("compute#instanceTemplateList", items,
                 f"projects/{p['project']}/global/instanceTemplates")


@route("GET", "/global/instanceTemplates/(?P<name>[^/]+)")
def get_template(b, p, q, body):
    return b.get_template(p["name"], p["project"]).to_json()


@route("DELETE", "/global/instanceTemplates/(?P<name>[^/]+)")
def delete_template(b, p, q, body):
    return b.delete_template(p["project"], p["name"]).to_json()


# ---- regional managed instance groups --------------------------------------
MIG = "/regions/(?P<region>[^/]+)/instanceGroupManagers"


@route("POST", MIG)
def insert_mig(b, p, q, body):
    return b.insert_mig(p["project"], p["region"], body).to_json()


@route("GET", MIG)
def list_migs(b, p, q, body):
    b._check_scope(p["project"], region=p["region"])
    with b.lock:
        items = [m.to_json() for m in b.migs.values()]
    return _list("compute#regionInstanceGroupManagerList", items,
                 f"projects/{p['project']}/regions/{p['region']}/instanceGroupManagers")


@route("GET", MIG + "/(?P<name>[^/]+)")
def get_mig(b, p, q, body):
    with b.lock:
        return b.get_mig(p["project"], p["region"], p["name"]).to_json()


@route("DELETE", MIG + "/(?P<name>[^/]+)")
def delete_mig(b, p, q, body):
    return b.delete_mig(p["project"], p["region"], p["name"]).to_json()


@route("POST", MIG + "/(?P<name>[^/]+)/resize")
def resize(b, p, q, body):
    if "size" not in q:
        raise Invalid("Required field 'size' not specified")
    return b.resize(p["project"], p["region"], p["name"], q["size"]).to_json()


@route("POST", MIG + "/(?P<name>[^/]+)/listManagedInstances")
def list_managed(b, p, q, body):
    return {"managedInstances": b.managed_instances(p["project"], p["region"], p["name"])}


@route("GET", MIG + "/(?P<name>[^/]+)/listErrors")
def list_errors(b, p, q, body):
    return {"items": b.list_errors(p["project"], p["region"], p["name"])}


# ---- instances ---------------------------------------------------------------
@route("GET", "/zones/(?P<zone>[^/]+)/instances")
def list_instances(b, p, q, body):
    with b.lock:
        items = [i.to_json() for i in b.list_instances(p["project"], p["zone"])]
    return _list("compute#instanceList", items, f"projects/{p['project']}/zones/{p['zone']}/instances")


@route("GET", "/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)")
def get_instance(b, p, q, body):
    with b.lock:
        return b.get_instance(p["project"], p["zone"], p["name"]).to_json()


@route("GET", "/zones/(?P<zone>[^/]+)/instances/(?P<name>[^/]+)/serialPort")
def serial_port(b, p, q, body):
    """getSerialPortOutput: the instance's console log (the fleet controller's log file)."""
    inst = b.get_instance(p["project"], p["zone"], p["name"])
    data = b""
    if inst.serial_path:
        try:
            with open(inst.serial_path, "rb") as f:
                data = f.read()
        except OSError:
            pass
    start = max(0, int(q.get("start", 0) or 0))
    return {"kind": "compute#serialPortOutput", "contents": data[start:].decode(errors="replace"),
            "start": str(start), "next": str(len(data)), "selfLink": inst.self_link + "/serialPort"}


@route("GET", "/aggregated/instances")
def aggregated_instances(b, p, q, body):
    with b.lock:
        items = {f"zones/{z}": {"instances": []} for z in b.zones}
        for i in b.list_instances(p["project"]):
            items[f"zones/{i.zone}"]["instances"].append(i.to_json())
    for v in items.values():
        if not v["instances"]:  # GCP puts a warning where a zone has none
            del v["instances"]
            v["warning"] = {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope on this page."}
    return {"kind": "compute#instanceAggregatedList", "items": items,
            "selfLink": f"projects/{p['project']}/aggregated/instances"}


# ---- operations ------------------------------------------------------------
def _scope(p) -> dict:
    return {k: p[k] for k in ("zone", "region") if p.get(k)}


@route("GET", "/(?:zones/(?P<zone>[^/]+)|regions/(?P<region>[^/]+)|global)/operations/(?P<name>[^/]+)")
def get_operation(b, p, q, body):
    return b.get_operation(p["project"], p["name"], **_scope(p)).to_json()


@route("POST", "/(?:zones/(?P<zone>[^/]+)|regions/(?P<region>[^/]+)|global)/operations/(?P<name>[^/]+)/wait")
def wait_operation(b, p, q, body):
    return b.get_operation(p["project"], p["name"], **_scope(p)).to_json()  # every operation is DONE


@route("GET", "/(?:zones/(?P<zone>[^/]+)|regions/(?P<region>[^/]+)|(?P<glob>global))/operations")
def list_operations(b, p, q, body):
    scope = None if p.get("zone") or p.get("region") else "global"
    ops = b.list_operations(p["project"], scope=scope, flt=q.get("filter"), **_scope(p))
    return {"kind": "compute#operationList", "items": [o.to_json() for o in ops], "id": "operations"}


@route("GET", "/aggregated/operations")
def aggregated_operations(b, p, q, body):
    items: dict = {}
    for o in b.list_operations(p["project"], flt=q.get("filter")):
        items.setdefault(o.scope, {"operations": []})["operations"].append(o.to_json())
    return {"kind": "compute#operationAggregatedList", "items": items, "id": "operations"}


def dispatch(backend: ComputeBackend, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
    """(HTTP status, JSON) of one Compute API request."""
    return COMPUTE.dispatch(backend, method, path, query, body)
