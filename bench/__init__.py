"""SpotShield's own speed: checkpoint stall, recovery time, goodput. Run `python -m bench`."""
