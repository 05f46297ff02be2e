terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.7, < 9.0" # 8.7: scheduling.preemption_notice_duration
    }
  }
}
