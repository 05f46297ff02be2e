"""The emulator's Compute API (spotshield.local.compute) on a loopback port, for tests.

A tiny group filler stands in for the fleet controller: it gives each group its target
number of RUNNING members, the way a MIG does, so `wait_stable` and `status` see a fleet.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

PROJECT = "proj-test"
REGION = "us-central1"


@dataclass
class Region:
    backend: object
    server: object
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return self.server.url

    def create_fleet(self, mig: str, size: int, machine_type: str = "g2-standard-4") -> None:
        b = self.backend
        b.insert_template(PROJECT, {"name": f"{mig}-tpl", "properties": {
            "machineType": machine_type, "scheduling": {"provisioningModel": "SPOT"}}})
        b.insert_mig(PROJECT, REGION, {"name": mig, "instanceTemplate": f"global/instanceTemplates/{mig}-tpl",
                                       "targetSize": size, "baseInstanceName": mig.removesuffix("-mig")})

    def fill(self) -> None:
        """Bring every group to its target size with RUNNING members."""
        b = self.backend
        with b.lock:
            for inst in list(b.instances.values()):  # a deleted group's members go away
                if inst.current_action == "DELETING":
                    b.remove_instance(inst)
            for m in list(b.migs.values()):
                while len(b.members(m.name)) < m.target_size:
                    inst = b.new_member(m)
                    for status in ("STAGING", "RUNNING"):
                        b.transition(inst, status)
                for inst in b.members(m.name)[m.target_size:]:
                    b.remove_instance(inst)

    def run_filler(self, period_s: float = 0.05) -> None:
        def loop():
            while not self.stop.wait(period_s):
                self.fill()

        threading.Thread(target=loop, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.stop()


def start_region() -> Region:
    from spotshield.local.compute.models import ComputeBackend
    from spotshield.local.compute.server import ComputeServer

    backend = ComputeBackend(project=PROJECT, region=REGION)
    server = ComputeServer(backend).start()
    return Region(backend=backend, server=server)
