output "bucket_name" {
  description = "Checkpoint bucket name."
  value       = module.checkpoint_bucket.name
}

output "store_url" {
  description = "Store URL of this run (spotshield train --store, spotshield status)."
  value       = local.store_url
}

output "mig_name" {
  description = "Regional managed instance group name."
  value       = module.spot_fleet.mig_name
}

output "mig_region" {
  description = "Region of the managed instance group."
  value       = module.spot_fleet.mig_region
}

output "service_account_email" {
  description = "Service account of the trainer VMs."
  value       = module.spot_fleet.service_account_email
}

output "network_id" {
  description = "VPC of the fleet."
  value       = module.network.network_id
}

output "on_demand_mig_name" {
  description = "The deadline's on-demand group (null without a deadline)."
  value       = local.with_deadline ? module.on_demand_fleet[0].mig_name : null
}

output "deadline_controller_mig_name" {
  description = "The deadline controller's group (null without a deadline)."
  value       = local.with_deadline ? module.deadline_controller[0].mig_name : null
}

output "coordinator_endpoint" {
  description = "A job under torchrun: host:port of the rendezvous coordinator (null otherwise)."
  value       = local.distributed ? module.coordinator[0].endpoint : null
}
