# Each module on its own, plan (and mock apply) with a mocked google provider.

mock_provider "google" {}

run "spot_fleet_scheduling_and_healing" {
  command = apply

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project            = "demo-project-123"
    region             = "us-central1"
    zones              = ["us-central1-a", "us-central1-b"]
    name               = "spotshield"
    machine_type       = "g2-standard-4"
    gpu_type           = "nvidia-l4"
    gpu_count          = 1
    fleet_size         = 2
    image              = "projects/deeplearning-platform-release/global/images/family/pytorch-2-7-cu128-ubuntu-2204-nvidia-570"
    subnetwork_id      = "projects/demo-project-123/regions/us-central1/subnetworks/spotshield-subnet"
    network_tag        = "spotshield-trainer"
    bucket_name        = "demo-ckpt"
    termination_action = "DELETE"
    health_port        = 8080
    run_id             = "adaptive-1"
    store_url          = "gs://demo-ckpt/runs/adaptive-1"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].provisioning_model == "SPOT"
    error_message = "VMs must be Spot"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].preemptible == true && google_compute_instance_template.trainer.scheduling[0].automatic_restart == false
    error_message = "Spot VMs must be preemptible and must not auto-restart"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].on_host_maintenance == "TERMINATE"
    error_message = "Spot/GPU VMs must terminate on host maintenance"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].instance_termination_action == "DELETE"
    error_message = "termination action must come from the variable"
  }

  assert {
    condition     = length(google_compute_instance_template.trainer.network_interface[0].access_config) == 0
    error_message = "VMs must have no external IP"
  }

  assert {
    condition     = google_compute_instance_template.trainer.guest_accelerator[0].type == "nvidia-l4"
    error_message = "the GPU must be attached"
  }

  assert {
    condition     = google_compute_instance_template.trainer.metadata["block-project-ssh-keys"] == "true" && google_compute_instance_template.trainer.metadata["enable-oslogin"] == "TRUE"
    error_message = "OS Login on, project SSH keys blocked"
  }

  assert {
    condition     = google_compute_instance_template.trainer.metadata["startup-script"] == file("../startup-scripts/startup.sh")
    error_message = "the startup script must be startup-scripts/startup.sh unchanged"
  }

  assert {
    condition     = google_compute_region_instance_group_manager.fleet.auto_healing_policies[0].health_check == google_compute_health_check.trainer.id
    error_message = "auto-healing must use the /healthz health check"
  }

  assert {
    condition     = google_compute_region_instance_group_manager.fleet.instance_lifecycle_policy[0].default_action_on_failure == "REPAIR"
    error_message = "failed VMs must be repaired"
  }

  assert {
    condition     = google_compute_health_check.trainer.http_health_check[0].port == 8080 && google_compute_health_check.trainer.http_health_check[0].request_path == "/healthz"
    error_message = "the health check must probe the trainer's /healthz"
  }

  assert {
    condition     = google_project_iam_member.trainer_fleet_stop.condition[0].expression == "resource.name == \"projects/demo-project-123/regions/us-central1/instanceGroupManagers/spotshield-mig\""
    error_message = "the fleet-stop role must be limited to this group"
  }

  assert {
    condition     = toset(google_project_iam_custom_role.fleet_stop.permissions) == toset(["compute.instanceGroupManagers.update"])
    error_message = "the fleet-stop role holds exactly update (resize) on instance group managers"
  }

  assert {
    condition     = can(regex("^ssFleetStop_spotshield_[0-9]{14}$", google_project_iam_custom_role.fleet_stop.role_id))
    error_message = "the role id carries the stack's recorded creation time (a deleted role's id stays taken for weeks)"
  }

  assert {
    condition     = google_storage_bucket_iam_member.trainer_objects.role == "roles/storage.objectUser"
    error_message = "the VMs get object access on the bucket, nothing more"
  }

  assert {
    condition     = google_compute_region_instance_group_manager.fleet.update_policy[0].type == "PROACTIVE" && google_compute_region_instance_group_manager.fleet.wait_for_instances == true && google_compute_region_instance_group_manager.fleet.wait_for_instances_status == "UPDATED"
    error_message = "a new template must replace the members, and apply must wait for it, before the old template goes"
  }

  assert {
    condition     = length(google_compute_instance_template.trainer.scheduling[0].preemption_notice_duration) == 0 && google_compute_instance_template.trainer.metadata["spotshield-preemption-notice-s"] == "0" && google_compute_instance_template.trainer.metadata["spotshield-crash-loop-boots"] == "3"
    error_message = "no longer notice by default; the crash-loop breaker stops after 3 failed boots"
  }

  assert {
    condition     = google_compute_instance_template.trainer.metadata["spotshield-store"] == "gs://demo-ckpt/runs/adaptive-1" && google_compute_instance_template.trainer.metadata["spotshield-mig"] == "spotshield-mig"
    error_message = "the run configuration must be in the VM metadata"
  }

  assert {
    condition     = toset(google_compute_region_instance_group_manager.fleet.distribution_policy_zones) == toset(["us-central1-a", "us-central1-b"])
    error_message = "the group must span the given zones"
  }
}

run "spot_fleet_without_gpu" {
  command = plan

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project       = "demo-project-123"
    region        = "us-central1"
    zones         = ["us-central1-a"]
    name          = "cpu"
    machine_type  = "e2-standard-4"
    gpu_type      = ""
    fleet_size    = 1
    image         = "debian-cloud/debian-12"
    subnetwork_id = "projects/demo-project-123/regions/us-central1/subnetworks/s"
    network_tag   = "t"
    bucket_name   = "demo-ckpt"
    health_port   = 8080
    run_id        = "r"
    store_url     = "gs://demo-ckpt/runs/r"
  }

  assert {
    condition     = length(google_compute_instance_template.trainer.guest_accelerator) == 0
    error_message = "no accelerator block without a GPU type"
  }
}

run "network_nat_and_firewall" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    project     = "demo-project-123"
    region      = "us-central1"
    name        = "spotshield"
    health_port = 8080
  }

  assert {
    condition     = google_compute_subnetwork.this.private_ip_google_access == true
    error_message = "Private Google Access must be on"
  }

  assert {
    condition     = google_compute_router_nat.this.nat_ip_allocate_option == "AUTO_ONLY" && google_compute_router_nat.this.source_subnetwork_ip_ranges_to_nat == "LIST_OF_SUBNETWORKS"
    error_message = "Cloud NAT must serve the trainer subnet"
  }

  assert {
    condition     = toset(google_compute_firewall.health_checks.source_ranges) == toset(["35.191.0.0/16", "130.211.0.0/22"])
    error_message = "health-check rule must admit Google's probers only"
  }

  assert {
    condition     = toset(google_compute_firewall.iap_ssh.source_ranges) == toset(["35.235.240.0/20"])
    error_message = "SSH only through IAP"
  }

  assert {
    condition     = length(google_compute_firewall.collectives) == 0 && length(google_compute_firewall.rendezvous) == 0
    error_message = "no job under torchrun: no internal rules"
  }
}

run "network_rules_of_a_job_under_torchrun" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    project         = "demo-project-123"
    region          = "us-central1"
    name            = "spotshield"
    health_port     = 8080
    rendezvous_port = 29400
  }

  assert {
    condition     = google_compute_firewall.collectives[0].source_tags == toset(["spotshield-trainer"]) && google_compute_firewall.collectives[0].target_tags == toset(["spotshield-trainer"]) && google_compute_firewall.collectives[0].source_ranges == null
    error_message = "collectives: trainer to trainer by tag, no source range (internal only)"
  }

  assert {
    condition     = [for a in google_compute_firewall.collectives[0].allow : "${a.protocol}:${a.ports == null ? "" : join(",", a.ports)}"] == ["tcp:"]
    error_message = "collectives: every TCP port (gloo and NCCL pick theirs per round), nothing else"
  }

  assert {
    condition     = google_compute_firewall.rendezvous[0].source_tags == toset(["spotshield-trainer"]) && google_compute_firewall.rendezvous[0].target_tags == toset(["spotshield-coordinator"]) && google_compute_firewall.rendezvous[0].source_ranges == null
    error_message = "rendezvous: trainers to the coordinator by tag, no source range"
  }

  assert {
    condition     = [for a in google_compute_firewall.rendezvous[0].allow : "${a.protocol}:${join(",", a.ports)}"] == ["tcp:29400"] && output.coordinator_tag == "spotshield-coordinator"
    error_message = "rendezvous: the coordinator's one port"
  }
}

run "coordinator_vm" {
  command = plan

  module {
    source = "./modules/coordinator"
  }

  variables {
    project       = "demo-project-123"
    region        = "us-central1"
    zone          = "us-central1-b"
    name          = "spotshield"
    subnetwork_id = "projects/demo-project-123/regions/us-central1/subnetworks/spotshield-subnet"
    subnet_cidr   = "10.64.0.0/20"
    network_tag   = "spotshield-coordinator"
    bucket_name   = "demo-ckpt"
    run_id        = "job-1"
    build_url     = "gs://demo-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id      = "0.1.0+3f2a9c1d2e4b"
  }

  assert {
    condition     = output.endpoint == "10.64.15.253:29400" && google_compute_address.coordinator.address == "10.64.15.253" && google_compute_address.coordinator.address_type == "INTERNAL"
    error_message = "a reserved internal address, the subnet's highest usable one, and the default rendezvous port"
  }

  assert {
    condition     = google_compute_instance.coordinator.network_interface[0].network_ip == "10.64.15.253" && length(google_compute_instance.coordinator.network_interface[0].access_config) == 0
    error_message = "the VM takes the reserved address and has no external IP"
  }

  assert {
    condition     = google_compute_instance.coordinator.scheduling[0].provisioning_model == "STANDARD" && google_compute_instance.coordinator.scheduling[0].preemptible == false && google_compute_instance.coordinator.scheduling[0].automatic_restart == true && google_compute_instance.coordinator.scheduling[0].on_host_maintenance == "MIGRATE"
    error_message = "on-demand, live-migrated on maintenance, restarted by GCE after a host failure"
  }

  assert {
    condition     = google_compute_instance.coordinator.machine_type == "e2-small" && google_compute_instance.coordinator.zone == "us-central1-b" && google_compute_instance.coordinator.tags == toset(["spotshield-coordinator"])
    error_message = "a small VM in the given zone, with the tag the rendezvous rule targets"
  }

  assert {
    condition     = google_compute_instance.coordinator.metadata["startup-script"] == join("\n", [file("../startup-scripts/install-build.sh"), file("../startup-scripts/coordinator.sh")])
    error_message = "the startup script is install-build.sh, then coordinator.sh, unchanged"
  }

  assert {
    condition     = google_storage_bucket_iam_member.coordinator_builds.role == "roles/storage.objectViewer" && google_storage_bucket_iam_member.coordinator_builds.condition[0].expression == "resource.name.startsWith(\"projects/_/buckets/demo-ckpt/objects/builds/\")"
    error_message = "the coordinator reads the builds, nothing else of the bucket"
  }

  assert {
    condition     = google_storage_bucket_iam_member.coordinator_done.role == "roles/storage.objectViewer" && google_storage_bucket_iam_member.coordinator_done.condition[0].expression == "resource.name == \"projects/_/buckets/demo-ckpt/objects/runs/job-1/DONE\""
    error_message = "of the run, the coordinator reads exactly its DONE object"
  }

  assert {
    condition     = google_compute_instance.coordinator.metadata["spotshield-store"] == "gs://demo-ckpt/runs/job-1"
    error_message = "the coordinator watches the run's store for DONE (then its VM powers off)"
  }
}

run "coordinator_with_a_bad_run_id_is_refused" {
  command = plan

  module {
    source = "./modules/coordinator"
  }

  variables {
    project       = "demo-project-123"
    region        = "us-central1"
    zone          = "us-central1-a"
    name          = "spotshield"
    subnetwork_id = "projects/demo-project-123/regions/us-central1/subnetworks/spotshield-subnet"
    subnet_cidr   = "10.64.0.0/20"
    network_tag   = "spotshield-coordinator"
    bucket_name   = "demo-ckpt"
    run_id        = "runs/../x"
    build_url     = "gs://demo-ckpt/builds/spotshield-0.1.0.tar.gz"
    build_id      = "0.1.0+3f2a9c1d2e4b"
  }

  expect_failures = [var.run_id]
}

run "coordinator_without_a_published_build_is_refused" {
  command = plan

  module {
    source = "./modules/coordinator"
  }

  variables {
    project       = "demo-project-123"
    region        = "us-central1"
    zone          = "us-central1-a"
    name          = "spotshield"
    subnetwork_id = "projects/demo-project-123/regions/us-central1/subnetworks/spotshield-subnet"
    subnet_cidr   = "10.64.0.0/20"
    network_tag   = "spotshield-coordinator"
    bucket_name   = "demo-ckpt"
    run_id        = "job-1"
    build_url     = "gs://another-bucket/builds/spotshield-0.1.0.tar.gz"
    build_id      = "0.1.0+3f2a9c1d2e4b"
  }

  expect_failures = [google_compute_instance.coordinator]
}

run "bucket_settings" {
  command = plan

  module {
    source = "./modules/checkpoint-bucket"
  }

  variables {
    project     = "demo-project-123"
    bucket_name = "demo-project-123-spotshield-ckpt"
    location    = "US-CENTRAL1"
  }

  assert {
    condition     = google_storage_bucket.this.public_access_prevention == "enforced" && google_storage_bucket.this.uniform_bucket_level_access == true
    error_message = "bucket must enforce PAP and uniform access"
  }

  assert {
    condition     = google_storage_bucket.this.versioning[0].enabled == true && google_storage_bucket.this.force_destroy == false
    error_message = "bucket must be versioned and not force-destroyed"
  }

  assert {
    condition     = google_storage_bucket.this.lifecycle_rule[0].condition[0].days_since_noncurrent_time == 7 && google_storage_bucket.this.lifecycle_rule[0].action[0].type == "Delete"
    error_message = "noncurrent versions must be deleted after 7 days"
  }

  assert {
    condition     = google_storage_bucket.this.soft_delete_policy[0].retention_duration_seconds == 0
    error_message = "soft delete must be off: versioning already keeps overwritten checkpoints"
  }
}

run "spot_fleet_longer_notice" {
  command = plan

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project             = "demo-project-123"
    region              = "us-central1"
    zones               = ["us-central1-a"]
    name                = "notice"
    machine_type        = "g2-standard-4"
    fleet_size          = 1
    image               = "debian-cloud/debian-12"
    subnetwork_id       = "projects/demo-project-123/regions/us-central1/subnetworks/s"
    network_tag         = "t"
    bucket_name         = "demo-ckpt"
    health_port         = 8080
    run_id              = "r"
    store_url           = "gs://demo-ckpt/runs/r"
    preemption_notice_s = 120
    crash_loop_boots    = 5
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].preemption_notice_duration[0].seconds == 120 && google_compute_instance_template.trainer.metadata["spotshield-preemption-notice-s"] == "120"
    error_message = "the notice goes to GCE's scheduling and to the boot scripts"
  }

  assert {
    condition     = google_compute_instance_template.trainer.metadata["spotshield-crash-loop-boots"] == "5"
    error_message = "crash_loop_boots reaches the boot script"
  }
}

run "spot_fleet_compact_placement" {
  command = plan

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project           = "demo-project-123"
    region            = "us-central1"
    zones             = ["us-central1-a", "us-central1-b"]
    name              = "compact"
    machine_type      = "a2-highgpu-1g"
    gpu_type          = "nvidia-tesla-a100"
    fleet_size        = 2
    image             = "debian-cloud/debian-12"
    subnetwork_id     = "projects/demo-project-123/regions/us-central1/subnetworks/s"
    network_tag       = "t"
    bucket_name       = "demo-ckpt"
    health_port       = 8080
    run_id            = "r"
    store_url         = "gs://demo-ckpt/runs/r"
    compact_placement = true
  }

  assert {
    condition     = google_compute_resource_policy.compact[0].group_placement_policy[0].collocation == "COLLOCATED" && google_compute_resource_policy.compact[0].group_placement_policy[0].vm_count == null
    error_message = "a compact (collocated) policy, with no fixed VM count: the group's size changes"
  }

  assert {
    condition     = length(google_compute_instance_template.trainer.resource_policies) == 1 && google_compute_region_instance_group_manager.fleet.distribution_policy_target_shape == "ANY_SINGLE_ZONE"
    error_message = "the policy is on the template and the group puts every VM in one zone"
  }
}

# A study's on-demand baseline: the same trainer VMs with provisioning model STANDARD. The google
# provider: SPOT needs preemptible = true and automatic_restart = false, and
# instance_termination_action is for SPOT VMs; a GPU VM cannot live-migrate under either model.
run "standard_provisioning_is_on_demand" {
  command = apply

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project             = "demo-project-123"
    region              = "us-central1"
    zones               = ["us-central1-a"]
    name                = "baseline"
    machine_type        = "g2-standard-4"
    gpu_type            = "nvidia-l4"
    gpu_count           = 1
    fleet_size          = 1
    image               = "debian-cloud/debian-12"
    subnetwork_id       = "projects/demo-project-123/regions/us-central1/subnetworks/s"
    network_tag         = "t"
    bucket_name         = "demo-ckpt"
    health_port         = 8080
    run_id              = "ondemand-s0"
    store_url           = "gs://demo-ckpt/runs/ondemand-s0"
    provisioning_model  = "STANDARD"
    preemption_notice_s = 120
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].provisioning_model == "STANDARD" && google_compute_instance_template.trainer.scheduling[0].preemptible == false
    error_message = "a STANDARD VM is not preemptible"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].automatic_restart == true && google_compute_instance_template.trainer.scheduling[0].on_host_maintenance == "TERMINATE"
    error_message = "a STANDARD GPU VM restarts after host maintenance, which terminates it"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].instance_termination_action == null && length(google_compute_instance_template.trainer.scheduling[0].preemption_notice_duration) == 0
    error_message = "termination action and preemption notice are for Spot VMs only"
  }
}

run "standard_cpu_vm_migrates" {
  command = apply

  module {
    source = "./modules/spot-fleet"
  }

  variables {
    project            = "demo-project-123"
    region             = "us-central1"
    zones              = ["us-central1-a"]
    name               = "baseline"
    machine_type       = "e2-standard-4"
    gpu_type           = null
    gpu_count          = 0
    fleet_size         = 1
    image              = "debian-cloud/debian-12"
    subnetwork_id      = "projects/demo-project-123/regions/us-central1/subnetworks/s"
    network_tag        = "t"
    bucket_name        = "demo-ckpt"
    health_port        = 8080
    run_id             = "r"
    store_url          = "gs://demo-ckpt/runs/r"
    provisioning_model = "STANDARD"
  }

  assert {
    condition     = google_compute_instance_template.trainer.scheduling[0].on_host_maintenance == "MIGRATE"
    error_message = "a STANDARD VM without a GPU live-migrates"
  }
}
