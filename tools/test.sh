#!/usr/bin/env bash
# Run the whole test suite against throwaway clusters:
#   1. pg_regress (sql/, expected/): deterministic SQL behaviour
#   2. pgTAP via pg_prove (test/*.sql): API, SQLSTATEs, privileges, and
#      end-to-end delivery to a real receiver on 127.0.0.1
#   3. Perl TAP via prove (t/*.pl): crashes and faults, each test with its
#      own cluster (PostgreSQL::Test::Cluster)
#   0. the house rules a machine can check (tools/check-house.py)
#   4. signatures checked by the reference Standard Webhooks library for
#      Node.js (skipped, and said so, where node or the npm registry is missing)
# The extension must be built and installed (make test does both).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/cluster.sh"

WORK=$(make_workdir test)
cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$ROOT/t" "$WORK/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"

cleanup() {
	receiver_stop "$WORK"
	cluster_stop "$WORK"
}
trap cleanup EXIT

failed=0
passed=0
note() { printf '\n=== %s\n' "$*"; }

note "house rules (tools/check-house.py)"
if "$SYSPY" "$ROOT/tools/check-house.py"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

note "starting a throwaway cluster in $WORK"
cluster_start "$WORK" \
	"webhook.allowed_networks = '127.0.0.0/8'" \
	"webhook.retry_schedule = '100ms'" \
	"max_prepared_transactions = 10" || exit 1

note "pg_regress"
PGXS_DIR=$(dirname "$(pg_config --pgxs)")
REGRESS=$(sed -n 's/^REGRESS = //p' "$ROOT/Makefile")
# The expected output shows deliveries as the SQL left them, so no worker may
# race the tests: their database is made here the way pg_regress makes it,
# and marked a template, which the launcher never serves (README, "Known
# limits").  pg_regress then uses it as it is (--use-existing).
pg -d postgres -q <<'EOF' || exit 1
CREATE DATABASE contrib_regression TEMPLATE = template0;
ALTER DATABASE contrib_regression SET lc_messages TO 'C';
ALTER DATABASE contrib_regression SET lc_monetary TO 'C';
ALTER DATABASE contrib_regression SET lc_numeric TO 'C';
ALTER DATABASE contrib_regression SET lc_time TO 'C';
ALTER DATABASE contrib_regression SET bytea_output TO 'hex';
ALTER DATABASE contrib_regression SET timezone_abbreviations TO 'Default';
ALTER DATABASE contrib_regression IS_TEMPLATE true;
EOF
if (cd "$WORK" && as_pg "$PGXS_DIR/../test/regress/pg_regress" \
		--inputdir="$WORK" --outputdir="$WORK" --bindir="$PGBIN" \
		--host="$WORK" --port="$PGPORT" --user=postgres \
		--use-existing --dbname=contrib_regression $REGRESS); then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	cat "$WORK/regression.diffs" 2>/dev/null | head -200
fi

note "pgTAP (pg_prove) with a receiver on 127.0.0.1"
receiver_start "$WORK" "$WORK/test/receiver.py" "$WORK/receiver.port" "$WORK/received.log" \
	--secrets "$WORK/secrets" >"$WORK/receiver.out" 2>&1 || exit 1
RPORT=$RECEIVER_PORT
pg -d postgres -q <<EOF || exit 1
ALTER DATABASE postgres SET webhook_test.receiver = 'http://127.0.0.1:$RPORT';
ALTER DATABASE postgres SET webhook_test.log = '$WORK/received.log';
ALTER DATABASE postgres SET webhook_test.secrets = '$WORK/secrets';
EOF
pg -d postgres -q -f "$WORK/test/setup/helpers.sql" >/dev/null || exit 1
if (cd "$WORK" && as_pg pg_prove -h "$WORK" -p "$PGPORT" -U postgres -d postgres \
		--ext .sql test/); then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

note "crash and fault tests (prove)"
PERL_LIB="$PGXS_DIR/../test/perl"
if (cd "$WORK" && as_pg env PERL5LIB="$PERL_LIB" PG_REGRESS="$PGXS_DIR/../test/regress/pg_regress" \
		WEBHOOK_RECEIVER="$WORK/test/receiver.py" PYTHON="$SYSPY" \
		prove -v t/*.pl); then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	tail -n 50 "$WORK"/tmp_check/log/*.log 2>/dev/null
fi

note "a receiver built on the reference Standard Webhooks library (npm standardwebhooks)"
SWC="$ROOT/tools/standardwebhooks-check"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "skipped: node and npm are not installed"
elif [ ! -d "$SWC/node_modules/standardwebhooks" ] &&
	! (cd "$SWC" && npm ci --no-audit --no-fund --loglevel=error); then
	echo "skipped: could not install standardwebhooks from the npm registry"
elif "$SWC/run.sh"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

note "suites"
echo "$passed passed, $failed failed"
cleanup
trap - EXIT
[ "$failed" -eq 0 ] && rm -rf "$WORK"
exit $((failed > 0))
