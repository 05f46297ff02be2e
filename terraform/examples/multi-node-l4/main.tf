# One job on two Spot VMs with two NVIDIA L4 each: four ranks under torchrun, elastic down to one
# VM, the VMs close together in one zone, the rendezvous on a small on-demand coordinator VM.
provider "google" {
  project = var.project
  region  = "us-central1"
}

module "spotshield" {
  source             = "../.."
  project            = var.project
  region             = "us-central1"
  zones              = ["us-central1-a", "us-central1-b", "us-central1-c"]
  name               = "ss-l4x4"
  machine_type       = "g2-standard-24"
  gpu_type           = "nvidia-l4"
  gpu_count          = 2
  fleet_size         = 2
  min_nodes          = 1
  compact_placement  = true
  run_id             = var.run_id
  termination_action = "DELETE"
  # command mode: your torchrun-compatible script from the workdir `up --command` packed
  command        = var.command
  workdir_url    = var.workdir_url
  workdir_sha256 = var.workdir_sha256
  build_url      = var.build_url
  build_id       = var.build_id
}
