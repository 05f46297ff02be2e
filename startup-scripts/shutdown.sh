#!/usr/bin/env bash
# SpotShield shutdown script: runs on the ACPI soft-off that precedes a Spot preemption.
#
# Tells the trainer (SIGTERM to the pid startup.sh wrote in $SPOTSHIELD_HOME/trainer.pid) and
# waits for its emergency checkpoint, bounded by the 30 s preemption notice. Exit 0 when the
# trainer has exited (or none was running), 1 when it was still running at the deadline.
# Rendered by Terraform's templatefile(): no dollar-brace or percent-brace sequences here.
set -o pipefail

log() { echo "spotshield-shutdown: $*" >&2; }

env_or() {
  local v
  v=$(printenv "$1")
  if [ -n "$v" ]; then echo "$v"; else echo "$2"; fi
}

SS_HOME=$(env_or SPOTSHIELD_HOME /opt/spotshield)
PIDFILE="$SS_HOME/trainer.pid"
# GCE gives 30 s between the notice and the hard stop; leave a few for the OS to power off.
GRACE_S=$(env_or SPOTSHIELD_SHUTDOWN_GRACE_S 27)

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
  exit 0
fi
PID=$(cat "$PIDFILE" 2>/dev/null)
case "$PID" in
  '' | *[!0-9]*) log "$PIDFILE does not hold a pid; nothing to stop"; exit 0 ;;
esac
if ! alive "$PID"; then
  log "trainer pid $PID is not running"
  exit 0
fi

START=$(date +%s%N)  # the handler wait counts against the grace period: the VM stops on its own clock
tries=0
while alive "$PID" && ! handles_term "$PID" && [ "$tries" -lt $((HANDLER_WAIT_S * 10)) ]; do
  [ "$tries" -eq 0 ] && log "trainer pid $PID is still starting (no SIGTERM handler yet); waiting up to $HANDLER_WAIT_S s"
  tries=$((tries + 1))
  sleep 0.1
done
log "sending SIGTERM to trainer pid $PID; waiting up to $GRACE_S s for its emergency checkpoint"
kill -TERM "$PID" 2>/dev/null
DEADLINE_NS=$((GRACE_S * 1000000000))
while alive "$PID"; do
  if [ $(($(date +%s%N) - START)) -ge "$DEADLINE_NS" ]; then
    log "trainer pid $PID still running after $GRACE_S s; the VM stops anyway"
    exit 1
  fi
  sleep 0.2
done
log "trainer pid $PID exited after $((($(date +%s%N) - START) / 1000000)) ms"
exit 0
