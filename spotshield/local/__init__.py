"""The local emulator: one GCP region on loopback (see docs/emulator.md). Imports nothing from the
status view; the local Backend (spotshield/backends/local.py) drives it for the CLI.

emulator.Region / local_region   everything below in one process (tests, the study)
daemon                           a Region in the background, state in .spotshield/local/
compute/                         Compute Engine v1 stand-in (models: the groups' own work too;
                                 responses: the router; exceptions; server)
control                          the emulator's own API (/spotshield/v1/...), on the same router
fleet                            the controller loop: MIG and GCE behaviour on the emulated clock
hypervisor                       the VMs' process groups: boot, shutdown, kill, crash registry
metadata                         per-VM metadata server      injector    preemption patterns
cost                             the cost meter (spotshield/billing.py prices)
region_args                      the region's arguments, checked once
procs                            pids, process groups, ports  clock      the emulated clock
gcs                              fake-gcs-server launcher     guest      the VMs' own python
testing                          pytest fixture and helpers
"""
