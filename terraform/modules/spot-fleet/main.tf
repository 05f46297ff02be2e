locals {
  # Service account ids are 6-30 characters: short names get a longer suffix, long ones are cut.
  sa_account_id = length(var.name) < 4 ? "${var.name}-spot-sa" : (length(var.name) <= 27 ? "${var.name}-sa" : "${trimsuffix(substr(var.name, 0, 27), "-")}-sa")
  # Custom role ids allow only letters, digits, '_' and '.'.
  stop_role_id = "spotshieldFleetStop_${replace(var.name, "-", "_")}"
  mig_name     = "${var.name}-mig"
  # The full resource name IAM conditions match: the role applies to this one group only.
  mig_resource_name = "projects/${var.project}/regions/${var.region}/instanceGroupManagers/${local.mig_name}"
  # No accelerator block at all when no GPU is asked for (CPU-only fleets, smoke tests).
  has_gpu = var.gpu_type != null && var.gpu_type != "" && var.gpu_count > 0
  # Spot VMs cannot live-migrate: host maintenance must terminate them.
  on_host_maintenance = "TERMINATE"
  # Spot VMs must not be restarted by GCE itself; the MIG's repair brings them back.
  automatic_restart = false
  # Label values allow only lowercase letters, digits, '-' and '_', at most 63 characters.
  run_label = substr(replace(lower(var.run_id), "/[^-_a-z0-9]/", "-"), 0, 63)
  # Regional MIGs need max_unavailable_fixed of 0 or at least the number of zones.
  max_unavailable = length(var.zones)
}

resource "google_service_account" "trainer" {
  project      = var.project
  account_id   = local.sa_account_id
  display_name = "SpotShield trainer (${var.name})"
  description  = "Runs spotshield train on the Spot fleet: this bucket, logs, metrics, and resizing its own group."
}

resource "google_storage_bucket_iam_member" "trainer_objects" {
  bucket = var.bucket_name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.trainer.email}"
}

resource "google_project_iam_member" "trainer_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.trainer.email}"
}

resource "google_project_iam_member" "trainer_metrics" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.trainer.email}"
}

# Just enough to resize this fleet to 0 when training is DONE: a two-permission custom role,
# granted with an IAM condition on the group's own resource name.
resource "google_project_iam_custom_role" "fleet_stop" {
  project     = var.project
  role_id     = local.stop_role_id
  title       = "SpotShield fleet stop (${var.name})"
  description = "Read and resize the SpotShield managed instance group."
  permissions = ["compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update"]
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
  description  = "SpotShield Spot trainer VM"
  region       = var.region
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = merge(var.labels, { "spotshield-run" = local.run_label })

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
    provisioning_model          = "SPOT"
    preemptible                 = true
    automatic_restart           = local.automatic_restart
    on_host_maintenance         = local.on_host_maintenance
    instance_termination_action = var.termination_action
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
  }

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
  distribution_policy_target_shape = var.target_shape
  wait_for_instances               = false

  version {
    name              = "primary"
    instance_template = google_compute_instance_template.trainer.self_link_unique
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.trainer.id
    initial_delay_sec = var.initial_delay_sec
  }

  # A new template never interrupts running training: VMs pick it up when they are repaired
  # or recreated. No surge (GPUs are scarce); redistribution NONE as ANY shapes require.
  update_policy {
    type                         = "OPPORTUNISTIC"
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
}
