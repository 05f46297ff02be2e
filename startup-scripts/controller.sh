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
# Every address comes from an environment variable whose default is GCP's. Terraform renders this
# file with templatefile(): it must hold no dollar-brace or percent-brace sequence.
# SC2001: sed instead of parameter expansion, because expansions need braces (see above).
# shellcheck disable=SC2001
set -o pipefail

log() { echo "spotshield-controller: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

MD_HOST=$(env_or GCE_METADATA_HOST metadata.google.internal)
MD_URL="http://$MD_HOST/computeMetadata/v1"
STORAGE_URL=$(env_or STORAGE_EMULATOR_HOST https://storage.googleapis.com)
SS_HOME=$(env_or SPOTSHIELD_HOME /opt/spotshield-controller)
VENV="$SS_HOME/venv"
UNIT=spotshield-deadline
HTTP_CODE=$(printf '%s{http_code}' '%')

md() {
  curl -sSf --retry 5 --retry-connrefused --retry-delay 1 --max-time 10 \
    -H "Metadata-Flavor: Google" "$MD_URL/$1" 2>/dev/null
}
attr() { md "instance/attributes/$1"; }
token() {
  md "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}
urlenc() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/../%&/g'; }

mkdir -p "$SS_HOME" || die "cannot create $SS_HOME"
cd "$SS_HOME" || die "cannot enter $SS_HOME"

if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$UNIT" 2>/dev/null; then
  log "unit $UNIT is already running; nothing to do"
  exit 0
fi

CONFIG=$(attr spotshield-deadline-config) || die "metadata has no spotshield-deadline-config"
printf '%s\n' "$CONFIG" >"$SS_HOME/config.json" || die "cannot write $SS_HOME/config.json"
BUILD_URL=$(attr spotshield-build-url)
BUILD_ID=$(attr spotshield-build-id)
PIN=$(attr spotshield-build-sha256 | tr 'A-F' 'a-f')

if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    log "installing python3-venv"
    if ! { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2; }; then
      die "cannot install python3-venv"
    fi
    python3 -m venv "$VENV" || die "cannot create the virtualenv $VENV"
  fi
fi
installed() { "$VENV/bin/python" -m spotshield.buildinfo 2>/dev/null | tail -n 1; }

if [ -n "$BUILD_ID" ] && [ "$(installed)" != "$BUILD_ID" ]; then
  bucket=$(echo "$BUILD_URL" | sed -n 's#^gs://\([^/]*\)/.*$#\1#p')
  obj=$(echo "$BUILD_URL" | sed -n 's#^gs://[^/]*/\(.*\)$#\1#p')
  if [ -z "$bucket" ] || [ -z "$obj" ]; then die "spotshield-build-url must be gs://bucket/object, not '$BUILD_URL'"; fi
  file="$SS_HOME/$(basename "$obj")"
  log "downloading $BUILD_URL"
  code=$(curl -sS -o "$file.part" -w "$HTTP_CODE" --retry 5 --retry-connrefused --max-time 600 \
    -H "Authorization: Bearer $(token)" "$STORAGE_URL/storage/v1/b/$bucket/o/$(urlenc "$obj")?alt=media")
  [ "$code" = 200 ] || die "download of $BUILD_URL failed: HTTP $code"
  digest=$(sha256sum "$file.part" | cut -d' ' -f1)
  prefix=$(echo "$BUILD_ID" | sed -n 's/^.*+\([0-9a-f]\{8,64\}\)$/\1/p')
  case "$digest" in "$prefix"*) ;; *) die "download of $BUILD_URL does not match build id $BUILD_ID" ;; esac
  if [ -n "$PIN" ] && [ "$digest" != "$PIN" ]; then die "download of $BUILD_URL does not match the pinned sha256"; fi
  mv -f "$file.part" "$file"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$file" >&2 || die "pip install of $file failed"
  [ "$(installed)" = "$BUILD_ID" ] || die "installed $file does not report build $BUILD_ID"
  log "installed build $BUILD_ID"
fi

set -- "$VENV/bin/python" -m spotshield.deadline.service --config "$SS_HOME/config.json"
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  log "starting unit $UNIT: $*"
  systemd-run --unit="$UNIT" --collect --quiet --working-directory="$SS_HOME" -p Restart=on-failure \
    -p RestartSec=10 -p StandardOutput=journal+console -p StandardError=journal+console \
    --setenv=PYTHONUNBUFFERED=1 "$@" || die "systemd-run failed"
  exit 0
fi
log "starting: $*"
exec "$@"
