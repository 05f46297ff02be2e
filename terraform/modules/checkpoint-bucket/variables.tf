variable "project" {
  type        = string
  description = "GCP project id that owns the bucket."
}

variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name for checkpoints, events and published builds."
  validation {
    condition     = can(regex("^[a-z0-9][-_.a-z0-9]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, '-', '_' and '.'."
  }
}

variable "location" {
  type        = string
  description = "Bucket location; the fleet's region keeps checkpoint traffic regional and free."
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days after which a noncurrent (overwritten or deleted) object version is deleted."
  default     = 7
  validation {
    condition     = var.noncurrent_version_days >= 1 && floor(var.noncurrent_version_days) == var.noncurrent_version_days
    error_message = "noncurrent_version_days must be a whole number of days >= 1."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy delete a bucket that still holds checkpoints. Keep false."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the bucket."
  default     = {}
}
