#!/bin/sh
# deploy.sh: deploy the standby app and leave exactly one machine, stopped.
#
#   ./deploy.sh [-a APP] [-c fly.toml] [-y]
#
# Runs "fly deploy --ha=false" (one machine, not Fly's default two), then
# lists the machines: extra ones are destroyed (asked first unless -y), and
# the one kept is stopped (a suspended machine is stopped too, which drops its
# snapshot: failoverd always starts from a clean, freshly pulled state).
# Never use "fly scale count" for the standby: it destroys stopped machines
# and cannot start them.
# Needs flyctl (as fly or flyctl) logged in, and jq.

set -eu

APP=${FLY_APP:-}
CONFIG=fly.toml
YES=0
while getopts a:c:y opt; do
	case $opt in
	a) APP=$OPTARG ;;
	c) CONFIG=$OPTARG ;;
	y) YES=1 ;;
	*) echo "usage: $0 [-a APP] [-c fly.toml] [-y]" >&2; exit 2 ;;
	esac
done

die() {
	echo "deploy.sh: $*" >&2
	exit 1
}

if command -v fly >/dev/null 2>&1; then
	FLY=fly
elif command -v flyctl >/dev/null 2>&1; then
	FLY=flyctl
else
	die "flyctl is not installed (https://fly.io/docs/flyctl/install/)"
fi
command -v jq >/dev/null 2>&1 || die "jq is needed to read the machine list"
[ -f "$CONFIG" ] || die "$CONFIG not found"
if [ -z "$APP" ]; then
	APP=$(sed -n 's/^app *= *"\(.*\)".*/\1/p' "$CONFIG" | head -n 1)
	[ -n "$APP" ] || die "no app in $CONFIG; use -a APP"
fi
grep -q '^ *auto_start_machines *= *false' "$CONFIG" ||
	echo "deploy.sh: warning: $CONFIG does not set auto_start_machines = false: Fly's proxy may start the standby" >&2
grep -q '^ *auto_stop_machines *= *"off"' "$CONFIG" ||
	echo "deploy.sh: warning: $CONFIG does not set auto_stop_machines = \"off\": Fly's proxy may stop or suspend the standby" >&2

machines() {
	"$FLY" machine list --app "$APP" --json
}

echo "deploying $APP with $CONFIG"
"$FLY" deploy --config "$CONFIG" --app "$APP" --ha=false

list=$(machines) || die "cannot list the machines of $APP"
count=$(printf '%s' "$list" | jq 'length')
[ "$count" -ge 1 ] || die "$APP has no machine after the deploy; run this again"

# Keep a stopped machine if there is one, else the oldest.
keep=$(printf '%s' "$list" | jq -r '
	(map(select(.state == "stopped")) | sort_by(.created_at) | .[0].id) //
	(sort_by(.created_at) | .[0].id)')
extra=$(printf '%s' "$list" | jq -r --arg keep "$keep" '.[] | select(.id != $keep) | .id')
if [ -n "$extra" ]; then
	echo "$APP has $count machines; keeping $keep, destroying: $(printf "%s" "$extra" | tr "\n" " ")"
	if [ "$YES" -ne 1 ]; then
		printf 'destroy them? [y/N] '
		read -r answer
		case $answer in y | Y | yes) ;; *) die "not destroying; the standby must have exactly one machine" ;; esac
	fi
	for id in $extra; do
		"$FLY" machine destroy --app "$APP" --force "$id"
	done
fi

state=$(machines | jq -r --arg keep "$keep" '.[] | select(.id == $keep) | .state')
if [ "$state" != stopped ]; then
	echo "stopping $keep (state $state)"
	"$FLY" machine stop --app "$APP" "$keep"
fi

# Wait (at most 2 minutes) until the machine list shows exactly one
# machine, stopped.
i=0
while :; do
	list=$(machines)
	n=$(printf '%s' "$list" | jq 'length')
	state=$(printf '%s' "$list" | jq -r '.[0].state')
	if [ "$n" -eq 1 ] && [ "$state" = stopped ]; then
		break
	fi
	i=$((i + 1))
	[ "$i" -le 24 ] || die "after 2 minutes $APP has $n machine(s), the first $state; check with: $FLY machine list -a $APP"
	sleep 5
done
echo "$APP: one machine ($keep), stopped. Standby ready; now run: failoverctl selftest"
