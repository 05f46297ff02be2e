"""The generated schema says what hashicorp/google 8.x says, read from the real package."""
from __future__ import annotations

import json

from standin_helpers import FIXTURE, copy_tree, requires_toolchain, tfschema

pytestmark = requires_toolchain


def test_scheduling_is_a_list_block_of_at_most_one_with_provisioning_model(fixture_schema):
    template = fixture_schema["resources"]["google_compute_instance_template"]
    scheduling = template["block_types"]["scheduling"]
    assert (scheduling["nesting_mode"], scheduling.get("max_items")) == ("list", 1)
    assert scheduling["block"]["attributes"]["provisioning_model"] == {"type": "string", "optional": True}
    assert scheduling["block"]["attributes"]["automatic_restart"]["type"] == "bool"


def test_required_arguments_and_required_blocks_are_marked(fixture_schema):
    template = fixture_schema["resources"]["google_compute_instance_template"]
    assert template["attributes"]["machine_type"] == {"type": "string", "required": True}
    assert template["block_types"]["disk"].get("min_items") == 1
    assert "max_items" not in template["block_types"]["disk"]  # a repeated block


def test_sets_are_told_apart_from_lists_by_the_generated_javascript(fixture_schema):
    firewall = fixture_schema["resources"]["google_compute_firewall"]
    assert firewall["block_types"]["allow"]["nesting_mode"] == "set"
    assert firewall["attributes"]["source_ranges"]["type"] == ["set", "string"]
    assert firewall["block_types"]["allow"]["block"]["attributes"]["ports"]["type"] == ["list", "string"]


def test_computed_only_getters_are_computed_and_not_settable(fixture_schema):
    template = fixture_schema["resources"]["google_compute_instance_template"]
    assert template["attributes"]["self_link"] == {"type": "string", "computed": True}
    status = fixture_schema["resources"]["google_compute_region_instance_group_manager"]["attributes"]["status"]
    assert status["computed"] and status["type"][0] == "list" and status["type"][1][0] == "object"
    assert status["type"][1][1]["is_stable"] == "bool"
    zones = fixture_schema["data_sources"]["google_compute_zones"]["attributes"]["names"]
    assert zones == {"type": ["list", "string"], "computed": True}


def test_timeouts_is_a_single_block_as_in_sdkv2(fixture_schema):
    timeouts = fixture_schema["resources"]["google_storage_bucket"]["block_types"]["timeouts"]
    assert timeouts["nesting_mode"] == "single"


def test_provider_block_has_project_but_not_the_alias_meta_argument(fixture_schema):
    provider = fixture_schema["provider"]["attributes"]
    assert provider["project"]["optional"] and "alias" not in provider


def test_types_come_from_the_tf_files_so_a_new_resource_needs_no_code_change(tmp_path):
    stack = copy_tree(FIXTURE, tmp_path / "stack")
    (stack / "extra.tf").write_text('resource "google_compute_address" "ip" {\n  name = "x"\n}\n'
                                    'resource "google_compute_adress" "typo" {\n  name = "y"\n}\n')
    proc = tfschema("build", "--cache", str(tmp_path / "cache"), str(stack))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert "google_compute_address" in info["resources"]
    assert info["unknown_types"] == ["google_compute_adress"]
    assert info["provider_version"].split(".")[0] == "8"


def test_build_of_a_missing_directory_is_one_line_and_exit_1(tmp_path):
    proc = tfschema("build", "--cache", str(tmp_path / "cache"), str(tmp_path / "nope"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("tfschema: not a directory:")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
