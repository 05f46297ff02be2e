variable "project" {
  type        = string
  description = "GCP project id."
}

variable "region" {
  type        = string
  description = "Region of the stack (the subnet's, so the reserved address's)."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "zone" {
  type        = string
  description = "Zone of the coordinator VM, one of the region's (the stack passes its first zone)."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must look like us-central1-a."
  }
}

variable "name" {
  type        = string
  description = "Stack name: the VM is <name>-rdzv, its address <name>-rdzv-ip."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "subnetwork_id" {
  type        = string
  description = "Subnet of the VM and its reserved address (from the network module)."
}

variable "subnet_cidr" {
  type        = string
  description = "The subnet's primary range: the coordinator takes its highest usable address."
  validation {
    condition     = can(cidrhost(var.subnet_cidr, -3)) && try(tonumber(split("/", var.subnet_cidr)[1]) <= 29, false)
    error_message = "subnet_cidr must be an IPv4 CIDR of at least 8 addresses (/29 or larger), such as 10.64.0.0/20."
  }
}

variable "network_tag" {
  type        = string
  description = "Network tag of the VM: the firewall rule that admits the trainers to the rendezvous port targets it (the network module's coordinator_tag)."
}

variable "port" {
  type        = number
  description = "TCP port of the rendezvous store (torchrun's default is 29400)."
  default     = 29400
  validation {
    condition     = var.port >= 1 && var.port <= 65535 && floor(var.port) == var.port
    error_message = "port must be an integer between 1 and 65535."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of the coordinator VM: it serves a small key-value store, so a shared-core one is enough."
  default     = "e2-small"
}

variable "image" {
  type        = string
  description = "Boot image of the coordinator VM (python3; no accelerator drivers needed)."
  default     = "projects/debian-cloud/global/images/family/debian-12"
}

variable "boot_disk_size_gb" {
  type        = number
  description = "Boot disk size in GB (Debian, CPU torch and the build take about 3)."
  default     = 20
  validation {
    condition     = var.boot_disk_size_gb >= 10
    error_message = "boot_disk_size_gb must be at least 10."
  }
}

variable "bucket_name" {
  type        = string
  description = "Checkpoint bucket: the coordinator may read its builds/ prefix and the run's DONE, nothing else."
}

variable "run_id" {
  type        = string
  description = "Run id: the coordinator stops, and its VM powers off, once gs://<bucket>/runs/<run_id>/DONE exists (the one object of the run it may read)."
  validation {
    condition     = can(regex("^[A-Za-z0-9][-_.A-Za-z0-9]{0,127}$", var.run_id))
    error_message = "run_id must be 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit."
  }
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the build `up` published (under builds/ of the bucket): the coordinator runs spotshield.distributed.coordinator from it."
  validation {
    condition     = var.build_url == "" || can(regex("^gs://[^/]+/builds/.+$", var.build_url))
    error_message = "build_url must be gs://<bucket>/builds/<archive>: the coordinator may read builds/ only."
  }
}

variable "build_id" {
  type        = string
  description = "Id of that build (a new one re-creates the VM, which installs it)."
}

variable "build_sha256" {
  type        = string
  description = "sha256 of the build archive; when set, a download that differs is refused."
  default     = ""
}

variable "torch_requirement" {
  type        = string
  description = "pip requirement of the trainers' torch, installed on the coordinator as CPU wheels: the store and its clients then speak the same protocol version (torch promises no compatibility across releases)."
  default     = "torch"
  validation {
    condition     = can(regex("^torch([=<>!~]=?[0-9][0-9.*]*)?$", var.torch_requirement))
    error_message = "torch_requirement must be torch or a version pin such as torch==2.7.*."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on the coordinator VM and its disk."
  default     = {}
}
