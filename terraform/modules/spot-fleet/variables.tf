variable "project" {
  type        = string
  description = "GCP project id."
}

variable "region" {
  type        = string
  description = "Region of the managed instance group."
}

variable "zones" {
  type        = list(string)
  description = "Zones the group may place VMs in (distribution_policy_zones)."
  validation {
    condition     = length(var.zones) > 0 && alltrue([for z in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", z))])
    error_message = "zones must be a non-empty list like [\"us-central1-a\"]."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource name: <name>-mig, <name>-sa, <name>-template-..."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of every VM (g2-standard-4 carries one L4; a2-highgpu-1g one A100)."
}

variable "gpu_type" {
  type        = string
  description = "Accelerator type (nvidia-l4, nvidia-tesla-a100, ...); null or empty for none."
  default     = null
  validation {
    condition     = var.gpu_type == null || can(regex("^(|nvidia-[-a-z0-9]+)$", var.gpu_type))
    error_message = "gpu_type must be null, empty or an nvidia-* accelerator type."
  }
}

variable "gpu_count" {
  type        = number
  description = "Accelerators per VM."
  default     = 1
  validation {
    condition     = contains([0, 1, 2, 4, 8, 16], var.gpu_count)
    error_message = "gpu_count must be 0, 1, 2, 4, 8 or 16."
  }
}

variable "fleet_size" {
  type        = number
  description = "Target size of the managed instance group (0 stops the fleet)."
  validation {
    condition     = var.fleet_size >= 0 && floor(var.fleet_size) == var.fleet_size
    error_message = "fleet_size must be a whole number >= 0."
  }
}

variable "image" {
  type        = string
  description = "Boot image or image family (a Deep Learning VM family: PyTorch and NVIDIA drivers preinstalled)."
}

variable "boot_disk_size_gb" {
  type        = number
  description = "Boot disk size in GB."
  default     = 200
  validation {
    condition     = var.boot_disk_size_gb >= 50
    error_message = "boot_disk_size_gb must be at least 50 (Deep Learning VM images need it)."
  }
}

variable "boot_disk_type" {
  type        = string
  description = "Boot disk type."
  default     = "pd-balanced"
  validation {
    condition     = contains(["pd-standard", "pd-balanced", "pd-ssd", "hyperdisk-balanced"], var.boot_disk_type)
    error_message = "boot_disk_type must be pd-standard, pd-balanced, pd-ssd or hyperdisk-balanced."
  }
}

variable "subnetwork_id" {
  type        = string
  description = "Subnet of the VMs (from the network module)."
}

variable "network_tag" {
  type        = string
  description = "Network tag the firewall rules target (from the network module)."
}

variable "bucket_name" {
  type        = string
  description = "Checkpoint bucket the VMs read and write (roles/storage.objectUser on it only)."
}

variable "termination_action" {
  type        = string
  description = "What GCE does to a preempted Spot VM: STOP or DELETE. Either way the group repairs it by recreating it from the template with a fresh boot disk; STOP only bills the stopped disk until then."
  default     = "STOP"
  validation {
    condition     = contains(["STOP", "DELETE"], var.termination_action)
    error_message = "termination_action must be STOP or DELETE."
  }
}

variable "provisioning_model" {
  type        = string
  description = "SPOT (the fleet) or STANDARD (the same VMs at the on-demand price, never preempted by GCE: a study's on-demand baseline). Preemptible, automatic restart, host maintenance, the termination action and the notice follow from it."
  default     = "SPOT"
  validation {
    condition     = contains(["SPOT", "STANDARD"], var.provisioning_model)
    error_message = "provisioning_model must be SPOT or STANDARD."
  }
}

variable "health_port" {
  type        = number
  description = "Port of the trainer's /healthz; the health check probes it."
  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535 && floor(var.health_port) == var.health_port
    error_message = "health_port must be an integer between 1 and 65535."
  }
}

variable "initial_delay_sec" {
  type        = number
  description = "Seconds auto-healing waits after a VM starts (driver load, build install, data download)."
  default     = 900
  validation {
    condition     = var.initial_delay_sec >= 0 && var.initial_delay_sec <= 3600
    error_message = "initial_delay_sec must be between 0 and 3600."
  }
}

variable "target_shape" {
  type        = string
  description = "distribution_policy_target_shape: ANY (most Spot GPU capacity), ANY_SINGLE_ZONE, BALANCED or EVEN."
  default     = "ANY"
  validation {
    condition     = contains(["ANY", "ANY_SINGLE_ZONE", "BALANCED", "EVEN"], var.target_shape)
    error_message = "target_shape must be ANY, ANY_SINGLE_ZONE, BALANCED or EVEN."
  }
}

variable "compact_placement" {
  type        = bool
  description = "Place the VMs close together in one zone (a compact placement policy; the group's target shape becomes ANY_SINGLE_ZONE). The root module checks the machine family supports it."
  default     = false
}

variable "enable_secure_boot" {
  type        = bool
  description = "Shielded VM Secure Boot; off by default because it refuses unsigned NVIDIA kernel modules."
  default     = false
}

variable "run_id" {
  type        = string
  description = "Run id (metadata spotshield-run-id)."
}

variable "store_url" {
  type        = string
  description = "Checkpoint store URL given to spotshield train --store (metadata spotshield-store)."
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the build `up` published (metadata spotshield-build-url); empty uses the image's."
  default     = ""
}

variable "build_id" {
  type        = string
  description = "Id of that build as spotshield.buildinfo prints it (metadata spotshield-build-id)."
  default     = ""
}

variable "build_sha256" {
  type        = string
  description = "sha256 of the build archive, checked by startup.sh when set (metadata spotshield-build-sha256)."
  default     = ""
}

variable "trainer_config" {
  type        = string
  description = "Merged trainer config as a JSON object string (metadata spotshield-config)."
  default     = "{}"
  validation {
    condition     = can(keys(jsondecode(var.trainer_config)))
    error_message = "trainer_config must be a JSON object string."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the template's VMs and disks."
  default     = {}
}

variable "crash_loop_boots" {
  type        = number
  description = "Failed boots in a row (trainer exit other than 0 and 75, no new checkpoint) after which startup.sh writes STOPPED and resizes the group to 0 (metadata spotshield-crash-loop-boots)."
  default     = 3
  validation {
    condition     = var.crash_loop_boots >= 1 && var.crash_loop_boots <= 100 && floor(var.crash_loop_boots) == var.crash_loop_boots
    error_message = "crash_loop_boots must be a whole number from 1 to 100."
  }
}

variable "preemption_notice_s" {
  type        = number
  description = "Seconds of preemption notice before the 30 s ACPI shutdown (scheduling.preemption_notice_duration, beta in the Compute API); 0 keeps GCE's default. The trainer's emergency deadline grows by as much."
  default     = 0
  validation {
    condition     = var.preemption_notice_s >= 0 && var.preemption_notice_s <= 600 && floor(var.preemption_notice_s) == var.preemption_notice_s
    error_message = "preemption_notice_s must be a whole number of seconds from 0 to 600."
  }
}

variable "apply_wait_minutes" {
  type        = number
  description = "How long apply waits for every member to run the current template (Spot capacity can be short)."
  default     = 30
  validation {
    condition     = var.apply_wait_minutes >= 5 && var.apply_wait_minutes <= 240 && floor(var.apply_wait_minutes) == var.apply_wait_minutes
    error_message = "apply_wait_minutes must be a whole number from 5 to 240."
  }
}

variable "command" {
  type        = string
  description = "Command mode: the user's command (metadata spotshield-command); \"\" = spotshield train."
  default     = ""
}

variable "workdir_url" {
  type        = string
  description = "Command mode: the packed workdir (metadata spotshield-workdir-url)."
  default     = ""
}

variable "workdir_sha256" {
  type        = string
  description = "Command mode: its sha256 (metadata spotshield-workdir-sha256)."
  default     = ""
}

variable "coordinator" {
  type        = string
  description = "A job under torchrun: host:port of the rendezvous coordinator (metadata spotshield-coordinator); \"\" = one process per VM."
  default     = ""
  validation {
    condition     = can(regex("^([a-z0-9.-]+:[0-9]{1,5})?$", var.coordinator))
    error_message = "coordinator must be empty or host:port."
  }
}

variable "min_nodes" {
  type        = number
  description = "With a coordinator: the fewest nodes the job trains on (metadata spotshield-min-nodes)."
  default     = 1
  validation {
    condition     = var.min_nodes >= 1 && floor(var.min_nodes) == var.min_nodes
    error_message = "min_nodes must be a whole number >= 1."
  }
}

variable "max_nodes" {
  type        = number
  description = "With a coordinator: the most nodes, the spot fleet's size (metadata spotshield-max-nodes)."
  default     = 1
  validation {
    condition     = var.max_nodes >= 1 && floor(var.max_nodes) == var.max_nodes
    error_message = "max_nodes must be a whole number >= 1."
  }
}
