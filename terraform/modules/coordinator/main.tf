locals {
  # Service account ids are 6-30 characters.
  sa_account_id = length(var.name) < 3 ? "${var.name}-rdzv-sa" : (length(var.name) <= 25 ? "${var.name}-rdzv" : "${trimsuffix(substr(var.name, 0, 25), "-")}-rdzv")
  # The address the trainers dial, fixed at plan time: the highest usable address of the subnet's
  # primary range (GCE reserves the last two, the second-to-last and the broadcast), far from the
  # low end where GCE hands out the trainers' ephemeral addresses.
  address  = cidrhost(var.subnet_cidr, -3)
  endpoint = "${local.address}:${var.port}"
  # The prefix it reads: the builds `up` publishes (spotshield/buildinfo.py build_url). A prefix,
  # not the one object, so a new build needs no new IAM binding (and no wait for it to propagate).
  builds_prefix = "projects/_/buckets/${var.bucket_name}/objects/builds/"
  # The run's store, and the one object of it that it reads: DONE (spotshield/layout.py DONE_KEY).
  # Once DONE exists the coordinator exits 0 and its boot script powers the VM off (no more billing).
  store_url   = "gs://${var.bucket_name}/runs/${var.run_id}"
  done_object = "projects/_/buckets/${var.bucket_name}/objects/runs/${var.run_id}/DONE"
  # One metadata value: the half shared with the deadline controller's script first (functions only).
  startup_script = join("\n", [
    templatefile("${path.module}/../../../startup-scripts/install-build.sh", {}),
    templatefile("${path.module}/../../../startup-scripts/coordinator.sh", {}),
  ])
}

resource "google_service_account" "coordinator" {
  project      = var.project
  account_id   = local.sa_account_id
  display_name = "SpotShield rendezvous coordinator (${var.name})"
  description  = "Reads the published SpotShield build and the run's DONE marker; nothing else."
}

# What each grant is for: spotshield/cloud/permissions.py COORDINATOR_CALLS; tests/terraform/test_permissions.py
# holds these bindings to that list.
resource "google_storage_bucket_iam_member" "coordinator_builds" {
  bucket = var.bucket_name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.coordinator.email}"

  condition {
    title       = "only-builds"
    description = "Only the builds that spotshield up publishes."
    expression  = "resource.name.startsWith(\"${local.builds_prefix}\")"
  }
}

# The coordinator polls the run's DONE (spotshield.distributed.coordinator --store): storage.objects.get
# of that one object. objectViewer's storage.objects.list is checked on the bucket, which this
# condition does not name, so it cannot list the run's checkpoints or events either.
resource "google_storage_bucket_iam_member" "coordinator_done" {
  bucket = var.bucket_name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.coordinator.email}"

  condition {
    title       = "only-the-runs-done"
    description = "Only the run's DONE marker: the coordinator stops once it exists."
    expression  = "resource.name == \"${local.done_object}\""
  }
}

# The guest agent sends the boot script's output to Cloud Logging.
resource "google_project_iam_member" "coordinator_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.coordinator.email}"
}

resource "google_compute_address" "coordinator" {
  project      = var.project
  name         = "${var.name}-rdzv-ip"
  description  = "The SpotShield rendezvous coordinator's internal address (the trainers' spotshield-coordinator)"
  region       = var.region
  subnetwork   = var.subnetwork_id
  address_type = "INTERNAL"
  purpose      = "GCE_ENDPOINT"
  address      = local.address
}

# What the VM must be re-created for: its boot script installs these once per disk, and a new run
# needs a running coordinator (the last one powered itself off at its run's DONE; new metadata alone
# would not start it).
resource "terraform_data" "boot" {
  input = [var.build_id, var.build_sha256, var.torch_requirement, var.port, var.run_id]
}

# A plain instance, not a size-1 group: the trainers dial one fixed address, which a plain instance
# takes straight from the reserved address, while a group's VM can keep one only as a stateful IP
# (a per-instance config naming the VM). GCE live-migrates it on host maintenance and restarts it
# after a host failure (automatic_restart); systemd restarts the process after a failure
# (Restart=on-failure). It holds no state: while it is away the agents cannot rendezvous, and they do
# again once it is back. At the run's DONE it powers itself off (TERMINATED: no charge for the VM,
# only for its disk, until `make teardown`); a guest's own shutdown is not restarted by GCE.
# docs/distributed.md has the whole argument.
resource "google_compute_instance" "coordinator" {
  #checkov:skip=CKV_GCP_38:The boot disk holds Debian, torch and the SpotShield build, no data; Google-managed encryption.
  project      = var.project
  name         = "${var.name}-rdzv"
  description  = "SpotShield rendezvous coordinator: the TCPStore of torchrun's c10d rendezvous"
  zone         = var.zone
  machine_type = var.machine_type
  tags         = [var.network_tag]
  labels       = var.labels

  boot_disk {
    auto_delete = true
    initialize_params {
      image  = var.image
      size   = var.boot_disk_size_gb
      type   = "pd-balanced"
      labels = var.labels
    }
  }

  # No access_config: no external IP. pip goes through Cloud NAT, GCS through Private Google Access.
  network_interface {
    subnetwork = var.subnetwork_id
    network_ip = google_compute_address.coordinator.address
  }

  service_account {
    email  = google_service_account.coordinator.email
    scopes = ["cloud-platform"]
  }

  # On-demand, never preempted; e2 VMs live-migrate (they refuse TERMINATE unless preemptible).
  scheduling {
    provisioning_model  = "STANDARD"
    preemptible         = false
    automatic_restart   = true
    on_host_maintenance = "MIGRATE"
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  # What startup-scripts/coordinator.sh reads (spotshield/bootcontract.py COORDINATOR_METADATA).
  metadata = {
    "enable-oslogin"               = "TRUE"
    "block-project-ssh-keys"       = true
    "serial-port-enable"           = false
    "startup-script"               = local.startup_script
    "spotshield-build-url"         = var.build_url
    "spotshield-build-id"          = var.build_id
    "spotshield-build-sha256"      = var.build_sha256
    "spotshield-coordinator-port"  = var.port
    "spotshield-torch-requirement" = var.torch_requirement
    "spotshield-store"             = local.store_url
  }

  lifecycle {
    replace_triggered_by = [terraform_data.boot]
    precondition {
      condition     = var.build_id != "" && startswith(var.build_url, "gs://${var.bucket_name}/builds/")
      error_message = "the coordinator runs the SpotShield build that up publishes: build_id must be set and build_url be gs://${var.bucket_name}/builds/<archive>."
    }
  }
}
