#!/usr/bin/env bash
# Install the Debian packages that building, testing and the demo need.
# Does nothing when they are all present; needs root (or sudo) otherwise.
set -euo pipefail

pkgs=(make gcc pkg-config postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev
      postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl
      python3 procps postgresql-15-auto-failover ${WEBHOOK_EXTRA_PACKAGES:-})

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
