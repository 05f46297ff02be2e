output "endpoint" {
  description = "host:port the trainers' torchrun agents rendezvous at (their metadata spotshield-coordinator)."
  value       = local.endpoint
}

output "address" {
  description = "The coordinator's static internal address."
  value       = google_compute_address.coordinator.address
}

output "instance_name" {
  description = "The coordinator VM."
  value       = google_compute_instance.coordinator.name
}

output "service_account_email" {
  description = "The coordinator's service account."
  value       = google_service_account.coordinator.email
}

output "boot_metadata" {
  description = "The spotshield-* metadata attributes the coordinator VM boots with (bootcontract.COORDINATOR_METADATA)."
  value       = { for k, v in google_compute_instance.coordinator.metadata : k => v if startswith(k, "spotshield-") }
}
