#!/usr/bin/env bash
# SpotShield deadline controller boot script: the VM of terraform/modules/deadline-controller.
#
# 1. reads its configuration from the metadata server (spotshield/bootcontract.py CONTROLLER_METADATA);
# 2. installs the build that `spotshield up` published into a virtualenv, unless that build is
#    installed already (the download is checked against the build id's sha256 prefix and, when
#    set, the pinned spotshield-build-sha256);
# 3. runs `python -m spotshield.deadline.service` as the systemd unit spotshield-deadline with
#    Restart=on-failure (a crash is restarted; exit 0 means the work is done and the groups are
#    empty, and the controller has resized its own group to 0). Without systemd it runs in front.
#
# Steps 2 and 3 are install-build.sh's (shared with coordinator.sh), which Terraform puts in front of
# this file; run by hand, this file sources it. Terraform renders both with templatefile(): they must
# hold no dollar-brace or percent-brace sequence.
set -o pipefail

if ! declare -F install_build >/dev/null; then
  # shellcheck source-path=SCRIPTDIR source=install-build.sh
  . "$(dirname "$0")/install-build.sh" || {
    echo "spotshield-controller: error: cannot read install-build.sh next to $0" >&2
    exit 1
  }
fi
ss_init spotshield-controller /opt/spotshield-controller
UNIT=spotshield-deadline

if unit_running "$UNIT"; then
  log "unit $UNIT is already running; nothing to do"
  exit 0
fi

CONFIG=$(attr spotshield-deadline-config) || die "metadata has no spotshield-deadline-config"
printf '%s\n' "$CONFIG" >"$SS_HOME/config.json" || die "cannot write $SS_HOME/config.json"
ensure_venv
install_build "$(attr spotshield-build-url)" "$(attr spotshield-build-id)" "$(attr spotshield-build-sha256)"
run_service "$UNIT" on-failure "$VENV/bin/python" -m spotshield.deadline.service --config "$SS_HOME/config.json"
