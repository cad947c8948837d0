#!/usr/bin/env bash
#
# bench/steady.sh: the queue's size under a steady load, with a short
# webhook.retention (`make bench-steady`, BENCHMARKS.md "Steady load and
# retention").
#
# Starts the same throwaway PostgreSQL 15 and nginx as bench/run.sh (its
# settings, bench/setup.sql), sets webhook.retention short (default 1min)
# and leaves autovacuum at its default.  Webhook 'sink' on t_sink posts to
# nginx (`return 204`); pgbench inserts one row per transaction at a fixed
# rate (-R) for STEADY_SECONDS.  Every 30 s it samples: events committed,
# delivered, pending, what the retention purge removed so far, the queue's
# rows, dead tuples and autovacuum runs, the size of the event log, of
# webhook.progress and of webhook.queue, and the worker's memory from
# /proc.  After the load it waits (at most 120 s) until nothing is pending.
# Prints a markdown table and a verdict on stdout (progress on stderr), and
# stops everything it started.
#
# Usage (as root, with the extension installed: `make bench-steady` runs
# tools/deps.sh and make install first):
#   bench/steady.sh
# Environment:
#   STEADY_SECONDS=600     length of the load (s)
#   STEADY_RATE=500        transactions (= events) per second, pgbench -R
#   STEADY_RETENTION=1min  webhook.retention during the run
#   BENCH_KEEP=1           keep the work directory (server log, pgbench output)
# Exit status: 0 unless something broke: the load did not run, or events
# were still undelivered 120 s after it.  The size is reported, not asserted.

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
. "$ROOT/tools/cluster.sh"
# bench/run.sh's helpers (say, sql, pgbench_, rss_kb, worker_pid, ...):
# the part of it between its "helpers" and "scenarios" markers, which only
# defines functions
# shellcheck source=/dev/null
. <(sed -n '/^# -* helpers$/,/^# -* scenarios$/p' "$BENCH/run.sh")
declare -F say sql pgbench_ rss_kb worker_pid >/dev/null ||
	{ echo "bench/steady.sh: could not load the helpers of bench/run.sh" >&2; exit 1; }

START_S=$(date +%s)
SECS=${STEADY_SECONDS:-600}
RATE=${STEADY_RATE:-500}
RETENTION=${STEADY_RETENTION:-1min}
EVERY=30          # seconds between samples
DRAIN_WAIT=120    # bound on the wait for the last deliveries after the load

[ "$(id -u)" -eq 0 ] || { echo "bench/steady.sh: run as root (the server runs as postgres)" >&2; exit 1; }
"$BENCH/deps.sh" || exit 1

WORK=$(make_workdir steady)
SAMPLES=$WORK/samples.tsv
: >"$SAMPLES"

# pgbench ends when the server closes its connections
cleanup() {
	[ -s "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
	cluster_stop "$WORK"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nginx from bench/nginx.conf.in, as the postgres user, on a free port
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$NGINX_PORT#g" "$BENCH/nginx.conf.in" >"$WORK/nginx/nginx.conf"
chown -R postgres: "$WORK/nginx"
as_pg "$(command -v nginx || echo /usr/sbin/nginx)" -e "$WORK/nginx/error.log" -p "$WORK/nginx" \
	-c "$WORK/nginx/nginx.conf" || { echo "nginx did not start" >&2; exit 1; }
SINK_URL="http://127.0.0.1:$NGINX_PORT/sink"
curl -s -o /dev/null -m 5 -X POST -d '{}' "$SINK_URL" || { echo "nginx does not answer on $SINK_URL" >&2; exit 1; }

# run.sh's cluster, plus the retention under test
cluster_start "$WORK" "shared_buffers = 1GB" "max_wal_size = 4GB" "fsync = on" \
	"webhook.allowed_networks = '127.0.0.0/8'" \
	"webhook.retention = '$RETENTION'" || { echo "PostgreSQL did not start" >&2; exit 1; }
sql -v sink_url="$SINK_URL" -f "$BENCH/setup.sql" >/dev/null || { echo "setup failed" >&2; exit 1; }
sql -c "SELECT webhook.resume('sink')" >/dev/null
RET_S=$(sql -c "SELECT setting FROM pg_settings WHERE name = 'webhook.retention'")
AUTOVAC=$(sql -c "SHOW autovacuum")
say "work directory $WORK; PostgreSQL on port $PGPORT, nginx on $NGINX_PORT;" \
	"${SECS}s at $RATE tx/s, webhook.retention = $RETENTION (${RET_S}s), autovacuum $AUTOVAC"

# sample LABEL: one line of $SAMPLES (tab-separated):
# label committed delivered pending failed purged queue_rows dead autovacuums
# (from webhook.webhooks: delivered and failed are those still kept, so
# purged = committed - pending - delivered - failed is what retention
# removed; dead tuples and autovacuums are webhook.queue's)
# total log progress queue (bytes, with indexes and TOAST) anon_kB rss_kB worker_pid
sample() {
	local wpid rss row
	wpid=$(worker_pid)
	rss=$(rss_kb "$wpid")
	row=$(sql -F $'\t' <<-'EOF'
		SELECT c.n, w.delivered, w.pending, w.failed,
		       c.n - w.pending - w.delivered - w.failed, q.total_rows,
		       s.n_dead_tup, s.autovacuum_count,
		       l.size + pg_total_relation_size('webhook.progress')
		         + pg_total_relation_size('webhook.queue'),
		       l.size, pg_total_relation_size('webhook.progress'),
		       pg_total_relation_size('webhook.queue')
		  FROM (SELECT count(*) AS n FROM t_sink) c,
		       (SELECT pending, delivered, failed FROM webhook.webhooks WHERE name = 'sink') w,
		       (SELECT count(*) AS total_rows FROM webhook.queue) q,
		       (SELECT pg_total_relation_size('webhook.log_0') + pg_total_relation_size('webhook.log_1')
		               + pg_total_relation_size('webhook.log_2') AS size) l,
		       pg_stat_user_tables s
		 WHERE s.relid = 'webhook.queue'::regclass
	EOF
	)
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$row" "${rss% *}" "${rss#* }" "$wpid" >>"$SAMPLES"
	say "  $1: $(tr '\t' ' ' <<<"$row") | worker $wpid RssAnon/VmRSS kB ${rss:-?}"
}

# the load: bench/insert.sql on t_sink, 2 clients, at RATE for SECS
sed "s/@TABLE@/t_sink/" "$BENCH/insert.sql" >"$WORK/insert_t_sink.sql"
chown postgres: "$WORK/insert_t_sink.sql"
T0=$(date +%s.%N)
pgbench_ $((SECS + 120)) -n -M prepared -c 2 -j 2 -R "$RATE" -T "$SECS" \
	-f "$WORK/insert_t_sink.sql" >"$WORK/pgbench.out" 2>&1 &
LOAD=$!

for ((i = 0; i * EVERY <= SECS; i++)); do
	sleep "$(awk -v t0="$T0" -v at=$((i * EVERY)) -v now="$(date +%s.%N)" \
		'BEGIN {d = t0 + at - now; printf "%.2f", (d > 0 ? d : 0)}')"
	sample $((i * EVERY))
	kill -0 "$LOAD" 2>/dev/null || [ $((i * EVERY)) -ge "$SECS" ] || {
		say "pgbench ended early: $(tail -3 "$WORK/pgbench.out")"
		break
	}
done
broken=0
wait "$LOAD" || { broken=1; say "pgbench failed: $(tail -3 "$WORK/pgbench.out")"; }
TPS=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$WORK/pgbench.out")
TPS=$(num "$TPS" 1)
LAG=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms.*/avg \1 ms, max \2 ms/p' "$WORK/pgbench.out")
say "load done: $TPS tps; schedule lag $LAG"

# the last deliveries: bounded wait until nothing is pending
t_end=$(date +%s)
drained=no
while [ $(($(date +%s) - t_end)) -lt "$DRAIN_WAIT" ]; do
	[ "$(sql -c "SELECT pending FROM webhook.webhooks WHERE name = 'sink'")" = 0 ] &&
		{ drained=yes; break; }
	sleep 1
done
sample "drained +$(($(date +%s) - t_end))s"
LAST=$(tail -1 "$SAMPLES")
[ "$drained" = yes ] || broken=1

# ------------------------------------------------------------------ report

MB() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
{
	echo
	echo "| s | committed | delivered | pending | purged | queue rows | dead | autovac | total MB | log MB | progress MB | queue MB | worker RssAnon / VmRSS MB |"
	echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
	awk -F'\t' '{printf "| %s | %d | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f / %.1f |\n",
	             $1, $2, $3, $4, $6, $7, $8, $9, $10 / 1048576, $11 / 1048576, $12 / 1048576,
	             $13 / 1048576, $14 / 1024, $15 / 1024}' "$SAMPLES"
	echo
	# verdict: size at retention + 60 s (retention at work), at the end of
	# the load, the maximum, and their ratio
	ref_at=$((RET_S + 60))
	read -r ref_s ref_b < <(awk -F'\t' -v r="$ref_at" '$1 ~ /^[0-9]+$/ && $1 >= r {print $1, $10; exit}' "$SAMPLES")
	read -r end_s end_b < <(awk -F'\t' '$1 ~ /^[0-9]+$/ {s = $1; b = $10} END {print s, b}' "$SAMPLES")
	read -r max_b max_s < <(awk -F'\t' '$10 + 0 > m + 0 {m = $10; s = $1} END {print m, s}' "$SAMPLES")
	failed_max=$(awk -F'\t' '$5 > m {m = $5} END {print m + 0}' "$SAMPLES")
	workers=$(cut -f16 "$SAMPLES" | sort -u | grep -c .)
	r=$(awk -v a="${end_b:-}" -v b="${ref_b:-}" 'BEGIN {if (b > 0 && a != "") printf "%.2f", a / b; else print "-"}')
	flat=$(awk -v r="$r" 'BEGIN {if (r == "-") print "-"; else if (r <= 1.25) print "flat"; else print "GREW"}')
	cmp="end / ${ref_s:-}s = $r ($flat)"
	[ -n "${ref_s:-}" ] || cmp="no sample at ${ref_at}s (retention + 60 s) to compare with"
	IFS=$'\t' read -r _ committed delivered pending _ <<<"$LAST"
	echo "Verdict: log + progress + queue size ${ref_s:+at ${ref_s}s (retention + 60 s) $(MB "$ref_b") MB, }at the end of the load" \
		"(${end_s}s) $(MB "${end_b:-0}") MB, max $(MB "${max_b:-0}") MB (at ${max_s}s); $cmp." \
		"After the load: $([ "$drained" = yes ] && echo "nothing pending of $committed events committed ($delivered delivered ones still kept, the rest past webhook.retention)" ||
			echo "$pending of $committed events STILL UNDELIVERED after ${DRAIN_WAIT}s"); failed rows seen: $failed_max;" \
		"worker pid(s) seen: $workers."
	echo
	echo "pgbench -c2 -j2 -R $RATE -T $SECS: $TPS tps, schedule lag ${LAG:-?};" \
		"webhook.retention = $RETENTION, autovacuum $AUTOVAC; $(nproc) cores, $(uname -r)," \
		"$(psql --version | cut -d' ' -f3-), $(date -u +%Y-%m-%dT%H:%MZ), total $(($(date +%s) - START_S))s"
}
exit $broken
