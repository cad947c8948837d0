#!/usr/bin/env bash
# Build what users install from a clean clone of the committed tree, install
# it, and test what was installed (as root; .ci/run runs it after make test):
#   1. the version agrees everywhere (tools/check-version.sh)
#   2. PGXN: make dist's zip; pgxn install builds and installs it, and
#      pgxn check runs its make installcheck (as postgres)
#   3. Debian: dpkg-buildpackage -us -uc -b (which runs pg_buildext
#      installcheck), apt-get install of the .deb, and the autopkgtest's
#      smoke test (debian/tests/smoke) against the installed package
# The .deb goes in last, over whatever make test and pgxn install put in the
# system tree, and the smoke test checks it is the package's files it runs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
note() { printf '\n=== %s\n' "$*"; }
die() { echo "package-test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages and the extension"

note "the version"
"$ROOT/tools/check-version.sh"

note "packaging tools"
WEBHOOK_EXTRA_PACKAGES="dpkg-dev pgxnclient" "$ROOT/tools/deps.sh"

# a clean clone, where the postgres user can read (the build-time tests'
# server loads the extension from the build tree)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/webhook-package.XXXXXX")
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
git clone --quiet "$ROOT" "$WORK/webhook"
SRC=$WORK/webhook
cd "$SRC"
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
	echo "installing the build dependencies of debian/control"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get build-dep -y -qq ./ >/dev/null
fi

note "PGXN: make dist, pgxn install, pgxn check"
make -s dist
zip=$(ls "$SRC"/webhook-*.zip)
pgxn install "$zip" >"$WORK/pgxn-install.log" 2>&1 ||
	{ tail -n 50 "$WORK/pgxn-install.log"; die "pgxn install $zip failed"; }
cp "$zip" "$WORK/dist.zip"
chown postgres: "$WORK/dist.zip"
(cd "$WORK" && runuser -u postgres -- env PATH="$(pg_config --bindir):/usr/bin:/bin" \
	pgxn check "$WORK/dist.zip") ||
	die "pgxn check $zip failed (make installcheck of the distribution)"

note "Debian: dpkg-buildpackage -us -uc -b"
git clean -q -fdx
dpkg-buildpackage -us -uc -b >"$WORK/build.log" 2>&1 ||
	{ tail -n 80 "$WORK/build.log"; die "dpkg-buildpackage failed (log above)"; }
sed -n '/^### PostgreSQL .* installcheck ###$/,/^### End .* installcheck/p' "$WORK/build.log" |
	grep -E '^(###|test | All [0-9]+ tests)' || true
debs=("$WORK"/postgresql-*-webhook_*.deb)
[ -e "${debs[0]}" ] || die "dpkg-buildpackage made no postgresql-<version>-webhook package"
ls -l "${debs[@]}"

note "apt-get install ${debs[*]##*/}"
# --reinstall: the same version may be installed already, with make test's
# or pgxn's files over it
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "${debs[@]}" >"$WORK/apt.log" 2>&1 ||
	{ cat "$WORK/apt.log"; die "apt-get install failed"; }

note "autopkgtest smoke (debian/tests/smoke) against the installed package"
"$SRC/debian/tests/smoke"
