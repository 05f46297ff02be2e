output "network_id" {
  description = "Id of the VPC."
  value       = google_compute_network.this.id
}

output "subnetwork_id" {
  description = "Id of the trainer subnet (Private Google Access on, no external IPs needed)."
  value       = google_compute_subnetwork.this.id
}

output "trainer_tag" {
  description = "Network tag the firewall rules target; put it on every trainer VM."
  value       = local.trainer_tag
}

output "coordinator_tag" {
  description = "Network tag of the rendezvous coordinator VM (modules/coordinator)."
  value       = local.coordinator_tag
}

output "rendezvous_port" {
  description = "The port the rendezvous rule opens to the trainers (null: no job under torchrun)."
  value       = var.rendezvous_port
}

output "nat_name" {
  description = "Name of the Cloud NAT that gives the VMs outbound access to PyPI."
  value       = google_compute_router_nat.this.name
}
