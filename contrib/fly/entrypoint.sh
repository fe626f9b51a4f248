#!/bin/sh
# entrypoint.sh: the standby machine's entrypoint on Fly.io.
#
#   entrypoint.sh COMMAND [ARG]...
#   entrypoint.sh --pull          (PASSIVE=yes: the promotion's pull)
#
# 1. Pulls the state from RCLONE_REMOTE:RCLONE_PATH into STATE_DIR (retried;
#    the service is not started on stale state: the machine fails instead)
#    and deletes an old completion marker from the remote.
# 2. Runs COMMAND (the service) and waits.
# 3. On SIGTERM/SIGINT (fly machine stop, sent by failoverd at failback),
#    or when the service exits by itself: stops the service, pushes
#    STATE_DIR back to the remote and then writes the completion marker
#    RCLONE_REMOTE:RCLONE_PATH/.failoverd-standby-pushed, one line of JSON:
#      {"pushed_at":"2026-11-28T04:00:00Z","machine":"<FLY_MACHINE_ID>"}
#    failoverd waits for it before pulling the state back; it is written only
#    after a complete push, never when the push failed or STATE_DIR is empty.
#
# Passive mode (PASSIVE=yes, for FLY_STANDBY_MODE=suspended with
# FLY_PROMOTE_URL): step 1 pulls nothing; the service starts at once with
# FAILOVERD_PASSIVE=1 and waits to be promoted. failoverd suspends the
# machine warm after its warm-up and resumes it at an activation, with the
# memory of the moment it was suspended: the state in it is stale. It then
# POSTs FLY_PROMOTE_URL (served by the service); the service runs
# `entrypoint.sh --pull` (the pull of step 1, which also marks the machine
# promoted), loads STATE_DIR and takes over. Step 3 pushes only a promoted
# machine's state: one never promoted leaves the remote as it is (the
# marker alone is written, as for a stop before the service ran).
#
# Environment: STATE_DIR, RCLONE_REMOTE, RCLONE_PATH (required); RCLONE
# [rclone]; RCLONE_FLAGS (extra flags, split on spaces); PULL_TRIES [5];
# PUSH_TIMEOUT seconds [150]; SERVICE_STOP_TIMEOUT seconds [60]; PASSIVE
# [no]; PROMOTED_FLAG [/tmp/.failoverd-promoted]. The remote is
# configured with RCLONE_CONFIG_<REMOTE>_* secrets (see fly.toml).
# fly.toml's kill_timeout must cover SERVICE_STOP_TIMEOUT + PUSH_TIMEOUT.

set -u

MARKER=.failoverd-standby-pushed
RCLONE=${RCLONE:-rclone}
RCLONE_FLAGS=${RCLONE_FLAGS:-}
PULL_TRIES=${PULL_TRIES:-5}
PUSH_TIMEOUT=${PUSH_TIMEOUT:-150}
SERVICE_STOP_TIMEOUT=${SERVICE_STOP_TIMEOUT:-60}
PASSIVE=${PASSIVE:-no}
PROMOTED_FLAG=${PROMOTED_FLAG:-/tmp/.failoverd-promoted}

log() {
	echo "entrypoint: $*" >&2
}

die() {
	log "$*"
	exit 1
}

[ $# -gt 0 ] || die "usage: entrypoint.sh COMMAND [ARG]... | entrypoint.sh --pull"
case $PASSIVE in
yes | no) ;;
*) die "PASSIVE must be yes or no (got $PASSIVE)" ;;
esac
[ -n "${STATE_DIR:-}" ] || die "STATE_DIR is not set"
[ -n "${RCLONE_REMOTE:-}" ] || die "RCLONE_REMOTE is not set"
[ -n "${RCLONE_PATH:-}" ] || die "RCLONE_PATH is not set"
case $STATE_DIR in
/ | /*/ | "") die "STATE_DIR must be an absolute directory, not / (got $STATE_DIR)" ;;
/*) ;;
*) die "STATE_DIR must be absolute (got $STATE_DIR)" ;;
esac
REMOTE="$RCLONE_REMOTE:$RCLONE_PATH"

rc() {
	# shellcheck disable=SC2086
	"$RCLONE" $RCLONE_FLAGS "$@"
}

write_marker() {
	stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	printf '{"pushed_at":"%s","machine":"%s"}\n' "$stamp" "${FLY_MACHINE_ID:-}" |
		rc rcat "$REMOTE/$MARKER"
}

# --- 1. pull ---------------------------------------------------------------
# Stopped before the service ran: the remote's state is still the latest.
# shellcheck disable=SC2317  # called from the traps
early_stop() {
	log "got $1 before the service started; the remote is unchanged"
	write_marker || die "writing $REMOTE/$MARKER failed"
	exit 0
}
# Fly starts a stopped machine from a clean root file system: copy, never
# sync, so nothing the image put into STATE_DIR is deleted.
pull() {
	mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
	try=1
	until rc copy --exclude "/$MARKER" "$REMOTE" "$STATE_DIR"; do
		[ "$try" -ge "$PULL_TRIES" ] && die "pull from $REMOTE failed $try times; not starting the service"
		log "pull from $REMOTE failed (try $try of $PULL_TRIES), retrying"
		sleep $((try * 2))
		try=$((try + 1))
	done
	log "pulled $REMOTE into $STATE_DIR"
	# An old marker would tell failoverd that this run's state is already on
	# the remote. A missing one is fine.
	rc deletefile "$REMOTE/$MARKER" 2>/dev/null || true
}

if [ "$1" = --pull ]; then
	# The promotion of a passive standby: from now on its state is the
	# newest, and step 3 pushes it.
	pull
	: >"$PROMOTED_FLAG" || die "cannot write $PROMOTED_FLAG"
	exit 0
fi
trap 'early_stop TERM' TERM
trap 'early_stop INT' INT
if [ "$PASSIVE" = yes ]; then
	rm -f "$PROMOTED_FLAG"
	mkdir -p "$STATE_DIR" || die "cannot create $STATE_DIR"
	log "passive: nothing pulled; the service waits to be promoted"
	export FAILOVERD_PASSIVE=1
else
	pull
fi

# --- 2. run ----------------------------------------------------------------
child=
killer=
stopping=0
# shellcheck disable=SC2317  # called from the traps
on_signal() {
	[ "$stopping" -eq 1 ] && return
	stopping=1
	log "got $1, stopping the service"
	[ -n "$child" ] || return
	kill -TERM "$child" 2>/dev/null
	# A service that outlives SERVICE_STOP_TIMEOUT is killed, so that the
	# push still fits into fly.toml's kill_timeout.
	# One-second naps: the killer, stopped with TERM when the service
	# ends in time, leaves no sleep of its own behind for longer than that
	# (a single long sleep outlived it when TERM came before its pid was
	# known).
	(
		n=0
		while [ "$n" -lt "$SERVICE_STOP_TIMEOUT" ]; do
			sleep 1
			n=$((n + 1))
		done
		log "the service did not stop within ${SERVICE_STOP_TIMEOUT}s, killing it"
		kill -KILL "$child" 2>/dev/null
	) &
	killer=$!
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

"$@" &
child=$!
log "service started (pid $child)"
if [ "$stopping" -eq 1 ]; then
	# The signal came between the start and child=$!.
	stopping=0
	on_signal TERM
fi

# wait returns early when a trapped signal arrives: wait again until the
# service has really been reaped (then kill -0 fails).
while :; do
	wait "$child"
	status=$?
	kill -0 "$child" 2>/dev/null || break
done
trap '' TERM INT
[ -n "$killer" ] && kill -TERM "$killer" 2>/dev/null && wait "$killer"
if [ "$stopping" -eq 1 ]; then
	log "service stopped (status $status)"
	status=0
else
	log "service exited by itself (status $status)"
fi

# --- 3. push, then the marker -----------------------------------------------
if [ "$PASSIVE" = yes ] && [ ! -e "$PROMOTED_FLAG" ]; then
	# Never promoted: its state is not the newest; the remote's is.
	write_marker || die "writing $REMOTE/$MARKER failed"
	log "passive and never promoted: nothing pushed, the remote is unchanged"
	exit "$status"
fi
if [ -z "$(ls -A "$STATE_DIR" 2>/dev/null)" ]; then
	# Pushing an empty directory would wipe the remote's state.
	die "$STATE_DIR is empty; not pushing, no marker written"
fi
deadline=$(($(date +%s) + PUSH_TIMEOUT))
try=1
until rc sync --exclude "/$MARKER" "$STATE_DIR" "$REMOTE"; do
	[ "$(date +%s)" -ge "$deadline" ] && die "push to $REMOTE failed $try times; no marker written"
	log "push to $REMOTE failed (try $try), retrying"
	sleep 2
	try=$((try + 1))
done
write_marker || die "pushed, but writing $REMOTE/$MARKER failed"
log "pushed $STATE_DIR to $REMOTE and wrote $MARKER ($stamp)"
exit "$status"
