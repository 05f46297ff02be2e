#!/usr/bin/env bash
# SpotShield rendezvous coordinator boot script: the VM of terraform/modules/coordinator.
#
# 1. reads its configuration from the metadata server (spotshield/bootcontract.py COORDINATOR_METADATA);
# 2. installs torch (CPU wheels, the trainers' version: spotshield-torch-requirement) and the build
#    that `spotshield up` published into a virtualenv, unless they are installed already (the
#    build's download is checked against the build id's sha256 prefix and the optional pin);
# 3. runs `python -m spotshield.distributed.coordinator --host 0.0.0.0 --port <port> --store <store>`,
#    the TCPStore of the job's c10d rendezvous (docs/distributed.md), as the systemd unit
#    spotshield-coordinator with Restart=on-failure: it holds no durable state, so a restart only
#    makes the agents rendezvous again. Without systemd it runs in front.
# 4. powers the VM off once the coordinator has exited 0 by itself: it does when the run's store
#    (spotshield-store) holds DONE, so the VM stops billing then, not at `make teardown`. A stop of the
#    unit (systemctl stop, the VM's own shutdown) is passed on to the coordinator and powers nothing off.
#
# Steps 2 and 3 are install-build.sh's (shared with controller.sh), which Terraform puts in front of
# this file; run by hand, this file sources it. Terraform renders both with templatefile(): they must
# hold no dollar-brace or percent-brace sequence.
set -o pipefail

if ! declare -F install_build >/dev/null; then
  # shellcheck source-path=SCRIPTDIR source=install-build.sh
  . "$(dirname "$0")/install-build.sh" || {
    echo "spotshield-coordinator: error: cannot read install-build.sh next to $0" >&2
    exit 1
  }
fi
ss_init spotshield-coordinator /opt/spotshield-coordinator
UNIT=spotshield-coordinator
# CPU-only wheels: the coordinator needs torch's TCPStore, not CUDA (a tenth of the download).
TORCH_INDEX=$(env_or SPOTSHIELD_TORCH_INDEX https://download.pytorch.org/whl/cpu)
# How the VM powers itself off (a test passes a stand-in); run as root by the unit.
POWEROFF=$(env_or SPOTSHIELD_POWEROFF "systemctl poweroff")

if unit_running "$UNIT"; then
  log "unit $UNIT is already running; nothing to do"
  exit 0
fi

PORT=$(attr spotshield-coordinator-port) || die "metadata has no spotshield-coordinator-port"
case "$PORT" in '' | *[!0-9]*) die "spotshield-coordinator-port must be a TCP port number, not '$PORT'" ;; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "spotshield-coordinator-port must be 1-65535, not $PORT"; fi
BUILD_ID=$(attr spotshield-build-id)
[ -n "$BUILD_ID" ] || die "metadata has no spotshield-build-id: the coordinator runs the build that up published"
TORCH=$(attr spotshield-torch-requirement)
[ -n "$TORCH" ] || TORCH=torch
STORE=$(attr spotshield-store)
case "$STORE" in
  gs://?*/?* | file:///?*) ;;
  '') die "metadata has no spotshield-store: the coordinator stops when the run's DONE is there" ;;
  *) die "spotshield-store must be gs://<bucket>/runs/<run-id>, not '$STORE'" ;;
esac

ensure_venv
# A new requirement or build replaces the VM (terraform/modules/coordinator): an importable torch is the asked one.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  log "installing $TORCH from $TORCH_INDEX"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --index-url "$TORCH_INDEX" "$TORCH" >&2 ||
    die "pip install of $TORCH from $TORCH_INDEX failed"
fi
install_build "$(attr spotshield-build-url)" "$BUILD_ID" "$(attr spotshield-build-sha256)"
# The unit's command, a file beside the virtualenv (its log line stays readable):
#   then-power-off.sh POWEROFF CMD...
# runs CMD (the coordinator) in the background, passes a SIGTERM or SIGINT on to it (then exit 143,
# no power-off), passes its failure up (Restart=on-failure starts it again), and after its clean
# exit runs POWEROFF (word-split on purpose: "systemctl poweroff").
cat >"$SS_HOME/then-power-off.sh" <<'EOS' || die "cannot write $SS_HOME/then-power-off.sh"
poweroff=$1
shift
"$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT
wait "$pid" || exit
echo "spotshield-coordinator: the coordinator exited cleanly (the run is done); powering the VM off" >&2
exec $poweroff
EOS
run_service "$UNIT" on-failure /bin/bash "$SS_HOME/then-power-off.sh" "$POWEROFF" \
  "$VENV/bin/python" -m spotshield.distributed.coordinator --host 0.0.0.0 --port "$PORT" --store "$STORE"
