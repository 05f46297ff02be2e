output "mig_name" {
  description = "Name of the on-demand regional managed instance group (size 0 until the controller grows it)."
  value       = google_compute_region_instance_group_manager.on_demand.name
}

output "base_instance_name" {
  description = "Its VMs are <base_instance_name>-xxxx."
  value       = local.base_name
}

output "instance_template" {
  description = "Self link of the on-demand instance template."
  value       = google_compute_instance_template.on_demand.self_link_unique
}

output "run_metadata" {
  description = "The spotshield-* metadata attributes its VMs boot with (docs/boot-contract.md)."
  value       = { for k, v in google_compute_instance_template.on_demand.metadata : k => v if startswith(k, "spotshield-") }
}
