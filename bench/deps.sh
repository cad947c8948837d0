#!/usr/bin/env bash
# Install the Debian packages the benchmark needs on top of tools/deps.sh's:
# nginx (the receiver), wrk (the HTTP ceiling), postgresql-15-pgq3 (pgq's C
# trigger, a comparison) and, optionally, linux-perf (bench/profile.sh) and
# valgrind (bench/instructions.sh).
# Does nothing when they are all present; needs root (or sudo) otherwise.
# The install does not start the system nginx service (policy-rc.d).
set -euo pipefail

need=(nginx wrk postgresql-15-pgq3 python3 procps)
optional=(linux-perf valgrind)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${need[@]}"; do installed "$p" || missing+=("$p"); done
opt=()
for p in "${optional[@]}"; do installed "$p" || opt+=("$p"); done
[ ${#missing[@]} -eq 0 ] && [ ${#opt[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		[ ${#missing[@]} -eq 0 ] && exit 0
		echo "need root to install: ${missing[*]}" >&2
		exit 1
	fi
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive

# keep package scripts from starting services (nginx would grab port 80)
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod 755 "$policy"
	made_policy=1
fi
trap '[ -n "$made_policy" ] && $sudo rm -f "$policy"' EXIT

$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#opt[@]} -gt 0 ]; then
	echo "installing (optional): ${opt[*]}"
	$sudo apt-get install -y -qq --no-install-recommends "${opt[@]}" >/dev/null ||
		echo "could not install ${opt[*]}; bench/profile.sh will not work" >&2
fi
