#!/usr/bin/env bash
#
# bench/filter.sh: what a webhook's condition costs the writer.
#
# Starts its own throwaway PostgreSQL 15 (shared_buffers=1GB,
# max_wal_size=4GB, the extension preloaded), and times one INSERT ...
# SELECT of ROWS rows (default 100,000) into tables watched by a paused
# webhook (so only the writer is measured):
#   none        no condition
#   leakproof   condition => $$new.b = 'even'$$ (half the rows pass; only
#               LEAKPROOF operators: evaluated without a subtransaction)
#   guarded     condition => 'new.a % 2 = 0' (half pass; % can raise, so
#               each row is evaluated in a subtransaction)
#   filtered    condition => 'false' (nothing passes: the cost of a
#               filtered-out change)
# and a table without any trigger.  Variants are interleaved, their order
# rotating each round; each figure is the median of RUNS rounds (default
# 5).  Prints one table on stdout; nothing here asserts a timing.
#
# Usage (as root, after make install): bench/filter.sh
# Environment: ROWS=N, RUNS=N.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/cluster.sh"
ROWS=${ROWS:-100000}
RUNS=${RUNS:-5}
WORK=$(make_workdir bench-filter)
trap 'cluster_stop "$WORK"; rm -rf "$WORK"' EXIT

cluster_start "$WORK" "shared_buffers = '1GB'" "max_wal_size = '4GB'" >/dev/null || exit 1
pg -d postgres -q <<'SQL' >/dev/null || exit 1
CREATE EXTENSION webhook;
CREATE TABLE t_bare (id bigserial PRIMARY KEY, a int, b text);
CREATE TABLE t_none (LIKE t_bare INCLUDING ALL);
CREATE TABLE t_leakproof (LIKE t_bare INCLUDING ALL);
CREATE TABLE t_guarded (LIKE t_bare INCLUDING ALL);
CREATE TABLE t_filtered (LIKE t_bare INCLUDING ALL);
SELECT webhook.register('none', 'http://127.0.0.1:9/', 't_none');
SELECT webhook.register('leakproof', 'http://127.0.0.1:9/', 't_leakproof', condition => $$new.b = 'even'$$);
SELECT webhook.register('guarded', 'http://127.0.0.1:9/', 't_guarded', condition => 'new.a % 2 = 0');
SELECT webhook.register('filtered', 'http://127.0.0.1:9/', 't_filtered', condition => 'false');
SELECT webhook.pause(name) FROM webhook.hook;
SQL

variants="bare none leakproof guarded filtered"
declare -A ms
round=0
for r in $(seq "$RUNS"); do
	round=$((round + 1))
	set -- $variants
	for _ in $(seq $((round % 5))); do set -- "${@:2}" "$1"; done
	for v in "$@"; do
		pg -d postgres -q -c "TRUNCATE t_$v; TRUNCATE webhook.queue, webhook.log_0, webhook.log_1, webhook.log_2; CHECKPOINT" >/dev/null
		t=$(pg -d postgres -At -c '\timing on' -c "INSERT INTO t_$v (a, b)
		        SELECT g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, $ROWS) g" |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		echo "round $r $v: $t ms" >&2
		ms[$v]+=" $t"
	done
done
queued=$(pg -d postgres -At -c "SELECT string_agg(h.name || '=' || (SELECT count(*) FROM webhook.queued q WHERE q.hook_id = h.id), ' ' ORDER BY h.id) FROM webhook.hook h")

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
base=$(median ${ms[none]})
bare=$(median ${ms[bare]})
printf '%-58s %12s %10s %10s\n' "bulk INSERT of $ROWS rows, webhook paused ($RUNS rounds)" "median ms" "x none" "x bare"
for v in $variants; do
	m=$(median ${ms[$v]})
	awk -v v="  $v" -v m="$m" -v base="$base" -v bare="$bare" \
		'BEGIN {printf "%-58s %12.0f %10.2f %10.2f\n", v, m, m / base, m / bare}'
done
echo "events queued by the last round: $queued"
