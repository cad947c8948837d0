#!/usr/bin/env bash
# End-to-end check that a receiver built only on the reference Standard
# Webhooks library (npm "standardwebhooks", see receiver.mjs) verifies every
# signature the webhook extension sends.  Run as root from anywhere: builds
# and installs the extension, starts a throwaway cluster and the receiver on
# 127.0.0.1, makes changes, waits (bounded) for delivery, prints
# "standardwebhooks: N verified, M rejected" and fails if M > 0, N = 0 or
# any delivery is left undelivered.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tools/cluster.sh"

[ -d "$HERE/node_modules/standardwebhooks" ] ||
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
WORK=$(make_workdir swcheck)
LOG=$WORK/received.log
NODE_PID=
NODE2_PID=
cleanup() {
	[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
	[ -n "$NODE2_PID" ] && kill "$NODE2_PID" 2>/dev/null || true
	cluster_stop "$WORK"
	rm -rf "$WORK"
}
trap cleanup EXIT

make -C "$ROOT" all install >"$WORK/make.log" 2>&1 || { cat "$WORK/make.log"; exit 1; }
cluster_start "$WORK" \
	"webhook.allowed_networks = '127.0.0.0/8'"

: >"$LOG"
node "$HERE/receiver.mjs" "$WORK/secret" "$LOG" 0 "$WORK/port" &
NODE_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port" 2>/dev/null) || { echo "receiver did not start"; exit 1; }

pg -d postgres -q <<SQL
CREATE EXTENSION webhook;
CREATE TABLE t(id int primary key, note text, price numeric, b bytea);
SELECT webhook.register('ref', 'http://127.0.0.1:$PORT/in', 't') \g /dev/null
-- the same changes as XML, signed with the same secret
SELECT webhook.register('ref-xml', 'http://127.0.0.1:$PORT/in', 't', format => 'xml',
                        secret => webhook.secret('ref')) \g /dev/null
SQL
(umask 077; pg -d postgres -Atc "SELECT webhook.secret('ref')" >"$WORK/secret")

pg -d postgres -q <<'SQL'
INSERT INTO t VALUES (1, 'plain ascii', 1.50, '\x00ff'),
                     (2, 'héllo ✓ 日本', 'NaN', '\xdeadbeef'),
                     (3, E'quote " backslash \\ tab\t newline\n emoji 😀 nul-ish \u0001', -0.0, ''),
                     (4, repeat('日本✓', 3000), 1e100, decode(repeat('ff00', 500), 'hex'));
UPDATE t SET note = note || ' — ünïcödé', price = 'NaN' WHERE id = 1;
DELETE FROM t WHERE id = 2;
BEGIN; INSERT INTO t VALUES (99, 'rolled back ✗', 0, '\x01'); ROLLBACK;
TRUNCATE t;
SELECT webhook.ping('ref') \g /dev/null
SQL

# Wait until nothing is left to deliver, or the receiver has rejected one.
deadline=$((SECONDS + 20))
while :; do
	left=$(pg -d postgres -Atc "SELECT count(*) FROM webhook.deliveries WHERE status <> 'delivered'")
	[ "$left" -eq 0 ] && break
	grep -q '"verified":false' "$LOG" && break
	[ "$SECONDS" -ge "$deadline" ] && break
	sleep 0.1
done

pg -d postgres -c "SELECT event_type, status, count(*) FROM webhook.deliveries GROUP BY 1, 2 ORDER BY 1, 2"
total=$(pg -d postgres -Atc "SELECT count(*) FROM webhook.deliveries")
verified=$({ grep '"verified":true' "$LOG" || true; } | sort -u | wc -l)	# distinct ids
rejected=$(grep -c '"verified":false' "$LOG" || true)
grep -m5 '"verified":false' "$LOG" || true
echo "standardwebhooks: $verified verified, $rejected rejected ($total deliveries, $left not delivered)"
[ "$rejected" -eq 0 ] && [ "$verified" -gt 0 ] && [ "$verified" -eq "$total" ] && [ "$left" -eq 0 ] || exit 1

# Secret rotation: a second receiver, holding one secret at a time, for a
# webhook that gives up after one attempt.  During the grace period a
# request verifies with the old secret and with the new one; after grace
# '0', only with the new one.
RLOG=$WORK/rotation.log
: >"$RLOG"
node "$HERE/receiver.mjs" "$WORK/rsecret" "$RLOG" 0 "$WORK/rport" &
NODE2_PID=$!
for _ in $(seq 100); do [ -s "$WORK/rport" ] && break; sleep 0.1; done
RPORT=$(cat "$WORK/rport" 2>/dev/null) || { echo "rotation receiver did not start"; exit 1; }
pg -d postgres -q -c "SELECT webhook.register('rot', 'http://127.0.0.1:$RPORT/in', 't', max_attempts => 1)" >/dev/null
(umask 077; pg -d postgres -Atc "SELECT webhook.secret('rot')" >"$WORK/rsecret.old")
(umask 077; pg -d postgres -Atc "SELECT webhook.rotate_secret('rot')" >"$WORK/rsecret.new")
# rotation_ping SECRET_FILE: ping 'rot' while the receiver holds that
# secret; prints the ping's final status (delivered: verified, failed: 401)
rotation_ping() {
	cp "$1" "$WORK/rsecret"
	local id status deadline=$((SECONDS + 20))
	id=$(pg -d postgres -Atc "SELECT webhook.ping('rot')")
	while :; do
		status=$(pg -d postgres -Atc "SELECT status FROM webhook.deliveries WHERE id = $id")
		case $status in delivered|failed) break ;; esac
		[ "$SECONDS" -ge "$deadline" ] && break
		sleep 0.1
	done
	echo "$status"
}
during_old=$(rotation_ping "$WORK/rsecret.old")
during_new=$(rotation_ping "$WORK/rsecret.new")
(umask 077; pg -d postgres -Atc "SELECT webhook.rotate_secret('rot', grace => '0')" >"$WORK/rsecret.newer")
after_old=$(rotation_ping "$WORK/rsecret.new")
after_new=$(rotation_ping "$WORK/rsecret.newer")
echo "standardwebhooks rotation: during grace, old secret $during_old, new secret $during_new;" \
	"after grace 0, previous secret $after_old, current secret $after_new"
[ "$during_old" = delivered ] && [ "$during_new" = delivered ] &&
	[ "$after_old" = failed ] && [ "$after_new" = delivered ]
