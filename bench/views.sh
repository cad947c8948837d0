#!/usr/bin/env bash
#
# bench/views.sh: what reading the views costs with many events kept in
# the log (`make bench-views`, BENCHMARKS.md "Reading the views").
#
# A throwaway cluster (tools/cluster.sh) and test/receiver.py on 127.0.0.1.
# One webhook, paused, on a table v (id int PRIMARY KEY, pad text); one
# INSERT ... SELECT of VIEWS_EVENTS rows.  Times each query below three
# times (psql's \timing) with every event pending, then resumes the webhook
# until at least VIEWS_DELIVER are delivered, pauses it, and times them
# again.  Prints a markdown table (min-max of the three runs, ms) and the
# EXPLAIN ANALYZE execution time of the webhooks view.  Nothing is asserted.
#
# Usage (as root, the extension installed): bench/views.sh
# Environment: VIEWS_EVENTS=1000000, VIEWS_DELIVER=100000, BENCH_KEEP=1
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/cluster.sh"
EVENTS=${VIEWS_EVENTS:-1000000}
DELIVER=${VIEWS_DELIVER:-100000}

WORK=$(make_workdir views)
cp "$ROOT/test/receiver.py" "$WORK/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK"
cleanup() {
	receiver_stop "$WORK"
	cluster_stop "$WORK"
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

cluster_start "$WORK" "webhook.allowed_networks = '127.0.0.0/8'" >/dev/null || exit 1
receiver_start "$WORK" "$WORK/receiver.py" "$WORK/port" "$WORK/received.log" >/dev/null 2>&1 || exit 1
URL=http://127.0.0.1:$RECEIVER_PORT/in

echo "views: $EVENTS events in the log, one webhook" >&2
pg -d postgres -q <<SQL || exit 1
CREATE EXTENSION webhook;
CREATE TABLE v (id int PRIMARY KEY, pad text);
SELECT webhook.register('big', '$URL', 'v') \g /dev/null
SELECT webhook.pause('big') \g /dev/null
INSERT INTO v SELECT g, 'payload text of a typical row' FROM generate_series(1, $EVENTS) g;
ANALYZE;
SQL

QUERIES=(
	"SELECT name, pending, delivered, failed, lag FROM webhook.webhooks"
	"SELECT count(*) FROM webhook.deliveries WHERE status = 'failed'"
	"SELECT count(*) FROM webhook.deliveries WHERE status IN ('pending', 'sending')"
	"SELECT id, status FROM webhook.deliveries ORDER BY id DESC LIMIT 10"
	"SELECT status, count(*) FROM webhook.deliveries GROUP BY status"
)

# min-max of three timed runs of $1, in ms
timed() {
	local t
	t=$( { printf '\\timing on\n'; for _ in 1 2 3; do printf '%s;\n' "$1"; done; } |
		pg -d postgres -q 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n)
	printf '%s-%s' "$(echo "$t" | head -1 | cut -d. -f1)" "$(echo "$t" | tail -1 | cut -d. -f1)"
}

declare -A before after
for q in "${QUERIES[@]}"; do before[$q]=$(timed "$q"); done
plan_before=$(pg -d postgres -Atc "EXPLAIN (ANALYZE, TIMING OFF) ${QUERIES[0]}" | grep 'Execution Time')

pg -d postgres -q -c "SELECT webhook.resume('big')" >/dev/null
for _ in $(seq 600); do
	n=$(pg -d postgres -Atc "SELECT delivered FROM webhook.webhooks")
	[ "${n:-0}" -ge "$DELIVER" ] && break
	sleep 0.5
done
pg -d postgres -q -c "SELECT webhook.pause('big')" >/dev/null
# the worker hands back what it holds of a paused webhook at its next claim
sleep 1
counts=$(pg -d postgres -Atc "SELECT pending || ' pending, ' || delivered || ' delivered' FROM webhook.webhooks")
progress=$(pg -d postgres -Atc "SELECT count(*) FROM webhook.progress")
for q in "${QUERIES[@]}"; do after[$q]=$(timed "$q"); done
plan_after=$(pg -d postgres -Atc "EXPLAIN (ANALYZE, TIMING OFF) ${QUERIES[0]}" | grep 'Execution Time')

echo
echo "| query | all $EVENTS pending (ms) | $counts, $progress progress rows (ms) |"
echo "| --- | --- | --- |"
for q in "${QUERIES[@]}"; do
	echo "| \`$q\` | ${before[$q]} | ${after[$q]} |"
done
echo
echo "EXPLAIN ANALYZE of the first: $plan_before (all pending); $plan_after (after)"
