variable "project" {
  type        = string
  description = "GCP project id."
}

variable "run_id" {
  type        = string
  description = "Run id."
  default     = "ddp-l4x4-demo"
}

variable "command" {
  type        = string
  description = "The command every rank runs, torchrun-compatible (python train.py ..., docs/distributed.md)."
  default     = "python train.py"
}

variable "workdir_url" {
  type        = string
  description = "gs://<bucket>/workdirs/<digest>.tar.gz: the workdir `spotshield up --command` packed and published."
}

variable "workdir_sha256" {
  type        = string
  description = "That archive's full sha256."
}

variable "build_url" {
  type        = string
  description = "gs://<bucket>/builds/<archive>: the published SpotShield build (the coordinator VM installs it too)."
}

variable "build_id" {
  type        = string
  description = "Id of that build as python -m spotshield.buildinfo prints it."
}
