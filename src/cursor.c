/*-------------------------------------------------------------------------
 *
 * cursor.c
 *	  Each webhook's cursor over the event log: what the worker reads
 *	  next, and what it writes when a batch of outcomes is in.
 *
 * A cursor (webhook.cursor) is two snapshots and a position.  The batch
 * being delivered is the chunks whose transactions are visible in upto and
 * not in done: the transactions that committed between the two moments.
 * Everything visible in done is settled, and so is every event of the
 * batch with an id up to pos.  "Settled" means delivered, or handed to
 * webhook.queue, which holds the deliveries that need a row of their own
 * (a retry, a failure, one queued behind an earlier one of its row).
 *
 * The worker loads a webhook's next events of the batch in id order
 * (webhook_cursor_load: SQL finds the next chunks, C unpacks them), sends
 * them, and records per batch of outcomes
 * (webhook_cursor_record): the delivered ones as one webhook.progress row
 * per webhook, the others as rows of webhook.queue, and the cursor's new
 * position, all in one transaction.  So a successful delivery writes
 * nothing of its own.  Once every event of the batch is settled, the next
 * batch starts (webhook_cursor_next_batch): done becomes upto, and upto the
 * snapshot of that moment.  A transaction that took its ids early and
 * committed late comes in the batch that sees its commit, so deliveries
 * start in commit order, batch after batch, and none is skipped.
 *
 * After a crash the worker starts again from pos: what it had sent past pos
 * is sent again (at least once), except what already has its row in
 * webhook.queue (each load skips those).
 *
 * A webhook that is not being delivered (paused, disabled) would hold the
 * log's tables from rotation for as long as it stays so: webhook_cursor_spill
 * moves its unsettled events into webhook.queue and its cursor to now.  The
 * worker also spills a webhook after a claim failed, so that the careful
 * claim of the queue (claim.c) finds the event that made it fail.
 *
 * All run in a worker transaction with SPI connected.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "webhook.h"
#include "settings.h"
#include "cursor.h"
#include "plans.h"
#include "eventlog.h"

#define LOG_UNION \
	"(SELECT * FROM webhook.log_0 UNION ALL SELECT * FROM webhook.log_1" \
	" UNION ALL SELECT * FROM webhook.log_2)"

/* a chunk's changes, with the event id and the bit of webhook $1 */
#define CHUNK_EVENTS \
	"   CROSS JOIN LATERAL (SELECT pg_catalog.array_position(l.hooks, $1)" \
	"                              OPERATOR(pg_catalog.-) 1 AS bit) b" \
	"   CROSS JOIN LATERAL pg_catalog.unnest(l.changes) WITH ORDINALITY" \
	"         AS c(op, at, mask, truncated, old_row, new_row, changed, partition, lane, n)"
#define EVENT_ID "(l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1)"
/*
 * The next chunks of webhook $1's batch (cursor cu) after event cu.after,
 * in id order, as many as hold $4 events after cu.after (of any webhook),
 * and the one that passes that: found without unpacking any (last_id).
 * Chunks hold disjoint ranges of ids, so their events in this order are the
 * batch's in id order.
 */
#define NEXT_CHUNKS \
	"  SELECT x.txid, x.first_id, x.last_id, x.schema_name, x.table_name, x.hooks, x.changes" \
	"    FROM (SELECT l.*, pg_catalog.sum(l.last_id OPERATOR(pg_catalog.-)" \
	"                   GREATEST(l.first_id OPERATOR(pg_catalog.-) 1, cu.after))" \
	"                   OVER (ORDER BY l.first_id ROWS UNBOUNDED PRECEDING) AS through," \
	"                 l.last_id OPERATOR(pg_catalog.-) GREATEST(l.first_id OPERATOR(pg_catalog.-) 1, cu.after)" \
	"                   AS here" \
	"            FROM cu, " LOG_UNION " l" \
	"           WHERE l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(cu.done)" \
	"             AND l.txid OPERATOR(pg_catalog.<) pg_catalog.pg_snapshot_xmax(cu.upto)" \
	"             AND pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)" \
	"             AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, cu.done)" \
	"             AND $1 OPERATOR(pg_catalog.=) ANY (l.hooks)" \
	"             AND l.last_id OPERATOR(pg_catalog.>) cu.after) x" \
	"   WHERE x.through OPERATOR(pg_catalog.-) x.here OPERATOR(pg_catalog.<) $4"

#define BIT_SET \
	"(c.mask OPERATOR(pg_catalog.&) (1 OPERATOR(pg_catalog.<<) b.bit)) OPERATOR(pg_catalog.<>) 0"

static SPIPlanPtr ensure_plan;
static SPIPlanPtr next_batch_plan;
static SPIPlanPtr snapshot_plan;
static SPIPlanPtr tick_plan;
static SPIPlanPtr prune_plan;
static SPIPlanPtr gate_plan;
static SPIPlanPtr hook_plan;
static SPIPlanPtr held_plan;
static SPIPlanPtr chunks_plan;
static SPIPlanPtr queued_plan;
static SPIPlanPtr spill_plan;
static SPIPlanPtr progress_plan;
static SPIPlanPtr copy_plan;
static SPIPlanPtr pos_plan;

#define keep webhook_keep_plan

static void
prepare_plans(void)
{
	Oid			hook[1] = {INT4OID};

	if (ensure_plan != NULL)
		return;

	/* a webhook restored by pg_restore has no cursor yet: none of the log names it */
	ensure_plan = keep(
		"INSERT INTO webhook.cursor (hook_id, done, upto)"
		" SELECT h.id, '3:3:', '3:3:' FROM webhook.hook h"
		"  WHERE NOT EXISTS (SELECT FROM webhook.cursor c WHERE c.hook_id OPERATOR(pg_catalog.=) h.id)"
		" ON CONFLICT DO NOTHING", 0, NULL);

	/*
	 * A tick at $1, the snapshot of the claim's start, if chunks committed
	 * since the last one (or there is none); and the ticks no cursor needs
	 * any more (before the earliest cursor's, keeping the last).
	 */
	{
		Oid			types[1] = {TEXTOID};

		tick_plan = keep(
			"INSERT INTO webhook.tick (id, snap)"
			" SELECT COALESCE(last.id, 0) OPERATOR(pg_catalog.+) 1, $1::pg_catalog.pg_snapshot"
			"   FROM (SELECT NULL) one"
			"   LEFT JOIN LATERAL (SELECT t.id, t.snap FROM webhook.tick t ORDER BY t.id DESC LIMIT 1) last ON true"
			"  WHERE last.id IS NULL"
			"     OR EXISTS (SELECT FROM " LOG_UNION " l"
			"                 WHERE l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(last.snap)"
			"                   AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, last.snap)"
			"                   AND pg_catalog.pg_visible_in_snapshot(l.txid, $1::pg_catalog.pg_snapshot))",
			1, types);
	}
	prune_plan = keep(
		"DELETE FROM webhook.tick t"
		" WHERE t.id OPERATOR(pg_catalog.<) (SELECT pg_catalog.min(c.tick) FROM webhook.cursor c"
		"                                     JOIN webhook.hook h ON h.id OPERATOR(pg_catalog.=) c.hook_id)"
		"   AND t.id OPERATOR(pg_catalog.<) (SELECT pg_catalog.max(x.id) FROM webhook.tick x)",
		0, NULL);

	/*
	 * The next batch: as many ticks after the cursor's as keep id order and
	 * commit order the same.  Each chunk committed since upto has a commit
	 * tick (the first that sees it).  The batch ends at the last tick,
	 * unless some chunk has a lower first id than a chunk with an earlier
	 * commit tick (it took its ids first and committed later): then it ends
	 * just before that chunk's commit tick, which starts the next batch.  So
	 * a webhook that lags takes many ticks at once, and within a batch id
	 * order is commit order, tick by tick.  With nothing committed since
	 * upto, an empty batch up to the last tick (so that a webhook with
	 * nothing to do keeps up).  Returns whether the new batch has events.
	 * The caller knows every event of the current batch is settled.
	 */
	next_batch_plan = keep(
		"WITH cu AS MATERIALIZED ("
		"  SELECT c.upto, c.tick FROM webhook.cursor c WHERE c.hook_id OPERATOR(pg_catalog.=) $1"
		"), last AS MATERIALIZED ("
		"  SELECT t.id, t.snap FROM webhook.tick t ORDER BY t.id DESC LIMIT 1"
		"), pending AS MATERIALIZED ("
		"  SELECT l.first_id,"
		"         (SELECT t.id FROM webhook.tick t"
		"           WHERE t.id OPERATOR(pg_catalog.>) cu.tick"
		"             AND pg_catalog.pg_visible_in_snapshot(l.txid, t.snap)"
		"           ORDER BY t.id LIMIT 1) AS ct"
		"    FROM cu, last, " LOG_UNION " l"
		"   WHERE l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(cu.upto)"
		"     AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)"
		"     AND pg_catalog.pg_visible_in_snapshot(l.txid, last.snap)"
		"     AND $1 OPERATOR(pg_catalog.=) ANY (l.hooks)"
		"), stop AS ("
		"  SELECT pg_catalog.min(x.ct) AS ct FROM ("
		"    SELECT p.ct, p.first_id, pg_catalog.max(p.first_id) OVER (ORDER BY p.ct"
		"             RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_max"
		"      FROM pending p) x"
		"   WHERE x.earlier_max OPERATOR(pg_catalog.>) x.first_id"
		"), nt AS ("
		"  SELECT t.id, t.snap, EXISTS (SELECT FROM pending) AS full"
		"    FROM cu, last, stop, webhook.tick t"
		"   WHERE t.id OPERATOR(pg_catalog.>) cu.tick"
		"     AND t.id OPERATOR(pg_catalog.=) COALESCE(stop.ct OPERATOR(pg_catalog.-) 1, last.id)"
		")"
		" UPDATE webhook.cursor c SET done = c.upto, upto = nt.snap, tick = nt.id, pos = 0"
		"   FROM nt WHERE c.hook_id OPERATOR(pg_catalog.=) $1"
		" RETURNING nt.full",
		1, hook);
	snapshot_plan = keep("SELECT pg_catalog.pg_current_snapshot()::pg_catalog.text", 0, NULL);

	/* how many of the webhook's deliveries wait in webhook.queue (up to a bound) */
	gate_plan = keep(
		"SELECT pg_catalog.count(*)::pg_catalog.int4 FROM ("
		"  SELECT FROM webhook.queue q"
		"   WHERE q.status IN ('p', 'r') AND q.hook_id OPERATOR(pg_catalog.=) $1"
		"   LIMIT " CppAsString2(WEBHOOK_QUEUE_GATE) " OPERATOR(pg_catalog.+) 1) x",
		1, hook);

	/* what a load needs of the webhook */
	hook_plan = keep("SELECT " WEBHOOK_CLAIM_HOOK_COLUMNS " FROM webhook.hook h"
					 " WHERE h.id OPERATOR(pg_catalog.=) $1", 1, hook);
	/* the lanes (and tables) of its deliveries waiting in webhook.queue */
	held_plan = keep(
		"SELECT q.lane, q.op OPERATOR(pg_catalog.=) 'T',"
		"       pg_catalog.hashtextextended(q.schema_name OPERATOR(pg_catalog.||) '.'"
		"                                   OPERATOR(pg_catalog.||) q.table_name, 0)"
		"  FROM webhook.queue q"
		" WHERE q.status IN ('p', 'r') AND q.hook_id OPERATOR(pg_catalog.=) $1",
		1, hook);
	{
		Oid			types[4] = {INT4OID, INT8OID, INT4OID, INT4OID};

		/*
		 * The next chunks of webhook $1's batch after event $2 (or after
		 * pos), in id order: enough for $4 events of any webhook
		 * (NEXT_CHUNKS).  $3 is unused.
		 */
		chunks_plan = keep(
			"WITH cu AS MATERIALIZED ("
			"  SELECT c.done, c.upto, GREATEST(c.pos, $2) AS after FROM webhook.cursor c"
			"   WHERE c.hook_id OPERATOR(pg_catalog.=) $1 AND $3 OPERATOR(pg_catalog.=) $3"
			"), ch AS (" NEXT_CHUNKS ")"
			" SELECT ch.txid::pg_catalog.text, ch.first_id, ch.last_id, ch.schema_name,"
			"        ch.table_name, ch.hooks, ch.changes, (SELECT cu.after FROM cu)"
			"   FROM ch ORDER BY ch.first_id",
			4, types);
	}
	{
		Oid			types[3] = {INT4OID, INT8OID, INT8OID};

		/* the webhook's deliveries with a row in webhook.queue, among ids $2 to $3 */
		queued_plan = keep(
			"SELECT q.id FROM webhook.queue q"
			" WHERE q.id OPERATOR(pg_catalog.>=) $2 AND q.id OPERATOR(pg_catalog.<=) $3"
			"   AND q.hook_id OPERATOR(pg_catalog.=) $1 ORDER BY q.id",
			3, types);
	}

	spill_plan = keep(
		"WITH cu AS MATERIALIZED ("
		"  SELECT c.done, c.upto, c.pos FROM webhook.cursor c WHERE c.hook_id OPERATOR(pg_catalog.=) $1"
		"), ins AS ("
		"  INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at,"
		"                             old_row, new_row, changed, truncated, truncated_partition, lane)"
		"  SELECT webhook._delivery_id(" EVENT_ID ", b.bit), " EVENT_ID ", $1, c.op,"
		"         l.schema_name, l.table_name, c.at, c.old_row, c.new_row, c.changed, c.truncated,"
		"         c.partition, c.lane"
		"    FROM cu, " LOG_UNION " l"
		CHUNK_EVENTS
		"   WHERE l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(cu.done)"
		"     AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, cu.done)"
		"     AND NOT (pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)"
		"              AND " EVENT_ID " OPERATOR(pg_catalog.<=) cu.pos)"
		"     AND $1 OPERATOR(pg_catalog.=) ANY (l.hooks)"
		"     AND " BIT_SET
		"   ORDER BY 2"
		"  ON CONFLICT (id) DO NOTHING"
		"  RETURNING 1"
		")"
		" UPDATE webhook.cursor"
		"    SET done = pg_catalog.pg_current_snapshot(), upto = pg_catalog.pg_current_snapshot(), pos = 0,"
		"        tick = COALESCE((SELECT pg_catalog.max(t.id) FROM webhook.tick t), 0)"
		"  WHERE hook_id OPERATOR(pg_catalog.=) $1"
		" RETURNING (SELECT pg_catalog.count(*) FROM ins)",
		1, hook);

	{
		Oid			types[4] = {INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID};

		progress_plan = keep(
			"INSERT INTO webhook.progress (hook_id, ids, n, status, at)"
			" SELECT r.hook_id, pg_catalog.range_agg(pg_catalog.int8range(r.id, r.id, '[]')),"
			"        pg_catalog.count(*), r.code, pg_catalog.max(r.at)"
			"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			"                   pg_catalog.unnest($4)) AS r(hook_id, id, code, at)"
			"  GROUP BY r.hook_id, r.code",
			4, types);
	}
	{
		Oid			types[10] = {INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, CHARARRAYOID,
			INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID,
		TIMESTAMPTZARRAYOID};

		/*
		 * Deliveries from the log that need a row of their own: found by
		 * their chunk's txid (the log's index) and first event id.
		 */
		copy_plan = keep(
			"WITH r AS MATERIALIZED ("
			"  SELECT r.*, e.event_id, l.schema_name, l.table_name, (l.changes)[e.event_id OPERATOR(pg_catalog.-)"
			"         l.first_id OPERATOR(pg_catalog.+) 1] AS c"
			"    FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			"                    pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
			"                    pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
			"                    pg_catalog.unnest($10))"
			"         AS r(hook_id, id, txid, status, attempts, code, error, body, next_at, at)"
			"   CROSS JOIN LATERAL (SELECT r.id OPERATOR(pg_catalog./) 32 AS event_id) e"
			"   JOIN " LOG_UNION " l ON l.txid OPERATOR(pg_catalog.=) r.txid::pg_catalog.xid8"
			"    AND l.first_id OPERATOR(pg_catalog.=) (e.event_id OPERATOR(pg_catalog.-)"
			"        ((e.event_id OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog.%) "
			CppAsString2(WEBHOOK_CHUNK_MAX) "))"
			"), ins AS ("
			"  INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at,"
			"                             old_row, new_row, changed, truncated, truncated_partition, lane,"
			"                             status, attempts, next_attempt_at, last_attempt_at,"
			"                             last_status, last_error, response_body)"
			"  SELECT r.id, r.event_id, r.hook_id, (r.c).op, r.schema_name, r.table_name, (r.c).at,"
			"         (r.c).old_row, (r.c).new_row, (r.c).changed, (r.c).truncated, (r.c).partition,"
			"         (r.c).lane, r.status, r.attempts,"
			"         CASE r.status WHEN 'r' THEN r.next_at WHEN 'p' THEN '-infinity' ELSE r.at END,"
			"         CASE WHEN r.status OPERATOR(pg_catalog.<>) 'p' THEN r.at END,"
			"         NULLIF(r.code, 0), r.error, r.body"
			"    FROM r"
			"   ORDER BY r.id"
			"  ON CONFLICT (id) DO NOTHING"
			")"
			" SELECT pg_catalog.count(*)::pg_catalog.int4 FROM r",
			10, types);
	}
	{
		Oid			types[2] = {INT4ARRAYOID, INT8ARRAYOID};

		pos_plan = keep(
			"UPDATE webhook.cursor c SET pos = r.pos"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS r(hook_id, pos)"
			" WHERE c.hook_id OPERATOR(pg_catalog.=) r.hook_id AND c.pos OPERATOR(pg_catalog.<) r.pos",
			2, types);
	}
}

/* Give every webhook a cursor (one restored by pg_restore has none). */
void
webhook_cursor_ensure(void)
{
	prepare_plans();
	if (SPI_execute_plan(ensure_plan, NULL, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create webhook cursors");
}

/*
 * Start webhook hook_id's next batch (see next_batch_plan); the caller
 * knows every event of the current batch is settled.  Returns -1 if the
 * cursor stays, 0 if it moved to an empty batch, 1 to one with events.
 */
int
webhook_cursor_next_batch(int32 hook_id)
{
	Datum		arg = Int32GetDatum(hook_id);
	bool		isnull;

	prepare_plans();
	if (SPI_execute_plan(next_batch_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not move the cursor of webhook %d", hook_id);
	if (SPI_processed == 0)
		return -1;
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) ? 1 : 0;
}

/*
 * Take a tick at snapshot (text) if anything committed since the last;
 * prune old ones.  Ticks pile up only as new ones come, one per claim at
 * most: they are pruned then, but not more than once per TICK_PRUNE_MS (at
 * a thousand commits a second, pruning at every tick cost more than any
 * other statement of the worker, and the table is read by its index).
 */
#define TICK_PRUNE_MS 1000

void
webhook_cursor_tick(Datum snapshot)
{
	static TimestampTz next_prune = 0;

	prepare_plans();
	if (SPI_execute_plan(tick_plan, &snapshot, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not take a tick of the event log");
	if (SPI_processed > 0 && GetCurrentTransactionStartTimestamp() >= next_prune)
	{
		if (SPI_execute_plan(prune_plan, NULL, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove old ticks of the event log");
		next_prune = TimestampTzPlusMilliseconds(GetCurrentTransactionStartTimestamp(),
												 TICK_PRUNE_MS);
	}
}

/* The transaction's snapshot, as text, for webhook_cursor_next_batch (in the caller's context). */
Datum
webhook_cursor_snapshot(void)
{
	bool		isnull;

	prepare_plans();
	if (SPI_execute_plan(snapshot_plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the current snapshot");
	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							 false, -1);
}

/* How many of webhook hook_id's deliveries wait in webhook.queue, up to WEBHOOK_QUEUE_GATE + 1. */
int
webhook_cursor_queued(int32 hook_id)
{
	Datum		arg = Int32GetDatum(hook_id);
	bool		isnull;

	prepare_plans();
	if (SPI_execute_plan(gate_plan, &arg, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the queued deliveries of webhook %d", hook_id);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A lane of a delivery waiting in webhook.queue (webhook_cursor_load). */
typedef struct HeldLane
{
	int64		lane;
	bool		truncate;
	int64		table;
} HeldLane;

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * The next events, at most limit, of webhook hook_id's batch after event
 * after (or after the cursor's pos), in id order, that have no row in
 * webhook.queue, into *events (palloc'd in the current memory context,
 * pointing into SPI's results: valid until the transaction ends).  *hook
 * and *hookdesc get the webhook's row (WEBHOOK_CLAIM_HOOK_COLUMNS).  The
 * chunks are read as they are stored and unpacked here, in C: only the
 * next few (enough for limit events and a window's worth that may be in
 * the queue), each detoasted once.  Returns how many events; when none,
 * *scanned is the last event id of the chunks looked at (every event of
 * them for the webhook has a row in webhook.queue: the next load may start
 * there), 0 if there were no chunks (the batch has nothing more).  waiting
 * says whether any of the webhook's deliveries wait in webhook.queue
 * (pending or retrying; webhook_cursor_queued): if none, no lane is held.
 */
int
webhook_cursor_load(int32 hook_id, int64 after, int limit, bool waiting,
					WebhookLogEvent **events, HeapTuple *hook, TupleDesc *hookdesc,
					int64 *scanned)
{
	Datum		args[4];
	bool		isnull;
	SPITupleTable *chunks;
	HeldLane   *held = NULL;
	int			nheld = 0;
	int64	   *queued = NULL;
	int			nqueued = 0;
	int			n = 0;
	int64		lo = PG_INT64_MAX;
	int64		hi = 0;
	WebhookLogEvent *out;

	prepare_plans();
	*events = NULL;
	*scanned = 0;
	args[0] = Int32GetDatum(hook_id);
	if (SPI_execute_plan(hook_plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webhook %d", hook_id);
	if (SPI_processed == 0)
		return 0;
	*hook = SPI_copytuple(SPI_tuptable->vals[0]);
	*hookdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);

	args[1] = Int64GetDatum(after);
	args[2] = Int32GetDatum(limit);
	/* chunks enough for limit events, and for a window's worth that may be in the queue */
	args[3] = Int32GetDatum(limit + webhook_max_in_flight);
	if (SPI_execute_plan(chunks_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event log for webhook %d", hook_id);
	chunks = SPI_tuptable;
	if (chunks->numvals == 0)
		return 0;
	after = DatumGetInt64(SPI_getbinval(chunks->vals[0], chunks->tupdesc, 8, &isnull));
	for (uint64 i = 0; i < chunks->numvals; i++)
	{
		lo = Min(lo, DatumGetInt64(SPI_getbinval(chunks->vals[i], chunks->tupdesc, 2, &isnull)));
		hi = Max(hi, DatumGetInt64(SPI_getbinval(chunks->vals[i], chunks->tupdesc, 3, &isnull)));
	}
	*scanned = hi;

	/* what waits in the queue: rows of these events, and lanes held by a retry */
	args[1] = Int64GetDatum(lo * 32);
	args[2] = Int64GetDatum(hi * 32 + 31);
	if (SPI_execute_plan(queued_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the queue for webhook %d", hook_id);
	nqueued = (int) SPI_processed;
	queued = palloc(sizeof(int64) * (nqueued + 1));
	for (int i = 0; i < nqueued; i++)
		queued[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	if (waiting && SPI_execute_plan(held_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the queue for webhook %d", hook_id);
	nheld = waiting ? (int) SPI_processed : 0;
	held = palloc(sizeof(HeldLane) * (nheld + 1));
	for (int i = 0; i < nheld; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];

		held[i].lane = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 1, &isnull));
		held[i].truncate = DatumGetBool(SPI_getbinval(t, SPI_tuptable->tupdesc, 2, &isnull));
		held[i].table = DatumGetInt64(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull));
	}

	out = palloc(sizeof(WebhookLogEvent) * Max(limit, 1));
	for (uint64 i = 0; i < chunks->numvals && n < limit; i++)
	{
		HeapTuple	ct = chunks->vals[i];
		TupleDesc	cd = chunks->tupdesc;
		int64		first_id = DatumGetInt64(SPI_getbinval(ct, cd, 2, &isnull));
		char	   *schema = TextDatumGetCString(SPI_getbinval(ct, cd, 4, &isnull));
		char	   *table = TextDatumGetCString(SPI_getbinval(ct, cd, 5, &isnull));
		char	   *txid = TextDatumGetCString(SPI_getbinval(ct, cd, 1, &isnull));
		ArrayType  *hooks = DatumGetArrayTypeP(SPI_getbinval(ct, cd, 6, &isnull));
		ArrayType  *changes = DatumGetArrayTypeP(SPI_getbinval(ct, cd, 7, &isnull));
		int32	   *hook_ids = (int32 *) ARR_DATA_PTR(hooks);
		int			nhooks = ArrayGetNItems(ARR_NDIM(hooks), ARR_DIMS(hooks));
		int			bit = -1;
		int64		table_hash;
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		TupleDesc	change_desc;
		StringInfoData qualified;

		for (int k = 0; k < nhooks && !ARR_HASNULL(hooks); k++)
			if (hook_ids[k] == hook_id)
				bit = k;
		if (bit < 0 || bit >= 32)
			continue;
		initStringInfo(&qualified);
		appendStringInfo(&qualified, "%s.%s", schema, table);
		table_hash = (int64) DatumGetUInt64(hash_any_extended((unsigned char *) qualified.data,
															  qualified.len, 0));
		get_typlenbyvalalign(ARR_ELEMTYPE(changes), &typlen, &typbyval, &typalign);
		deconstruct_array(changes, ARR_ELEMTYPE(changes), typlen, typbyval, typalign,
						  &elems, &nulls, &nelems);
		change_desc = lookup_rowtype_tupdesc(ARR_ELEMTYPE(changes), -1);
		for (int j = 0; j < nelems && n < limit; j++)
		{
			int64		event_id = first_id + j;
			int64		delivery_id = event_id * 32 + bit;
			HeapTupleData tuple;
			int32		mask;
			int64		lane;
			bool		truncate;
			WebhookLogEvent *ev;

			if (event_id <= after || nulls[j])
				continue;
			tuple.t_data = DatumGetHeapTupleHeader(elems[j]);
			tuple.t_len = HeapTupleHeaderGetDatumLength(tuple.t_data);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = InvalidOid;
			mask = DatumGetInt32(heap_getattr(&tuple, WEBHOOK_CHANGE_MASK, change_desc, &isnull));
			if (isnull || (mask & (int32) (UINT32_C(1) << bit)) == 0)
				continue;
			if (nqueued > 0 && bsearch(&delivery_id, queued, nqueued, sizeof(int64), compare_int64))
				continue;
			lane = DatumGetInt64(heap_getattr(&tuple, WEBHOOK_CHANGE_LANE, change_desc, &isnull));
			truncate = DatumGetChar(heap_getattr(&tuple, WEBHOOK_CHANGE_OP, change_desc, &isnull)) == 'T';
			ev = &out[n++];
			ev->event_id = event_id;
			ev->delivery_id = delivery_id;
			ev->change = tuple.t_data;
			ev->txid = txid;
			ev->schema = schema;
			ev->table = table;
			ev->lane = lane;
			ev->table_hash = table_hash;
			ev->truncate = truncate;
			ev->blocked = false;
			for (int k = 0; k < nheld && !ev->blocked; k++)
				ev->blocked = held[k].lane == lane ||
					((held[k].truncate || truncate) && held[k].table == table_hash);
		}
		ReleaseTupleDesc(change_desc);
	}
	*events = out;
	return n;
}

/*
 * Move every unsettled event of webhook hook_id into webhook.queue, and its
 * cursor to now; the caller holds none of its events.  Returns how many
 * deliveries were queued.
 */
uint64
webhook_cursor_spill(int32 hook_id)
{
	Datum		arg = Int32GetDatum(hook_id);
	bool		isnull;

	prepare_plans();
	if (SPI_execute_plan(spill_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not move the events of webhook %d into the queue", hook_id);
	if (SPI_processed != 1)
		return 0;
	return (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												1, &isnull));
}

/* Record n deliveries from the log as delivered (arrays of Datums). */
void
webhook_cursor_delivered(int n, Datum *hooks, Datum *ids, Datum *codes, Datum *ats)
{
	Datum		args[4];

	if (n == 0)
		return;
	prepare_plans();
	args[0] = webhook_make_array(hooks, NULL, n, INT4OID);
	args[1] = webhook_make_array(ids, NULL, n, INT8OID);
	args[2] = webhook_make_array(codes, NULL, n, INT4OID);
	args[3] = webhook_make_array(ats, NULL, n, TIMESTAMPTZOID);
	if (SPI_execute_plan(progress_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record deliveries");
}

/*
 * Give n deliveries from the log rows of their own in webhook.queue (see
 * WebhookCopy).  An event that is not found in the log is an error: the
 * record transaction fails, and the outcomes are recorded again.
 */
void
webhook_cursor_copy(int n, WebhookCopy *c)
{
	Datum		args[10];
	bool		isnull;
	int			found;

	if (n == 0)
		return;
	prepare_plans();
	args[0] = webhook_make_array(c->hooks, NULL, n, INT4OID);
	args[1] = webhook_make_array(c->ids, NULL, n, INT8OID);
	args[2] = webhook_make_array(c->txids, NULL, n, TEXTOID);
	args[3] = webhook_make_array(c->statuses, NULL, n, CHAROID);
	args[4] = webhook_make_array(c->attempts, NULL, n, INT4OID);
	args[5] = webhook_make_array(c->codes, NULL, n, INT4OID);
	args[6] = webhook_make_array(c->errors, c->errors_null, n, TEXTOID);
	args[7] = webhook_make_array(c->bodies, c->bodies_null, n, TEXTOID);
	args[8] = webhook_make_array(c->nexts, NULL, n, TIMESTAMPTZOID);
	args[9] = webhook_make_array(c->ats, NULL, n, TIMESTAMPTZOID);
	if (SPI_execute_plan(copy_plan, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not queue deliveries from the event log");
	found = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (found != n)
		elog(ERROR, "%d of %d deliveries to queue were not found in the event log", n - found, n);
}

/* Move the cursors of n webhooks to new positions (arrays of Datums). */
void
webhook_cursor_move(int n, Datum *hooks, Datum *positions)
{
	Datum		args[2];

	if (n == 0)
		return;
	prepare_plans();
	args[0] = webhook_make_array(hooks, NULL, n, INT4OID);
	args[1] = webhook_make_array(positions, NULL, n, INT8OID);
	if (SPI_execute_plan(pos_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not move webhook cursors");
}
