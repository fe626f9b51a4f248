#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or with sudo):
#   contrib/setup.sh deps    install the build and test dependencies
#   contrib/setup.sh build   deps + configure + make
#   contrib/setup.sh test    build + the whole test suite (make check)
#   contrib/setup.sh demo    build + a self-contained failover demo (no accounts)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

DEPS=(build-essential autoconf automake pkg-config
      libevent-dev libcurl4-openssl-dev libjson-c-dev libbsd-dev libcmocka-dev
      python3 rclone util-linux procps socat)

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
		./configure --sysconfdir=/etc --localstatedir=/var --runstatedir=/run ${CONFIGURE_FLAGS:-}
	fi
	make -j"$(nproc)"
}

case "${1:-}" in
deps) deps ;;
build) build ;;
test)
	build
	make -j"$(nproc)" check || { cat test-suite.log 2>/dev/null | tail -200; exit 1; }
	;;
demo)
	build
	exec python3 contrib/demo.py
	;;
*)
	echo "usage: contrib/setup.sh deps|build|test|demo" >&2
	exit 2
	;;
esac
