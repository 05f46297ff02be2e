#!/usr/bin/env bash
# The half of a SpotShield service VM's boot script that is the same on every such VM: the deadline
# controller (controller.sh) and the rendezvous coordinator (coordinator.sh). Functions only; the
# boot script calls them.
#
# A metadata startup-script is one file, so Terraform puts this file in front of the boot script
# (join("\n", [install-build.sh, <script>.sh]) in the module); run by hand or by a test, a boot script
# sources this file from its own folder instead. Terraform renders it with templatefile(): it must
# hold no dollar-brace or percent-brace sequence.
# SC2001: sed instead of parameter expansion, because expansions need braces (see above).
# shellcheck disable=SC2001

# ss_init NAME HOME: NAME prefixes every log line; HOME is the default of $SPOTSHIELD_HOME, where the
# virtualenv ($VENV) and downloads live. Every address comes from an environment variable whose
# default is GCP's.
ss_init() {
  SS_LOG_NAME=$1
  MD_URL="http://$(env_or GCE_METADATA_HOST metadata.google.internal)/computeMetadata/v1"
  STORAGE_URL=$(env_or STORAGE_EMULATOR_HOST https://storage.googleapis.com)
  SS_HOME=$(env_or SPOTSHIELD_HOME "$2")
  VENV="$SS_HOME/venv"
  HTTP_CODE=$(printf '%s{http_code}' '%')
  mkdir -p "$SS_HOME" || die "cannot create $SS_HOME"
  cd "$SS_HOME" || die "cannot enter $SS_HOME"
}

log() { echo "$SS_LOG_NAME: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

md() {
  curl -sSf --retry 5 --retry-connrefused --retry-delay 1 --max-time 10 \
    -H "Metadata-Flavor: Google" "$MD_URL/$1" 2>/dev/null
}
attr() { md "instance/attributes/$1"; }
token() {
  md "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}
urlenc() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/../%&/g'; }

# unit_running UNIT: the systemd unit runs already (the boot script ran once this boot).
unit_running() { command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$1" 2>/dev/null; }

# ensure_venv: $VENV exists (python3-venv is installed from apt when the image lacks it).
ensure_venv() {
  [ -x "$VENV/bin/python" ] && return 0
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    log "installing python3-venv"
    if ! { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2; }; then
      die "cannot install python3-venv"
    fi
    python3 -m venv "$VENV" || die "cannot create the virtualenv $VENV"
  fi
}

installed_build() { "$VENV/bin/python" -m spotshield.buildinfo 2>/dev/null | tail -n 1; }

# install_build URL ID PIN: pip install the build `spotshield up` published at gs://URL into $VENV,
# unless build ID is installed already. The download must match the sha256 prefix the build id
# carries (<version>+<hex>) and, when PIN is set, that full sha256.
install_build() {
  local url=$1 id=$2 pin bucket obj file code digest prefix
  pin=$(echo "$3" | tr 'A-F' 'a-f')
  if [ -z "$id" ] || [ "$(installed_build)" = "$id" ]; then return 0; fi
  bucket=$(echo "$url" | sed -n 's#^gs://\([^/]*\)/.*$#\1#p')
  obj=$(echo "$url" | sed -n 's#^gs://[^/]*/\(.*\)$#\1#p')
  if [ -z "$bucket" ] || [ -z "$obj" ]; then die "spotshield-build-url must be gs://bucket/object, not '$url'"; fi
  file="$SS_HOME/$(basename "$obj")"
  log "downloading $url"
  code=$(curl -sS -o "$file.part" -w "$HTTP_CODE" --retry 5 --retry-connrefused --max-time 600 \
    -H "Authorization: Bearer $(token)" "$STORAGE_URL/storage/v1/b/$bucket/o/$(urlenc "$obj")?alt=media")
  [ "$code" = 200 ] || die "download of $url failed: HTTP $code"
  digest=$(sha256sum "$file.part" | cut -d' ' -f1)
  prefix=$(echo "$id" | sed -n 's/^.*+\([0-9a-f]\{8,64\}\)$/\1/p')
  case "$digest" in "$prefix"*) ;; *) die "download of $url does not match build id $id" ;; esac
  if [ -n "$pin" ] && [ "$digest" != "$pin" ]; then die "download of $url does not match the pinned sha256"; fi
  mv -f "$file.part" "$file"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$file" >&2 || die "pip install of $file failed"
  [ "$(installed_build)" = "$id" ] || die "installed $file does not report build $id"
  log "installed build $id"
}

# run_service UNIT RESTART CMD...: run CMD as the transient systemd unit UNIT with Restart=RESTART
# (on-failure, always) and return; without systemd (a test, a container), exec CMD in front.
run_service() {
  local unit=$1 restart=$2
  shift 2
  if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "starting unit $unit: $*"
    # RestartSec=10: five starts take longer than systemd's default start limit window (10 s), so a
    # crash loop keeps being retried rather than giving up after five tries.
    systemd-run --unit="$unit" --collect --quiet --working-directory="$SS_HOME" -p Restart="$restart" \
      -p RestartSec=10 -p StandardOutput=journal+console -p StandardError=journal+console \
      --setenv=PYTHONUNBUFFERED=1 "$@" || die "systemd-run failed"
    exit 0
  fi
  log "starting: $*"
  exec "$@"
}
