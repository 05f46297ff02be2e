# One Spot VM with one A100, placed in whichever of three zones has capacity (shape ANY).
# fleet_size 1: the built-in trainer is one process per VM (several VMs: examples/multi-node-l4).
provider "google" {
  project = var.project
  region  = "us-central1"
}

module "spotshield" {
  source             = "../.."
  project            = var.project
  region             = "us-central1"
  zones              = ["us-central1-a", "us-central1-b", "us-central1-c"]
  name               = "ss-a100"
  machine_type       = "a2-highgpu-1g"
  gpu_type           = "nvidia-tesla-a100"
  gpu_count          = 1
  fleet_size         = 1
  target_shape       = "ANY"
  run_id             = var.run_id
  strategy           = "adaptive"
  termination_action = "DELETE"
  trainer_config     = jsonencode({ model = "resnet50", data = "cifar100", epochs = 90, batch_size = 256 })
  build_url          = var.build_url
  build_id           = var.build_id
  boot_disk_size_gb  = 300
}
