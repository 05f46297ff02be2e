locals {
  # The CLI always names the bucket; a hand-written tfvars may leave it to this default.
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name}-ckpt"
  # One store per run inside the shared bucket (docs/boot-contract.md).
  store_url = "gs://${module.checkpoint_bucket.name}/runs/${var.run_id}"
  config_in = jsondecode(var.trainer_config)
  # GCE's plain notice: 30 s from the ACPI shutdown to the hard stop; the trainer's default emergency
  # deadline (25 s) leaves 5 of them for its exit and the OS. A longer notice comes before those
  # 30 s, so the deadline grows by as much (the trainer counts it from the first notice it sees).
  acpi_window_s = 30
  exit_margin_s = 5
  notice_checkpoint = var.preemption_notice_s == 0 ? {} : {
    checkpoint = merge(lookup(local.config_in, "checkpoint", {}),
    { emergency_deadline_s = var.preemption_notice_s + local.acpi_window_s - local.exit_margin_s })
  }
  # STRATEGY is one variable: it wins over whatever strategy the config file carried.
  trainer_config = jsonencode(merge(local.config_in, { strategy = var.strategy }, local.notice_checkpoint))
  # Every resource says which stack it belongs to.
  labels = merge(var.labels, { "spotshield-stack" = var.name, "spotshield-strategy" = var.strategy })
  # A deadline (the CLI's controller config, docs/deadline.md) adds the on-demand group and the controller.
  with_deadline = var.deadline_config != ""
  # A job under torchrun (docs/distributed.md): more than one node (the command or the built-in
  # trainer), or command mode with more than one GPU on one node (the built-in trainer there is one
  # process on one GPU), on a running fleet (a stopped one, fleet_size 0, needs no coordinator, and
  # up's first apply of a new bucket is one: the build it would install is not published yet).
  distributed = var.fleet_size > 1 || (var.command != "" && var.fleet_size >= 1 && var.gpu_count > 1)
  coordinator = local.distributed ? module.coordinator[0].endpoint : ""
  # The coordinator runs the trainers' torch: a Deep Learning VM family names it (pytorch-2-7-...).
  torch_requirement = try("torch==${join(".", regex("pytorch-(\\d+)-(\\d+)", var.image))}.*", "torch")
  # torchrun's default port, spotshield.distributed.coordinator's DEFAULT_PORT (tests/terraform hold them equal)
  rendezvous_port = 29400
  max_nodes       = max(var.fleet_size, 1)
  min_nodes       = var.min_nodes == null ? local.max_nodes : var.min_nodes
}

module "network" {
  source      = "./modules/network"
  project     = var.project
  region      = var.region
  name        = var.name
  subnet_cidr = var.subnet_cidr
  health_port = var.health_port
  # a job under torchrun: the trainers reach each other and the coordinator (internal rules only)
  rendezvous_port = local.distributed ? local.rendezvous_port : null
}

module "checkpoint_bucket" {
  source                  = "./modules/checkpoint-bucket"
  project                 = var.project
  bucket_name             = local.bucket_name
  location                = upper(var.region)
  noncurrent_version_days = var.noncurrent_version_days
  force_destroy           = var.force_destroy
  labels                  = local.labels
}

module "spot_fleet" {
  source              = "./modules/spot-fleet"
  project             = var.project
  region              = var.region
  zones               = var.zones
  name                = var.name
  machine_type        = var.machine_type
  gpu_type            = var.gpu_type
  gpu_count           = var.gpu_count
  fleet_size          = var.fleet_size
  image               = var.image
  boot_disk_size_gb   = var.boot_disk_size_gb
  subnetwork_id       = module.network.subnetwork_id
  network_tag         = module.network.trainer_tag
  bucket_name         = module.checkpoint_bucket.name
  termination_action  = var.termination_action
  provisioning_model  = var.provisioning_model
  health_port         = var.health_port
  initial_delay_sec   = var.initial_delay_sec
  target_shape        = var.target_shape
  compact_placement   = var.compact_placement
  run_id              = var.run_id
  store_url           = local.store_url
  build_url           = var.build_url
  build_id            = var.build_id
  build_sha256        = var.build_sha256
  command             = var.command
  workdir_url         = var.workdir_url
  workdir_sha256      = var.workdir_sha256
  coordinator         = local.coordinator
  min_nodes           = local.min_nodes
  max_nodes           = local.max_nodes
  trainer_config      = local.trainer_config
  crash_loop_boots    = var.crash_loop_boots
  preemption_notice_s = var.preemption_notice_s
  labels              = local.labels
}

# The deadline's on-demand path: the spot fleet's boot contract on STANDARD VMs, a group of size 0.
module "on_demand_fleet" {
  source                = "./modules/on-demand-fleet"
  count                 = local.with_deadline ? 1 : 0
  project               = var.project
  region                = var.region
  zones                 = var.zones
  name                  = var.name
  machine_type          = var.machine_type
  gpu_type              = var.gpu_type
  gpu_count             = var.gpu_count
  image                 = var.image
  boot_disk_size_gb     = var.boot_disk_size_gb
  subnetwork_id         = module.network.subnetwork_id
  network_tag           = module.network.trainer_tag
  service_account_email = module.spot_fleet.service_account_email
  fleet_stop_role       = module.spot_fleet.fleet_stop_role
  health_port           = var.health_port
  initial_delay_sec     = var.initial_delay_sec
  target_shape          = var.target_shape
  run_id                = var.run_id
  store_url             = local.store_url
  build_url             = var.build_url
  build_id              = var.build_id
  build_sha256          = var.build_sha256
  command               = var.command
  workdir_url           = var.workdir_url
  workdir_sha256        = var.workdir_sha256
  coordinator           = local.coordinator
  min_nodes             = local.min_nodes
  max_nodes             = local.max_nodes
  trainer_config        = local.trainer_config
  crash_loop_boots      = var.crash_loop_boots
  labels                = local.labels
}

# Where the deadline controller runs on GCP: a small on-demand VM in a size-1 self-healing group.
module "deadline_controller" {
  source            = "./modules/deadline-controller"
  count             = local.with_deadline ? 1 : 0
  project           = var.project
  region            = var.region
  zones             = var.zones
  name              = var.name
  spot_mig          = module.spot_fleet.mig_name
  on_demand_mig     = module.on_demand_fleet[0].mig_name
  bucket_name       = module.checkpoint_bucket.name
  run_id            = var.run_id
  controller_config = var.deadline_config
  subnetwork_id     = module.network.subnetwork_id
  network_tag       = module.network.trainer_tag
  health_port       = var.health_port
  build_url         = var.build_url
  build_id          = var.build_id
  build_sha256      = var.build_sha256
  labels            = local.labels
}

# A job under torchrun: the rendezvous on an on-demand VM that no preemption takes away.
module "coordinator" {
  source            = "./modules/coordinator"
  count             = local.distributed ? 1 : 0
  project           = var.project
  region            = var.region
  zone              = var.zones[0]
  name              = var.name
  subnetwork_id     = module.network.subnetwork_id
  subnet_cidr       = var.subnet_cidr
  network_tag       = module.network.coordinator_tag
  port              = module.network.rendezvous_port
  bucket_name       = module.checkpoint_bucket.name
  run_id            = var.run_id
  build_url         = var.build_url
  build_id          = var.build_id
  build_sha256      = var.build_sha256
  torch_requirement = local.torch_requirement
  labels            = local.labels
}
