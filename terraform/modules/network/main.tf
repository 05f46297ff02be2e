locals {
  # Google's load-balancer / health-check probers; the only sources allowed to the health port.
  health_check_ranges = ["35.191.0.0/16", "130.211.0.0/22"]
  # Identity-Aware Proxy TCP forwarding: SSH without external IPs.
  iap_ranges = ["35.235.240.0/20"]
  # Firewall rules select trainer VMs by this network tag (the fleet puts it on its template).
  trainer_tag = "${var.name}-trainer"
  # ... and the rendezvous coordinator of a job under torchrun by this one (modules/coordinator).
  coordinator_tag = "${var.name}-coordinator"
  # How many of each of the job's internal rules: one for a job under torchrun, else none.
  job_rules = var.rendezvous_port == null ? 0 : 1
}

resource "google_compute_network" "this" {
  project                 = var.project
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "this" {
  project                  = var.project
  name                     = "${var.name}-subnet"
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "this" {
  project = var.project
  name    = "${var.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "this" {
  project                            = var.project
  name                               = "${var.name}-nat"
  region                             = var.region
  router                             = google_compute_router.this.name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.this.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

resource "google_compute_firewall" "health_checks" {
  project       = var.project
  name          = "${var.name}-allow-health-checks"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = local.health_check_ranges
  target_tags   = [local.trainer_tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.health_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "iap_ssh" {
  project       = var.project
  name          = "${var.name}-allow-iap-ssh"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = local.iap_ranges
  target_tags   = [local.trainer_tag]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# A job under torchrun (docs/distributed.md), VM to VM inside the VPC only: no source range, so
# nothing outside the stack's tagged VMs matches. Gradients and the stop agreement (gloo, NCCL)
# run between the trainers on ports each round picks, hence every TCP port between trainers...
resource "google_compute_firewall" "collectives" {
  count       = local.job_rules
  project     = var.project
  name        = "${var.name}-allow-collectives"
  description = "SpotShield job under torchrun: gloo/NCCL and the per-round worker store between trainer VMs"
  network     = google_compute_network.this.id
  direction   = "INGRESS"
  source_tags = [local.trainer_tag]
  target_tags = [local.trainer_tag]

  allow {
    protocol = "tcp"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# ... and the rendezvous itself: from the trainers to the coordinator's one port.
resource "google_compute_firewall" "rendezvous" {
  count       = local.job_rules
  project     = var.project
  name        = "${var.name}-allow-rendezvous"
  description = "SpotShield job under torchrun: the trainers' torchrun agents to the rendezvous coordinator"
  network     = google_compute_network.this.id
  direction   = "INGRESS"
  source_tags = [local.trainer_tag]
  target_tags = [local.coordinator_tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.rendezvous_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
