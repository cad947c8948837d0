#!/usr/bin/env bash
# make demo: a throwaway cluster with the extension, a receiver on 127.0.0.1,
# and a few changes flowing from one to the other.  Stops all it started.
# It uses the PostgreSQL whose pg_config is first in PATH (make demo has just
# installed the extension there).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/cluster.sh"

WORK=$(make_workdir demo)
cp "$ROOT/test/receiver.py" "$WORK/"
RECEIVER_PID=
cleanup() {
	stop_demo_receiver
	cluster_stop "$WORK"
	rm -rf "$WORK"
}

# Stop the receiver quietly: signal the receiver itself, not the runuser
# that started it (runuser would announce "Session terminated"), and wait
# for it to be gone.
stop_demo_receiver() {
	[ -n "$RECEIVER_PID" ] || return 0
	pkill -TERM -P "$RECEIVER_PID" 2>/dev/null || kill -TERM "$RECEIVER_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$RECEIVER_PID" 2>/dev/null || break; sleep 0.05; done
	RECEIVER_PID=
}
trap cleanup EXIT

echo "== using PostgreSQL in $PGBIN"
echo "== starting a throwaway PostgreSQL with shared_preload_libraries = 'webhook'"
cluster_start "$WORK" \
	"webhook.allowed_networks = '127.0.0.0/8'"

echo "== starting a receiver on 127.0.0.1; what it gets is shown after each step"
# disowned, so that the shell never reports its end; its output goes to a
# file, printed in order after each step
as_pg "$SYSPY" "$WORK/receiver.py" "$WORK/port" "$WORK/received.log" --print \
	--secrets "$WORK/secrets" >"$WORK/receiver.out" 2>&1 &
RECEIVER_PID=$!
disown "$RECEIVER_PID"
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$WORK/port")/ok/todo"

shown=0
# show_received N: wait (at most 10 s) until the receiver has N events in
# all, then print those not shown yet
show_received() {
	local want=$1 got=0
	for _ in $(seq 200); do
		got=$(grep -c '^  receiver got' "$WORK/receiver.out" || true)
		[ "$got" -ge "$want" ] && break
		sleep 0.05
	done
	grep '^  receiver got' "$WORK/receiver.out" | sed -n "$((shown + 1)),\$p"
	shown=$got
}

run() { echo; echo "postgres=# $1"; pg -d postgres -c "$1"; }

run "CREATE EXTENSION webhook"
run "CREATE TABLE todo (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false)"
run "SELECT webhook.register('todo-app', '$URL', 'public.todo')"
echo "/ok/todo $(pg -d postgres -Atc "SELECT webhook.secret('todo-app')")" | as_pg tee "$WORK/secrets" >/dev/null
echo "(the receiver verifies signatures with the secret from webhook.secret('todo-app'))"
run "INSERT INTO todo (title) VALUES ('buy milk')"
show_received 1
run "UPDATE todo SET done = true WHERE title = 'buy milk'   -- tick the checkbox"
show_received 2
run "DELETE FROM todo WHERE title = 'buy milk'"
show_received 3
run "BEGIN; INSERT INTO todo (title) VALUES ('never happened'); ROLLBACK"
echo "  (nothing: the transaction rolled back)"

# wait (bounded) until the three committed changes are recorded as delivered
for _ in $(seq 200); do
	n=$(pg -d postgres -Atc "SELECT count(*) FROM webhook.deliveries WHERE status = 'delivered'")
	[ "$n" -ge 3 ] && break
	sleep 0.05
done

run "SELECT id, webhook, event_type, status, attempts, response_status, latency FROM webhook.deliveries ORDER BY id"
run "SELECT name, url, watches, state, worker, pending, delivered, failed, last_success_at IS NOT NULL AS has_succeeded FROM webhook.webhooks"

echo
if grep -q "never happened" "$WORK/received.log"; then
	echo "!! the rolled-back insert was sent"; exit 1
fi
[ "$n" -ge 3 ] || { echo "!! only $n of 3 changes were delivered"; exit 1; }
stop_demo_receiver
echo "== 3 committed changes delivered, the rolled-back one never sent."
echo "== stopped the receiver and the throwaway PostgreSQL; the demo is over."
