resource "google_storage_bucket" "this" {
  #checkov:skip=CKV_GCP_62:Usage logs need a second bucket; Cloud Audit Logs (Data Access) record checkpoint access instead (docs/terraform.md).
  project                     = var.project
  name                        = var.bucket_name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Off: versioning already keeps every overwritten or deleted object as a noncurrent version for
  # noncurrent_version_days. The default soft delete (7 days) would bill each of those again,
  # after the lifecycle rule deletes it, for another week.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}
