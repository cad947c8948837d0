#!/usr/bin/env bash
# The extension's version lives in one place, webhook.control's
# default_version.  Fail, naming each file, if what is released from this
# tree says otherwise: META.json (PGXN, which wants a semantic version: 1.0
# is 1.0.0 there), debian/changelog's newest entry (upstream part), and the
# SQL script a CREATE EXTENSION of that version runs.  make dist (whose zip
# is named from the control file) and the Debian build run this first.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "check-version: $*" >&2; exit 1; }

version=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" webhook.control)
[ -n "$version" ] || die "webhook.control has no default_version = '...' line"

problems=()

# X.Y is X.Y.0 as a semantic version; X.Y.Z stays as it is
case $version in
	*.*.*) semver=$version ;;
	*.*) semver=$version.0 ;;
	*) semver=$version.0.0 ;;
esac
meta=$(/usr/bin/python3 - "$semver" <<'PY'
import json, sys
want = sys.argv[1]
with open("META.json") as f:
    m = json.load(f)
ext = m.get("provides", {}).get("webhook", {})
for where, got in (("version", m.get("version")),
                   ("provides.webhook.version", ext.get("version"))):
    if got != want:
        print(f"META.json: {where} is {got!r}, not {want!r}")
PY
) || die "cannot read META.json"
[ -z "$meta" ] || mapfile -t -O ${#problems[@]} problems <<<"$meta"

# newest entry: "webhook (1.0-1) unstable; ...": drop an epoch and the revision
deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
deb_upstream=${deb#*:}
deb_upstream=${deb_upstream%-*}
[ "$deb_upstream" = "$version" ] ||
	problems+=("debian/changelog: the newest entry is ${deb:-missing} (upstream ${deb_upstream:-none}), not $version-N")

# CREATE EXTENSION webhook runs webhook--V.sql, or reaches V through upgrades
shopt -s nullglob
scripts=(webhook--"$version".sql webhook--*--"$version".sql)
[ -e "${scripts[0]}" ] || [ ${#scripts[@]} -gt 1 ] ||
	problems+=("no webhook--$version.sql nor webhook--*--$version.sql: version $version cannot be installed")

if [ ${#problems[@]} -gt 0 ]; then
	echo "check-version: webhook.control says default_version = '$version', but:" >&2
	printf '  %s\n' "${problems[@]}" >&2
	exit 1
fi
echo "version $version: webhook.control, META.json ($semver), debian/changelog ($deb) agree"
