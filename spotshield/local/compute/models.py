"""The Compute Engine region as plain Python: templates, regional MIGs, instances, operations.

Knows nothing of HTTP or processes. What a group does on its own (scale to its target size,
repair a stopped member) is computed here, moto-style (ComputeBackend.reconcile / repair); the
fleet controller (spotshield/local/fleet.py) calls them on each tick, drives instance status
through `transition`, and runs the processes; responses.py turns these objects into v1 JSON.
Shapes follow the v1 REST reference (InstanceTemplate, InstanceGroupManager, ManagedInstance,
Instance, Operation). Every operation finishes at once (status DONE), because the Python
client's operation.result() polls the real Google endpoint whatever api_endpoint says.
"""
from __future__ import annotations

import copy
import datetime as dt
import random
import re
import string
import threading
import time
from typing import Callable

from spotshield.local.compute.exceptions import AlreadyExists, Invalid, NotFound, ResourceInUse

API_ROOT = "https://www.googleapis.com/compute/v1/"  # selfLinks look like GCP's so callers parse one shape
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC1035, as GCE enforces

# GCE's instance status machine (https://cloud.google.com/compute/docs/instances/instance-life-cycle).
TRANSITIONS = {
    "PROVISIONING": {"STAGING", "STOPPING", "TERMINATED"},
    "STAGING": {"RUNNING", "STOPPING", "TERMINATED"},
    "RUNNING": {"STOPPING", "TERMINATED"},
    "STOPPING": {"TERMINATED"},
    "TERMINATED": {"PROVISIONING"},
}
PREEMPTED_OPERATION = "compute.instances.preempted"
# What GCE reports when a zone has no capacity left for the machine (a spot stockout).
STOCKOUT_CODE = "ZONE_RESOURCE_POOL_EXHAUSTED"
MAX_GROUP_ERRORS = 200  # listErrors keeps the newest


def is_spot(properties: dict) -> bool:
    """A template's (or instance's) VMs are Spot VMs: preempted by GCE, subject to stockouts."""
    sched = properties.get("scheduling") or {}
    return sched.get("provisioningModel") == "SPOT" or sched.get("preemptible") is True


def rfc3339(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(time.time() if t is None else t, dt.timezone.utc).isoformat(timespec="milliseconds")


def check_name(kind: str, name) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise Invalid(f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                      f"'(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)' ({kind})")
    return name


def last_segment(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class _Ids:
    """GCE ids are uint64 rendered as decimal strings. Not seeded: ids must differ across
    emulator restarts (boot disks and cost rows are keyed by them); names stay seeded."""

    def __init__(self):
        self._rng = random.SystemRandom()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return str(self._rng.randrange(10**18, 2**63))


class Operation:
    def __init__(self, backend: "ComputeBackend", op_type: str, target_link: str, target_id: str,
                 *, zone: str | None = None, region: str | None = None, user: str = "spotshield-local",
                 message: str | None = None):
        self.id = backend.ids.next()
        self.name = f"operation-{int(time.time() * 1000)}-{self.id[-8:]}"
        self.op_type, self.target_link, self.target_id = op_type, target_link, target_id
        self.zone, self.region, self.user, self.message = zone, region, user, message
        self.time = rfc3339()
        scope = f"zones/{zone}" if zone else f"regions/{region}" if region else "global"
        self.scope = scope
        self.self_link = f"{API_ROOT}projects/{backend.project}/{scope}/operations/{self.name}"
        self.project = backend.project

    def to_json(self) -> dict:
        d = {"kind": "compute#operation", "id": self.id, "name": self.name, "operationType": self.op_type,
             "targetLink": self.target_link, "targetId": self.target_id, "status": "DONE", "progress": 100,
             "insertTime": self.time, "startTime": self.time, "endTime": self.time, "user": self.user,
             "selfLink": self.self_link}
        if self.zone:
            d["zone"] = f"{API_ROOT}projects/{self.project}/zones/{self.zone}"
        if self.region:
            d["region"] = f"{API_ROOT}projects/{self.project}/regions/{self.region}"
        if self.message:
            d["statusMessage"] = self.message
        return d


class InstanceTemplate:
    def __init__(self, backend: "ComputeBackend", body: dict):
        self.name = check_name("instanceTemplate", body.get("name"))
        props = body.get("properties")
        if not isinstance(props, dict) or not props.get("machineType"):
            raise Invalid("Invalid value for field 'resource.properties.machineType': ''. "
                          "Machine type must be specified")
        self.id = backend.ids.next()
        self.body = copy.deepcopy(body)
        self.self_link = f"{API_ROOT}projects/{backend.project}/global/instanceTemplates/{self.name}"
        self.created = rfc3339()

    @property
    def properties(self) -> dict:
        return self.body["properties"]

    def metadata(self) -> dict[str, str]:
        items = (self.properties.get("metadata") or {}).get("items") or []
        return {i["key"]: i.get("value", "") for i in items}

    def to_json(self) -> dict:
        return {**copy.deepcopy(self.body), "kind": "compute#instanceTemplate", "id": self.id,
                "selfLink": self.self_link, "creationTimestamp": self.created}


class Instance:
    def __init__(self, backend: "ComputeBackend", name: str, zone: str, template: InstanceTemplate,
                 mig: str | None):
        self.backend = backend
        self.name, self.zone, self.mig = name, zone, mig
        self.template = template
        self.properties = copy.deepcopy(template.properties)
        self.id = backend.ids.next()
        self.status = "PROVISIONING"
        self.current_action = "CREATING"  # the MIG's view: CREATING, NONE, RECREATING, DELETING
        self.health = "UNKNOWN"  # HEALTHY / UNHEALTHY / UNKNOWN, as the MIG health check sees it
        self.boots = 0
        self.created = rfc3339()
        self.last_start: str | None = None
        self.last_stop: str | None = None
        self.status_message: str | None = None
        self.preempted = False
        self.exit_code: int | None = None
        self.status_since = time.monotonic()
        self.extra_metadata: dict[str, str] = {}  # live values the emulator adds (cost)
        self.unavailable_s: float | None = None  # emulated stockout after a preemption (trace pattern)
        self.serial_path: str | None = None  # the serial console log the fleet controller writes
        # A managed instance the group could not create yet (a stockout): status is None (no
        # instance exists, so instances.get says 404), its action stays CREATING, and the
        # failed attempt shows in listManagedInstances' lastAttempt and in listErrors.
        self.last_attempt_errors: list[dict] = []
        self.self_link = f"{API_ROOT}projects/{backend.project}/zones/{zone}/instances/{name}"

    @property
    def spot(self) -> bool:
        return is_spot(self.properties)

    @property
    def exists(self) -> bool:
        """False while the group waits for capacity to create it."""
        return self.status is not None

    @property
    def key(self) -> tuple[str, str]:
        return self.zone, self.name

    def metadata(self) -> dict[str, str]:
        items = (self.properties.get("metadata") or {}).get("items") or []
        return {i["key"]: i.get("value", "") for i in items}

    def to_json(self) -> dict:
        p = copy.deepcopy(self.properties)
        project = self.backend.project
        mt = p.get("machineType", "")
        items = (p.get("metadata") or {}).get("items") or []
        items = items + [{"key": k, "value": v} for k, v in sorted(self.extra_metadata.items())]
        if self.mig:  # what GCE stamps on MIG members
            items.append({"key": "created-by",
                          "value": f"projects/{project}/regions/{self.backend.region}/instanceGroupManagers/{self.mig}"})
            items.append({"key": "instance-template", "value": f"projects/{project}/global/instanceTemplates/{self.template.name}"})
        accel = []
        for a in p.get("guestAccelerators") or []:
            accel.append({"acceleratorCount": a.get("acceleratorCount", 1),
                          "acceleratorType": f"{API_ROOT}projects/{project}/zones/{self.zone}/acceleratorTypes/"
                                             f"{last_segment(a.get('acceleratorType', ''))}"})
        d = {
            "kind": "compute#instance", "id": self.id, "name": self.name, "status": self.status,
            "zone": f"{API_ROOT}projects/{project}/zones/{self.zone}",
            "machineType": f"{API_ROOT}projects/{project}/zones/{self.zone}/machineTypes/{last_segment(mt)}",
            "creationTimestamp": self.created, "selfLink": self.self_link,
            "scheduling": p.get("scheduling", {}), "labels": p.get("labels", {}),
            "metadata": {"kind": "compute#metadata", "items": items},
            "guestAccelerators": accel, "tags": p.get("tags", {}),
            "serviceAccounts": p.get("serviceAccounts", []),
            "networkInterfaces": [{"name": "nic0", "networkIP": "10.128.0.2",
                                   "network": f"{API_ROOT}projects/{project}/global/networks/default"}],
            "disks": [{"boot": True, "deviceName": "persistent-disk-0", "autoDelete": True,
                       "type": "PERSISTENT", "mode": "READ_WRITE"}],
        }
        if self.last_start:
            d["lastStartTimestamp"] = self.last_start
        if self.last_stop:
            d["lastStopTimestamp"] = self.last_stop
        if self.status_message:
            d["statusMessage"] = self.status_message
        return d

    def managed_json(self, mig: "InstanceGroupManager") -> dict:
        d = {"instance": self.self_link, "name": self.name, "currentAction": self.current_action,
             "version": {"instanceTemplate": self.template.self_link}}
        if self.exists:
            d.update(id=self.id, instanceStatus=self.status)
        if self.last_attempt_errors:
            d["lastAttempt"] = {"errors": {"errors": copy.deepcopy(self.last_attempt_errors)}}
        if mig.auto_healing:
            d["instanceHealth"] = [{"healthCheck": mig.auto_healing[0].get("healthCheck", ""),
                                    "detailedHealthState": self.health}]
        return d


class InstanceGroupManager:
    def __init__(self, backend: "ComputeBackend", region: str, body: dict):
        self.name = check_name("instanceGroupManager", body.get("name"))
        tpl_url = body.get("instanceTemplate") or next(
            (v.get("instanceTemplate") for v in body.get("versions") or [] if v.get("instanceTemplate")), None)
        if not tpl_url:
            raise Invalid("Invalid value for field 'resource.instanceTemplate': ''. An instance template is required")
        self.template = backend.get_template(last_segment(tpl_url))
        size = body.get("targetSize", 0)
        try:
            self.target_size = int(size)
        except (TypeError, ValueError):
            raise Invalid(f"Invalid value for field 'resource.targetSize': '{size}'") from None
        if self.target_size < 0:
            raise Invalid(f"Invalid value for field 'resource.targetSize': '{size}'. Must be non-negative")
        self.base_name = check_name("baseInstanceName", body.get("baseInstanceName") or self.name)
        zones = [last_segment(z.get("zone", "")) for z in (body.get("distributionPolicy") or {}).get("zones") or []]
        for z in zones:
            if z not in backend.zones:
                raise Invalid(f"Invalid value for field 'resource.distributionPolicy.zones': '{z}'. "
                              f"Zone must be in region {region}")
        self.zones = zones or list(backend.zones)
        self.auto_healing = list(body.get("autoHealingPolicies") or [])
        self.region = region
        self.body = copy.deepcopy(body)
        self.id = backend.ids.next()
        self.created = rfc3339()
        self.self_link = f"{API_ROOT}projects/{backend.project}/regions/{region}/instanceGroupManagers/{self.name}"
        self.backend = backend
        self.errors: list[dict] = []  # listErrors items, oldest first

    @property
    def spot(self) -> bool:
        return is_spot(self.template.properties)

    def surplus(self, live: list["Instance"]) -> list["Instance"]:
        """Members to delete when the group is above its target size: instances that are not
        running go first (they cost nothing to lose), then the oldest."""
        extra = len(live) - self.target_size
        if extra <= 0:
            return []
        return sorted(live, key=lambda i: (i.status == "RUNNING", i.created))[:extra]

    @property
    def initial_delay_s(self) -> float:
        if not self.auto_healing:
            return 0.0
        return float(self.auto_healing[0].get("initialDelaySec", 300))  # GCP's default

    def to_json(self) -> dict:
        members = self.backend.members(self.name)
        actions = {a: 0 for a in ("abandoning", "creating", "creatingWithoutRetries", "deleting", "none",
                                  "recreating", "refreshing", "restarting", "verifying")}
        for m in members:
            k = {"CREATING": "creating", "RECREATING": "recreating", "DELETING": "deleting"}.get(m.current_action, "none")
            actions[k] += 1
        project = self.backend.project
        d = {**copy.deepcopy(self.body), "kind": "compute#instanceGroupManager", "id": self.id,
             "name": self.name, "baseInstanceName": self.base_name, "targetSize": self.target_size,
             "instanceTemplate": self.template.self_link,
             "versions": [{"instanceTemplate": self.template.self_link, "name": "0"}],
             "region": f"{API_ROOT}projects/{project}/regions/{self.region}",
             "distributionPolicy": {"zones": [{"zone": f"{API_ROOT}projects/{project}/zones/{z}"} for z in self.zones]},
             "currentActions": actions,
             "status": {"isStable": actions["none"] == len(members) == self.target_size},
             "instanceGroup": f"{API_ROOT}projects/{project}/regions/{self.region}/instanceGroups/{self.name}",
             "creationTimestamp": self.created, "selfLink": self.self_link}
        if self.auto_healing:
            d["autoHealingPolicies"] = copy.deepcopy(self.auto_healing)
        return d


class ComputeBackend:
    """One project in one region. All methods are thread safe (one re-entrant lock)."""

    def __init__(self, project: str = "spotshield-local", region: str = "us-central1",
                 zones: list[str] | None = None, seed: int = 0):
        self.project, self.region = project, region
        self.zones = list(zones or [f"{region}-a", f"{region}-b", f"{region}-c"])
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # the controller waits on this
        self._seed = seed
        # zone -> whether Spot capacity is there now; the emulator's capacity model (local/capacity.py)
        # replaces it. Standard (on-demand) VMs are never short of capacity here.
        self.spot_capacity: Callable[[str], bool] = lambda zone: True
        self.reset()

    def reset(self) -> None:
        """Forget everything, like a fresh project (moto's backend.reset())."""
        with self.lock:
            self.ids = _Ids()
            self._names = random.Random(self._seed + 1)
            self.templates: dict[str, InstanceTemplate] = {}
            self.migs: dict[str, InstanceGroupManager] = {}
            self.instances: dict[tuple[str, str], Instance] = {}
            self.operations: dict[str, Operation] = {}
            self.changed.notify_all()

    # ---- helpers -----------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join(("projects", self.project) + parts)

    def _check_scope(self, project: str, region: str | None = None, zone: str | None = None) -> None:
        if project != self.project:
            raise NotFound(f"projects/{project}")
        if region is not None and region != self.region:
            raise NotFound(f"projects/{project}/regions/{region}")
        if zone is not None and zone not in self.zones:
            raise NotFound(f"projects/{project}/zones/{zone}")

    def _op(self, op_type: str, target_link: str, target_id: str, **kw) -> Operation:
        op = Operation(self, op_type, target_link, target_id, **kw)
        self.operations[op.name] = op
        self.changed.notify_all()
        return op

    # ---- instance templates (global) ---------------------------------------
    def insert_template(self, project: str, body: dict) -> Operation:
        with self.lock:
            self._check_scope(project)
            if body.get("name") in self.templates:
                raise AlreadyExists(self._path("global", "instanceTemplates", body["name"]))
            t = InstanceTemplate(self, body)
            self.templates[t.name] = t
            return self._op("insert", t.self_link, t.id)

    def get_template(self, name: str, project: str | None = None) -> InstanceTemplate:
        with self.lock:
            self._check_scope(project or self.project)
            if name not in self.templates:
                raise NotFound(self._path("global", "instanceTemplates", name))
            return self.templates[name]

    def delete_template(self, project: str, name: str) -> Operation:
        with self.lock:
            t = self.get_template(name, project)
            for m in self.migs.values():
                if m.template is t:
                    raise ResourceInUse(self._path("global", "instanceTemplates", name), m.self_link)
            del self.templates[name]
            return self._op("delete", t.self_link, t.id)

    # ---- regional managed instance groups ----------------------------------
    def insert_mig(self, project: str, region: str, body: dict) -> Operation:
        with self.lock:
            self._check_scope(project, region=region)
            if body.get("name") in self.migs:
                raise AlreadyExists(self._path("regions", region, "instanceGroupManagers", body["name"]))
            m = InstanceGroupManager(self, region, body)
            self.migs[m.name] = m
            return self._op("compute.regionInstanceGroupManagers.insert", m.self_link, m.id, region=region)

    def get_mig(self, project: str, region: str, name: str) -> InstanceGroupManager:
        with self.lock:
            self._check_scope(project, region=region)
            if name not in self.migs:
                raise NotFound(self._path("regions", region, "instanceGroupManagers", name))
            return self.migs[name]

    def delete_mig(self, project: str, region: str, name: str) -> Operation:
        """Delete the group; its instances go to DELETING and the controller removes them."""
        with self.lock:
            m = self.get_mig(project, region, name)
            for inst in self.members(name):
                inst.current_action = "DELETING"
            del self.migs[name]
            return self._op("compute.regionInstanceGroupManagers.delete", m.self_link, m.id, region=region)

    def resize(self, project: str, region: str, name: str, size) -> Operation:
        with self.lock:
            m = self.get_mig(project, region, name)
            try:
                size = int(size)
            except (TypeError, ValueError):
                raise Invalid(f"Invalid value for field 'size': '{size}'") from None
            if size < 0:
                raise Invalid(f"Invalid value for field 'size': '{size}'. Must be non-negative")
            m.target_size = size
            return self._op("compute.regionInstanceGroupManagers.resize", m.self_link, m.id, region=region)

    def members(self, mig: str) -> list[Instance]:
        with self.lock:
            return sorted((i for i in self.instances.values() if i.mig == mig), key=lambda i: i.name)

    def managed_instances(self, project: str, region: str, name: str) -> list[dict]:
        with self.lock:
            m = self.get_mig(project, region, name)
            return [i.managed_json(m) for i in self.members(name)]

    def list_errors(self, project: str, region: str, name: str) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self.get_mig(project, region, name).errors)

    # ---- instances (zonal) -------------------------------------------------
    def get_instance(self, project: str, zone: str, name: str) -> Instance:
        with self.lock:
            self._check_scope(project, zone=zone)
            if (zone, name) not in self.instances or not self.instances[(zone, name)].exists:
                raise NotFound(self._path("zones", zone, "instances", name))
            return self.instances[(zone, name)]

    def list_instances(self, project: str, zone: str | None = None) -> list[Instance]:
        with self.lock:
            self._check_scope(project, zone=zone)
            return sorted((i for i in self.instances.values() if i.exists and (zone is None or i.zone == zone)),
                          key=lambda i: (i.zone, i.name))

    def new_member(self, mig: InstanceGroupManager) -> Instance:
        """Add one instance to a group: the zone with fewest members, a random 4-letter suffix."""
        with self.lock:
            counts = {z: 0 for z in mig.zones}
            for i in self.members(mig.name):
                counts[i.zone] = counts.get(i.zone, 0) + 1
            zone = min(mig.zones, key=lambda z: (counts.get(z, 0), mig.zones.index(z)))
            while True:
                suffix = "".join(self._names.choice(string.ascii_lowercase + string.digits) for _ in range(4))
                name = f"{mig.base_name}-{suffix}"
                if all(n != name for (_, n) in self.instances):
                    break
            inst = Instance(self, name, zone, mig.template, mig.name)
            self.instances[inst.key] = inst
            self._attempt(inst, mig)
            return inst

    def _attempt(self, inst: Instance, mig: InstanceGroupManager) -> bool:
        """Try to create a member: at once for standard VMs; for Spot VMs only where a zone of the
        group has capacity (its own zone first: as GCE's target shape ANY, a creation goes where
        capacity is). Else it stays not created, CREATING, with a ZONE_RESOURCE_POOL_EXHAUSTED
        error, and the group tries again on its next pass (reconcile). No instance, no bill."""
        zones = [inst.zone] + [z for z in mig.zones if z != inst.zone]
        zone = next((z for z in zones if not inst.spot or self.spot_capacity(z)), None)
        if zone is None:
            inst.status = None
            if not inst.last_attempt_errors:  # one error per failed creation, not one per retry
                err = {"code": STOCKOUT_CODE,
                       "message": f"The zone 'projects/{self.project}/zones/{inst.zone}' does not have enough "
                                  "resources available to fulfill the request. Try a different zone, or try again later."}
                inst.last_attempt_errors = [err]
                mig.errors.append({"timestamp": rfc3339(), "error": dict(err),
                                   "instanceActionDetails": {"instance": inst.self_link, "action": "CREATING",
                                                             "version": {"instanceTemplate": inst.template.self_link}}})
                del mig.errors[:-MAX_GROUP_ERRORS]
                self.changed.notify_all()
            return False
        if zone != inst.zone:  # not created yet: it can still go where capacity is
            del self.instances[inst.key]
            inst.zone = zone
            inst.self_link = f"{API_ROOT}projects/{self.project}/zones/{zone}/instances/{inst.name}"
            self.instances[inst.key] = inst
        inst.status, inst.status_since, inst.last_attempt_errors = "PROVISIONING", time.monotonic(), []
        self._op("compute.instances.insert", inst.self_link, inst.id, zone=zone, user="spotshield-local-mig")
        return True

    def stock_out(self, inst: Instance) -> bool:
        """A Spot VM still being created when its zone runs dry fails to be created: back to waiting."""
        with self.lock:
            mig = self.migs.get(inst.mig) if inst.mig else None
            if mig is None or inst.status not in ("PROVISIONING", "STAGING") or not inst.spot:
                return False
            inst.status = None
            return not self._attempt(inst, mig)

    def recreate(self, inst: Instance) -> Instance:
        """MIG repair: same name and zone, a new id and boot disk, from the group's template."""
        with self.lock:
            mig = self.migs.get(inst.mig)
            fresh = Instance(self, inst.name, inst.zone, mig.template if mig else inst.template, inst.mig)
            fresh.boots = inst.boots
            fresh.current_action = "RECREATING"
            self.instances[inst.key] = fresh
            self._op("compute.instances.repair.recreateInstance", fresh.self_link, fresh.id, zone=inst.zone,
                     user="spotshield-local-mig")
            if mig is not None:
                self._attempt(fresh, mig)
            return fresh

    def reconcile(self) -> list[tuple[str, Instance]]:
        """The groups' own work between API calls: bring each to its target size, and drop stopped
        members of deleted groups. Returns what was done, in order: ("create", inst), ("delete",
        inst) (now DELETING: its VM is to be shut down), ("remove", inst)."""
        done: list[tuple[str, Instance]] = []
        with self.lock:
            for mig in list(self.migs.values()):
                live = [i for i in self.members(mig.name) if i.current_action != "DELETING"]
                for inst in live:
                    if not inst.exists and self._attempt(inst, mig):  # capacity is back
                        done.append(("created", inst))
                for _ in range(mig.target_size - len(live)):
                    done.append(("create", self.new_member(mig)))
                for inst in mig.surplus(live):
                    inst.current_action = "DELETING"
                    done.append(("delete", inst))
            for inst in list(self.instances.values()):
                if inst.status == "TERMINATED" and inst.mig and inst.mig not in self.migs:
                    self.remove_instance(inst)
                    done.append(("remove", inst))
        return done

    def repair(self, inst: Instance) -> Instance | None:
        """A group repairs a stopped member by recreating it; None when it is no longer the
        group's to repair (replaced, being deleted, or its group is gone)."""
        with self.lock:
            if (inst.status != "TERMINATED" or not inst.mig or inst.mig not in self.migs
                    or self.instances.get(inst.key) is not inst or inst.current_action == "DELETING"):
                return None
            return self.recreate(inst)

    def remove_instance(self, inst: Instance) -> None:
        with self.lock:
            if self.instances.get(inst.key) is inst:
                del self.instances[inst.key]
                if inst.exists:  # a member never created (a stockout) leaves no instance to delete
                    self._op("compute.instances.delete", inst.self_link, inst.id, zone=inst.zone,
                             user="spotshield-local-mig")

    def transition(self, inst: Instance, status: str, message: str | None = None) -> None:
        with self.lock:
            if status == inst.status:
                return
            if status not in TRANSITIONS.get(inst.status, ()):
                raise ValueError(f"{inst.name}: illegal status change {inst.status} -> {status}")
            inst.status = status
            inst.status_since = time.monotonic()
            inst.status_message = message
            if status == "RUNNING":
                inst.last_start = rfc3339()
                inst.boots += 1
                if inst.current_action in ("CREATING", "RECREATING"):
                    inst.current_action = "NONE"
            elif status == "TERMINATED":
                inst.last_stop = rfc3339()
            self.changed.notify_all()

    def record_preemption(self, inst: Instance) -> Operation:
        with self.lock:
            inst.preempted = True
            return self._op(PREEMPTED_OPERATION, inst.self_link, inst.id, zone=inst.zone, user="system",
                            message="Instance was preempted.")

    # ---- operations --------------------------------------------------------
    def get_operation(self, project: str, name: str, *, zone: str | None = None, region: str | None = None) -> Operation:
        with self.lock:
            self._check_scope(project, zone=zone, region=region)
            op = self.operations.get(name)
            scope = f"zones/{zone}" if zone else f"regions/{region}" if region else "global"
            if op is None or op.scope != scope:
                raise NotFound(self._path(scope, "operations", name))
            return op

    def list_operations(self, project: str, *, zone: str | None = None, region: str | None = None,
                        scope: str | None = None, flt: str | None = None) -> list[Operation]:
        with self.lock:
            self._check_scope(project, zone=zone, region=region)
            if scope is None and (zone or region):
                scope = f"zones/{zone}" if zone else f"regions/{region}"
            ops = [o for o in self.operations.values() if scope is None or o.scope == scope]
            match = parse_filter(flt)
            return [o for o in ops if match(o.to_json())]


_TERM_RE = re.compile(r'\(?\s*([A-Za-z.]+)\s*(=|!=|\beq\b|\bne\b)\s*"?([^")\s]*)"?\s*\)?')


def parse_filter(flt: str | None):
    """The subset of the API's filter syntax callers use: `field="value"` terms joined by AND."""
    if not flt or not flt.strip():
        return lambda d: True
    terms = []
    for part in re.split(r"\s+AND\s+", flt.strip()):
        m = _TERM_RE.fullmatch(part.strip())
        if not m:
            raise Invalid(f"Invalid value for field 'filter': '{flt}'. Invalid list filter expression.")
        field, op, value = m.groups()
        terms.append((field, op in ("=", "eq"), value))

    def match(d: dict) -> bool:
        for field, eq, value in terms:
            got = d
            for f in field.split("."):
                got = got.get(f) if isinstance(got, dict) else None
            if (str(got) == value) != eq:
                return False
        return True

    return match
