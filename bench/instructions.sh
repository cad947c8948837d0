#!/usr/bin/env bash
#
# bench/instructions.sh: what the writer costs, in instructions, which a
# shared machine cannot blur.  Sets up a throwaway cluster with
# bench/setup.sql, stops it, and runs a single-user backend (postgres
# --single) under valgrind's callgrind for each variant, counting every
# instruction it executes:
#
#   bulk    one INSERT ... SELECT of ROWS rows into t_none, t_webhook (one
#           paused webhook) and t_webhook3 (three)
#   copy    a COPY of as many rows from a file into t_none and t_webhook
#   single  ROWS / 10 single-row INSERTs, each its own transaction
#           (single-user mode commits every statement), into t_none and
#           t_webhook
#
# Prints instructions per row over a baseline run (the same backend doing
# only the TRUNCATEs), the ratio to no trigger, and, for the bulk insert
# into t_webhook, where its instructions go (inclusive, per row).
# Instructions are not time (a cache miss costs more than an add), but on
# this path the two ratios have agreed within a few hundredths (BENCHMARKS.md).
# Needs root and valgrind (bench/deps.sh installs it).
#
# Usage: bench/instructions.sh [ROWS]      (default 100000)
# Environment: INSTRUCTIONS_KEEP=1 keeps the work directory (callgrind files).

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
. "$ROOT/tools/cluster.sh"

ROWS=${1:-100000}
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 1; }

WORK=$(make_workdir instructions)
cleanup() {
	cluster_stop "$WORK"
	if [ "${INSTRUCTIONS_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

cluster_start "$WORK" "shared_buffers = 1GB" "max_wal_size = 4GB" || exit 1
pg -d postgres -q -v sink_url="http://127.0.0.1:9/none" -f "$BENCH/setup.sql" >/dev/null || exit 1
cluster_stop "$WORK"

TRUNCATES="TRUNCATE t_none, t_webhook, t_webhook3; TRUNCATE webhook.log_0, webhook.log_1, webhook.log_2;"

# run NAME SQL: callgrind a single-user backend running the TRUNCATEs and
# SQL (one statement per line); prints its instruction count
run() {
	local name=$1 out=$WORK/$1.callgrind
	{ echo "$TRUNCATES"; echo "$2"; } >"$WORK/$name.sql"
	chown postgres: "$WORK/$name.sql"
	as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$PGBIN/postgres" --single -D "$WORK/data" postgres <"$WORK/$name.sql" >"$WORK/$name.log" 2>&1 ||
		{ echo "$name failed: $(tail -3 "$WORK/$name.log")" >&2; exit 1; }
	awk '/^summary:|^totals:/ {print $2; exit}' "$out"
}

seq "$ROWS" | awk '{print $1 "\tpayload text of a typical row"}' >"$WORK/copy.tsv"
chown postgres: "$WORK/copy.tsv"

bulk() { echo "INSERT INTO $1 (a, b) SELECT g, 'payload text of a typical row' FROM generate_series(1, $ROWS) g;"; }
single() {
	local i
	for i in $(seq "$((ROWS / 10))"); do echo "INSERT INTO $1 (a, b) VALUES ($i, 'payload text of a typical row');"; done
}

echo "callgrind: $ROWS-row bulk INSERT and COPY, $((ROWS / 10)) single-row transactions" >&2
base=$(run base "")
declare -A ir
for v in t_none t_webhook t_webhook3; do ir[bulk_$v]=$(run "bulk_$v" "$(bulk $v)"); done
for v in t_none t_webhook; do ir[copy_$v]=$(run "copy_$v" "COPY $v (a, b) FROM '$WORK/copy.tsv';"); done
for v in t_none t_webhook; do ir[single_$v]=$(run "single_$v" "$(single $v)"); done

per_row() { awk -v a="$1" -v b="$base" -v n="$2" 'BEGIN {printf "%.0f", (a - b) / n}'; }
ratio() { awk -v a="$1" -v b="$2" -v c="$base" 'BEGIN {printf "%.2f", (a - c) / (b - c)}'; }
echo
echo "| path | table | instructions per row | x no trigger |"
echo "| --- | --- | --- | --- |"
for v in t_none t_webhook t_webhook3; do
	echo "| bulk INSERT | $v | $(per_row "${ir[bulk_$v]}" "$ROWS") | $(ratio "${ir[bulk_$v]}" "${ir[bulk_t_none]}") |"
done
for v in t_none t_webhook; do
	echo "| COPY | $v | $(per_row "${ir[copy_$v]}" "$ROWS") | $(ratio "${ir[copy_$v]}" "${ir[copy_t_none]}") |"
done
for v in t_none t_webhook; do
	echo "| single-row transactions | $v | $(per_row "${ir[single_$v]}" "$((ROWS / 10))") | $(ratio "${ir[single_$v]}" "${ir[single_t_none]}") |"
done

# where the bulk insert into t_webhook goes: inclusive instructions per row
# of the functions that matter, by name
echo
echo "bulk INSERT into t_webhook, inclusive instructions per row:"
callgrind_annotate --inclusive=yes "$WORK/bulk_t_webhook.callgrind" 2>/dev/null |
	awk -v n="$ROWS" '
		match($0, /[^ ]+:[A-Za-z_0-9]+ \[/) {
			ir = $1; gsub(",", "", ir)
			fn = substr($0, RSTART, RLENGTH - 2); sub(/.*:/, "", fn)
			if (fn ~ /^(AfterTriggerEndQuery|webhook_capture|webhook_row_json|webhook_log_append|write_chunk|webhook_filter_check)$/ && !(fn in seen)) {
				seen[fn] = 1
				printf "  %-24s %8.0f\n", fn, ir / n
			}
		}'
