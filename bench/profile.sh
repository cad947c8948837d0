#!/usr/bin/env bash
#
# bench/profile.sh: where the writer's time goes.  Starts a throwaway cluster
# (the benchmark's settings and bench/setup.sql), then profiles with perf the
# backend that runs one INSERT ... SELECT of ROWS rows into t_webhook (the
# webhook trigger, webhook paused) and, for comparison, into t_none.  Prints
# each profile's top functions, self time and with children.  Stops all it
# started.  Needs root and linux-perf (bench/deps.sh installs it).
#
# Usage: bench/profile.sh [ROWS]      (default 200000)
# Environment: PROFILE_KEEP=1 keeps the work directory (perf.data files).

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
. "$ROOT/tools/cluster.sh"

ROWS=${1:-200000}
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }

WORK=$(make_workdir profile)
cleanup() {
	cluster_stop "$WORK"
	if [ "${PROFILE_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

cluster_start "$WORK" "shared_buffers = 1GB" "max_wal_size = 4GB" "fsync = on" \
	"webhook.allowed_networks = '127.0.0.0/8'" || exit 1
pg -d postgres -q -v sink_url="http://127.0.0.1:9/none" -f "$BENCH/setup.sql" >/dev/null || exit 1

# profile TABLE: perf record the backend running the INSERT into TABLE
profile() {
	local table=$1 pid perf_pid _
	rm -f "$WORK/pid"
	pg -d postgres -q >/dev/null <<-EOF &
		TRUNCATE $table;
		TRUNCATE webhook.queue;
		CHECKPOINT;
		SELECT pg_backend_pid() AS pid \gset
		\o $WORK/pid
		\\qecho :pid
		\o
		SELECT pg_sleep(1);
		INSERT INTO $table (a, b) SELECT g, 'payload text of a typical row' FROM generate_series(1, $ROWS) g;
	EOF
	local psql_pid=$!
	for _ in $(seq 100); do [ -s "$WORK/pid" ] && break; sleep 0.05; done
	pid=$(tr -dc 0-9 <"$WORK/pid"); echo "backend $pid" >&2
	perf record -q -F 2000 --call-graph dwarf,16384 -p "$pid" -o "$WORK/$table.perf" 2>"$WORK/$table.perf.log" &
	perf_pid=$!
	wait "$psql_pid"
	kill -INT "$perf_pid"
	wait "$perf_pid"
	echo "=== $ROWS-row INSERT ... SELECT into $table: self time, top 25"
	perf report -i "$WORK/$table.perf" --no-children --sort sym -g none --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | grep -v ' 0x0' | head -25
	echo
	echo "=== $table: with children (inclusive), top 40"
	perf report -i "$WORK/$table.perf" --children --sort sym -g none --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | grep -v ' 0x0' | head -40
	echo
}

profile t_webhook
profile t_none
