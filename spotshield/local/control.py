"""The emulator's own API under /spotshield/v1/, routed like the Compute API (compute/responses.Router):

  GET  /spotshield/v1/status                  ports, time scale, injector, instance pids
  GET  /spotshield/v1/cost[?run_id=]          the cost meter (cost.py)
  GET  /spotshield/v1/injector                pattern, rate, seed, history counts
  POST /spotshield/v1/injector                {"pattern", "rate", "seed", "trace", "time_scale"}
  POST /spotshield/v1/preempt                 {"instance": name} or {} for any running one
  GET  /spotshield/v1/capacity                spot capacity per zone now (capacity.py)
  POST /spotshield/v1/capacity                {"spec": <trace | {zone: true|false|trace|{trace, offset_s}}>}
  POST /spotshield/v1/shutdown                stop the region (the daemon exits)

Handlers get the emulator.Region; a SpotShieldError becomes a 400 in Google's error JSON.
"""
from __future__ import annotations

import threading

from spotshield.errors import SpotShieldError
from spotshield.local.compute.exceptions import Invalid
from spotshield.local.compute.responses import Router

PREFIX = "/spotshield/v1"
INJECTOR_SETTINGS = {"pattern", "rate", "seed", "trace", "time_scale"}


def _invalid(e: Exception) -> Invalid:
    err = Invalid(str(e))
    err.domain = "spotshield"
    return err


CONTROL = Router(PREFIX, errors={SpotShieldError: _invalid})


@CONTROL.route("GET", "/status")
def status(region, p, q, body):
    return region.status()


@CONTROL.route("GET", "/cost")
def cost(region, p, q, body):
    return region.cost.report(q.get("run_id"))


@CONTROL.route("GET", "/injector")
def injector(region, p, q, body):
    return {**region.injector.config(), "history": region.preemptions[-1000:]}


@CONTROL.route("POST", "/injector")
def configure_injector(region, p, q, body):
    unknown = set(body) - INJECTOR_SETTINGS
    if unknown:
        raise SpotShieldError(f"unknown injector settings: {', '.join(sorted(unknown))}")
    return region.configure_injector(**body)


@CONTROL.route("POST", "/preempt")
def preempt(region, p, q, body):
    name = body.get("instance")
    if not name:
        return region.injector.fire()
    with region.backend.lock:
        found = [i for i in region.backend.instances.values() if i.name == name]
    if not found:
        raise SpotShieldError(f"no instance {name!r}")
    ok = region.fleet.preempt(found[0])
    return {"instance": name, "outcome": "preempted" if ok else "not running"}


@CONTROL.route("GET", "/capacity")
def capacity(region, p, q, body):
    return region.capacity.config()


@CONTROL.route("POST", "/capacity")
def configure_capacity(region, p, q, body):
    unknown = set(body) - {"spec"}
    if unknown:
        raise SpotShieldError(f"unknown capacity settings: {', '.join(sorted(unknown))}; send {{\"spec\": ...}}")
    return region.configure_capacity(body.get("spec"))


@CONTROL.route("POST", "/shutdown")
def shutdown(region, p, q, body):
    threading.Thread(target=region.stop, daemon=True).start()
    return {"stopping": True}
