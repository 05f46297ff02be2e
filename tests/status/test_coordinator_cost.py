"""status bills the rendezvous coordinator's on-demand VM beside the Spot VMs (issue 13)."""
from __future__ import annotations

import pytest
from runs import write_run

from spotshield.backends.record import StackRecord
from spotshield.billing import COORDINATOR_MACHINE, hourly
from spotshield.layout import runs_store_url
from spotshield.status.collect import collect
from spotshield.storage import open_store

RUN = "torchrun-job"


@pytest.fixture
def job(gcs_bucket, gcs_server, region):
    from emulated_region import PROJECT, REGION

    region.create_fleet("job-mig", 2)
    region.fill()
    rec = StackRecord(backend="gcp", name="job", project=PROJECT, region=REGION, zones=[f"{REGION}-a"],
                      mig="job-mig", bucket=gcs_bucket, run_id=RUN, store=runs_store_url(gcs_bucket, RUN),
                      strategy="adaptive", machine_type="g2-standard-4", gpu_type="nvidia-l4", gpu_count=1,
                      fleet_size=2, endpoints={"compute": region.url, "storage": gcs_server.url}, created=1000.0,
                      resources={"coordinator_machine_type": COORDINATOR_MACHINE})
    store = open_store(rec.store)
    write_run(store, RUN, region.backend.members("job-mig")[0].name, t0=2000.0)
    return rec, store


def test_the_coordinator_is_in_the_on_demand_vms_from_up_until_done(job):
    rec, store = job
    od = hourly(COORDINATOR_MACHINE, None, 0, rec.region).on_demand
    running = collect(rec, now=2100.0)["cost"]
    (vm,) = running["services"]
    assert (vm["name"], vm["machine_type"], vm["billed_s"]) == ("coordinator", "e2-small", 1100.0)  # up until now
    assert running["on_demand_vm_usd"] == pytest.approx(od * 1100 / 3600, abs=1e-4)
    assert running["spent_usd"] == pytest.approx(running["spot_usd"] + running["on_demand_vm_usd"], abs=1e-4)

    coordinator = rec.resources
    rec.resources = {}  # a one-process fleet: no coordinator
    alone = collect(rec, now=2100.0)["cost"]
    assert "services" not in alone and alone["savings_pct"] > running["savings_pct"]
    assert alone["spot_usd"] == running["spot_usd"]

    rec.resources = coordinator
    write_run(store, RUN, "another-host", t0=2000.0, done=True)  # a "done" event at 2120
    done = collect(rec, now=99999.0)["cost"]
    assert done["services"][0]["billed_s"] == 1120.0  # stops at DONE: the VM powers itself off
