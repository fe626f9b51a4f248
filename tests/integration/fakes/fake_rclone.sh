#!/bin/sh
# fake_rclone.sh: stands in for rclone in tests/integration/test_sync.py
# (RCLONE=/path/to/fake_rclone.sh). Driven by RCLONE_FAKE_* settings, which
# failoverd hands to rclone like every RCLONE_* key of its config:
#
#   RCLONE_FAKE_DUMP=DIR    for every run: DIR/argv.PID (the arguments),
#                           DIR/env.PID (the environment exactly as exec'd),
#                           both NUL-separated, and DIR/kind.PID
#   RCLONE_FAKE_WHEN=KIND   misbehave only for push, pull (remote -> staging),
#                           apply (staging -> STATE_DIR), cat, lsf or any
#                           [any]; every other run execs the real rclone
#   RCLONE_FAKE_REAL=PATH   the real rclone [/usr/bin/rclone]
#   RCLONE_FAKE_PIDFILE=F   its own pid in F
#   RCLONE_FAKE_PARTIAL=1   (sync) write into the destination first: a new
#                           file and an existing one overwritten with garbage
#   RCLONE_FAKE_GRANDCHILD=F  fork a background sleep holding no pipe, its
#                           pid in F
#   RCLONE_FAKE_EXIT=N      say so and exit N
#   RCLONE_FAKE_SAY=TEXT    (with EXIT) write TEXT to stderr first
#   RCLONE_FAKE_HANG=1      hang until killed
# With none of PARTIAL, GRANDCHILD, EXIT, HANG set it only records and
# runs the real rclone.
set -u

cmd=${1:-}
last=
backup=0
for a in "$@"; do
	last=$a
	[ "$a" = --backup-dir ] && backup=1
done
case $cmd in
sync)
	if [ "$backup" = 1 ]; then
		kind=apply
	else
		case $last in
		/*) kind=pull ;;
		*) kind=push ;;
		esac
	fi
	;;
*) kind=$cmd ;;
esac

if [ -n "${RCLONE_FAKE_DUMP:-}" ]; then
	printf '%s\0' "$@" >"$RCLONE_FAKE_DUMP/argv.$$"
	cat /proc/$$/environ >"$RCLONE_FAKE_DUMP/env.$$"
	# Last and whole (a rename): a reader counts a run by its kind file.
	echo "$kind" >"$RCLONE_FAKE_DUMP/.kind.$$" && mv "$RCLONE_FAKE_DUMP/.kind.$$" "$RCLONE_FAKE_DUMP/kind.$$"
fi
[ -n "${RCLONE_FAKE_PIDFILE:-}" ] && echo $$ >"$RCLONE_FAKE_PIDFILE"

when=${RCLONE_FAKE_WHEN:-any}
if [ "$when" != any ] && [ "$when" != "$kind" ]; then
	exec "${RCLONE_FAKE_REAL:-/usr/bin/rclone}" "$@"
fi

acted=0
if [ -n "${RCLONE_FAKE_PARTIAL:-}" ] && [ "$cmd" = sync ]; then
	case $last in
	/*)
		mkdir -p "$last"
		printf 'PARTIAL-GARBAGE' >"$last/zz-partial.bin"
		for f in "$last"/*; do
			[ -f "$f" ] && [ "$f" != "$last/zz-partial.bin" ] && printf 'HALF' >"$f"
		done
		echo "fake rclone: wrote part of $last" >&2
		;;
	esac
	acted=1
fi
if [ -n "${RCLONE_FAKE_GRANDCHILD:-}" ]; then
	sleep 1000 >/dev/null 2>&1 &
	echo $! >"$RCLONE_FAKE_GRANDCHILD"
	acted=1
fi
if [ -n "${RCLONE_FAKE_EXIT:-}" ]; then
	[ -n "${RCLONE_FAKE_SAY:-}" ] && echo "$RCLONE_FAKE_SAY" >&2
	echo "fake rclone: $kind failing with exit $RCLONE_FAKE_EXIT" >&2
	exit "$RCLONE_FAKE_EXIT"
fi
if [ -n "${RCLONE_FAKE_HANG:-}" ]; then
	echo "fake rclone: $kind hanging" >&2
	exec sleep 1000
fi
[ "$acted" = 1 ] && exit 0
exec "${RCLONE_FAKE_REAL:-/usr/bin/rclone}" "$@"
