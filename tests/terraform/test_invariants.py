"""python-hcl2 invariants: they hold on the real stack and catch each kind of mistake."""
from __future__ import annotations

import pytest

from spotshield.errors import SpotShieldError
from spotshield.validate import contract
from spotshield.validate.hcl import load_stack
from spotshield.validate.invariants import check_stack

FLEET = "terraform/modules/spot-fleet/main.tf"
BUCKET = "terraform/modules/checkpoint-bucket/main.tf"
NETWORK = "terraform/modules/network/main.tf"
COORDINATOR = "terraform/modules/coordinator/main.tf"


def test_real_stack_holds_every_invariant(repo):
    assert check_stack(repo) == []


def test_stack_loads_root_modules_and_examples(repo):
    stack = load_stack(repo)
    rels = sorted(p.relative_to(repo.resolve()).as_posix() for p in stack.modules)
    assert rels == ["terraform", "terraform/examples/multi-node-l4", "terraform/examples/multi-zone-a100",
                    "terraform/examples/single-l4", "terraform/modules/checkpoint-bucket",
                    "terraform/modules/coordinator", "terraform/modules/deadline-controller",
                    "terraform/modules/network", "terraform/modules/on-demand-fleet", "terraform/modules/spot-fleet"]
    # the examples call the root module, which composes the concern modules (the deadline's two and the
    # coordinator behind a count)
    assert {a["source"] for a in stack.root.modules.values()} == {
        "./modules/network", "./modules/checkpoint-bucket", "./modules/spot-fleet", "./modules/on-demand-fleet",
        "./modules/deadline-controller", "./modules/coordinator"}
    for ex in ("single-l4", "multi-zone-a100", "multi-node-l4"):
        assert stack.module_dir(f"examples/{ex}").modules["spotshield"]["source"] == "../.."


# (file, old text, new text, words the one-line problem must contain)
MUTATIONS = {
    "spot": (FLEET, 'provisioning_model          = var.provisioning_model', 'provisioning_model          = "STANDARD"',
             "provisioning_model must be 'SPOT'"),
    "spot_preemptible": (FLEET, "    preemptible         = true\n", "    preemptible         = false\n",
                         "(provisioning_model SPOT): scheduling.preemptible must be True"),
    "auto_restart_local": (FLEET, "    automatic_restart   = false\n", "    automatic_restart   = true\n",
                           "automatic_restart must be False"),
    "model_unvalidated": ("terraform/modules/spot-fleet/variables.tf", 'contains(["SPOT", "STANDARD"], var.provisioning_model)',
                          'contains(["SPOT", "STANDARD", "FLEX_START"], var.provisioning_model)',
                          "provisioning_model must be SPOT, or a variable validated to SPOT|STANDARD"),
    "standard_termination": (FLEET, 'instance_termination_action = var.provisioning_model == "SPOT" ? var.termination_action : null',
                             "instance_termination_action = var.termination_action",
                             "(provisioning_model STANDARD): scheduling.instance_termination_action is for Spot VMs only"),
    "standard_preemptible": (FLEET, "    preemptible         = false\n", "    preemptible         = true\n",
                             "(provisioning_model STANDARD): scheduling.provisioning_model must be 'SPOT'"),
    "tfvars_model": ("terraform/variables.tf", 'contains(["SPOT", "STANDARD"], var.provisioning_model)',
                     'contains(["SPOT"], var.provisioning_model)', "provisioning_model accepts"),
    "termination_literal": (FLEET, '"SPOT" ? var.termination_action : null', '"SPOT" ? "STOP" : null',
                            "instance_termination_action must be a variable"),
    "external_ip": (FLEET, "    subnetwork = var.subnetwork_id\n", "    subnetwork = var.subnetwork_id\n    access_config {}\n",
                    "access_config"),
    "ssh_keys": (FLEET, '"block-project-ssh-keys" = true', '"block-project-ssh-keys" = false',
                 "block-project-ssh-keys must be true"),
    "contract_key": (FLEET, '"spotshield-store"', '"spotshield-stor"',
                     "lacks spotshield-store"),
    "pap": (BUCKET, 'public_access_prevention    = "enforced"', 'public_access_prevention    = "inherited"',
            "public_access_prevention"),
    "uniform": (BUCKET, "uniform_bucket_level_access = true", "uniform_bucket_level_access = false",
                "uniform_bucket_level_access"),
    "force_destroy": ("terraform/modules/checkpoint-bucket/variables.tf", "default     = false", "default     = true",
                      "force_destroy must default to false"),
    "repair": (FLEET, 'default_action_on_failure = "REPAIR"', 'default_action_on_failure = "DO_NOTHING"',
               "REPAIR"),
    "health_port": (FLEET, "    port         = var.health_port", "    port         = 8081", "health check"),
    "firewall_open": (NETWORK, 'iap_ranges = ["35.235.240.0/20"]', 'iap_ranges = ["0.0.0.0/0"]', "only Google"),
    "pga": (NETWORK, "private_ip_google_access = true", "private_ip_google_access = false",
            "private_ip_google_access"),
    "broad_role": (FLEET, 'role    = "roles/logging.logWriter"', 'role    = "roles/editor"',
                   "(roles/editor) is broader than the VMs need"),
    "unconditional_stop": (FLEET, 'expression  = "resource.name == ', 'expression  = "true || resource.nam == ',
                           "is broader than the VMs need"),
    "custom_role_perms": (FLEET, '"compute.instanceGroupManagers.update"]',
                          '"compute.instanceGroupManagers.update", "compute.instances.delete"]',
                          "grants ['compute.instances.delete']"),
    "undeclared_var": (FLEET, "machine_type = var.machine_type", "machine_type = var.machine_typo",
                       "var.machine_typo is used but not declared"),
    "unknown_module_input": ("terraform/main.tf", "  subnet_cidr = var.subnet_cidr\n",
                             "  subnet_cidr = var.subnet_cidr\n  cidr        = var.subnet_cidr\n",
                             "passes cidr"),
    "missing_module_output": ("terraform/outputs.tf", "module.spot_fleet.mig_name", "module.spot_fleet.mig",
                              "module.spot_fleet.mig is not an output"),
    "tfvars_type": ("terraform/variables.tf", 'variable "fleet_size" {\n  type        = number',
                    'variable "fleet_size" {\n  type        = string', "fleet_size is string"),
    "tfvars_strategy": ("terraform/variables.tf", '["naive", "adaptive", "milestone", "none"]',
                        '["naive", "adaptive", "none"]', "strategy accepts"),
    "coordinator_spot": (COORDINATOR, 'provisioning_model  = "STANDARD"', 'provisioning_model  = "SPOT"',
                         "provisioning_model must be 'STANDARD', not 'SPOT'"),
    "coordinator_contract": (COORDINATOR, '"spotshield-torch-requirement" =', '"spotshield-torch-req"        =',
                             "google_compute_instance.coordinator: metadata lacks spotshield-torch-requirement"),
    "coordinator_without_lib": (COORDINATOR,
                                'templatefile("${path.module}/../../../startup-scripts/install-build.sh", {}),\n', "",
                                "install-build.sh joined before startup-scripts/coordinator.sh"),
    "coordinator_external_ip": (COORDINATOR, "    network_ip = google_compute_address.coordinator.address\n",
                                "    network_ip = google_compute_address.coordinator.address\n    access_config {}\n",
                                "google_compute_instance.coordinator has an access_config"),
    "internal_rule_opened": (NETWORK, "  source_tags = [local.trainer_tag]\n  target_tags = [local.coordinator_tag]\n",
                             "  source_tags   = [local.trainer_tag]\n  source_ranges = [\"0.0.0.0/0\"]\n"
                             "  target_tags   = [local.coordinator_tag]\n", "firewall rendezvous admits ['0.0.0.0/0']"),
    "internal_rule_untargeted": (NETWORK, "  source_tags = [local.trainer_tag]\n  target_tags = [local.trainer_tag]\n",
                                 "  source_tags = [local.trainer_tag]\n", "firewall collectives admits its source tags"),
    "template_sequence": ("startup-scripts/startup.sh", 'log() { echo "spotshield-startup: $*" >&2; }',
                          'log() { echo "spotshield-startup: ${*}" >&2; }', "templatefile() would interpolate"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_each_mutation_is_caught(stack_copy, case):
    rel, old, new, expect = MUTATIONS[case]
    stack_copy.edit(rel, old, new)
    problems = check_stack(stack_copy.root)
    assert any(expect in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_unused_variable_is_reported(stack_copy):
    stack_copy.edit("terraform/variables.tf", 'variable "labels" {',
                    'variable "unused_knob" {\n  type        = string\n  description = "x"\n  default     = ""\n}\n\n'
                    'variable "labels" {')
    assert "terraform: variable unused_knob is declared but never used" in check_stack(stack_copy.root)


def test_syntax_error_is_one_line_spotshield_error(stack_copy):
    stack_copy.edit("terraform/main.tf", "module \"network\" {", "module \"network\" {{")
    with pytest.raises(SpotShieldError) as e:
        check_stack(stack_copy.root)
    assert "cannot parse" in str(e.value) and "main.tf" in str(e.value) and "\n" not in str(e.value)


def test_health_port_matches_the_trainer_default(repo):
    default = load_stack(repo).root.variables["health_port"]["default"]
    assert default == contract.trainer_default_health_port() == 8080


def test_the_rendezvous_port_is_the_coordinators_default(repo):
    from spotshield.distributed.coordinator import DEFAULT_PORT

    stack = load_stack(repo)
    assert stack.root.locals["rendezvous_port"] == DEFAULT_PORT
    assert stack.module_dir("modules/coordinator").variables["port"]["default"] == DEFAULT_PORT
