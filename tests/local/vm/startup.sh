#!/usr/bin/env bash
# A stand-in guest for controller tests: the boot contract's environment, a trainer-like
# process that serves /healthz and exits 75 on SIGTERM. The end-to-end tests boot the real
# startup-scripts/startup.sh instead.
exec "$SPOTSHIELD_PYTHON" "$(dirname "$0")/workload.py"
