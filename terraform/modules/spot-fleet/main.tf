locals {
  # Service account ids are 6-30 characters: short names get a longer suffix, long ones are cut.
  sa_account_id = length(var.name) < 4 ? "${var.name}-spot-sa" : (length(var.name) <= 27 ? "${var.name}-sa" : "${trimsuffix(substr(var.name, 0, 27), "-")}-sa")
  # Custom role ids allow only letters, digits, '_' and '.' (at most 64). A deleted custom role is
  # only soft-deleted and its id stays taken for 7 to 37 days, so the id ends in the time this
  # stack's role was first planned (terraform_data.role_epoch, kept in the state): a re-up of the
  # same stack keeps its role, an up after `down` (which destroys it) gets a new id.
  stop_role_id = "ssFleetStop_${replace(var.name, "-", "_")}_${terraform_data.role_epoch.output}"
  mig_name     = "${var.name}-mig"
  # The full resource name IAM conditions match: the role applies to this one group only.
  mig_resource_name = "projects/${var.project}/regions/${var.region}/instanceGroupManagers/${local.mig_name}"
  # No accelerator block at all when no GPU is asked for (CPU-only fleets, smoke tests).
  has_gpu = var.gpu_type != null && var.gpu_type != "" && var.gpu_count > 0
  # GCE's scheduling rules per provisioning model (google provider docs, scheduling.provisioning_model):
  # SPOT needs preemptible = true and automatic_restart = false (the MIG's repair brings a preempted VM
  # back, not GCE), and a Spot VM cannot live-migrate. STANDARD (on-demand price, never preempted: a
  # study's baseline) is not preemptible and is restarted by GCE after host maintenance; with a GPU it
  # cannot live-migrate either.
  spot_scheduling = {
    preemptible         = true
    automatic_restart   = false
    on_host_maintenance = "TERMINATE"
  }
  standard_scheduling = {
    preemptible         = false
    automatic_restart   = true
    on_host_maintenance = local.has_gpu ? "TERMINATE" : "MIGRATE"
  }
  scheduling = var.provisioning_model == "SPOT" ? local.spot_scheduling : local.standard_scheduling
  # Label values allow only lowercase letters, digits, '-' and '_', at most 63 characters.
  run_label = substr(replace(lower(var.run_id), "/[^-_a-z0-9]/", "-"), 0, 63)
  # Regional MIGs need max_unavailable_fixed of 0 or at least the number of zones.
  max_unavailable = length(var.zones)
  # A longer preemption notice (beta in the Compute API; 0 = GCE's plain 30 s) as the API's Duration;
  # Spot VMs only, like the termination action.
  notice_duration = var.provisioning_model == "SPOT" && var.preemption_notice_s > 0 ? [var.preemption_notice_s] : []
  # A compact placement policy keeps the VMs of one zone close together, so the group must put them
  # all in one zone: Google recommends ANY_SINGLE_ZONE with it (regional-mig-distribution-shape docs).
  target_shape = var.compact_placement ? "ANY_SINGLE_ZONE" : var.target_shape
}

# A job under torchrun on several VMs (docs/distributed.md): the VMs close together for the
# collectives' latency. No vm_count: the group's size changes (preemptions, an elastic minimum).
resource "google_compute_resource_policy" "compact" {
  count       = var.compact_placement ? 1 : 0
  project     = var.project
  name        = "${var.name}-compact"
  description = "SpotShield: the Spot trainers of one job close together"
  region      = var.region

  group_placement_policy {
    collocation = "COLLOCATED"
  }

  lifecycle {
    precondition {
      condition     = local.scheduling.on_host_maintenance == "TERMINATE"
      error_message = "a compact placement policy takes VMs that terminate on host maintenance (no live migration): on_host_maintenance must be TERMINATE."
    }
  }
}

# The creation time of this stack's fleet-stop role, recorded once: see local.stop_role_id.
resource "terraform_data" "role_epoch" {
  input = formatdate("YYYYMMDDhhmmss", plantimestamp())

  lifecycle {
    ignore_changes = [input]
  }
}

resource "google_service_account" "trainer" {
  project      = var.project
  account_id   = local.sa_account_id
  display_name = "SpotShield trainer (${var.name})"
  description  = "Runs spotshield train on the Spot fleet: this bucket, logs, metrics, and resizing its own group."
}

# What each grant is for: spotshield/cloud/permissions.py lists every call the VMs make and the role
# that allows it; tests/terraform/test_permissions.py holds these bindings to that list.
# Objects only (no bucket metadata, no object ACLs): read, list, create, overwrite and delete.
resource "google_storage_bucket_iam_member" "trainer_objects" {
  bucket = var.bucket_name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.trainer.email}"
}

# The guest agent sends the boot scripts' output to Cloud Logging.
resource "google_project_iam_member" "trainer_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.trainer.email}"
}

# Just enough to resize this fleet to 0 (DONE, or the crash-loop breaker): a one-permission custom
# role, granted with an IAM condition on the group's own resource name.
resource "google_project_iam_custom_role" "fleet_stop" {
  project     = var.project
  role_id     = local.stop_role_id
  title       = "SpotShield fleet stop (${var.name})"
  description = "Resize the SpotShield managed instance group."
  permissions = ["compute.instanceGroupManagers.update"]
}

resource "google_project_iam_member" "trainer_fleet_stop" {
  project = var.project
  role    = google_project_iam_custom_role.fleet_stop.name
  member  = "serviceAccount:${google_service_account.trainer.email}"

  condition {
    title       = "only-${local.mig_name}"
    description = "Only the SpotShield group of this stack."
    expression  = "resource.name == \"${local.mig_resource_name}\""
  }
}

resource "google_compute_instance_template" "trainer" {
  project      = var.project
  name_prefix  = "${var.name}-"
  description  = var.provisioning_model == "SPOT" ? "SpotShield Spot trainer VM" : "SpotShield on-demand (STANDARD) trainer VM"
  region       = var.region
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = merge(var.labels, { "spotshield-run" = local.run_label })
  # the compact placement policy, when asked for (self links; the provider sends their names)
  resource_policies = google_compute_resource_policy.compact[*].self_link

  disk {
    source_image = var.image
    boot         = true
    auto_delete  = true
    disk_type    = var.boot_disk_type
    disk_size_gb = var.boot_disk_size_gb
    labels       = var.labels
  }

  # No access_config: no external IP. Egress goes through Cloud NAT, Google APIs through PGA.
  network_interface {
    subnetwork = var.subnetwork_id
  }

  service_account {
    email  = google_service_account.trainer.email
    scopes = ["cloud-platform"]
  }

  scheduling {
    provisioning_model          = var.provisioning_model
    preemptible                 = local.scheduling.preemptible
    automatic_restart           = local.scheduling.automatic_restart
    on_host_maintenance         = local.scheduling.on_host_maintenance
    instance_termination_action = var.provisioning_model == "SPOT" ? var.termination_action : null

    dynamic "preemption_notice_duration" {
      for_each = local.notice_duration
      content {
        seconds = preemption_notice_duration.value
      }
    }
  }

  dynamic "guest_accelerator" {
    for_each = local.has_gpu ? [var.gpu_type] : []
    content {
      type  = guest_accelerator.value
      count = var.gpu_count
    }
  }

  shielded_instance_config {
    enable_secure_boot          = var.enable_secure_boot
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  # One literal map, so that static checks (checkov, tests/terraform) see every key.
  metadata = {
    "enable-oslogin"         = "TRUE"
    "block-project-ssh-keys" = true
    "serial-port-enable"     = false
    # Deep Learning VM images install the NVIDIA driver on first boot when this is True.
    "install-nvidia-driver" = local.has_gpu ? "True" : "False"
    "startup-script"        = templatefile("${path.module}/../../../startup-scripts/startup.sh", {})
    "shutdown-script"       = templatefile("${path.module}/../../../startup-scripts/shutdown.sh", {})
    # What startup.sh reads (docs/boot-contract.md).
    "spotshield-run-id"       = var.run_id
    "spotshield-store"        = var.store_url
    "spotshield-build-url"    = var.build_url
    "spotshield-build-id"     = var.build_id
    "spotshield-build-sha256" = var.build_sha256
    "spotshield-config"       = var.trainer_config
    "spotshield-health-port"  = var.health_port
    "spotshield-mig"          = local.mig_name
    "spotshield-region"       = var.region
    # the crash-loop breaker's K; the notice before the ACPI shutdown (shutdown.sh's budget)
    "spotshield-crash-loop-boots"    = var.crash_loop_boots
    "spotshield-preemption-notice-s" = var.preemption_notice_s
    "spotshield-command"             = var.command
    "spotshield-workdir-url"         = var.workdir_url
    "spotshield-workdir-sha256"      = var.workdir_sha256
    # A job under torchrun (docs/distributed.md): empty coordinator = one process per VM, as before.
    "spotshield-coordinator" = var.coordinator
    "spotshield-min-nodes"   = var.min_nodes
    "spotshield-max-nodes"   = var.max_nodes
    "spotshield-nproc"       = local.has_gpu ? var.gpu_count : 1
  }

  # Templates cannot be changed in place: a new build or run is a new template (name_prefix gives
  # it a fresh name), created before the old one is deleted, as the provider documents for groups.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_health_check" "trainer" {
  project             = var.project
  name                = "${var.name}-healthz"
  description         = "HTTP GET /healthz on the SpotShield trainer"
  check_interval_sec  = 30
  timeout_sec         = 10
  healthy_threshold   = 1
  unhealthy_threshold = 4

  http_health_check {
    port         = var.health_port
    request_path = "/healthz"
  }

  log_config {
    enable = true
  }
}

resource "google_compute_region_instance_group_manager" "fleet" {
  project                          = var.project
  name                             = local.mig_name
  region                           = var.region
  base_instance_name               = "${var.name}-vm"
  target_size                      = var.fleet_size
  distribution_policy_zones        = var.zones
  distribution_policy_target_shape = local.target_shape
  # The old template can be deleted only once no member uses it: apply waits until every member
  # runs the new version (UPDATED), so create_before_destroy then removes an unused template.
  wait_for_instances        = true
  wait_for_instances_status = "UPDATED"

  version {
    name              = "primary"
    instance_template = google_compute_instance_template.trainer.self_link_unique
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.trainer.id
    initial_delay_sec = var.initial_delay_sec
  }

  # A new template (build, run, config) replaces the members at once: each gets its shutdown (an
  # emergency checkpoint) and its successor resumes on the new version. OPPORTUNISTIC would leave
  # members on the old template, which then cannot be deleted ("resourceInUseByAnotherResource").
  # No surge (GPUs are scarce); redistribution NONE as ANY shapes require.
  update_policy {
    type                         = "PROACTIVE"
    minimal_action               = "REPLACE"
    instance_redistribution_type = "NONE"
    replacement_method           = "RECREATE"
    max_surge_fixed              = 0
    max_unavailable_fixed        = local.max_unavailable
  }

  instance_lifecycle_policy {
    default_action_on_failure = "REPAIR"
    force_update_on_repair    = "YES"
  }

  timeouts {
    create = "${var.apply_wait_minutes}m"
    update = "${var.apply_wait_minutes}m"
  }
}
