#!/usr/bin/env bash
# SpotShield shutdown script: runs on the ACPI soft-off that precedes a Spot preemption.
#
# Tells the trainer (SIGTERM to the pid startup.sh wrote in $SPOTSHIELD_HOME/trainer.pid) and
# waits for its emergency checkpoint, bounded by the preemption notice: the budget counts from
# the notice (when startup.sh's watcher saw instance/preempted turn TRUE), not from this script's
# start, which comes later. Records a vm_notice event through startup.sh's event mode.
# Exit 0 when the trainer has exited (or none was running), 1 when it was still running at the deadline.
# Rendered by Terraform's templatefile(): no dollar-brace or percent-brace sequences here.
# SC2001: sed instead of parameter expansion, which would need braces (see above).
# shellcheck disable=SC2001
set -o pipefail

log() { echo "spotshield-shutdown: $*" >&2; }

env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

START_NS=$(date +%s%N)
SS_HOME=$(env_or SPOTSHIELD_HOME /opt/spotshield)
PIDFILE="$SS_HOME/trainer.pid"
MD_HOST=$(env_or GCE_METADATA_HOST metadata.google.internal)
# GCE gives 30 s between the ACPI shutdown and the hard stop; leave a few for the OS to power off.
GRACE_S=$(env_or SPOTSHIELD_SHUTDOWN_GRACE_S 27)
# A longer preemption notice (metadata spotshield-preemption-notice-s, kept by startup.sh) comes
# before the ACPI shutdown: preempted=TRUE at the notice, the 30 s start NOTICE_S seconds later.
NOTICE_S=$(cat "$SS_HOME/notice.s" 2>/dev/null)
case "$NOTICE_S" in '' | *[!0-9]*) NOTICE_S=0 ;; esac

# The budget's origin: this boot's notice time when there is a recent one, else now.
ORIGIN_NS=$START_NS
NOTICE_T=$(cat "$SS_HOME/notice.t" 2>/dev/null)
case "$NOTICE_T" in
  [0-9]*.[0-9]*)
    notice_ns=$(echo "$NOTICE_T" | sed 's/\.\([0-9]\{9\}\).*/\1/')
    age_s=$(((START_NS - notice_ns) / 1000000000))
    if [ "$age_s" -ge 0 ] && [ "$age_s" -le $((NOTICE_S + GRACE_S + 60)) ]; then
      ORIGIN_NS=$notice_ns
    fi ;;
esac
DEADLINE_NS=$((ORIGIN_NS + (NOTICE_S + GRACE_S) * 1000000000))
left_ms() { echo $(((DEADLINE_NS - $(date +%s%N)) / 1000000)); }

# vm_notice, in the background: the signal to the trainer must not wait for metadata or an upload.
(
  p=$(curl -sS --max-time 2 -H "Metadata-Flavor: Google" "http://$MD_HOST/computeMetadata/v1/instance/preempted" 2>/dev/null)
  if [ "$p" = TRUE ]; then p=true; else p=false; fi
  [ -f "$SS_HOME/startup.sh" ] && timeout 10 bash "$SS_HOME/startup.sh" event vm_notice "\"preempted\": $p"
) &
EVENT=$!

# finish CODE: give the vm_notice upload until the deadline, then exit CODE.
finish() {
  while kill -0 "$EVENT" 2>/dev/null && [ "$(date +%s%N)" -lt "$DEADLINE_NS" ]; do sleep 0.1; done
  exit "$1"
}

# Longest wait for a trainer still starting up to install its SIGTERM handler (it takes well under a
# second: interpreter start and the CLI's imports; torch loads later, after the handler).
HANDLER_WAIT_S=3

# handles_term PID: PID has a SIGTERM handler or ignores SIGTERM (bit 15 of SigCgt / SigIgn).
# A trainer with neither would die at once and skip its emergency checkpoint.
handles_term() {
  local cgt ign
  cgt=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null)
  ign=$(awk '/^SigIgn:/ {print $2}' "/proc/$1/status" 2>/dev/null)
  [ -n "$cgt" ] && [ -n "$ign" ] || return 1
  (( (((16#$cgt) | (16#$ign)) >> 14) & 1 ))
}

# alive PID: running and not a zombie (a zombie has already finished its checkpoint).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

if [ ! -f "$PIDFILE" ]; then
  log "no $PIDFILE: no trainer to stop"
  finish 0
fi
PID=$(cat "$PIDFILE" 2>/dev/null)
case "$PID" in
  '' | *[!0-9]*) log "$PIDFILE does not hold a pid; nothing to stop"; finish 0 ;;
esac
if ! alive "$PID"; then
  log "trainer pid $PID is not running"
  finish 0
fi

tries=0  # the handler wait counts against the budget: the VM stops on its own clock
while alive "$PID" && ! handles_term "$PID" && [ "$tries" -lt $((HANDLER_WAIT_S * 10)) ]; do
  [ "$tries" -eq 0 ] && log "trainer pid $PID is still starting (no SIGTERM handler yet); waiting up to $HANDLER_WAIT_S s"
  tries=$((tries + 1))
  sleep 0.1
done
log "sending SIGTERM to trainer pid $PID; waiting up to $(left_ms) ms (of $((NOTICE_S + GRACE_S)) s from the notice) for its emergency checkpoint"
kill -TERM "$PID" 2>/dev/null
while alive "$PID"; do
  if [ "$(date +%s%N)" -ge "$DEADLINE_NS" ]; then
    log "trainer pid $PID still running $((NOTICE_S + GRACE_S)) s after the notice; the VM stops anyway"
    exit 1
  fi
  sleep 0.2
done
log "trainer pid $PID exited after $((($(date +%s%N) - START_NS) / 1000000)) ms"
finish 0
