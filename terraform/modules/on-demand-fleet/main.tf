locals {
  mig_name  = "${var.name}-od-mig"
  base_name = "${var.name}-od"
  # The full resource name IAM conditions match: these VMs may resize this one group only.
  mig_resource_name = "projects/${var.project}/regions/${var.region}/instanceGroupManagers/${local.mig_name}"
  has_gpu           = var.gpu_type != null && var.gpu_type != "" && var.gpu_count > 0
  # GPU VMs cannot live-migrate: host maintenance stops them, and GCE restarts a standard VM.
  on_host_maintenance = local.has_gpu ? "TERMINATE" : "MIGRATE"
  automatic_restart   = true
  run_label           = substr(replace(lower(var.run_id), "/[^-_a-z0-9]/", "-"), 0, 63)
  # Regional MIGs need max_unavailable_fixed of 0 or at least the number of zones.
  max_unavailable = length(var.zones)
}

# The on-demand VMs run as the spot fleet's service account (the same bucket, logs and build), and
# resize their own group to 0 when the store holds DONE: the fleet-stop role, conditioned on this group.
resource "google_project_iam_member" "on_demand_fleet_stop" {
  project = var.project
  role    = var.fleet_stop_role
  member  = "serviceAccount:${var.service_account_email}"

  condition {
    title       = "only-${local.mig_name}"
    description = "Only the SpotShield on-demand group of this stack."
    expression  = "resource.name == \"${local.mig_resource_name}\""
  }
}

resource "google_compute_instance_template" "on_demand" {
  project      = var.project
  name_prefix  = "${var.name}-od-"
  description  = "SpotShield on-demand trainer VM (the deadline's fallback)"
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
    email  = var.service_account_email
    scopes = ["cloud-platform"]
  }

  scheduling {
    provisioning_model  = "STANDARD"
    preemptible         = false
    automatic_restart   = local.automatic_restart
    on_host_maintenance = local.on_host_maintenance
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

  # The spot template's boot contract, key for key (docs/boot-contract.md), so that a job moves
  # between the two groups and resumes from the same checkpoints; only the group differs.
  metadata = {
    "enable-oslogin"                 = "TRUE"
    "block-project-ssh-keys"         = true
    "serial-port-enable"             = false
    "install-nvidia-driver"          = local.has_gpu ? "True" : "False"
    "startup-script"                 = templatefile("${path.module}/../../../startup-scripts/startup.sh", {})
    "shutdown-script"                = templatefile("${path.module}/../../../startup-scripts/shutdown.sh", {})
    "spotshield-run-id"              = var.run_id
    "spotshield-store"               = var.store_url
    "spotshield-build-url"           = var.build_url
    "spotshield-build-id"            = var.build_id
    "spotshield-build-sha256"        = var.build_sha256
    "spotshield-config"              = var.trainer_config
    "spotshield-health-port"         = var.health_port
    "spotshield-mig"                 = local.mig_name
    "spotshield-region"              = var.region
    "spotshield-crash-loop-boots"    = var.crash_loop_boots
    "spotshield-preemption-notice-s" = 0
    "spotshield-command"             = var.command
    "spotshield-workdir-url"         = var.workdir_url
    "spotshield-workdir-sha256"      = var.workdir_sha256
    # A job under torchrun (docs/distributed.md): empty coordinator = one process per VM, as before.
    "spotshield-coordinator" = var.coordinator
    "spotshield-min-nodes"   = var.min_nodes
    "spotshield-max-nodes"   = var.max_nodes
    "spotshield-nproc"       = local.has_gpu ? var.gpu_count : 1
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Its own /healthz check (the spot fleet's twin), so each module is whole on its own.
resource "google_compute_health_check" "on_demand" {
  project             = var.project
  name                = "${var.name}-od-healthz"
  description         = "HTTP GET /healthz on the SpotShield on-demand trainer"
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

resource "google_compute_region_instance_group_manager" "on_demand" {
  project                          = var.project
  name                             = local.mig_name
  region                           = var.region
  base_instance_name               = local.base_name
  target_size                      = 0
  distribution_policy_zones        = var.zones
  distribution_policy_target_shape = var.target_shape
  # Empty at apply: only the deadline controller grows it.
  wait_for_instances = false

  version {
    name              = "primary"
    instance_template = google_compute_instance_template.on_demand.self_link_unique
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.on_demand.id
    initial_delay_sec = var.initial_delay_sec
  }

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

  # The controller owns the size: a later apply must not undo its move.
  lifecycle {
    ignore_changes = [target_size]
  }
}
