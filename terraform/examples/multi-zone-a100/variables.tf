variable "project" {
  type        = string
  description = "GCP project id."
}

variable "run_id" {
  type        = string
  description = "Run id."
  default     = "adaptive-a100-demo"
}

variable "build_url" {
  type        = string
  description = "gs:// URL of the published SpotShield build (empty: the one on the image)."
  default     = ""
}

variable "build_id" {
  type        = string
  description = "Id of that build as python -m spotshield.buildinfo prints it."
  default     = ""
}
