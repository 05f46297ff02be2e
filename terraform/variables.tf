# Every variable the CLI writes to spotshield.auto.tfvars.json is listed, with its type, in
# spotshield/validate/tfvars.py (TFVARS_SCHEMA); tests/terraform checks the two agree.

variable "project" {
  type        = string
  description = "GCP project id."
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a GCP project id: 6-30 lowercase letters, digits and '-'."
  }
}

variable "region" {
  type        = string
  description = "Region of the fleet, subnet, NAT and bucket."
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "zones" {
  type        = list(string)
  description = "Zones of the region the group may use; more zones, more Spot capacity."
  default     = ["us-central1-a", "us-central1-b", "us-central1-c"]
  validation {
    condition     = length(var.zones) > 0
    error_message = "zones must name at least one zone, e.g. [\"us-central1-a\"]."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource: <name>-mig, <name>-vpc, <name>-sa, ..."
  default     = "spotshield"
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of every VM."
  default     = "g2-standard-4"
}

variable "gpu_type" {
  type        = string
  description = "Accelerator type per VM (nvidia-l4, nvidia-tesla-a100, ...); null or empty for none."
  default     = "nvidia-l4"
}

variable "gpu_count" {
  type        = number
  description = "Accelerators per VM; a2, a3 and g2 machine types carry a fixed count (machines.tf)."
  default     = 1
  validation {
    condition     = var.gpu_count >= 0 && floor(var.gpu_count) == var.gpu_count
    error_message = "gpu_count must be a whole number >= 0."
  }
  validation {
    # try(): Terraform's || evaluates both sides, and a type outside the table (N1) has no .count
    condition = local.fixed_gpus == null || try(
      var.gpu_count == local.fixed_gpus.count && coalesce(var.gpu_type, "none") == local.fixed_gpus.gpu, false
    )
    error_message = "${var.machine_type} carries exactly ${try(local.fixed_gpus.count, 0)} x ${try(local.fixed_gpus.gpu, "")}, not ${var.gpu_count} x ${coalesce(var.gpu_type, "none")}: set gpu_type and gpu_count to match."
  }
}

variable "fleet_size" {
  type        = number
  description = "Target size of the managed instance group; 0 stops the VMs and keeps the stack. More than 1 is one job under torchrun across the VMs (docs/distributed.md): the command's, or the built-in spotshield train's."
  default     = 1
  validation {
    condition     = var.fleet_size >= 0 && floor(var.fleet_size) == var.fleet_size
    error_message = "fleet_size must be a whole number >= 0."
  }
}

variable "bucket_name" {
  type        = string
  description = "Checkpoint bucket; empty means <project>-<name>-ckpt."
  default     = ""
}

variable "run_id" {
  type        = string
  description = "Run id; the store is gs://<bucket>/runs/<run_id>."
  validation {
    condition     = can(regex("^[A-Za-z0-9][-_.A-Za-z0-9]{0,127}$", var.run_id))
    error_message = "run_id must be 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit."
  }
}

variable "strategy" {
  type        = string
  description = "Checkpoint strategy; merged into the trainer config's `strategy`."
  default     = "adaptive"
  validation {
    condition     = contains(["naive", "adaptive", "milestone", "none"], var.strategy)
    error_message = "strategy must be naive, adaptive, milestone or none."
  }
}

variable "termination_action" {
  type        = string
  description = "What GCE does to a preempted Spot VM: STOP or DELETE. The group repairs it either way by recreating it from the template (fresh boot disk); STOP only bills the stopped disk until then."
  default     = "STOP"
  validation {
    condition     = contains(["STOP", "DELETE"], var.termination_action)
    error_message = "termination_action must be STOP or DELETE."
  }
}

variable "provisioning_model" {
  type        = string
  description = "SPOT (default) or STANDARD: the same trainer VMs at the on-demand price, never preempted by GCE (a study's on-demand baseline, spotshield/analysis/grids/study-gcp.yaml)."
  default     = "SPOT"
  validation {
    condition     = contains(["SPOT", "STANDARD"], var.provisioning_model)
    error_message = "provisioning_model must be SPOT or STANDARD."
  }
}

variable "trainer_config" {
  type        = string
  description = "Merged trainer config as a JSON object string (spotshield.trainer.config keys)."
  default     = "{}"
  validation {
    condition     = can(keys(jsondecode(var.trainer_config)))
    error_message = "trainer_config must be a JSON object string, e.g. {\"model\": \"resnet18\"}."
  }
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the SpotShield build `up` published; empty uses the one on the image."
  default     = ""
  validation {
    condition     = var.build_url == "" || can(regex("^gs://[^/]+/.+$", var.build_url))
    error_message = "build_url must be empty or gs://bucket/object."
  }
}

variable "build_id" {
  type        = string
  description = "Id of that build as `python -m spotshield.buildinfo` prints it (e.g. 0.1.0+3f2a9c1d2e4b)."
  default     = ""
  validation {
    condition     = can(regex("^[-+._A-Za-z0-9]{0,128}$", var.build_id))
    error_message = "build_id must be at most 128 letters, digits, '-', '+', '.' or '_'."
  }
}

variable "build_sha256" {
  type        = string
  description = "sha256 of the build archive; when set, VMs refuse a download that does not match."
  default     = ""
  validation {
    condition     = can(regex("^([0-9a-f]{64})?$", var.build_sha256))
    error_message = "build_sha256 must be empty or 64 lowercase hex digits."
  }
}

variable "health_port" {
  type        = number
  description = "Port of the trainer's /healthz (the trainer's health_port, default 8080)."
  default     = 8080
  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535 && floor(var.health_port) == var.health_port
    error_message = "health_port must be an integer between 1 and 65535."
  }
}

variable "image" {
  type        = string
  description = "Boot image or family: a Deep Learning VM image with PyTorch and NVIDIA drivers."
  default     = "projects/deeplearning-platform-release/global/images/family/pytorch-2-7-cu128-ubuntu-2204-nvidia-570"
}

variable "boot_disk_size_gb" {
  type        = number
  description = "Boot disk size in GB."
  default     = 200
}

variable "subnet_cidr" {
  type        = string
  description = "IPv4 range of the trainer subnet."
  default     = "10.64.0.0/20"
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days before a noncurrent checkpoint object version is deleted."
  default     = 7
}

variable "force_destroy" {
  type        = bool
  description = "Let destroy delete a non-empty bucket (checkpoints!). Keep false."
  default     = false
}

variable "target_shape" {
  type        = string
  description = "MIG distribution_policy_target_shape: ANY, ANY_SINGLE_ZONE, BALANCED or EVEN."
  default     = "ANY"
}

variable "initial_delay_sec" {
  type        = number
  description = "Auto-healing grace after boot (driver, build install, data download)."
  default     = 900
}

variable "labels" {
  type        = map(string)
  description = "Labels on the bucket, VMs and disks."
  default     = {}
}

variable "crash_loop_boots" {
  type        = number
  description = "The crash-loop breaker: after this many failed boots in a row without a new checkpoint, startup.sh writes STOPPED and resizes the group to 0."
  default     = 3
  validation {
    condition     = var.crash_loop_boots >= 1 && var.crash_loop_boots <= 100 && floor(var.crash_loop_boots) == var.crash_loop_boots
    error_message = "crash_loop_boots must be a whole number from 1 to 100."
  }
}

variable "preemption_notice_s" {
  type        = number
  description = "Extra preemption notice in seconds before the 30 s ACPI shutdown (beta in the Compute API; docs/terraform.md). 0 keeps GCE's default; otherwise the trainer's emergency deadline becomes this + 25 s."
  default     = 0
  validation {
    condition     = var.preemption_notice_s >= 0 && var.preemption_notice_s <= 600 && floor(var.preemption_notice_s) == var.preemption_notice_s
    error_message = "preemption_notice_s must be a whole number of seconds from 0 to 600."
  }
}

variable "deadline_config" {
  type        = string
  description = "The deadline controller's configuration as a JSON object string (spotshield up --deadline writes it); empty: no deadline, no on-demand group, no controller."
  default     = ""
  validation {
    condition     = var.deadline_config == "" || can(keys(jsondecode(var.deadline_config)))
    error_message = "deadline_config must be empty or a JSON object string."
  }
}

variable "command" {
  type        = string
  description = "Command mode (up --command): the user's command, run in the shipped workdir instead of spotshield train; \"\" = the built-in trainer."
  default     = ""
  validation {
    condition     = length(var.command) <= 4096 && !can(regex("[\\n\\r]", var.command))
    error_message = "command must be one line of at most 4096 characters."
  }
}

variable "workdir_url" {
  type        = string
  description = "Command mode: gs:// URL of the packed workdir (spotshield/workdir.py); set with command."
  default     = ""
  validation {
    condition     = can(regex("^(gs://[^/]+/workdirs/[0-9a-f]+\\.tar\\.gz)?$", var.workdir_url))
    error_message = "workdir_url must be empty or gs://<bucket>/workdirs/<hex digest>.tar.gz."
  }
}

variable "workdir_sha256" {
  type        = string
  description = "Command mode: the workdir archive's full sha256; VMs refuse a download that does not match."
  default     = ""
  validation {
    condition     = can(regex("^([0-9a-f]{64})?$", var.workdir_sha256))
    error_message = "workdir_sha256 must be empty or 64 lowercase hex digits."
  }
}

variable "min_nodes" {
  type        = number
  description = "A job under torchrun: the fewest nodes it trains on (torchrun --nnodes=MIN:fleet_size); null = fleet_size, a world size that never changes, so a resume is bit-identical."
  default     = null
  validation {
    condition     = var.min_nodes == null || (try(var.min_nodes >= 1 && floor(var.min_nodes) == var.min_nodes, false) && (var.fleet_size == 0 || try(var.min_nodes <= var.fleet_size, false)))
    error_message = "min_nodes must be a whole number from 1 to fleet_size."
  }
}

variable "compact_placement" {
  type        = bool
  description = "A job on several VMs: place the Spot VMs close together in one zone (compact placement policy; the group's target shape becomes ANY_SINGLE_ZONE). Fewer zones, less Spot capacity."
  default     = false
  validation {
    condition     = !var.compact_placement || contains(local.compact_families, local.machine_family)
    error_message = "compact_placement needs a machine family that takes a compact placement policy (${join(", ", local.compact_families)}), not ${var.machine_type}."
  }
  validation {
    condition     = !var.compact_placement || contains(["ANY", "ANY_SINGLE_ZONE"], var.target_shape)
    error_message = "compact_placement puts every VM in one zone (target shape ANY_SINGLE_ZONE): target_shape must be ANY or ANY_SINGLE_ZONE, not ${var.target_shape}."
  }
}
