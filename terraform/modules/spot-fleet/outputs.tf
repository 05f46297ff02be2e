output "mig_name" {
  description = "Name of the regional managed instance group."
  value       = google_compute_region_instance_group_manager.fleet.name
}

output "mig_region" {
  description = "Region of the managed instance group."
  value       = google_compute_region_instance_group_manager.fleet.region
}

output "service_account_email" {
  description = "Email of the trainer VMs' service account."
  value       = google_service_account.trainer.email
}

output "instance_template" {
  description = "Self link of the current instance template."
  value       = google_compute_instance_template.trainer.self_link_unique
}

output "health_check_id" {
  description = "Id of the /healthz health check used for auto-healing."
  value       = google_compute_health_check.trainer.id
}

output "run_metadata" {
  description = "The spotshield-* metadata attributes every VM boots with (docs/boot-contract.md)."
  value       = { for k, v in google_compute_instance_template.trainer.metadata : k => v if startswith(k, "spotshield-") }
}

output "fleet_stop_role" {
  description = "The one-permission custom role (resize) that VMs get on their own group only; the deadline's on-demand group binds it too."
  value       = google_project_iam_custom_role.fleet_stop.name
}

output "placement_policy" {
  description = "Name of the compact placement policy on the template (null without compact_placement)."
  value       = one(google_compute_resource_policy.compact[*].name)
}
