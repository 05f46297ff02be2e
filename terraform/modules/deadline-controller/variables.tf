variable "project" {
  type        = string
  description = "GCP project id."
}

variable "region" {
  type        = string
  description = "Region of the stack's groups."
}

variable "zones" {
  type        = list(string)
  description = "Zones the controller's group may use (the stack's)."
  validation {
    condition     = length(var.zones) > 0 && alltrue([for z in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", z))])
    error_message = "zones must be a non-empty list like [\"us-central1-a\"]."
  }
}

variable "name" {
  type        = string
  description = "Stack name: the controller's group is <name>-dl-mig."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "spot_mig" {
  type        = string
  description = "The spot group the controller resizes (from the spot-fleet module)."
}

variable "on_demand_mig" {
  type        = string
  description = "The on-demand group the controller resizes (from the on-demand-fleet module)."
}

variable "bucket_name" {
  type        = string
  description = "Checkpoint bucket: the controller reads the run's events there and writes runs/<run_id>/deadline.json."
}

variable "run_id" {
  type        = string
  description = "Run id: the one deadline.json the controller may write is under runs/<run_id>/."
}

variable "controller_config" {
  type        = string
  description = "The controller's configuration as a JSON object string (spotshield.deadline.service.ServiceConfig, written by the CLI)."
  validation {
    condition     = can(keys(jsondecode(var.controller_config)))
    error_message = "controller_config must be a JSON object string."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of the controller VM; it ticks once a minute, so a shared-core one is enough."
  default     = "e2-small"
}

variable "image" {
  type        = string
  description = "Boot image of the controller VM (python3; no accelerator drivers needed)."
  default     = "projects/debian-cloud/global/images/family/debian-12"
}

variable "boot_disk_size_gb" {
  type        = number
  description = "Boot disk size in GB."
  default     = 20
  validation {
    condition     = var.boot_disk_size_gb >= 10
    error_message = "boot_disk_size_gb must be at least 10."
  }
}

variable "subnetwork_id" {
  type        = string
  description = "Subnet of the VM (from the network module)."
}

variable "network_tag" {
  type        = string
  description = "Network tag the firewall rules target (health checks reach /healthz through it)."
}

variable "health_port" {
  type        = number
  description = "Port of the controller's /healthz (the trainers' port: the same firewall rule admits the probes)."
  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535 && floor(var.health_port) == var.health_port
    error_message = "health_port must be an integer between 1 and 65535."
  }
}

variable "initial_delay_sec" {
  type        = number
  description = "Seconds auto-healing waits after the VM starts (apt and pip install the build)."
  default     = 600
  validation {
    condition     = var.initial_delay_sec >= 0 && var.initial_delay_sec <= 3600
    error_message = "initial_delay_sec must be between 0 and 3600."
  }
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the build `up` published: the controller runs the same SpotShield."
  default     = ""
}

variable "build_id" {
  type        = string
  description = "Id of that build."
  default     = ""
}

variable "build_sha256" {
  type        = string
  description = "sha256 of the build archive; when set, a download that differs is refused."
  default     = ""
}

variable "labels" {
  type        = map(string)
  description = "Labels on the controller VM and its disk."
  default     = {}
}
