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

output "nat_name" {
  description = "Name of the Cloud NAT that gives the VMs outbound access to PyPI."
  value       = google_compute_router_nat.this.name
}
