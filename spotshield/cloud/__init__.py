"""The gcp backend: Terraform for the fleet, Google's Compute client to watch it."""
