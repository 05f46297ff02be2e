output "store_url" {
  description = "Store URL of the run."
  value       = module.spotshield.store_url
}

output "mig_name" {
  description = "Managed instance group name."
  value       = module.spotshield.mig_name
}

output "coordinator_endpoint" {
  description = "host:port of the rendezvous coordinator the torchrun agents dial."
  value       = module.spotshield.coordinator_endpoint
}
