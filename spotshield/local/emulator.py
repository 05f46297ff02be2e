"""One emulated GCP region: fake-gcs-server + Compute API + fleet controller + injector + cost.

`Region` runs everything in the current process (tests, `local_region`); the daemon
(daemon.py) runs one Region in a background process. The emulator's own endpoints live beside
the Compute API under /spotshield/v1/ (control.py, routed by the same responses.Router).
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from spotshield.local.capacity import Capacity, Stockouts
from spotshield.local.clock import EmulatedClock
from spotshield.local.compute.models import ComputeBackend
from spotshield.local.compute.server import ComputeServer
from spotshield.local.control import CONTROL
from spotshield.local.cost import CostMeter
from spotshield.local.fleet import FleetController
from spotshield.local.gcs import GCSServer, start_gcs_server
from spotshield.local.guest import guest_python
from spotshield.local.hypervisor import FleetConfig, kill_leftovers
from spotshield.local.injector import Injector
from spotshield.local.region_args import check_region_args

DEFAULT_PROJECT = "spotshield-local"


class Region:
    def __init__(self, state_dir: str | Path, *, project: str = DEFAULT_PROJECT, region: str = "us-central1",
                 zones: list[str] | None = None, time_scale: float = 60.0, compute_port: int | None = None,
                 gcs_port: int | None = None, pattern: str = "none", rate: float = 0.0, seed: int = 0,
                 trace: str | None = None, fleet: dict | None = None):
        check_region_args(time_scale=time_scale, pattern=pattern, rate=rate, trace=trace,
                          ports={"compute": compute_port, "storage": gcs_port})
        self.state_dir = Path(state_dir).absolute()
        self.project, self.region = project, region
        self.clock = EmulatedClock(time_scale)
        self.backend = ComputeBackend(project=project, region=region, zones=zones, seed=seed)
        self.capacity = Capacity(self.clock, self.backend.zones)  # spot capacity per zone (capacity.py)
        self.backend.spot_capacity = self.capacity.available
        self._ports = (compute_port, gcs_port)
        self._injector_args = dict(pattern=pattern, rate=rate, seed=seed, trace=trace)
        self._fleet_args = dict(fleet or {})
        self.gcs: GCSServer | None = None
        self.compute: ComputeServer | None = None
        self.fleet: FleetController | None = None
        self.injector: Injector | None = None
        self.cost: CostMeter | None = None
        self.preemptions: list[dict] = []  # every injector's history, in order
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    # ---- endpoints -------------------------------------------------------------
    @property
    def compute_url(self) -> str:
        return self.compute.url

    @property
    def storage_url(self) -> str:
        return self.gcs.url

    def endpoints(self) -> dict:
        return {"compute": self.compute.url, "storage": self.gcs.url}

    # ---- lifecycle -------------------------------------------------------------
    def start(self) -> "Region":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        kill_leftovers(self.state_dir)  # a crashed predecessor's VMs must not keep running
        compute_port, gcs_port = self._ports
        try:
            # the checkpoints live under the state dir, so they outlive any crash of the emulator
            self.gcs = start_gcs_server(self.state_dir / "gcs", port=gcs_port, log=self.state_dir / "gcs.log")
            self.compute = ComputeServer(self.backend, port=compute_port, routers=[(CONTROL, self)]).start()
            fleet_args = dict(self._fleet_args)
            if "python" not in fleet_args:  # the VMs' own interpreter, so an install never touches ours
                fleet_args["python"] = guest_python(self.state_dir)
            cfg = FleetConfig(state_dir=self.state_dir, storage_url=self.gcs.url, compute_url=self.compute.url,
                              **fleet_args)
            self.fleet = FleetController(self.backend, self.clock, cfg)
            self.cost = CostMeter(self.backend, self.clock, self.region)
            self.fleet.on_tick.append(self.cost.update)
            self.fleet.on_tick.append(Stockouts(self.fleet, self.capacity, self.preemptions).tick)
            self.fleet.start()
            self.injector = Injector(self.fleet, self.clock, history=self.preemptions, **self._injector_args).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        with self._lock:
            if self.injector:
                self.injector.stop()
            if self.fleet:
                self.fleet.stop()
            if self.compute:
                self.compute.stop()
            if self.gcs:
                self.gcs.stop()
            self.stopped.set()

    def __enter__(self) -> "Region":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- control -----------------------------------------------------------------
    def configure_injector(self, pattern: str | None = None, rate: float | None = None, seed: int | None = None,
                           trace: str | None = None, time_scale: float | None = None) -> dict:
        """Replace the injector's schedule (and optionally the clock's scale); returns the new config."""
        args = dict(self._injector_args)
        for k, v in (("pattern", pattern), ("rate", rate), ("seed", seed), ("trace", trace)):
            if v is not None:
                args[k] = v
        check_region_args(time_scale=time_scale, pattern=args["pattern"], rate=args["rate"], trace=args["trace"])
        if time_scale is not None:
            self.clock.set_time_scale(float(time_scale))
        if self.injector:
            self.injector.stop()
        self._injector_args = args
        self.injector = Injector(self.fleet, self.clock, history=self.preemptions, **args).start()
        return self.injector.config()

    def configure_capacity(self, spec) -> dict:
        """Spot capacity per zone from a JSON spec (capacity.py); returns the new configuration."""
        return self.capacity.configure(spec)

    def status(self) -> dict:
        with self.backend.lock:
            instances = [{"name": i.name, "zone": i.zone, "status": i.status, "mig": i.mig, "boots": i.boots,
                          "action": i.current_action} for i in self.backend.instances.values()]
        return {"pid": os.getpid(), "project": self.project, "region": self.region,
                "endpoints": self.endpoints(), "time_scale": self.clock.time_scale,
                # the time model (docs/emulator.md "Time"): what runs at 1x, and how long it has so far
                "clock": {"rate": self.clock.rate, "held_real_s": round(self.clock.held_real_s, 3),
                          "guest_time": self.fleet.cfg.guest_time if self.fleet else None},
                "state_dir": str(self.state_dir), "injector": self.injector.config() if self.injector else None,
                "capacity": self.capacity.config(),
                "instances": instances, "instance_pids": self.fleet.pids() if self.fleet else []}


@contextlib.contextmanager
def local_region(state_dir: str | Path | None = None, **kw):
    """Run an emulated region for the duration of a `with` block (like moto's mock_aws).

        with local_region(pattern="poisson", rate=120, time_scale=60) as region:
            region.compute_url, region.storage_url, region.project, region.backend
    Everything listens on free 127.0.0.1 ports; every process is stopped on exit.
    """
    import tempfile

    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="spotshield-region-")
        state_dir = tmp.name
    region = Region(state_dir, **kw).start()
    try:
        yield region
    finally:
        region.stop()
        if tmp is not None:
            tmp.cleanup()
