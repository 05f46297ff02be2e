"""The Compute stand-in, driven by Google's own google-cloud-compute clients over HTTP."""
from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from spotshield.local.compute.models import ComputeBackend
from spotshield.local.compute.server import ComputeServer

P, R = "proj", "us-central1"


@pytest.fixture
def api():
    backend = ComputeBackend(project=P, region=R)
    server = ComputeServer(backend).start()
    kw = dict(credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=server.url),
              transport="rest")
    clients = {
        "backend": backend,
        "templates": compute_v1.InstanceTemplatesClient(**kw),
        "migs": compute_v1.RegionInstanceGroupManagersClient(**kw),
        "instances": compute_v1.InstancesClient(**kw),
        "zone_ops": compute_v1.ZoneOperationsClient(**kw),
        "region_ops": compute_v1.RegionOperationsClient(**kw),
    }
    yield clients
    server.stop()


def template(name="tpl"):
    return compute_v1.InstanceTemplate(
        name=name,
        properties=compute_v1.InstanceProperties(
            machine_type="g2-standard-4",
            scheduling=compute_v1.Scheduling(provisioning_model="SPOT", instance_termination_action="STOP"),
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="spotshield-run-id", value="r1")]),
            guest_accelerators=[compute_v1.AcceleratorConfig(accelerator_type="nvidia-l4", accelerator_count=1)],
        ),
    )


def mig(size=2, name="fleet"):
    return compute_v1.InstanceGroupManager(
        name=name, base_instance_name=name, target_size=size,
        instance_template=f"projects/{P}/global/instanceTemplates/tpl",
        distribution_policy=compute_v1.DistributionPolicy(
            zones=[compute_v1.DistributionPolicyZoneConfiguration(zone=f"zones/{R}-a"),
                   compute_v1.DistributionPolicyZoneConfiguration(zone=f"zones/{R}-b")]),
    )


def test_template_insert_get_list_delete(api):
    op = api["templates"].insert_unary(project=P, instance_template_resource=template())
    assert op.status == compute_v1.Operation.Status.DONE and op.target_link.endswith("/instanceTemplates/tpl")
    got = api["templates"].get(project=P, instance_template="tpl")
    assert got.properties.scheduling.provisioning_model == "SPOT"
    assert got.properties.metadata.items[0].value == "r1"
    assert [t.name for t in api["templates"].list(project=P)] == ["tpl"]
    with pytest.raises(gexc.Conflict):
        api["templates"].insert_unary(project=P, instance_template_resource=template())
    api["templates"].delete_unary(project=P, instance_template="tpl")
    with pytest.raises(gexc.NotFound) as e:
        api["templates"].get(project=P, instance_template="tpl")
    assert "tpl" in str(e.value)


def test_mig_members_resize_delete(api):
    api["templates"].insert_unary(project=P, instance_template_resource=template())
    # the non-unary call returns an ExtendedOperation; it is already done, so result() needs no polling
    lro = api["migs"].insert(project=P, region=R, instance_group_manager_resource=mig(2))
    assert lro.done()
    backend = api["backend"]
    m = backend.migs["fleet"]
    backend.new_member(m), backend.new_member(m)  # what the fleet controller does
    managed = list(api["migs"].list_managed_instances(project=P, region=R, instance_group_manager="fleet"))
    assert len(managed) == 2
    assert {x.instance_status for x in managed} == {"PROVISIONING"}
    assert {x.current_action for x in managed} == {"CREATING"}
    zones = {x.instance.split("/zones/")[1].split("/")[0] for x in managed}
    assert zones == {f"{R}-a", f"{R}-b"}  # spread over the distribution policy
    name = managed[0].instance.rsplit("/", 1)[1]
    zone = managed[0].instance.split("/zones/")[1].split("/")[0]
    inst = api["instances"].get(project=P, zone=zone, instance=name)
    assert inst.scheduling.provisioning_model == "SPOT"
    assert {i.key: i.value for i in inst.metadata.items}["spotshield-run-id"] == "r1"
    agg = {k: list(v.instances) for k, v in api["instances"].aggregated_list(project=P)}
    assert sum(len(v) for v in agg.values()) == 2
    api["migs"].resize_unary(project=P, region=R, instance_group_manager="fleet", size=0)
    assert api["migs"].get(project=P, region=R, instance_group_manager="fleet").target_size == 0
    with pytest.raises(gexc.BadRequest):  # a group still uses the template
        api["templates"].delete_unary(project=P, instance_template="tpl")
    api["migs"].delete_unary(project=P, region=R, instance_group_manager="fleet")
    assert {i.current_action for i in backend.instances.values()} == {"DELETING"}
    api["templates"].delete_unary(project=P, instance_template="tpl")
    assert list(api["migs"].list(project=P, region=R)) == []


def test_error_codes(api):
    with pytest.raises(gexc.NotFound):
        api["migs"].get(project=P, region=R, instance_group_manager="nope")
    with pytest.raises(gexc.NotFound):  # template must exist
        api["migs"].insert_unary(project=P, region=R, instance_group_manager_resource=mig())
    api["templates"].insert_unary(project=P, instance_template_resource=template())
    with pytest.raises(gexc.BadRequest) as e:
        api["templates"].insert_unary(project=P, instance_template_resource=template("Bad_Name"))
    assert e.value.errors and e.value.errors[0]["reason"] == "invalid"
    api["migs"].insert_unary(project=P, region=R, instance_group_manager_resource=mig())
    with pytest.raises(gexc.Conflict):
        api["migs"].insert_unary(project=P, region=R, instance_group_manager_resource=mig())
    with pytest.raises(gexc.BadRequest):
        api["migs"].resize_unary(project=P, region=R, instance_group_manager="fleet", size=-1)
    with pytest.raises(gexc.NotFound):
        api["instances"].get(project=P, zone=f"{R}-a", instance="ghost")
    with pytest.raises(gexc.NotFound):
        api["migs"].get(project=P, region="europe-west4", instance_group_manager="fleet")


def test_status_machine_and_preempted_operations(api):
    backend = api["backend"]
    api["templates"].insert_unary(project=P, instance_template_resource=template())
    api["migs"].insert_unary(project=P, region=R, instance_group_manager_resource=mig(1))
    inst = backend.new_member(backend.migs["fleet"])
    with pytest.raises(ValueError):
        backend.transition(inst, "RUNNING")  # PROVISIONING must pass STAGING first
    assert inst.status == "PROVISIONING"
    for s in ("TERMINATED", "PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED"):
        backend.transition(inst, s)
    backend.record_preemption(inst)
    ops = list(api["zone_ops"].list(request=compute_v1.ListZoneOperationsRequest(
        project=P, zone=inst.zone, filter='operationType="compute.instances.preempted"')))
    assert [o.target_link for o in ops] == [inst.self_link]
    assert ops[0].status == compute_v1.Operation.Status.DONE
    got = api["zone_ops"].get(project=P, zone=inst.zone, operation=ops[0].name)
    assert got.operation_type == "compute.instances.preempted"
    assert api["zone_ops"].wait(project=P, zone=inst.zone, operation=ops[0].name).name == ops[0].name
    all_ops = list(api["zone_ops"].list(project=P, zone=inst.zone))
    assert len(all_ops) > len(ops)  # the insert is there too, the filter really filters
    region_ops = list(api["region_ops"].list(project=P, region=R))
    assert any(o.operation_type == "compute.regionInstanceGroupManagers.insert" for o in region_ops)
    with pytest.raises(gexc.NotFound):
        api["region_ops"].get(project=P, region=R, operation=ops[0].name)  # zonal op is not regional
    backend.reset()
    assert backend.instances == {} and backend.templates == {}
