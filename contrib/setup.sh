#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or with sudo):
#   contrib/setup.sh deps    install the build and test dependencies
#   contrib/setup.sh build   deps + configure + make
#   contrib/setup.sh test    build + the whole test suite (make check)
#   contrib/setup.sh demo    build + a self-contained failover demo (no accounts)
#   contrib/setup.sh demo-cluster  build + three monitors on a three-member etcd:
#                            a leader killed, the primary's host cut off, one failover
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

DEPS=(build-essential autoconf automake pkg-config
      libevent-dev libcurl4-openssl-dev libjson-c-dev libbsd-dev libcmocka-dev
      python3 rclone util-linux procps socat valgrind
      logrotate shellcheck jq systemd clang libclang-rt-14-dev mandoc
      clang-format cppcheck faketime)
DEPS+=(etcd-server etcd-client) # a real etcd for test_etcd (COORDINATOR=etcd)
DEPS+=(prometheus) # promtool and a Prometheus server for test_metrics

deps() {
	local missing=()
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
	deps
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
		autoreconf -fi
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		# shellcheck disable=SC2086 # CONFIGURE_FLAGS is a list of options
		./configure --sysconfdir=/etc --localstatedir=/var --runstatedir=/run ${CONFIGURE_FLAGS:-}
	fi
	make -j"$(nproc)"
}

# Adds a test-suite.log's totals to $passed/$failed and shows its failures.
count() {
	local log=$1 p f
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$log" | awk '{s+=$1} END {print s+0}')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "${f:-0}" != 0 ]; then
		echo "${2:-}failures in $log:"
		tail -200 "$log"
	fi
}

case "${1:-}" in
deps) deps ;;
build) build ;;
test)
	build
	passed=0 failed=0
	# The whole suite twice: the normal build, then ASan+UBSan (halt on
	# the first report) in a copy of the tree, so the normal build stays.
	rc=0
	make -j"$(nproc)" check || rc=1
	count test-suite.log
	if [ "${FOD_SKIP_SANITIZERS:-}" != 1 ]; then
		san=$(mktemp -d "${TMPDIR:-/tmp}/failoverd-san.XXXXXX")
		trap 'rm -rf "$san"' EXIT
		cp -a . "$san/src"
		(
			cd "$san/src" && make -s distclean >/dev/null &&
			./configure -q --sysconfdir=/etc --localstatedir=/var --runstatedir=/run \
			    --enable-sanitizers &&
			make -s -j"$(nproc)" >/dev/null &&
			ASAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
			UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			    make -j"$(nproc)" check
		) || rc=1
		count "$san/src/test-suite.log" "sanitizers: "
	fi
	if [ "${FOD_SKIP_VALGRIND:-}" != 1 ]; then
		# The daemon under valgrind memcheck for a named subset: any error or
		# definitely lost byte fails the test (fodtest's FOD_VALGRIND_DAEMON).
		vg=$(mktemp -d "${TMPDIR:-/tmp}/failoverd-vg.XXXXXX")
		for t in test_failover.py test_control.py test_failover_sync.py test_failover_notify.py; do
			if FOD_VALGRIND_DAEMON=$vg FOD_BUILDDIR=$top FOD_SRCDIR=$top \
			    python3 "tests/integration/$t" >"$vg/$t.log" 2>&1; then
				passed=$((passed + 1))
				echo "PASS: valgrind $t"
			else
				failed=$((failed + 1)) rc=1
				echo "FAIL: valgrind $t"
				tail -50 "$vg/$t.log"
				cat "$vg"/vg.*.log 2>/dev/null | head -100
			fi
		done
		rm -rf "$vg"
	fi
	if [ "${FOD_SKIP_FUZZ:-}" != 1 ]; then
		# Every libFuzzer target for a bounded time (about a minute in all);
		# any crash, leak or UBSan report fails.
		if sh tests/fuzz/run.sh "${FUZZ_SECONDS:-10}"; then
			passed=$((passed + 1))
			echo "PASS: fuzz"
		else
			failed=$((failed + 1)) rc=1
			echo "FAIL: fuzz"
		fi
	fi
	echo "tests: $passed passed, $failed failed"
	exit $rc
	;;
demo)
	build
	exec python3 contrib/demo.py
	;;
demo-cluster)
	build
	exec python3 contrib/demo_cluster.py
	;;
*)
	echo "usage: contrib/setup.sh deps|build|test|demo|demo-cluster" >&2
	exit 2
	;;
esac
