variable "project" {
  type        = string
  description = "GCP project id."
}

variable "region" {
  type        = string
  description = "Region of the on-demand group (the spot group's)."
}

variable "zones" {
  type        = list(string)
  description = "Zones the group may place VMs in (the spot group's)."
  validation {
    condition     = length(var.zones) > 0 && alltrue([for z in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", z))])
    error_message = "zones must be a non-empty list like [\"us-central1-a\"]."
  }
}

variable "name" {
  type        = string
  description = "Stack name: the group is <name>-od-mig, its VMs <name>-od-xxxx (status bills them at the on-demand price)."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type: the spot fleet's, so the job runs at the same speed on either."
}

variable "gpu_type" {
  type        = string
  description = "Accelerator type (nvidia-l4, ...); null or empty for none."
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

variable "image" {
  type        = string
  description = "Boot image or family (the spot fleet's Deep Learning VM image)."
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

variable "service_account_email" {
  type        = string
  description = "The spot fleet's service account: the same bucket, log and build grants."
}

variable "fleet_stop_role" {
  type        = string
  description = "The spot fleet's one-permission custom role (resize), bound here to this group only."
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
  description = "Seconds auto-healing waits after a VM starts."
  default     = 900
  validation {
    condition     = var.initial_delay_sec >= 0 && var.initial_delay_sec <= 3600
    error_message = "initial_delay_sec must be between 0 and 3600."
  }
}

variable "target_shape" {
  type        = string
  description = "distribution_policy_target_shape: ANY, ANY_SINGLE_ZONE, BALANCED or EVEN."
  default     = "ANY"
  validation {
    condition     = contains(["ANY", "ANY_SINGLE_ZONE", "BALANCED", "EVEN"], var.target_shape)
    error_message = "target_shape must be ANY, ANY_SINGLE_ZONE, BALANCED or EVEN."
  }
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
  description = "The run's store, the spot fleet's (metadata spotshield-store)."
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the build `up` published (metadata spotshield-build-url)."
  default     = ""
}

variable "build_id" {
  type        = string
  description = "Id of that build (metadata spotshield-build-id)."
  default     = ""
}

variable "build_sha256" {
  type        = string
  description = "sha256 of the build archive (metadata spotshield-build-sha256)."
  default     = ""
}

variable "trainer_config" {
  type        = string
  description = "Merged trainer config as a JSON object string, the spot fleet's (metadata spotshield-config)."
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
  description = "The crash-loop breaker's K (metadata spotshield-crash-loop-boots)."
  default     = 3
  validation {
    condition     = var.crash_loop_boots >= 1 && var.crash_loop_boots <= 100 && floor(var.crash_loop_boots) == var.crash_loop_boots
    error_message = "crash_loop_boots must be a whole number from 1 to 100."
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
