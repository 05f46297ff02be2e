"""Prices and bills: the one price table, the one billable-time rule, and the Bill every figure comes from.

The emulator's cost meter (spotshield/local/cost.py), `spotshield status` and `spotshield analyze`
all price through this module, so they cannot disagree:

  price table     spotshield/prices.csv, exact columns PRICE_COLUMNS; a machine's hourly price
                  is its row plus gpu_count x the GPU's row, for one region. `spot_estimated`
                  marks spot prices that are derived, not read off a price list.
  billable time   billable_seconds(spans): VM time from boot to deletion, summed over the VM's
                  lives (spotshield/boots.py gives the spans from events; the meter from the
                  emulated instances' own RUNNING..TERMINATED times).
  Bill            spot spent       = billable time on Spot VMs x spot price (start-up included)
                  on-demand VMs    = billable time on on-demand VMs (a deadline's fallback) x on-demand price
                                     + service VMs (ServiceVm: the rendezvous coordinator of a job under
                                     torchrun), each at its own machine's on-demand price
                  spent            = spot spent + on-demand VMs: what the run cost
                  on-demand equiv. = what an uninterrupted on-demand run of the same work costs:
                                     productive time only (boots.on_demand_seconds) x on-demand price
                  savings          = 1 - spent / on-demand equivalent
                  price discount   = 1 - spot price / on-demand price: the bare discount, shown
                                     only under that name; savings are below it whenever
                                     preemptions cost restarts or re-done work.

  service VMs     service_vms(record, events, now): the coordinator, when the stack record names
                  its machine (resources["coordinator_machine_type"]), from the stack's creation
                  until the run's DONE (its "done" event), or until now while it runs: the VM
                  powers itself off once DONE exists (spotshield/distributed/coordinator.py).

Units: spans are in the clock's seconds. Under the emulator the events' clock is real time and
the meter's is emulated time; `time_scale` (emulated seconds per real second) converts, and a
Bill's hours are always the billed, i.e. emulated, hours.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from spotshield.errors import SpotShieldError

SECONDS_PER_HOUR = 3600.0
PRICE_FILE = "prices.csv"  # package data of spotshield
PRICE_COLUMNS = ("name", "kind", "region", "on_demand", "spot", "spot_estimated", "source", "date")
KINDS = ("machine", "gpu")
DEFAULT_MACHINE = "g2-standard-4"  # the machine of the original study: 4 vCPU + 1x L4
DEFAULT_GPU = "nvidia-l4"
DEFAULT_REGION = "us-central1"
COORDINATOR_MACHINE = "e2-small"  # terraform/modules/coordinator's machine_type default (a test holds them equal)


@dataclass(frozen=True)
class Price:
    """One row of the price table: USD per hour."""

    name: str
    kind: str
    region: str
    on_demand: float
    spot: float
    spot_estimated: bool
    source: str
    date: str


@dataclass(frozen=True)
class Rate:
    """USD per hour of one instance (machine + its GPUs)."""

    spot: float
    on_demand: float
    spot_estimated: bool = False

    @property
    def price_discount_pct(self) -> float:
        return round(100.0 * (1.0 - self.spot / self.on_demand), 1)


def _row(raw: dict, line: int) -> Price:
    where = f"{PRICE_FILE} line {line}"
    if raw.get("kind") not in KINDS:
        raise SpotShieldError(f"{where}: kind must be machine or gpu, not {raw.get('kind')!r}")
    if raw.get("spot_estimated") not in ("true", "false"):
        raise SpotShieldError(f"{where}: spot_estimated must be true or false, not {raw.get('spot_estimated')!r}")
    try:
        on_demand, spot = float(raw["on_demand"]), float(raw["spot"])
    except (TypeError, ValueError):
        raise SpotShieldError(f"{where}: on_demand and spot must be USD per hour") from None
    if not 0 < spot <= on_demand:
        raise SpotShieldError(f"{where}: need 0 < spot <= on_demand, not spot={spot} on_demand={on_demand}")
    return Price(raw["name"], raw["kind"], raw["region"], on_demand, spot, raw["spot_estimated"] == "true",
                 raw["source"], raw["date"])


def parse_prices(text: str) -> tuple[Price, ...]:
    """The rows of a price table in PRICE_COLUMNS format; a bad header or row is one clear line."""
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != PRICE_COLUMNS:
        raise SpotShieldError(f"{PRICE_FILE} must have the columns {','.join(PRICE_COLUMNS)}, "
                              f"not {','.join(reader.fieldnames or ())}")
    return tuple(_row(raw, i) for i, raw in enumerate(reader, start=2))


@lru_cache(maxsize=1)
def price_table() -> tuple[Price, ...]:
    """The shipped table (spotshield/prices.csv), read once."""
    return parse_prices(resources.files("spotshield").joinpath(PRICE_FILE).read_text())


def hourly(machine_type: str, gpu_type: str | None, gpu_count: int, region: str,
           table: Iterable[Price] | None = None) -> Rate | None:
    """The Rate of one instance, or None when the table lacks its machine or GPU in that region."""
    rows = {(p.name, p.region): p for p in (price_table() if table is None else table)}
    machine = rows.get((machine_type, region))
    if machine is None or machine.kind != "machine":
        return None
    spot, od, estimated = machine.spot, machine.on_demand, machine.spot_estimated
    if gpu_type and gpu_count:
        gpu = rows.get((gpu_type, region))
        if gpu is None or gpu.kind != "gpu":
            return None
        spot, od = spot + gpu.spot * gpu_count, od + gpu.on_demand * gpu_count
        estimated = estimated or gpu.spot_estimated
    return Rate(spot, od, estimated)


def resolve_rate(spot: float | None, ondemand: float | None, machine: str = DEFAULT_MACHINE,
                 gpu: str | None = DEFAULT_GPU, gpu_count: int = 1, region: str = DEFAULT_REGION) -> Rate:
    """Prices given by the user (USD per hour), filling what is missing from the table."""
    rate = None
    if spot is None or ondemand is None:
        rate = hourly(machine, gpu, gpu_count if gpu else 0, region)
        if rate is None:
            what = f"{machine} + {gpu_count}x {gpu}" if gpu else machine
            raise SpotShieldError(f"no price for {what} in the price table; "
                                  "pass --spot-price and --ondemand-price (USD per hour)")
    estimated = spot is None and rate is not None and rate.spot_estimated
    spot = rate.spot if spot is None else spot
    ondemand = rate.on_demand if ondemand is None else ondemand
    if spot <= 0 or ondemand <= 0:
        raise SpotShieldError(f"prices must be > 0 USD per hour, not spot={spot} on-demand={ondemand}")
    return Rate(spot, ondemand, estimated)


def billable_seconds(spans: Iterable[tuple[float, float]]) -> float:
    """The one billable-time rule: every (boot, deletion) span of a VM, summed."""
    return sum(max(0.0, end - start) for start, end in spans)


def run_seconds(boots) -> tuple[float, float | None]:
    """(billable, on-demand equivalent) seconds of a run's boots (spotshield/boots.py), on the events' clock."""
    from spotshield import boots as bootmodel

    return billable_seconds(bootmodel.spans(boots)), bootmodel.on_demand_seconds(boots)


@dataclass(frozen=True)
class ServiceVm:
    """An on-demand VM that serves the run without training it (the rendezvous coordinator), billed
    at its own machine's on-demand price. billed_s is on the billed clock already (emulated
    seconds under the emulator), so a Bill's time_scale does not apply to it."""

    name: str
    machine_type: str
    usd_per_h: float
    billed_s: float

    @property
    def usd(self) -> float:
        return self.usd_per_h * self.billed_s / SECONDS_PER_HOUR

    def to_dict(self) -> dict:
        return {"name": self.name, "machine_type": self.machine_type, "on_demand_usd_per_h": self.usd_per_h,
                "billed_s": round(self.billed_s, 1), "usd": round(self.usd, 4)}


def service_vms(rec, events: list[dict], now: float) -> tuple[ServiceVm, ...]:
    """The service VMs of a stack (`rec`: its StackRecord), billed from the stack's creation until the
    run's first "done" event, or until `now` while it runs; on the record's clock (time_scale x the
    events' real seconds; under guest_time real through the run's own timeline, as its boots are).
    A machine without a price in the table is left out, as the whole Bill is then."""
    machine = (rec.resources or {}).get("coordinator_machine_type")
    rate = hourly(machine, None, 0, rec.region) if machine else None
    if rate is None:
        return ()
    done = [e["t"] for e in events if e.get("event") == "done" and isinstance(e.get("t"), (int, float))]
    start, end = float(rec.created), float(min(done) if done else now)
    if end <= start:
        return ()
    if rec.guest_time == "real" and rec.time_scale != 1:
        from spotshield.analysis.emulated import timeline

        billed = timeline(events, rec.time_scale, "real").span(start, end)
    else:
        billed = (end - start) * rec.time_scale
    return (ServiceVm("coordinator", machine, rate.on_demand, billed),)


@dataclass(frozen=True)
class Bill:
    """Spot spent, the on-demand equivalent and savings of one run (or one instance)."""

    rate: Rate
    billable_s: float  # VM time, boot to deletion, in the spans' clock
    on_demand_s: float | None = None  # productive time of an uninterrupted run; None: unknown
    time_scale: float = 1.0  # emulated seconds per second of the spans' clock (1 on GCP)

    on_demand_vm_s: float = 0.0  # the part of billable_s spent on on-demand VMs, same clock
    services: tuple[ServiceVm, ...] = ()  # on-demand VMs beside the fleet (not in billable_s)

    @classmethod
    def for_boots(cls, rate: Rate, boots, time_scale: float = 1.0, on_demand_vm=None,
                  services: tuple[ServiceVm, ...] = (), nodes: int = 1) -> "Bill":
        """The bill of a run from its boots (spotshield/boots.py), as status and analyze compute it.
        on_demand_vm(boot) -> True for a boot on an on-demand VM (billed at the on-demand price).
        nodes: the VMs of one job side by side (torchrun over fleet_size VMs). Its events time one
        job (rank 0's), so its uninterrupted on-demand equivalent is that time on `nodes` VMs."""
        from spotshield import boots as bootmodel

        billable, on_demand = run_seconds(boots)
        if on_demand is not None:
            on_demand *= max(1, int(nodes))
        od_vm = billable_seconds(bootmodel.spans([b for b in boots if on_demand_vm(b)])) if on_demand_vm else 0.0
        return cls(rate, billable, on_demand, time_scale, od_vm, tuple(services))

    @property
    def hours(self) -> float:
        """Billed hours (emulated hours under the emulator)."""
        return self.billable_s * self.time_scale / SECONDS_PER_HOUR

    @property
    def spot_usd(self) -> float:
        """Spot VMs' part: their billed hours at the spot price."""
        return self.rate.spot * (self.billable_s - self.on_demand_vm_s) * self.time_scale / SECONDS_PER_HOUR

    @property
    def on_demand_vm_usd(self) -> float:
        """On-demand VMs' part: the fleet's (a deadline's fallback) billed hours at the on-demand
        price, plus the service VMs' (the coordinator) at theirs."""
        fleet = self.rate.on_demand * self.on_demand_vm_s * self.time_scale / SECONDS_PER_HOUR
        return fleet + sum(s.usd for s in self.services)

    @property
    def spent_usd(self) -> float:
        return self.spot_usd + self.on_demand_vm_usd

    @property
    def on_demand_usd(self) -> float | None:
        if self.on_demand_s is None:
            return None
        return self.rate.on_demand * self.on_demand_s * self.time_scale / SECONDS_PER_HOUR

    @property
    def savings_pct(self) -> float | None:
        od = self.on_demand_usd
        return round(100.0 * (1.0 - self.spent_usd / od), 1) if od else None

    def to_dict(self, source: str) -> dict:
        """The JSON shape `status --json` and the meter share; every number says its unit."""
        od = self.on_demand_usd
        return {
            "spot_usd": round(self.spot_usd, 4),  # Spot VMs only
            "on_demand_vm_usd": round(self.on_demand_vm_usd, 4),  # on-demand VMs (a deadline's fallback, services)
            "spent_usd": round(self.spent_usd, 4),  # the two together: what savings compare
            "on_demand_vm_s": round(self.on_demand_vm_s, 1),  # in the spans' clock
            "on_demand_usd": None if od is None else round(od, 4),
            "savings_pct": self.savings_pct,
            "price_discount_pct": self.rate.price_discount_pct,
            "spot_price_estimated": self.rate.spot_estimated,
            "hours": round(self.hours, 4),  # billed hours on the emulated clock (real hours on GCP)
            "billable_s": round(self.billable_s, 1),  # in the spans' clock (real seconds for events)
            "on_demand_s": None if self.on_demand_s is None else round(self.on_demand_s, 1),
            "time_scale": self.time_scale,
            "source": source,
            # only with any: the meter's and analyze's bills have none
            **({"services": [sv.to_dict() for sv in self.services]} if self.services else {}),
        }
