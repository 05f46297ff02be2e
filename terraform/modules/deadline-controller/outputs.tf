output "mig_name" {
  description = "The controller's group (size 1; it resizes itself to 0 once the work is done)."
  value       = google_compute_region_instance_group_manager.controller.name
}

output "service_account_email" {
  description = "The controller's service account."
  value       = google_service_account.controller.email
}

output "service_config" {
  description = "What the controller VM reads as metadata spotshield-deadline-config."
  value       = local.service_config
}
