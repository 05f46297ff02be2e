variable "project" {
  type        = string
  description = "GCP project id that owns the network."
}

variable "region" {
  type        = string
  description = "Region of the subnet, router and NAT (e.g. us-central1)."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "name" {
  type        = string
  description = "Prefix of every resource name."
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$", var.name))
    error_message = "name must be lowercase letters, digits and '-', at most 32 characters, starting with a letter."
  }
}

variable "subnet_cidr" {
  type        = string
  description = "Primary IPv4 range of the trainer subnet."
  default     = "10.64.0.0/20"
  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be an IPv4 CIDR such as 10.64.0.0/20."
  }
}

variable "health_port" {
  type        = number
  description = "TCP port of the trainer's /healthz, opened to Google's health-check ranges only."
  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535 && floor(var.health_port) == var.health_port
    error_message = "health_port must be an integer between 1 and 65535."
  }
}

variable "rendezvous_port" {
  type        = number
  description = "A job under torchrun: the coordinator's rendezvous port, opened to the trainers, and all TCP between the trainers (both internal only); null = no such job, no such rules."
  default     = null
  validation {
    condition     = var.rendezvous_port == null || try(var.rendezvous_port >= 1 && var.rendezvous_port <= 65535 && floor(var.rendezvous_port) == var.rendezvous_port, false)
    error_message = "rendezvous_port must be null or an integer between 1 and 65535."
  }
}
