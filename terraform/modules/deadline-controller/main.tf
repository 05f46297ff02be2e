locals {
  # Service account ids are 6-30 characters.
  sa_account_id = length(var.name) < 3 ? "${var.name}-dl-ctl" : (length(var.name) <= 27 ? "${var.name}-dl" : "${trimsuffix(substr(var.name, 0, 27), "-")}-dl")
  # A deleted custom role keeps its id for 7 to 37 days: the id ends in this role's first plan time.
  role_id  = "ssDeadline_${replace(var.name, "-", "_")}_${terraform_data.role_epoch.output}"
  mig_name = "${var.name}-dl-mig"
  # The groups the controller may read and resize: the spot fleet, the on-demand fleet, and its own
  # (to 0 once the work is done), each by its full resource name.
  groups     = [var.spot_mig, var.on_demand_mig, local.mig_name]
  group_expr = join(" || ", [for g in local.groups : "resource.name == \"projects/${var.project}/regions/${var.region}/instanceGroupManagers/${g}\""])
  # The one object it writes: the run store's deadline.json (spotshield/layout.py DEADLINE_KEY).
  deadline_object = "projects/_/buckets/${var.bucket_name}/objects/runs/${var.run_id}/deadline.json"
  # What spotshield.deadline.service reads: the CLI's config, plus what only Terraform knows.
  service_config = jsonencode(merge(jsondecode(var.controller_config), {
    self_mig    = local.mig_name
    health_port = var.health_port
  }))
  # One metadata value: the half shared with the coordinator's script first (it defines functions only).
  startup_script = join("\n", [
    templatefile("${path.module}/../../../startup-scripts/install-build.sh", {}),
    templatefile("${path.module}/../../../startup-scripts/controller.sh", {}),
  ])
  # A shared-core VM: the controller ticks once a minute and needs no accelerator.
  on_host_maintenance = "MIGRATE"
  max_unavailable     = length(var.zones)
}

resource "terraform_data" "role_epoch" {
  input = formatdate("YYYYMMDDhhmmss", plantimestamp())

  lifecycle {
    ignore_changes = [input]
  }
}

resource "google_service_account" "controller" {
  project      = var.project
  account_id   = local.sa_account_id
  display_name = "SpotShield deadline controller (${var.name})"
  description  = "Reads the run's events and resizes the spot and on-demand groups of this stack."
}

# What each grant is for: spotshield/cloud/permissions.py CONTROLLER_CALLS; tests/terraform/test_permissions.py
# holds these bindings to that list.
resource "google_project_iam_custom_role" "deadline_groups" {
  project     = var.project
  role_id     = local.role_id
  title       = "SpotShield deadline controller (${var.name})"
  description = "Read and resize the SpotShield groups of one stack."
  permissions = ["compute.instanceGroupManagers.get", "compute.instanceGroupManagers.list", "compute.instanceGroupManagers.update"]
}

resource "google_project_iam_member" "controller_groups" {
  project = var.project
  role    = google_project_iam_custom_role.deadline_groups.name
  member  = "serviceAccount:${google_service_account.controller.email}"

  condition {
    title       = "only-${var.name}-groups"
    description = "Only the spot, on-demand and controller groups of this stack."
    expression  = local.group_expr
  }
}

resource "google_project_iam_member" "controller_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.controller.email}"
}

# Read the run's events and the build archive.
resource "google_storage_bucket_iam_member" "controller_read" {
  bucket = var.bucket_name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.controller.email}"
}

# Write (and so overwrite) one object: its last tick, for `spotshield status`.
resource "google_storage_bucket_iam_member" "controller_record" {
  bucket = var.bucket_name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.controller.email}"

  condition {
    title       = "only-deadline-json"
    description = "Only the run store's deadline.json."
    expression  = "resource.name == \"${local.deadline_object}\""
  }
}

resource "google_compute_instance_template" "controller" {
  project      = var.project
  name_prefix  = "${var.name}-dl-"
  description  = "SpotShield deadline controller"
  region       = var.region
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = var.labels

  disk {
    source_image = var.image
    boot         = true
    auto_delete  = true
    disk_type    = "pd-balanced"
    disk_size_gb = var.boot_disk_size_gb
    labels       = var.labels
  }

  # No access_config: no external IP. pip and apt go through Cloud NAT, Google APIs through PGA.
  network_interface {
    subnetwork = var.subnetwork_id
  }

  service_account {
    email  = google_service_account.controller.email
    scopes = ["cloud-platform"]
  }

  scheduling {
    provisioning_model  = "STANDARD"
    preemptible         = false
    automatic_restart   = true
    on_host_maintenance = local.on_host_maintenance
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  # What startup-scripts/controller.sh reads (spotshield/bootcontract.py CONTROLLER_METADATA).
  metadata = {
    "enable-oslogin"             = "TRUE"
    "block-project-ssh-keys"     = true
    "serial-port-enable"         = false
    "startup-script"             = local.startup_script
    "spotshield-deadline-config" = local.service_config
    "spotshield-build-url"       = var.build_url
    "spotshield-build-id"        = var.build_id
    "spotshield-build-sha256"    = var.build_sha256
    "spotshield-health-port"     = var.health_port
    "spotshield-mig"             = local.mig_name
    "spotshield-region"          = var.region
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_health_check" "controller" {
  project             = var.project
  name                = "${var.name}-dl-healthz"
  description         = "HTTP GET /healthz on the SpotShield deadline controller: 200 while its ticks succeed"
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

# Size 1 with auto-healing: a crashed or stuck controller VM is re-created, and it picks up where
# the groups stand (its decisions keep no state). It resizes itself to 0 when the work is done.
resource "google_compute_region_instance_group_manager" "controller" {
  project                          = var.project
  name                             = local.mig_name
  region                           = var.region
  base_instance_name               = "${var.name}-dl"
  target_size                      = 1
  distribution_policy_zones        = var.zones
  distribution_policy_target_shape = "ANY"

  version {
    name              = "primary"
    instance_template = google_compute_instance_template.controller.self_link_unique
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.controller.id
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
}
