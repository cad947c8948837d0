#!/usr/bin/env bash
# make demo: a throwaway cluster with the extension, a receiver on 127.0.0.1,
# and a few changes flowing from one to the other.  Stops all it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/cluster.sh"

WORK=$(make_workdir demo)
cp "$ROOT/test/receiver.py" "$WORK/"
cleanup() {
	receiver_stop "$WORK"
	cluster_stop "$WORK"
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL with shared_preload_libraries = 'webhook'"
cluster_start "$WORK" \
	"webhook.allowed_networks = '127.0.0.0/8'"

echo "== starting a receiver on 127.0.0.1 that prints what it gets"
receiver_start "$WORK" "$WORK/receiver.py" "$WORK/port" "$WORK/received.log" --print \
	--secrets "$WORK/secrets"
URL="http://127.0.0.1:$RECEIVER_PORT/ok/todo"

run() { echo; echo "postgres=# $1"; pg -d postgres -c "$1"; }

run "CREATE EXTENSION webhook"
run "CREATE TABLE todo (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false)"
run "SELECT webhook.register('todo-app', '$URL', 'public.todo')"
echo "/ok/todo $(pg -d postgres -Atc "SELECT webhook.secret('todo-app')")" | as_pg tee "$WORK/secrets" >/dev/null
echo "(the receiver verifies signatures with the secret from webhook.secret('todo-app'))"
echo
echo "== the receiver prints each event as it arrives:"
run "INSERT INTO todo (title) VALUES ('buy milk')"
run "UPDATE todo SET done = true WHERE title = 'buy milk'   -- tick the checkbox"
run "DELETE FROM todo WHERE title = 'buy milk'"
run "BEGIN; INSERT INTO todo (title) VALUES ('never happened'); ROLLBACK"

# wait (bounded) until the three committed changes are delivered
for _ in $(seq 200); do
	n=$(pg -d postgres -Atc "SELECT count(*) FROM webhook.deliveries WHERE status = 'delivered'")
	[ "$n" -ge 3 ] && break
	sleep 0.05
done

echo
run "SELECT id, webhook, event_type, status, attempts, response_status, latency FROM webhook.deliveries ORDER BY id"
run "SELECT name, url, watches, state, pending, delivered, failed, last_success_at IS NOT NULL AS has_succeeded FROM webhook.webhooks"

echo
if grep -q "never happened" "$WORK/received.log"; then
	echo "!! the rolled-back insert was sent"; exit 1
fi
[ "$n" -ge 3 ] || { echo "!! only $n of 3 changes were delivered"; exit 1; }
echo "== 3 committed changes delivered, the rolled-back one never sent. Stopping everything."
