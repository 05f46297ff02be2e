# One Spot VM with one NVIDIA L4 in one zone: the cheapest way to try SpotShield on GCP.
provider "google" {
  project = var.project
  region  = "us-central1"
}

module "spotshield" {
  source             = "../.."
  project            = var.project
  region             = "us-central1"
  zones              = ["us-central1-a"]
  name               = "ss-l4"
  machine_type       = "g2-standard-4"
  gpu_type           = "nvidia-l4"
  gpu_count          = 1
  fleet_size         = 1
  run_id             = var.run_id
  strategy           = "adaptive"
  termination_action = "STOP"
  trainer_config     = jsonencode({ model = "resnet18", data = "cifar100", epochs = 30 })
  build_url          = var.build_url
  build_id           = var.build_id
}
