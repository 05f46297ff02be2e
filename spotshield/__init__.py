"""SpotShield: safe, measurable training on Google Cloud Spot VMs."""

__version__ = "0.1.0"
