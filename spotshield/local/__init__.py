"""The local emulator: one GCP region on loopback (see docs/emulator.md).

emulator.Region / local_region   everything below in one process (tests, the study)
daemon                           a Region in the background, state in .spotshield/local/
backend                          up / down / plan / endpoints / cost for the CLI
compute/                         Compute Engine v1 stand-in (models, responses, exceptions, server)
metadata                         per-VM metadata server      fleet      MIG + hypervisor (process groups)
injector                         preemption patterns         cost       spot vs on-demand meter (prices.csv)
clock                            the emulated clock          gcs        fake-gcs-server launcher
guest                            the VMs' own python         testing    pytest fixture and helpers
"""
