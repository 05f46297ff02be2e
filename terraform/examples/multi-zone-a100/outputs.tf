output "store_url" {
  description = "Store URL of the run."
  value       = module.spotshield.store_url
}

output "mig_name" {
  description = "Managed instance group name."
  value       = module.spotshield.mig_name
}

output "service_account_email" {
  description = "Trainer service account."
  value       = module.spotshield.service_account_email
}
