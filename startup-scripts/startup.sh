#!/usr/bin/env bash
# SpotShield boot script: runs on every boot of every VM, on GCP and under the local emulator.
#
# 1. reads the run configuration from the metadata server (docs/boot-contract.md) and records a
#    vm_boot event in the run store (events/<run-id>/<host>-<boot>-vm.jsonl);
# 2. if the store holds DONE or STOPPED, resizes the managed instance group to 0 and exits 0;
# 3. installs the exact build that `spotshield up` published (skipped when already installed;
#    checked against GCS's md5Hash, an optional pinned sha256, and the id it reports);
# 4. runs `spotshield train`, or in command mode (metadata spotshield-command) the user's command in
#    the shipped workdir (downloaded and sha256-verified by `python -m spotshield.workdir`, its
#    requirements.txt installed into a venv cached by the file's hash): as a transient systemd unit of its own where systemd runs the
#    machine (GCE), else as a child (the emulator); pid in $SPOTSHIELD_HOME/trainer.pid, SIGTERM
#    forwarded; exits with the trainer's code (0 done, 75 preempted, anything else an error);
# 5. on 0 with DONE present resizes to 0; on 75 or any code after a preemption notice (a command
#    without the library dies of the SIGTERM: 143) ends any crash streak; on 0 without DONE (a command without the library) writes
#    STOPPED and resizes to 0, since a recreated VM would run it again; on the K-th consecutive
#    failing boot without a new committed checkpoint (the crash-loop breaker) writes STOPPED and
#    resizes to 0.
#
# Every cloud address comes from an environment variable whose default is GCP's, so the
# emulator runs this file unchanged. Terraform renders it with templatefile(): it must hold
# no dollar-brace or percent-brace sequence (tests/terraform checks), hence no brace expansions.
# `bash startup.sh event NAME [JSON fields]` only appends one event (shutdown.sh uses it).
# SC2001: sed instead of parameter expansion, because expansions need braces (see above).
# shellcheck disable=SC2001
set -o pipefail
# When this script began: the VM's power-on as the emulator sees it (vm_boot's script_start_t; the
# vm_boot event itself comes after the metadata reads below, which are part of the guest's start-up).
SCRIPT_START_T=$(date +%s.%3N)

log() { echo "spotshield-startup: $*" >&2; }
die() {
  [ -n "$CRASH_READY" ] && crash_check "$*"  # first, so that the error stays the last line
  log "error: $*"
  exit 1
}

# env_or NAME DEFAULT: the variable's value when set and non-empty, else DEFAULT.
env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

# Run-store keys, as spotshield/layout.py names them (tests/startup checks the two agree).
DONE_KEY=DONE
STOPPED_KEY=STOPPED
CRASHES_KEY=crashes.json
EVENTS_PREFIX=events
VM_EVENTS_SUFFIX=-vm.jsonl
EXIT_PREEMPTED=75

MD_HOST=$(env_or GCE_METADATA_HOST metadata.google.internal)
MD_URL="http://$MD_HOST/computeMetadata/v1"
STORAGE_URL=$(env_or STORAGE_EMULATOR_HOST https://storage.googleapis.com)
COMPUTE_URL=$(env_or SPOTSHIELD_COMPUTE_ENDPOINT https://compute.googleapis.com)
SS_HOME=$(env_or SPOTSHIELD_HOME /opt/spotshield)
PIDFILE="$SS_HOME/trainer.pid"
VM_ENV="$SS_HOME/vm-events.env"  # what `event` mode (and so shutdown.sh) needs to write events
# curl's "write out the HTTP status" format, built at run time (templatefile would read it as a directive).
HTTP_CODE=$(printf '%s{http_code}' '%')

# md PATH: one metadata value; non-zero exit (and no output) when absent.
md() {
  curl -sSf --retry 5 --retry-connrefused --retry-delay 1 --max-time 10 \
    -H "Metadata-Flavor: Google" "$MD_URL/$1" 2>/dev/null
}
attr() { md "instance/attributes/$1"; }

# A fresh access token for every call: tokens live about an hour and a run lasts longer, so one
# fetched at boot would turn the DONE check and the final resize into 401s.
token() {
  md "instance/service-accounts/default/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}
auth() { echo "Authorization: Bearer $(token)"; }

# urlenc STRING: percent-encode every byte (valid for any GCS object name).
urlenc() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/../%&/g'; }

# split_gs URL -> "bucket object" for gs://bucket/object
split_gs() {
  echo "$1" | sed -n 's#^gs://\([^/]*\)/*\(.*\)$#\1 \2#p'
}

# json_str STRING: STRING as a JSON string (control characters become spaces).
json_str() {
  printf '"%s"' "$(printf '%s' "$1" | tr '\n\r\t' '   ' | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# store_obj STORE KEY -> "bucket object" of a gs:// store's key
store_obj() {
  local bucket prefix
  read -r bucket prefix <<<"$(split_gs "$1")"
  prefix=$(echo "$prefix" | sed 's#/*$##')
  if [ -n "$prefix" ]; then echo "$bucket $prefix/$2"; else echo "$bucket $2"; fi
}
store_path() { echo "$(echo "$1" | sed 's#^file://##')/$2"; }

# store_get STORE KEY [FILE]: 0 found (written to FILE when given), 1 absent, 2 unreadable.
store_get() {
  local store=$1 key=$2 out=$3 bucket obj code url
  [ -n "$out" ] || out=/dev/null
  case "$store" in
    file://*)
      [ -f "$(store_path "$store" "$key")" ] || return 1
      cat "$(store_path "$store" "$key")" >"$out" 2>/dev/null || return 2
      return 0 ;;
    gs://*)
      read -r bucket obj <<<"$(store_obj "$store" "$key")"
      url="$STORAGE_URL/storage/v1/b/$bucket/o/$(urlenc "$obj")"
      [ "$out" = /dev/null ] || url="$url?alt=media"
      code=$(curl -sS -o "$out" -w "$HTTP_CODE" --retry 3 --retry-connrefused --max-time 30 \
        -H "$(auth)" "$url")
      [ "$code" = 200 ] && return 0
      [ "$code" = 404 ] && return 1
      log "cannot read $store/$key: HTTP $code from $STORAGE_URL"
      return 2 ;;
    *) log "unsupported store URL $store (expected gs:// or file://)"; return 2 ;;
  esac
}

# store_has STORE KEY: exit 0 when the object/file exists; dies when the store is unreadable.
store_has() {
  store_get "$1" "$2"
  case $? in 0) return 0 ;; 1) return 1 ;; *) die "cannot read $1/$2" ;; esac
}

# store_put STORE KEY FILE: upload (or overwrite) one object; 0 on success.
store_put() {
  local store=$1 key=$2 file=$3 bucket obj code dest
  case "$store" in
    file://*)
      dest=$(store_path "$store" "$key")
      mkdir -p "$(dirname "$dest")" && cp "$file" "$dest.tmp.$$" && mv -f "$dest.tmp.$$" "$dest" ;;
    gs://*)
      read -r bucket obj <<<"$(store_obj "$store" "$key")"
      code=$(curl -sS -o /dev/null -w "$HTTP_CODE" --retry 3 --retry-connrefused --max-time 30 \
        -X POST -H "$(auth)" -H "Content-Type: application/octet-stream" --data-binary "@$file" \
        "$STORAGE_URL/upload/storage/v1/b/$bucket/o?uploadType=media&name=$(urlenc "$obj")")
      [ "$code" = 200 ] || { log "cannot write $store/$key: HTTP $code"; return 1; } ;;
    *) return 1 ;;
  esac
}

# --- events (the spotshield/events.py line format; events/<run-id>/<host>-<boot>-vm.jsonl) -----
# event NAME [FIELDS]: append {"event", "t", "run_id", "host", "boot", FIELDS} to this boot's VM
# event file and upload the whole file (GCS objects cannot be appended to). FIELDS is a JSON
# fragment such as '"code": 1'. A failure is logged and never stops the boot.
event() {
  local line
  [ -n "$EVENTS_FILE" ] || return 0
  line="{\"event\": $(json_str "$1"), \"t\": $(date +%s.%3N), \"run_id\": $(json_str "$RUN_ID"), \"host\": $(json_str "$HOST_NAME"), \"boot\": $(json_str "$BOOT_ID")"
  [ -n "$2" ] && line="$line, $2"
  { mkdir -p "$(dirname "$EVENTS_FILE")" && echo "$line}" >>"$EVENTS_FILE"; } 2>/dev/null ||
    { log "warning: cannot keep event $1 in $EVENTS_FILE"; return 0; }
  store_put "$STORE" "$EVENTS_KEY" "$EVENTS_FILE" || log "warning: event $1 not uploaded to $STORE/$EVENTS_KEY"
  return 0
}

# Event mode: shutdown.sh (a separate metadata value) reuses this writer on this boot's file.
if [ "$1" = event ]; then
  { read -r RUN_ID; read -r STORE; read -r HOST_NAME; read -r BOOT_ID; } <"$VM_ENV" 2>/dev/null ||
    { log "no $VM_ENV: no event written"; exit 0; }
  EVENTS_KEY="$EVENTS_PREFIX/$RUN_ID/$HOST_NAME-$BOOT_ID$VM_EVENTS_SUFFIX"
  EVENTS_FILE="$SS_HOME/$EVENTS_KEY"
  event "$2" "$3"
  exit 0
fi

# stop_fleet WHY: resize this VM's group to 0 so no VM keeps running (and billing).
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
    -X POST -H "$(auth)" -H "Content-Length: 0" "$url")
  if [ "$code" = 200 ]; then
    log "$1: asked $mig in $region to resize to 0"
    return 0
  fi
  log "resize of $mig to 0 failed: HTTP $code ($(head -c 300 "$SS_HOME/resize.json" 2>/dev/null))"
  return 1
}

# --- the crash-loop breaker ------------------------------------------------------------------
# The counter lives in the run store (a recreated VM has a fresh disk): {"failures": n, "step":
# newest committed checkpoint step or "", "build": build id, ...}. It resets on a preempted boot
# (75), a new committed checkpoint, or a new build.
CRASH_LOOP_BOOTS=3

newest_step() { "$PY" -m spotshield.layout newest-committed "$STORE" 2>/dev/null | tail -n 1; }

# last_error: the trainer's last "error:" line (else its last line), at most 300 characters.
last_error() {
  local e
  e=$(grep -a '^error:' "$TRAINER_ERR" 2>/dev/null | tail -n 1)
  [ -n "$e" ] || e=$(grep -a -v '^[[:space:]]*$' "$TRAINER_ERR" 2>/dev/null | tail -n 1)
  [ -n "$e" ] || e="exit code $RC"
  printf '%s' "$e" | head -c 300
}

# crash_check ERROR: count one failed boot; on the K-th in a row, stop the group for good.
crash_check() {
  local error=$1 step old failures=0 old_step="" old_build="" now f
  CRASH_READY=  # never twice (die calls this too)
  f="$SS_HOME/crashes.json"
  step=$(newest_step)
  case "$step" in *[!0-9]* | '') step="" ;; esac
  if store_get "$STORE" "$CRASHES_KEY" "$f.old"; then
    old=$(tr -d '\n' <"$f.old")
    failures=$(echo "$old" | sed -n 's/.*"failures": *\([0-9][0-9]*\).*/\1/p')
    old_step=$(echo "$old" | sed -n 's/.*"step": *"\([0-9]*\)".*/\1/p')
    old_build=$(echo "$old" | sed -n 's/.*"build": *"\([^"]*\)".*/\1/p')
  fi
  [ -n "$failures" ] || failures=0
  if [ "$step" != "$old_step" ] || [ "$BUILD_ID" != "$old_build" ]; then
    failures=0  # progress (or a new build) since the last failure: a new streak
  fi
  failures=$((failures + 1))
  now=$(date +%s)
  printf '{"failures": %s, "step": "%s", "build": %s, "error": %s, "t": %s, "host": %s, "boot": %s}\n' \
    "$failures" "$step" "$(json_str "$BUILD_ID")" "$(json_str "$error")" "$now" "$(json_str "$HOST_NAME")" \
    "$(json_str "$BOOT_ID")" >"$f"
  if ! store_put "$STORE" "$CRASHES_KEY" "$f"; then
    log "warning: cannot record failed boot $failures in $STORE/$CRASHES_KEY; the crash-loop breaker cannot count it"
    return 0
  fi
  log "failed boot $failures of $CRASH_LOOP_BOOTS in a row without a new checkpoint (newest step '$step')"
  [ "$failures" -ge "$CRASH_LOOP_BOOTS" ] || return 0
  printf '{"reason": "crash loop", "error": %s, "boots": %s, "t": %s}\n' "$(json_str "$error")" "$failures" \
    "$now" >"$SS_HOME/stopped.json"
  store_put "$STORE" "$STOPPED_KEY" "$SS_HOME/stopped.json" || log "warning: cannot write $STORE/$STOPPED_KEY"
  event crash_loop "\"boots\": $failures, \"error\": $(json_str "$error")"
  stop_fleet "crash loop ($failures failed boots; last: $error)" ||
    log "warning: the group could not be resized to 0; stop it with make teardown"
}

# A boot that ended well (preempted after its checkpoint) ends any streak.
crash_reset() {
  store_get "$STORE" "$CRASHES_KEY" || return 0
  printf '{"failures": 0, "step": "", "build": %s, "t": %s}\n' "$(json_str "$BUILD_ID")" "$(date +%s)" \
    >"$SS_HOME/crashes.json"
  store_put "$STORE" "$CRASHES_KEY" "$SS_HOME/crashes.json" || true
}

# --- the interpreter -------------------------------------------------------------------------
# choose_python: SPOTSHIELD_PYTHON when set (the emulator), else the first candidate that imports
# torch: on Deep Learning VM images PyTorch lives in a conda environment, not in the system python3.
choose_python() {
  local cand version
  PY=$(printenv SPOTSHIELD_PYTHON)
  if [ -n "$PY" ]; then
    log "python: $PY (SPOTSHIELD_PYTHON)"
    return
  fi
  for cand in $(env_or SPOTSHIELD_PYTHON_CANDIDATES "/opt/conda/bin/python3 /opt/conda/bin/python /usr/bin/python3 python3"); do
    command -v "$cand" >/dev/null 2>&1 || continue
    version=$("$cand" -c 'import torch; print(torch.__version__)' 2>/dev/null | tail -n 1) || continue
    PY=$cand
    log "python: $PY (torch $version)"
    return
  done
  PY=python3
  log "python: $PY (no candidate imports torch; the build install or the trainer will say what is missing)"
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
  meta=$(curl -sSf --retry 5 --retry-connrefused --max-time 30 -H "$(auth)" "$api") ||
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
      -H "$(auth)" "$api?alt=media")
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

# use_systemd: run the trainer as its own unit. The guest agent runs this script inside
# google-startup-scripts.service, a oneshot unit with KillMode=process: a trainer in its
# foreground would hold that unit for the whole run, and a stop of the unit kills only the script
# runner, leaving the trainer on a broken pipe. SPOTSHIELD_SYSTEMD=yes|no overrides the detection
# (auto: PID 1 is systemd, systemd-run exists, we are root, and no emulator metadata host is set).
use_systemd() {
  case "$(env_or SPOTSHIELD_SYSTEMD auto)" in
    yes) return 0 ;;
    no) return 1 ;;
  esac
  [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1 && [ "$(id -u)" = 0 ] &&
    [ -z "$(printenv GCE_METADATA_HOST)" ]
}

# --- main -----------------------------------------------------------------------------
mkdir -p "$SS_HOME" || die "cannot create SPOTSHIELD_HOME $SS_HOME"
# `python -m` puts the current folder first on sys.path: run from our own, never a checkout.
cd "$SS_HOME" || die "cannot enter SPOTSHIELD_HOME $SS_HOME"

# Idempotent: a second run while the trainer of this boot is alive changes nothing.
if [ -f "$PIDFILE" ]; then
  old=$(cat "$PIDFILE" 2>/dev/null)
  # a command's own process: its environment carries SPOTSHIELD_COMMAND (a reused pid would not)
  if [ -n "$old" ] && tr '\0' '\n' 2>/dev/null <"/proc/$old/environ" | grep -q '^SPOTSHIELD_COMMAND='; then
    log "command already running as pid $old; nothing to do"
    exit 0
  fi
  if [ -n "$old" ] && tr '\0' ' ' 2>/dev/null <"/proc/$old/cmdline" | grep -q 'spotshield.cli.main train'; then
    log "trainer already running as pid $old; nothing to do"
    exit 0
  fi
  rm -f "$PIDFILE"
fi
rm -f "$SS_HOME/notice.t"  # a notice time is per boot (shutdown.sh counts its budget from it)

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
K=$(attr spotshield-crash-loop-boots)
case "$K" in '' | *[!0-9]* | 0) ;; *) CRASH_LOOP_BOOTS=$K ;; esac
NOTICE_S=$(attr spotshield-preemption-notice-s)
case "$NOTICE_S" in '' | *[!0-9]*) NOTICE_S=0 ;; esac
EVENTS_KEY="$EVENTS_PREFIX/$RUN_ID/$HOST_NAME-$BOOT_ID$VM_EVENTS_SUFFIX"
EVENTS_FILE="$SS_HOME/$EVENTS_KEY"
printf '%s\n' "$RUN_ID" "$STORE" "$HOST_NAME" "$BOOT_ID" >"$VM_ENV" || log "warning: cannot write $VM_ENV"
echo "$NOTICE_S" >"$SS_HOME/notice.s"
# shutdown.sh runs from a temporary copy; it writes its event through this file's event mode
cp -f "$0" "$SS_HOME/startup.sh" 2>/dev/null || log "warning: cannot keep a copy of $0 for shutdown.sh"
log "run $RUN_ID store $STORE host $HOST_NAME boot $BOOT_ID preempted=$(md instance/preempted)"
event vm_boot "\"script_start_t\": $SCRIPT_START_T"

if store_has "$STORE" "$DONE_KEY"; then
  log "store $STORE holds $DONE_KEY; not training"
  stop_fleet "training is DONE" || exit 1
  exit 0
fi
if store_has "$STORE" "$STOPPED_KEY"; then
  store_get "$STORE" "$STOPPED_KEY" "$SS_HOME/stopped.seen"
  log "store $STORE holds $STOPPED_KEY ($(head -c 300 "$SS_HOME/stopped.seen" 2>/dev/null)); not training"
  stop_fleet "the run was stopped" || exit 1
  exit 0
fi

choose_python
TRAINER_ERR="$SS_HOME/runs/$RUN_ID/trainer.err"
mkdir -p "$SS_HOME/runs/$RUN_ID" || die "cannot create $SS_HOME/runs/$RUN_ID"
: >"$TRAINER_ERR"
CRASH_READY=1  # from here on, a failed boot counts towards the crash-loop breaker

if [ -z "$BUILD_ID" ]; then
  log "no spotshield-build-id in metadata; using the spotshield installed for $PY"
elif [ "$(installed_build)" = "$BUILD_ID" ]; then
  log "build $BUILD_ID already installed for $PY"
else
  [ -n "$BUILD_URL" ] || die "metadata has spotshield-build-id $BUILD_ID but no spotshield-build-url"
  install_build "$BUILD_URL" "$BUILD_ID"
fi

# The trainer's program and arguments, as positional parameters (no arrays: see the header).
PROG=$PY
set -- -m spotshield.cli.main train --store "$STORE"
CONFIG_JSON=$(attr spotshield-config)
if [ -n "$CONFIG_JSON" ]; then
  printf '%s\n' "$CONFIG_JSON" >"$SS_HOME/runs/$RUN_ID/config.json" || die "cannot write the run config"
  set -- "$@" --config "$SS_HOME/runs/$RUN_ID/config.json"
fi

# --- command mode: the user's command in the shipped workdir ---------------------------------
# prepare_venv REQS: a venv over $PY's packages (spotshield, torch) with REQS installed, kept in
# $SS_HOME/venvs/<sha256 of REQS> so a reboot of the same disk does not install again; prints its bin.
prepare_venv() {
  local reqs=$1 hash venv
  hash=$(sha256sum "$reqs" | cut -d' ' -f1)
  venv="$SS_HOME/venvs/$hash"
  if [ -f "$venv/.installed" ]; then
    log "requirements.txt $hash already installed in $venv"
  else
    rm -rf "$venv"
    log "installing requirements.txt $hash into $venv"
    # $PY's packages come through a .pth, in $PY's own order, not --system-site-packages: that
    # would add the base interpreter's only, so when $PY is itself a venv (the emulator's guest
    # image, a venv VM image) torch and spotshield would be missing or shadowed. No pip of its own
    # either (ensurepip's old setuptools would shadow the one torch needs): $PY's pip installs
    # into the venv; ensurepip only where $PY has none.
    "$PY" -m venv --without-pip "$venv" >&2 || die "cannot create a venv in $venv"
    "$PY" -m spotshield.venvlayer "$venv" >&2 || die "cannot layer $venv over the packages of $PY"
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 || "$venv/bin/python" -m ensurepip --default-pip >&2 ||
      die "no pip for $venv (neither $PY's nor ensurepip)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" >&2 ||
      die "pip install -r requirements.txt (workdir) failed"
    touch "$venv/.installed"
  fi
  echo "$venv/bin"
}

COMMAND=$(attr spotshield-command)
if [ -n "$COMMAND" ]; then
  WD_URL=$(attr spotshield-workdir-url)
  WD_SHA=$(attr spotshield-workdir-sha256 | tr 'A-F' 'a-f')
  if [ -z "$WD_URL" ] || [ -z "$WD_SHA" ]; then
    die "metadata has spotshield-command but no spotshield-workdir-url and spotshield-workdir-sha256"
  fi
  WORKDIR="$SS_HOME/workdir"
  # fetched on every boot (it replaces the folder whole): what the command left there is not code
  WD_ERR=$("$PY" -m spotshield.workdir fetch "$WD_URL" "$WD_SHA" "$WORKDIR" 2>&1 >/dev/null) ||
    die "cannot fetch the workdir: $(printf '%s' "$WD_ERR" | tail -n 1 | sed 's/^error: //')"
  log "workdir $WD_URL (sha256 $WD_SHA) in $WORKDIR"
  # `python` in the command is the interpreter spotshield is installed for (or the venv over it):
  # scripts that exec it by its own path, not symlinks, since a python started through a symlink
  # to a venv's python does not see the venv (pyvenv.cfg is looked for beside the path it was
  # started by), so a venv image's packages (torch) would be missing. rm first: a symlink an older
  # boot left on this disk would be written through, onto the interpreter itself.
  PY_PATH=$(command -v "$PY") || die "python $PY not found"
  for name in python python3; do
    { mkdir -p "$SS_HOME/bin" && rm -f "$SS_HOME/bin/$name" &&
      printf '#!/bin/bash\nexec %q "$@"\n' "$PY_PATH" >"$SS_HOME/bin/$name" && chmod +x "$SS_HOME/bin/$name"; } ||
      die "cannot write $SS_HOME/bin/$name"
  done
  CMD_PATH="$SS_HOME/bin:$PATH"
  if [ -f "$WORKDIR/requirements.txt" ]; then
    VENV_BIN=$(prepare_venv "$WORKDIR/requirements.txt") || exit 1  # prepare_venv said why (and counted it)
    CMD_PATH="$VENV_BIN:$CMD_PATH"
  fi
  export PATH="$CMD_PATH" SPOTSHIELD_COMMAND="$COMMAND" SPOTSHIELD_WORKDIR="$WORKDIR"
  # exec: the command's own process gets the forwarded SIGTERM and its exit code is the boot's
  PROG=/bin/bash
  # shellcheck disable=SC2016  # expanded by the inner shell, from the environment
  set -- -c 'cd "$SPOTSHIELD_WORKDIR" || exit 1; eval "exec $SPOTSHIELD_COMMAND"'
fi

# A job under torchrun (docs/distributed.md): the command, or the built-in trainer's own command line
# (python -m spotshield.cli.main train ..., each worker one rank of it), goes through
# spotshield.distributed.launch, which checks it and execs torchrun for this node; torchrun's c10d
# rendezvous on the coordinator forms the job. The agent keeps the pid (exec), so shutdown.sh's
# SIGTERM reaches it, and it forwards the notice to its workers, which agree on one emergency checkpoint.
COORDINATOR=$(attr spotshield-coordinator)
WORKER_HEALTH_PORT=$HEALTH_PORT
PHASE_FILE=""
if [ -n "$COORDINATOR" ]; then
  MIN_NODES=$(attr spotshield-min-nodes)
  MAX_NODES=$(attr spotshield-max-nodes)
  NPROC=$(attr spotshield-nproc)
  case "$COORDINATOR" in
    *[!A-Za-z0-9.:-]* | *: | :*) die "spotshield-coordinator must be host:port, not '$COORDINATOR'" ;;
    *:*) ;;
    *) die "spotshield-coordinator must be host:port, not '$COORDINATOR'" ;;
  esac
  case "$RUN_ID" in *[!A-Za-z0-9._-]*) die "run id '$RUN_ID' is not a rendezvous id (letters, digits, . _ -)" ;; esac
  for n in "$MIN_NODES" "$MAX_NODES" "$NPROC"; do
    case "$n" in '' | *[!0-9]*) die "spotshield-min-nodes, -max-nodes and -nproc must be whole numbers, not '$n'" ;; esac
  done
  export SPOTSHIELD_LAUNCH="--endpoint $COORDINATOR --run-id $RUN_ID --min-nodes $MIN_NODES --max-nodes $MAX_NODES --nproc $NPROC"
  if [ -n "$COMMAND" ]; then
    # shellcheck disable=SC2016  # expanded by the inner shell, from the environment
    set -- -c 'cd "$SPOTSHIELD_WORKDIR" || exit 1; eval "exec python -m spotshield.distributed.launch $SPOTSHIELD_LAUNCH -- $SPOTSHIELD_COMMAND"'
  else
    # the built-in trainer: $PY runs the launcher, torchrun starts each worker as $PY -u -m spotshield.cli.main
    # train with the arguments above (no shell, so the store and config paths stay single arguments)
    set -- -m spotshield.distributed.launch --endpoint "$COORDINATOR" --run-id "$RUN_ID" --min-nodes "$MIN_NODES" \
      --max-nodes "$MAX_NODES" --nproc "$NPROC" -- "$@"
  fi
  # While the job re-forms no worker runs: the VM's /healthz comes from nodehealth, beside the agent;
  # its phase is what the first local rank writes to PHASE_FILE ("starting" until this boot's first step)
  WORKER_HEALTH_PORT=0
  PHASE_FILE="$SS_HOME/phase"
  rm -f "$PHASE_FILE"
  # DCP stages each rank's shards on this VM's own disk
  export SPOTSHIELD_DCP_STAGING="$SS_HOME/dcp-staging"
  log "a job under torchrun: $SPOTSHIELD_LAUNCH"
fi

export SPOTSHIELD_RUN_ID="$RUN_ID" SPOTSHIELD_STORE="$STORE" SPOTSHIELD_HEALTH_PORT="$WORKER_HEALTH_PORT"
export SPOTSHIELD_PHASE_FILE="$PHASE_FILE"
export SPOTSHIELD_HOST="$HOST_NAME" SPOTSHIELD_BOOT="$BOOT_ID" SPOTSHIELD_HOME="$SS_HOME"
export GCE_METADATA_HOST="$MD_HOST" SPOTSHIELD_TRAINER_ERR="$TRAINER_ERR"

# Watch for the preemption notice and note its time: shutdown.sh counts its budget from it (the
# ACPI shutdown, and so the shutdown script, starts later; with a longer notice much later).
# The first read returns at once; later ones hang until the value's ETag changes.
watch_notice() {
  local hdr="$SS_HOME/notice.hdr" etag="" v q
  while :; do
    q=""
    [ -n "$etag" ] && q="?wait_for_change=true&timeout_sec=60&last_etag=$etag"
    v=$(curl -sS -D "$hdr" --max-time 70 -H "Metadata-Flavor: Google" "$MD_URL/instance/preempted$q" 2>/dev/null) ||
      { sleep 1; continue; }
    if [ "$v" = TRUE ]; then
      date +%s.%N >"$SS_HOME/notice.t"
      return 0
    fi
    etag=$(tr -d '\r' <"$hdr" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tail -n 1)
    [ -n "$etag" ] || sleep 1  # a server without ETags is polled once a second
  done
}
watch_notice &
WATCHER=$!

# json_argv ARGS...: a JSON array of strings
json_argv() {
  local out="" a
  for a in "$@"; do out="$out$([ -n "$out" ] && echo ', ')$(json_str "$a")"; done
  echo "[$out]"
}
if [ -n "$COMMAND" ]; then
  event command_start "\"command\": $(json_str "$COMMAND"), \"workdir_sha256\": $(json_str "$WD_SHA")"
else
  event command_start "\"command\": $(json_argv "$PY" "$@")"
fi
# stderr is also kept per boot (TRAINER_ERR): the crash-loop breaker quotes its last error line.
# shellcheck disable=SC2016  # $0 and $@ belong to the inner shell
TEE_ERR='exec "$0" "$@" 2> >(tee -a "$SPOTSHIELD_TRAINER_ERR" >&2)'
if use_systemd; then
  UNIT="spotshield-trainer-$(echo "$BOOT_ID" | sed 's/[^A-Za-z0-9_.-]/-/g')"
  log "starting unit $UNIT: $PROG $*"
  # --wait returns the unit's exit code; KillMode=mixed: a stop sends SIGTERM to the trainer only
  # (data-loader workers go at the end); TimeoutStopSec covers the notice and the checkpoint.
  systemd-run --unit="$UNIT" --wait --collect --quiet --working-directory="$SS_HOME" \
    -p KillMode=mixed -p TimeoutStopSec=$((NOTICE_S + 30)) \
    -p StandardOutput=journal+console -p StandardError=journal+console \
    --setenv=SPOTSHIELD_RUN_ID="$RUN_ID" --setenv=SPOTSHIELD_STORE="$STORE" \
    --setenv=SPOTSHIELD_HEALTH_PORT="$WORKER_HEALTH_PORT" --setenv=SPOTSHIELD_PHASE_FILE="$PHASE_FILE" \
    --setenv=SPOTSHIELD_HOST="$HOST_NAME" \
    --setenv=SPOTSHIELD_BOOT="$BOOT_ID" --setenv=SPOTSHIELD_HOME="$SS_HOME" \
    --setenv=GCE_METADATA_HOST="$MD_HOST" --setenv=SPOTSHIELD_TRAINER_ERR="$TRAINER_ERR" \
    --setenv=PYTHONUNBUFFERED=1 --setenv=PATH="$PATH" \
    --setenv=SPOTSHIELD_COMMAND="$COMMAND" --setenv=SPOTSHIELD_WORKDIR="$WORKDIR" \
    --setenv=SPOTSHIELD_LAUNCH="$SPOTSHIELD_LAUNCH" --setenv=SPOTSHIELD_DCP_STAGING="$SPOTSHIELD_DCP_STAGING" \
    /bin/bash -c "$TEE_ERR" "$PROG" "$@" &
  RUNNER=$!
  TRAINER=""
  tries=0
  while [ -z "$TRAINER" ] && kill -0 "$RUNNER" 2>/dev/null && [ "$tries" -lt 300 ]; do
    TRAINER=$(systemctl show -p MainPID --value "$UNIT" 2>/dev/null)
    [ "$TRAINER" = 0 ] && TRAINER=""
    [ -n "$TRAINER" ] || sleep 0.1
    tries=$((tries + 1))
  done
else
  log "starting: $PROG $*"
  bash -c "$TEE_ERR" "$PROG" "$@" &
  RUNNER=$!
  TRAINER=$RUNNER
fi
[ -n "$TRAINER" ] && echo "$TRAINER" >"$PIDFILE"
NODEHEALTH=""
if [ -n "$COORDINATOR" ] && [ -n "$TRAINER" ]; then
  "$PY" -m spotshield.distributed.nodehealth --port "$HEALTH_PORT" --pid "$TRAINER" --phase-file "$PHASE_FILE" &
  NODEHEALTH=$!
fi
# Forward a stop to the trainer, but not before it can catch it (at most HANDLER_WAIT_S of start-up,
# as in shutdown.sh): a trainer killed before its handler exists skips its emergency checkpoint.
HANDLER_WAIT_S=3
# shellcheck disable=SC2317  # the TERM trap's body
forward_term() {
  local tries=0
  [ -n "$TRAINER" ] || return 0
  while kill -0 "$TRAINER" 2>/dev/null && ! handles_term "$TRAINER" && [ "$tries" -lt $((HANDLER_WAIT_S * 10)) ]; do
    tries=$((tries + 1))
    sleep 0.1
  done
  kill -TERM "$TRAINER" 2>/dev/null
}
trap forward_term TERM INT
trap 'rm -f "$PIDFILE"; pkill -P "$WATCHER" 2>/dev/null; kill "$WATCHER" $NODEHEALTH 2>/dev/null' EXIT
wait "$RUNNER"
RC=$?
# A trapped signal interrupts wait; keep waiting until the trainer itself has exited.
while kill -0 "$RUNNER" 2>/dev/null; do
  wait "$RUNNER"
  RC=$?
done
log "trainer exited with code $RC"
event command_exit "\"code\": $RC"

if [ "$RC" = 0 ] && store_has "$STORE" "$DONE_KEY"; then
  stop_fleet "training is DONE" || log "warning: the group could not be resized to 0; stop it with make teardown"
elif [ "$RC" = "$EXIT_PREEMPTED" ] || [ -s "$SS_HOME/notice.t" ] || [ "$(md instance/preempted)" = TRUE ]; then
  # Preempted. A command without the library has no SIGTERM handler and ends with 143, not 75, and
  # torchrun's agent dies by the signal it forwarded (1) once its workers saved and exited 75: a
  # preemption is still not a crash, or K preemptions in a row would stop a healthy run for good.
  [ "$RC" = "$EXIT_PREEMPTED" ] || log "exit $RC after this VM's preemption notice: a preemption, not a crash"
  crash_reset
elif [ "$RC" = 0 ]; then
  # Finished by its own account, yet no DONE: a command that does not use the library (or did not
  # finish its Run). The group would recreate this VM and run it again, forever: stop it instead.
  why="the command exited 0 but $STORE holds no $DONE_KEY (a script without the spotshield library never writes it)"
  printf '{"reason": "exited 0 without DONE", "error": %s, "boots": 1, "t": %s}\n' "$(json_str "$why")" \
    "$(date +%s)" >"$SS_HOME/stopped.json"
  store_put "$STORE" "$STOPPED_KEY" "$SS_HOME/stopped.json" || log "warning: cannot write $STORE/$STOPPED_KEY"
  stop_fleet "$why" || log "warning: the group could not be resized to 0; stop it with make teardown"
else
  crash_check "$(last_error)"
fi
exit "$RC"
