#!/bin/sh
# Builds the libFuzzer targets with clang straight from the sources and runs
# each for a bounded time; fails on any crash, leak or UBSan report.
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]    (default 15 s each, all of them)
#
# Environment: CC (default clang), FOD_SRCDIR, FOD_BUILDDIR (where fodconf.h
# is; default the source tree), FUZZ_OUT (build and work directory; default
# $FOD_BUILDDIR/tests/fuzz/fuzz_out).
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${FOD_SRCDIR:-$(cd "$here/../.." && pwd)}
build=${FOD_BUILDDIR:-$src}
out=${FUZZ_OUT:-$build/tests/fuzz/fuzz_out}
secs=${1:-15}
[ $# -gt 0 ] && shift
names=${*:-proto commands config fly state telegram etcd}
CC=${CC:-clang}

case $secs in
'' | *[!0-9]*) echo "run.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;;
esac
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "run.sh: $CC not found (apt-get install clang)" >&2
	exit 2
fi

# Mirror Makefile.am's AM_CPPFLAGS; without a configured tree, _GNU_SOURCE is
# all fodconf.h gives these files.
if [ -f "$build/fodconf.h" ]; then
	conf="-include $build/fodconf.h"
else
	conf="-D_GNU_SOURCE"
fi
pc=$(pkg-config --cflags json-c libbsd-overlay) || exit 2
pclibs=$(pkg-config --libs json-c libbsd-overlay) || exit 2
# The quotes in -DSYSCONFDIR="/etc" are meant literally: they make C strings.
# shellcheck disable=SC2089
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter
	$conf -I$src/common -I$src/daemon
	-DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" -DRUNSTATEDIR=\"/run\" $pc"
common="$src/common/util.c $src/common/log.c"
configsrc="$src/daemon/config.c $src/daemon/config_value.c $src/daemon/config_check.c $src/daemon/config_print.c"

sources() {
	case $1 in
	proto) echo "$src/common/proto.c" ;;
	commands) echo "$src/daemon/commands.c $src/common/proto.c" ;;
	config) echo "$configsrc" ;;
	fly) echo "$src/daemon/fly_api.c" ;;
	state) echo "$src/daemon/state.c" ;;
	telegram) echo "$src/daemon/notify.c $src/daemon/notify_tg.c $configsrc $src/daemon/http.c" ;;
	etcd) echo "$src/daemon/etcd.c $src/daemon/etcd_wire.c $src/daemon/http.c" ;;
	*) return 1 ;;
	esac
}

# Libraries beyond json-c and libbsd (notify.c sits on http.c and libevent).
extra_libs() {
	case $1 in
	telegram | etcd) pkg-config --libs libevent libcurl ;;
	*) echo ;;
	esac
}

mkdir -p "$out" || exit 2
# libFuzzer's own -detect_leaks plus sanitizers that stop at the first report.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

fail=0
for n in $names; do
	s=$(sources "$n") || { echo "run.sh: no fuzzer '$n'" >&2; exit 2; }
	xl=$(extra_libs "$n") || exit 2
	bin=$out/fuzz_$n
	# shellcheck disable=SC2086,SC2090 # word splitting of the flag lists is wanted
	if ! $CC $cflags -o "$bin" "$here/fuzz_$n.c" $s $common $pclibs $xl -lm \
	    >"$out/$n.build.log" 2>&1; then
		cat "$out/$n.build.log" >&2
		echo "fuzz_$n: BUILD FAILED"
		fail=1
		continue
	fi
	# New inputs go to a work directory, never into the seeds.
	work=$out/corpus-$n
	mkdir -p "$work" "$out/artifacts"
	opts=
	[ -f "$here/$n.dict" ] && opts="-dict=$here/$n.dict"
	# Lines up to PROTO_MAX_LINE and just over; config files like the example.
	case $n in
	proto | commands) opts="$opts -max_len=66000" ;;
	config) opts="$opts -max_len=8192" ;;
	*) opts="$opts -max_len=16384" ;;
	esac
	# shellcheck disable=SC2086 # opts is a list of options
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$out/artifacts/$n-" $opts \
	    "$work" "$here/corpus/$n" </dev/null >"$out/$n.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$n.log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$n.log" | tail -1)
	cov=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$out/$n.log" | tail -1)
	if [ $rc -ne 0 ] || grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
	    -e 'runtime error:' -e 'ERROR: libFuzzer' "$out/$n.log"; then
		grep -A40 -m1 -e 'ERROR:' -e 'runtime error:' -e '==ERROR' "$out/$n.log" >&2
		echo "fuzz_$n: FAIL after ${execs:-?} execs (exit $rc); log $out/$n.log," \
		    "input in $out/artifacts/"
		fail=1
	else
		echo "fuzz_$n: ok, ${execs:-?} execs in ${secs}s (${rate:-?}/s), cov ${cov:-?}"
	fi
done
exit $fail
