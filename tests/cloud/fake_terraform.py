#!/usr/bin/env python3
"""A fake `terraform` for tests: records each call and plays Terraform's part.

Writes one JSON line per call to $FAKE_TF_LOG: argv, cwd and the tfvars file at that moment.
apply: creates the template and group described by spotshield.auto.tfvars.json in the
Compute API at $SPOTSHIELD_COMPUTE_ENDPOINT (as the real module would) and records the
resources in fake.tfstate.json; destroy removes them (or only the -target ones).
$FAKE_TF_FAIL=<subcommand> makes that subcommand fail with Terraform-style error text.
"""
import json
import os
import sys
import urllib.error
import urllib.request

argv = sys.argv[1:]
cmd = argv[0] if argv else ""
tfvars_path = "spotshield.auto.tfvars.json"
tfvars = json.load(open(tfvars_path)) if os.path.exists(tfvars_path) else None
with open(os.environ["FAKE_TF_LOG"], "a") as f:
    f.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "tfvars": tfvars}) + "\n")

# As terraform 1.11 does: `output` and `state` have no -input flag.
if cmd in ("output", "state") and any(a.startswith("-input") for a in argv):
    sys.stderr.write("flag provided but not defined: -input\n")
    sys.exit(1)

if os.environ.get("FAKE_TF_FAIL") == cmd:
    sys.stderr.write(
        "\n╷\n│ Error: Error creating InstanceGroupManager: googleapi: Error 403: "
        "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally.\n│ \n"
        "│   with google_compute_region_instance_group_manager.fleet,\n│   on main.tf line 80\n╵\n")
    sys.exit(1)

STATE = "fake.tfstate.json"
BUCKET = "module.checkpoint_bucket.google_storage_bucket.this"
MIG = "module.spot_fleet.google_compute_region_instance_group_manager.fleet"
state = json.load(open(STATE)) if os.path.exists(STATE) else []
ep = os.environ.get("SPOTSHIELD_COMPUTE_ENDPOINT")


def call(method, path, body=None):
    req = urllib.request.Request(f"{ep}/compute/v1/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except urllib.error.HTTPError as e:
        if e.code not in (404, 409):
            raise


if cmd == "init":
    print("Initializing the backend...\nTerraform has been successfully initialized!")
elif cmd == "apply":
    v = tfvars
    p, r, mig = v["project"], v["region"], v["name"] + "-mig"
    call("POST", f"projects/{p}/global/instanceTemplates",
         {"name": v["name"] + "-tpl", "properties": {"machineType": v["machine_type"],
                                                     "scheduling": {"provisioningModel": "SPOT"}}})
    call("DELETE", f"projects/{p}/regions/{r}/instanceGroupManagers/{mig}")
    call("POST", f"projects/{p}/regions/{r}/instanceGroupManagers",
         {"name": mig, "instanceTemplate": f"global/instanceTemplates/{v['name']}-tpl",
          "targetSize": v["fleet_size"], "baseInstanceName": v["name"],
          "distributionPolicy": {"zones": [{"zone": f"zones/{z}"} for z in v["zones"]]}})
    gcs = os.environ.get("STORAGE_EMULATOR_HOST")
    if gcs:  # the checkpoint-bucket module
        req = urllib.request.Request(f"{gcs}/storage/v1/b?project={p}", method="POST",
                                     data=json.dumps({"name": v["bucket_name"]}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
    state = [BUCKET, "module.spot_fleet.google_compute_instance_template.trainer", MIG,
             "module.spot_fleet.google_storage_bucket_iam_member.trainer_objects"]
    json.dump(state, open(STATE, "w"))
    print("google_compute_region_instance_group_manager.fleet: Creating...")
    print(f"Apply complete! Resources: {len(state)} added, 0 changed, 0 destroyed.")
elif cmd == "plan":
    print("Plan: 4 to add, 0 to change, 0 to destroy.")
elif cmd == "state" and argv[1:2] == ["list"]:
    print("\n".join(state))
elif cmd == "destroy":
    targets = [a.split("=", 1)[1] for a in argv if a.startswith("-target=")]
    gone = targets or list(state)
    if MIG in gone and tfvars:
        call("DELETE", f"projects/{tfvars['project']}/regions/{tfvars['region']}/instanceGroupManagers/"
                       f"{tfvars['name']}-mig")
    state = [s for s in state if s not in gone]
    json.dump(state, open(STATE, "w"))
    print(f"Destroy complete! Resources: {len(gone)} destroyed.")
elif cmd == "output":
    print(json.dumps({"mig_name": {"value": "fleet-mig", "type": "string", "sensitive": False}}))
else:
    print(f"fake terraform: unhandled {argv}", file=sys.stderr)
    sys.exit(2)
