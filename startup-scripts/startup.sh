#!/usr/bin/env bash
# SpotShield boot script: runs on every boot of every VM, on GCP and under the local emulator.
#
# 1. reads the run configuration from the metadata server (docs/boot-contract.md);
# 2. if the store already holds DONE, resizes the managed instance group to 0 and exits 0;
# 3. installs the exact build that `spotshield up` published (skipped when already installed;
#    checked against GCS's md5Hash, an optional pinned sha256, and the id it reports);
# 4. runs `spotshield train` in the foreground (pid in $SPOTSHIELD_HOME/trainer.pid, SIGTERM
#    forwarded) and exits with the trainer's code; on success with DONE present, resizes to 0.
#
# Every cloud address comes from an environment variable whose default is GCP's, so the
# emulator runs this file unchanged. Terraform renders it with templatefile(): it must hold
# no dollar-brace or percent-brace sequence (tests/terraform checks), hence no brace expansions.
# SC2001: sed instead of parameter expansion, because expansions need braces (see above).
# shellcheck disable=SC2001
set -o pipefail

log() { echo "spotshield-startup: $*" >&2; }
die() { log "error: $*"; exit 1; }

# env_or NAME DEFAULT: the variable's value when set and non-empty, else DEFAULT.
env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

MD_HOST=$(env_or GCE_METADATA_HOST metadata.google.internal)
MD_URL="http://$MD_HOST/computeMetadata/v1"
STORAGE_URL=$(env_or STORAGE_EMULATOR_HOST https://storage.googleapis.com)
COMPUTE_URL=$(env_or SPOTSHIELD_COMPUTE_ENDPOINT https://compute.googleapis.com)
PY=$(env_or SPOTSHIELD_PYTHON python3)
SS_HOME=$(env_or SPOTSHIELD_HOME /opt/spotshield)
PIDFILE="$SS_HOME/trainer.pid"
# curl's "write out the HTTP status" format, built at run time (templatefile would read it as a directive).
HTTP_CODE=$(printf '%s{http_code}' '%')

# md PATH: one metadata value; non-zero exit (and no output) when absent.
md() {
  curl -sSf --retry 5 --retry-connrefused --retry-delay 1 --max-time 10 \
    -H "Metadata-Flavor: Google" "$MD_URL/$1" 2>/dev/null
}
attr() { md "instance/attributes/$1"; }

token() {
  md "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

# urlenc STRING: percent-encode every byte (valid for any GCS object name).
urlenc() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/../%&/g'; }

# gcs_object URL -> "bucket object" for gs://bucket/object
split_gs() {
  echo "$1" | sed -n 's#^gs://\([^/]*\)/*\(.*\)$#\1 \2#p'
}

# store_has STORE KEY: exit 0 when the object/file exists.
store_has() {
  local store=$1 key=$2 bucket prefix obj code
  case "$store" in
    file://*)
      [ -f "$(echo "$store" | sed 's#^file://##')/$key" ]
      return ;;
    gs://*)
      read -r bucket prefix <<<"$(split_gs "$store")"
      obj=$key
      [ -n "$prefix" ] && obj="$(echo "$prefix" | sed 's#/*$##')/$key"
      code=$(curl -sS -o /dev/null -w "$HTTP_CODE" --retry 3 --retry-connrefused --max-time 20 \
        -H "Authorization: Bearer $TOKEN" "$STORAGE_URL/storage/v1/b/$bucket/o/$(urlenc "$obj")")
      [ "$code" = 200 ] && return 0
      [ "$code" = 404 ] && return 1
      die "cannot read $store/$key: HTTP $code from $STORAGE_URL"
      ;;
    *) die "unsupported store URL $store (expected gs:// or file://)" ;;
  esac
}

# stop_fleet: resize this VM's group to 0 so no VM keeps running (and billing) after DONE.
stop_fleet() {
  local mig region project url code
  mig=$(attr spotshield-mig)
  region=$(attr spotshield-region)
  if [ -z "$region" ]; then
    region=$(md instance/zone | sed 's#.*/##; s#-[a-z]$##')
  fi
  project=$(md project/project-id)
  if [ -z "$mig" ] || [ -z "$region" ] || [ -z "$project" ]; then
    log "no spotshield-mig/region/project in metadata; nothing to resize"
    return 0
  fi
  url="$COMPUTE_URL/compute/v1/projects/$project/regions/$region/instanceGroupManagers/$mig/resize?size=0"
  code=$(curl -sS -o "$SS_HOME/resize.json" -w "$HTTP_CODE" --retry 3 --retry-connrefused --max-time 30 \
    -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Length: 0" "$url")
  if [ "$code" = 200 ]; then
    log "training is DONE: asked $mig in $region to resize to 0"
    return 0
  fi
  log "resize of $mig to 0 failed: HTTP $code ($(head -c 300 "$SS_HOME/resize.json" 2>/dev/null))"
  return 1
}

installed_build() { "$PY" -m spotshield.buildinfo 2>/dev/null | tail -n 1; }

# md5_hex FILE / b64_to_hex B64: the two spellings of an MD5, made comparable.
md5_hex() { md5sum "$1" | cut -d' ' -f1; }
b64_to_hex() { printf '%s' "$1" | base64 -d 2>/dev/null | od -An -tx1 -v | tr -d ' \n'; }

# verified FILE MD5 SHA256 PREFIX: the file exists, matches GCS's md5Hash, the pinned sha256
# (when set) and the sha256 prefix the build id carries (when it has one). Empty = not checked.
verified() {
  local digest
  [ -f "$1" ] || return 1
  if [ -n "$2" ] && [ "$(md5_hex "$1")" != "$2" ]; then return 1; fi
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  if [ -n "$3" ] && [ "$digest" != "$3" ]; then return 1; fi
  case "$digest" in "$4"*) return 0 ;; *) return 1 ;; esac
}

# install_build URL ID: download gs://bucket/object through the GCS JSON API, check it against
# the object's md5Hash, the build id's hash (<version>+<hex prefix of the archive's sha256>)
# and metadata spotshield-build-sha256 when set, pip install it, and require
# `python -m spotshield.buildinfo` to report ID afterwards. Reuses a verified download.
install_build() {
  local url=$1 id=$2 bucket obj file api meta md5 sha prefix code got
  read -r bucket obj <<<"$(split_gs "$url")"
  if [ -z "$bucket" ] || [ -z "$obj" ]; then
    die "spotshield-build-url must be gs://bucket/object, not '$url'"
  fi
  mkdir -p "$SS_HOME/builds" || die "cannot create $SS_HOME/builds"
  file="$SS_HOME/builds/$(basename "$obj")"
  api="$STORAGE_URL/storage/v1/b/$bucket/o/$(urlenc "$obj")"
  meta=$(curl -sSf --retry 5 --retry-connrefused --max-time 30 -H "Authorization: Bearer $TOKEN" "$api") ||
    die "build $url not found or not readable at $STORAGE_URL"
  md5=$(b64_to_hex "$(echo "$meta" | tr -d '\n' | sed -n 's/.*"md5Hash" *: *"\([^"]*\)".*/\1/p')")
  sha=$(attr spotshield-build-sha256 | tr 'A-F' 'a-f')
  prefix=$(echo "$id" | sed -n 's/^.*+\([0-9a-f]\{8,64\}\)$/\1/p')
  [ -n "$prefix" ] || log "build id $id carries no sha256 prefix; checking md5Hash and pinned sha256 only"
  if verified "$file" "$md5" "$sha" "$prefix"; then
    log "reusing verified download $file"
  else
    log "downloading $url"
    code=$(curl -sS -o "$file.part" -w "$HTTP_CODE" --retry 5 --retry-connrefused --max-time 600 \
      -H "Authorization: Bearer $TOKEN" "$api?alt=media")
    [ "$code" = 200 ] || { rm -f "$file.part"; die "download of $url failed: HTTP $code"; }
    if ! verified "$file.part" "$md5" "$sha" "$prefix"; then
      rm -f "$file.part"
      die "download of $url does not match (md5Hash $md5, build id $id, pinned sha256 '$sha')"
    fi
    mv -f "$file.part" "$file"
  fi
  log "installing $file with $PY"
  "$PY" -m pip install --quiet --disable-pip-version-check "$file" >&2 || die "pip install of $file failed"
  got=$(installed_build)
  [ "$got" = "$id" ] || die "installed $file reports build '$got', metadata spotshield-build-id wants '$id'"
  log "installed build $id"
}

# --- main -----------------------------------------------------------------------------
mkdir -p "$SS_HOME" || die "cannot create SPOTSHIELD_HOME $SS_HOME"
# `python -m` puts the current folder first on sys.path: run from our own, never a checkout.
cd "$SS_HOME" || die "cannot enter SPOTSHIELD_HOME $SS_HOME"

# Idempotent: a second run while the trainer of this boot is alive changes nothing.
if [ -f "$PIDFILE" ]; then
  old=$(cat "$PIDFILE" 2>/dev/null)
  if [ -n "$old" ] && tr '\0' ' ' 2>/dev/null <"/proc/$old/cmdline" | grep -q 'spotshield.cli.main train'; then
    log "trainer already running as pid $old; nothing to do"
    exit 0
  fi
  rm -f "$PIDFILE"
fi

RUN_ID=$(attr spotshield-run-id) || die "metadata $MD_URL has no instance attribute spotshield-run-id"
STORE=$(attr spotshield-store) || die "metadata $MD_URL has no instance attribute spotshield-store"
BUILD_URL=$(attr spotshield-build-url)
BUILD_ID=$(attr spotshield-build-id)
HEALTH_PORT=$(env_or SPOTSHIELD_HEALTH_PORT "$(attr spotshield-health-port)")
[ -n "$HEALTH_PORT" ] || HEALTH_PORT=8080
HOST_NAME=$(env_or SPOTSHIELD_HOST "$(md instance/name)")
[ -n "$HOST_NAME" ] || HOST_NAME=$(hostname)
BOOT_ID=$(env_or SPOTSHIELD_BOOT "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)")
[ -n "$BOOT_ID" ] || BOOT_ID="$(date +%s)-$$"
TOKEN=$(token)
log "run $RUN_ID store $STORE host $HOST_NAME boot $BOOT_ID preempted=$(md instance/preempted)"

if store_has "$STORE" DONE; then
  log "store $STORE holds DONE; not training"
  stop_fleet || exit 1
  exit 0
fi

if [ -z "$BUILD_ID" ]; then
  log "no spotshield-build-id in metadata; using the spotshield installed for $PY"
elif [ "$(installed_build)" = "$BUILD_ID" ]; then
  log "build $BUILD_ID already installed for $PY"
else
  [ -n "$BUILD_URL" ] || die "metadata has spotshield-build-id $BUILD_ID but no spotshield-build-url"
  install_build "$BUILD_URL" "$BUILD_ID"
fi

# The trainer's arguments, as positional parameters (no arrays: see the header).
set -- train --store "$STORE"
CONFIG_JSON=$(attr spotshield-config)
if [ -n "$CONFIG_JSON" ]; then
  mkdir -p "$SS_HOME/runs/$RUN_ID" || die "cannot create $SS_HOME/runs/$RUN_ID"
  printf '%s\n' "$CONFIG_JSON" >"$SS_HOME/runs/$RUN_ID/config.json" || die "cannot write the run config"
  set -- "$@" --config "$SS_HOME/runs/$RUN_ID/config.json"
fi

export SPOTSHIELD_RUN_ID="$RUN_ID" SPOTSHIELD_STORE="$STORE" SPOTSHIELD_HEALTH_PORT="$HEALTH_PORT"
export SPOTSHIELD_HOST="$HOST_NAME" SPOTSHIELD_BOOT="$BOOT_ID" SPOTSHIELD_HOME="$SS_HOME"
export GCE_METADATA_HOST="$MD_HOST"

log "starting: $PY -m spotshield.cli.main $*"
"$PY" -m spotshield.cli.main "$@" &
TRAINER=$!
echo "$TRAINER" >"$PIDFILE"
# handles_term PID: PID has a SIGTERM handler or ignores SIGTERM (bit 15 of SigCgt / SigIgn). The same
# test as shutdown.sh's: each script is a standalone metadata value, so they cannot share a file.
# shellcheck disable=SC2317  # only reached from the TERM trap, which shellcheck cannot follow
handles_term() {
  local cgt ign
  cgt=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null)
  ign=$(awk '/^SigIgn:/ {print $2}' "/proc/$1/status" 2>/dev/null)
  [ -n "$cgt" ] && [ -n "$ign" ] || return 1
  (( (((16#$cgt) | (16#$ign)) >> 14) & 1 ))
}
# Forward a stop to the trainer, but not before it can catch it (at most HANDLER_WAIT_S of start-up,
# as in shutdown.sh): a trainer killed before its handler exists skips its emergency checkpoint.
HANDLER_WAIT_S=3
# shellcheck disable=SC2317  # the TERM trap's body
forward_term() {
  local tries=0
  while kill -0 "$TRAINER" 2>/dev/null && ! handles_term "$TRAINER" && [ "$tries" -lt $((HANDLER_WAIT_S * 10)) ]; do
    tries=$((tries + 1))
    sleep 0.1
  done
  kill -TERM "$TRAINER" 2>/dev/null
}
trap forward_term TERM INT
trap 'rm -f "$PIDFILE"' EXIT
wait "$TRAINER"
RC=$?
# A trapped signal interrupts wait; keep waiting until the trainer itself has exited.
while kill -0 "$TRAINER" 2>/dev/null; do
  wait "$TRAINER"
  RC=$?
done
log "trainer exited with code $RC"

if [ "$RC" = 0 ] && store_has "$STORE" DONE; then
  stop_fleet || log "warning: the group could not be resized to 0; stop it with make teardown"
fi
exit "$RC"
