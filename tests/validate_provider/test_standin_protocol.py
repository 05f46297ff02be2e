"""The stand-in answered at the plugin-protocol level (run in .venv-tools, where `tf` lives)."""
from __future__ import annotations

import json
import subprocess

from standin_helpers import REPO, TOOLS_VENV, requires_toolchain

pytestmark = requires_toolchain

# Calls the gRPC servicer methods directly, as Terraform would over the socket.
PROBE = """
import json, sys
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown
from tf.utils import to_dynamic_value, read_dynamic_value
from tfschema.standin import StandInServicer, load

servicer = StandInServicer(load(sys.argv[1] or None))
out = {"schema": [d.summary + ": " + d.detail for d in
                  servicer.GetProviderSchema(pb.GetProviderSchema.Request(), None).diagnostics]}
if sys.argv[1]:
    req = pb.ValidateResourceConfig.Request(type_name="google_compute_instanse_template",
                                            config=to_dynamic_value({}))
    out["unknown"] = [d.summary for d in servicer.ValidateResourceConfig(req, None).diagnostics]
    planned = {"name": "spotshield", "account_id": "t", "email": Unknown}  # email: computed, unknown at plan
    resp = servicer.ApplyResourceChange(pb.ApplyResourceChange.Request(
        type_name="google_service_account", prior_state=to_dynamic_value(None),
        planned_state=to_dynamic_value(planned), config=to_dynamic_value(planned)), None)
    out["applied"] = read_dynamic_value(resp.new_state)
print(json.dumps(out))
"""


def probe(schema_path: str) -> dict:
    proc = subprocess.run([str(TOOLS_VENV / "bin" / "python"), "-c", PROBE, schema_path], capture_output=True,
                          text=True, timeout=120, cwd=REPO / "tools")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_a_type_outside_the_generated_schema_is_refused_with_a_diagnostic(fixture_standin):
    _, info = fixture_standin
    out = probe(info["env"]["SPOTSHIELD_TFSCHEMA"])
    assert out["schema"] == []
    assert out["unknown"] == ["resource type google_compute_instanse_template is not in the stand-in schema"]


def test_apply_keeps_planned_values_and_fills_unknown_computed_ones(fixture_standin):
    _, info = fixture_standin
    applied = probe(info["env"]["SPOTSHIELD_TFSCHEMA"])["applied"]
    assert applied["name"] == "spotshield" and applied["account_id"] == "t"
    assert applied["email"] == "standin-email"


def test_without_a_schema_every_command_gets_one_error_naming_the_variable():
    out = probe("")
    assert len(out["schema"]) == 1
    assert out["schema"][0].startswith("hashicorp/google schema stand-in has no schema: SPOTSHIELD_TFSCHEMA is not set")
