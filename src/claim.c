/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  A claim transaction: due deliveries into the webhooks' windows.
 *
 * A claim takes, per active webhook with room in its window, its due rows
 * of webhook.queue (pending ones, and retries whose time has come), then
 * its next events from the log (load.c).  Before that it makes rows left
 * in s by a dead predecessor due again (once), disables webhooks whose
 * owners can no longer read what they watch, and hands back what waits in
 * the windows of webhooks no longer active.  After a claim failed, the next
 * one is careful: one delivery at a time, each in a subtransaction, so
 * that one poison event cannot stall every webhook.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"
#include "plans.h"

/* most deliveries held by the worker over all webhooks */
#define MAX_HELD 20000

WebhookClaiming webhook_claiming;

static SPIPlanPtr claim_plan;
static SPIPlanPtr candidates_plan;
static SPIPlanPtr claim_one_plan;
static SPIPlanPtr poison_plan;
static SPIPlanPtr recover_plan;
static SPIPlanPtr next_retry_plan;
static SPIPlanPtr owners_plan;
static SPIPlanPtr active_plan;
static SPIPlanPtr waiting_plan;

/* deliveries one careful claim (claim_carefully) takes at most */
#define CAREFUL_CLAIM_MAX 1000
/* how often owners' privileges are checked again */
#define OWNER_CHECK_INTERVAL_MS 2000
#define OWNER_RECHECK_MS 100

/*
 * A claim: per active webhook with room in its window ($1 webhook ids and
 * $2 deliveries held, $3 the window), its due deliveries in order; at most
 * $4 in all.  Pending deliveries held back by an earlier retrying one of
 * their lane (see "Per-row order") are skipped, among the first four
 * windows' worth of pending ones only: a backlog of a table without a key
 * behind a retry costs each claim a bounded look, not a walk of the whole
 * backlog.  A fifo webhook's due deliveries are taken only up to its first
 * one not yet due (a batch of them may be waiting on a retry).
 * hook_columns: what the statement that follows needs of each webhook (at
 * least id and fifo).
 */
#define CLAIM_PICK(hook_columns) \
	"WITH hooks AS MATERIALIZED (" \
	"  SELECT " hook_columns "," \
	"         GREATEST(CASE WHEN NOT h.fifo THEN $3 OPERATOR(pg_catalog.-) COALESCE(f.n, 0)" \
	"                       WHEN f.n IS NULL THEN h.batch_size ELSE 0 END, 0) AS room" \
	"    FROM webhook.hook h" \
	"    LEFT JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS f(hook_id, n)" \
	"      ON f.hook_id OPERATOR(pg_catalog.=) h.id" \
	"   WHERE h.state OPERATOR(pg_catalog.=) 'active'" \
	"), picked AS (" \
	"  SELECT c.id FROM hooks CROSS JOIN LATERAL (" \
	"      SELECT u.id, u.next_attempt_at," \
	"             pg_catalog.bool_and(u.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())" \
	"               OVER (ORDER BY u.id) AS run_due FROM (" \
	"        (SELECT q.id, q.next_attempt_at FROM (" \
	"           SELECT q.id, q.next_attempt_at, q.lane, q.op, q.schema_name, q.table_name" \
	"             FROM webhook.queue q" \
	"            WHERE q.status OPERATOR(pg_catalog.=) 'p' AND q.hook_id OPERATOR(pg_catalog.=) hooks.id" \
	"            ORDER BY q.next_attempt_at, q.id LIMIT hooks.room OPERATOR(pg_catalog.*) 4) q" \
	"          WHERE NOT EXISTS (SELECT FROM webhook.queue e" \
	"                 WHERE e.status OPERATOR(pg_catalog.=) 'r'" \
	"                   AND e.hook_id OPERATOR(pg_catalog.=) hooks.id AND e.id OPERATOR(pg_catalog.<) q.id" \
	"                   AND (e.lane OPERATOR(pg_catalog.=) q.lane" \
	"                        OR ((e.op OPERATOR(pg_catalog.=) 'T' OR q.op OPERATOR(pg_catalog.=) 'T')" \
	"                            AND e.schema_name OPERATOR(pg_catalog.=) q.schema_name" \
	"                            AND e.table_name OPERATOR(pg_catalog.=) q.table_name)))" \
	"          ORDER BY q.next_attempt_at, q.id LIMIT hooks.room)" \
	"        UNION ALL" \
	"        (SELECT q.id, q.next_attempt_at FROM webhook.queue q" \
	"          WHERE q.status OPERATOR(pg_catalog.=) 'r' AND q.hook_id OPERATOR(pg_catalog.=) hooks.id" \
	"            AND (hooks.fifo OR q.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())" \
	"          ORDER BY q.next_attempt_at, q.id LIMIT hooks.room)" \
	"      ) u ORDER BY u.id LIMIT hooks.room) c" \
	"   WHERE c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()" \
	"     AND (NOT hooks.fifo OR c.run_due)" \
	"   LIMIT $4" \
	")"

/* What the worker needs of each claimed delivery: see webhook_take_row. */
#define CLAIM_RETURNING \
	" RETURNING q.id, q.hook_id, q.attempts, hooks.max_attempts, hooks.url, hooks.secret," \
	"   hooks.header_lines, hooks.timeout_ms," \
	"   hooks.msg_prefix OPERATOR(pg_catalog.||) q.event_id," \
	"   q," \
	"   hooks.fifo, hooks.batch_size, hooks.format, q.lane," \
	"   pg_catalog.hashtextextended(q.schema_name OPERATOR(pg_catalog.||) '.'" \
	"                               OPERATOR(pg_catalog.||) q.table_name, 0)," \
	"   q.op OPERATOR(pg_catalog.=) 'T', hooks.name"

#define prepare webhook_keep_plan

/* Prepare the claim's statements once; SPI connected. */
static void
prepare_claim(void)
{
	if (claim_plan != NULL)
		return;

	{
		Oid			types[4] = {INT4ARRAYOID, INT4ARRAYOID, INT4OID, INT4OID};

		claim_plan = prepare(CLAIM_PICK(WEBHOOK_CLAIM_HOOK_COLUMNS)
			" UPDATE webhook.queue q"
			"    SET status = 's', attempts = q.attempts OPERATOR(pg_catalog.+) 1,"
			"        last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			"   FROM hooks"
			"  WHERE q.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT picked.id FROM picked))"
			"    AND (CASE WHEN q.status IN ('p', 'r') THEN true END)"
			"    AND hooks.id OPERATOR(pg_catalog.=) (q.hook_id OPERATOR(pg_catalog.+) 0)"
			CLAIM_RETURNING,
			4, types);
		/* not the hook columns: a webhook's own may be what fails */
		candidates_plan = prepare(CLAIM_PICK("h.id, h.fifo, h.batch_size")
			" SELECT picked.id FROM picked ORDER BY picked.id",
			4, types);
	}
	{
		Oid			types[1] = {INT8OID};

		claim_one_plan = prepare(
			"UPDATE webhook.queue q"
			"   SET status = 's', attempts = q.attempts OPERATOR(pg_catalog.+) 1,"
			"       last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			"  FROM (SELECT " WEBHOOK_CLAIM_HOOK_COLUMNS " FROM webhook.hook h) hooks"
			" WHERE q.id OPERATOR(pg_catalog.=) $1"
			"   AND (CASE WHEN q.status IN ('p', 'r') THEN true END)"
			"   AND hooks.id OPERATOR(pg_catalog.=) (q.hook_id OPERATOR(pg_catalog.+) 0)"
			CLAIM_RETURNING,
			1, types);
	}
	{
		Oid			types[2] = {INT8OID, TEXTOID};

		poison_plan = prepare(
			"UPDATE webhook.queue"
			"   SET status = 'f', attempts = attempts OPERATOR(pg_catalog.+) 1, last_error = $2,"
			"       last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			" WHERE id OPERATOR(pg_catalog.=) $1 AND (CASE WHEN status IN ('p', 'r') THEN true END)",
			2, types);
	}
	recover_plan = prepare(
		"UPDATE webhook.queue SET status = 'r', next_attempt_at = pg_catalog.now()"
		" WHERE status OPERATOR(pg_catalog.=) 's'",
		0, NULL);
	next_retry_plan = prepare(
		"SELECT pg_catalog.min(n.at) FROM webhook.hook h CROSS JOIN LATERAL ("
		"  SELECT q.next_attempt_at AS at FROM webhook.queue q"
		"   WHERE q.status OPERATOR(pg_catalog.=) 'r' AND q.hook_id OPERATOR(pg_catalog.=) h.id"
		"     AND q.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()"
		"   ORDER BY q.next_attempt_at LIMIT 1) n"
		" WHERE h.state OPERATOR(pg_catalog.=) 'active'",
		0, NULL);
	/*
	 * Each active webhook's first reason to stop: its owner was dropped, lost
	 * USAGE on its schema, or lost SELECT on a table it has triggers on (a
	 * schema webhook's tables too), or that table got row security its owner
	 * does not bypass.  Only the extension's triggers (_capture_trigger)
	 * that serve the webhook on what it watches count (anyone may create a
	 * trigger calling webhook.capture on a table of their own); partitions
	 * are left out (row triggers cloned there, and
	 * the truncate triggers of a partitioned table's partitions): reading
	 * through the parent needs no privilege on them.  A schema that no longer exists
	 * (dropped, renamed) has nothing left to check.
	 */
	owners_plan = prepare(
		"UPDATE webhook.hook h"
		"   SET state = 'disabled',"
		"       disabled_reason = 'its owner can no longer read every row of '"
		"                         OPERATOR(pg_catalog.||) bad.what"
		"  FROM (SELECT w.id, COALESCE("
		"          CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_authid a"
		"                                 WHERE a.oid OPERATOR(pg_catalog.=) w.owner)"
		"               THEN COALESCE('table ' OPERATOR(pg_catalog.||) w.relation::pg_catalog.text,"
		"                             'schema ' OPERATOR(pg_catalog.||) w.schema_name,"
		"                             'its tables') END,"
		"          (SELECT 'schema ' OPERATOR(pg_catalog.||) n.nspname FROM pg_catalog.pg_namespace n"
		"            WHERE n.nspname OPERATOR(pg_catalog.=) w.schema_name"
		"              AND NOT pg_catalog.has_schema_privilege(w.owner, n.oid, 'USAGE')),"
		"          (SELECT 'table ' OPERATOR(pg_catalog.||) t.rel::pg_catalog.regclass::pg_catalog.text"
		"             FROM webhook._capture_trigger t"
		"             JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.rel"
		"            WHERE t.rel OPERATOR(pg_catalog.=) ANY ("
		"                    CASE WHEN w.relation IS NOT NULL THEN ARRAY[w.relation::pg_catalog.oid]"
		"                    ELSE ARRAY(SELECT r.oid FROM pg_catalog.pg_class r"
		"                                 JOIN pg_catalog.pg_namespace n"
		"                                   ON n.oid OPERATOR(pg_catalog.=) r.relnamespace"
		"                                WHERE n.nspname OPERATOR(pg_catalog.=) w.schema_name) END)"
		"              AND w.id OPERATOR(pg_catalog.=) ANY (t.hooks)"
		"              AND (NOT c.relispartition"
		"                   OR t.rel OPERATOR(pg_catalog.=) w.relation::pg_catalog.oid)"
		"              AND NOT webhook._owner_can_read(w.owner, t.rel)"
		"            ORDER BY t.rel LIMIT 1)) AS what"
		"          FROM webhook.hook w"
		"         WHERE w.state OPERATOR(pg_catalog.=) 'active') bad"
		" WHERE h.id OPERATOR(pg_catalog.=) bad.id AND bad.what IS NOT NULL"
		" RETURNING h.name, h.disabled_reason, h.id",
		0, NULL);
	active_plan = prepare(
		"SELECT id, fifo, batch_size FROM webhook.hook WHERE state OPERATOR(pg_catalog.=) 'active'"
		" ORDER BY id",
		0, NULL);
	/* does any delivery wait in webhook.queue (pending or retrying)? */
	waiting_plan = prepare(
		"SELECT EXISTS (SELECT FROM webhook.queue q WHERE q.status IN ('p', 'r'))",
		0, NULL);
}

/*
 * Hand back what waits in the windows of webhooks that are no longer active
 * (paused, disabled or removed since the claim).  In a claim transaction.
 * Returns the active webhooks (ActiveHook), in id order.
 */
static List *
release_inactive(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	List	   *active = NIL;
	List	   *ids = NIL;

	if (SPI_execute_plan(active_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read active webhooks");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		ActiveHook *a = palloc(sizeof(ActiveHook));
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		a->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		a->fifo = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		a->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		active = lappend(active, a);
		ids = lappend_int(ids, a->id);
	}
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		if (dlist_is_empty(&slot->waiting) || list_member_int(ids, slot->hook_id))
			continue;
		while (!dlist_is_empty(&slot->waiting))
			webhook_release_unsent(slot, dlist_container(Delivery, req.node,
												 dlist_pop_head_node(&slot->waiting)));
	}
	return active;
}

typedef struct ClaimedRow
{
	int64		id;
	HeapTuple	tuple;
} ClaimedRow;

static int
compare_claimed(const void *a, const void *b)
{
	int64		x = ((const ClaimedRow *) a)->id;
	int64		y = ((const ClaimedRow *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Claim what claim_plan would, one delivery at a time, each in a
 * subtransaction: after a claim failed, this finds the deliveries that make
 * it fail (a damaged row, a webhook whose stored headers are not an object)
 * and fails them with the error, so that one poison event cannot stall
 * every webhook.  Returns how many were claimed.
 */
static uint64
claim_carefully(Datum *args, Oid ext)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	uint64		n;
	uint64		got = 0;
	int64	   *ids;
	bool		isnull;

	if (SPI_execute_plan(candidates_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not find due deliveries");
	n = SPI_processed;
	ids = palloc(sizeof(int64) * (n + 1));
	for (uint64 i = 0; i < n; i++)
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	webhook_claiming.careful_full = n >= (uint64) DatumGetInt32(args[3]);

	for (uint64 i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			if (SPI_execute_plan(claim_one_plan, &id, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "could not claim delivery " INT64_FORMAT, ids[i]);
			if (SPI_processed == 1)
			{
				webhook_take_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ext);
				got++;
			}
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			Datum		pargs[2];

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;

			/*
			 * Probably not the event's fault (deadlock, resources, state,
			 * I/O): fail the claim and try again, unless this delivery
			 * failed that way in each of the last few careful claims.
			 */
			if (webhook_transient_error(edata))
			{
				if (ids[i] != webhook_claiming.transient_id)
				{
					webhook_claiming.transient_id = ids[i];
					webhook_claiming.transient_failures = 0;
				}
				if (++webhook_claiming.transient_failures < 3)
					ReThrowError(edata);
			}

			ereport(WARNING,
					(errmsg("webhook delivery " INT64_FORMAT " can never be sent: %s",
							ids[i], edata->message)));
			pargs[0] = id;
			pargs[1] = CStringGetTextDatum(psprintf("the event cannot be sent: %s",
													edata->message));
			if (SPI_execute_plan(poison_plan, pargs, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not fail delivery " INT64_FORMAT, ids[i]);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	return got;
}

/*
 * One claim transaction: take due deliveries into the webhooks' windows.
 * Returns true if the claim was cut short by the global cap, so more work
 * may be due.  Sets *next_retry to when the next retry falls due (0 if
 * none) and *present to whether the extension exists.
 */
bool
webhook_claim(TimestampTz *next_retry, bool *present)
{
	Oid			ext = webhook_begin_work("claiming");
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	Datum	   *ids;
	Datum	   *counts;
	int			n = 0;
	int			limit;
	Datum		args[4];
	bool		isnull;
	Datum		next;
	uint64		got;
	ClaimedRow *rows;
	bool		flagged;
	List	   *active;
	uint64		from_log = 0;

	*next_retry = 0;
	webhook_claiming.last_n = 0;
	*present = OidIsValid(ext);
	if (!*present)
	{
		webhook_end_work();
		return false;
	}

	prepare_claim();
	if (!webhook_claiming.recovered)
	{
		if (SPI_execute_plan(recover_plan, NULL, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not recover claimed deliveries");
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("webhook worker will retry " UINT64_FORMAT " deliveries interrupted by a restart",
							SPI_processed)));
		webhook_claiming.recovered = true;
	}

	if (ext != webhook_windows.extension)
	{
		webhook_windows_restart();
		webhook_windows.extension = ext;
		webhook_claiming.cursors_known = false;
	}
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
		slot->fresh_n = 0;

	/* a webhook whose owner lost the right to read what it watches stops */
	flagged = webhook_take_check_owners();
	if (flagged || GetCurrentTimestamp() >= webhook_claiming.next_owner_check ||
		(webhook_claiming.owner_recheck != 0 && GetCurrentTimestamp() >= webhook_claiming.owner_recheck))
	{
		if (SPI_execute_plan(owners_plan, NULL, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not check webhook owners");
		webhook_log_disabled();
		webhook_claiming.next_owner_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   OWNER_CHECK_INTERVAL_MS);

		/*
		 * The flag is raised at commit, just before the committing backend
		 * sends its catalog invalidations: this check may have read the old
		 * privileges.  Look again shortly, busy or idle.
		 */
		webhook_claiming.owner_recheck = flagged ?
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), OWNER_RECHECK_MS) : 0;
	}
	active = release_inactive();

	/*
	 * Every webhook has a cursor (register creates it), but one restored by
	 * pg_restore has none yet: make the missing ones at the first claim and
	 * whenever an active webhook has no window yet (new since the last
	 * claim, which made one for each).
	 */
	if (webhook_claiming.cursors_known)
	{
		ListCell   *lc;

		foreach(lc, active)
		{
			int32		id = ((ActiveHook *) lfirst(lc))->id;

			if (hash_search(webhook_windows.slots, &id, HASH_FIND, NULL) == NULL)
				webhook_claiming.cursors_known = false;
		}
	}
	if (!webhook_claiming.cursors_known)
	{
		webhook_cursor_ensure();
		webhook_claiming.cursors_known = true;
	}

	ids = palloc(sizeof(Datum) * (hash_get_num_entries(webhook_windows.slots) + 1));
	counts = palloc(sizeof(Datum) * (hash_get_num_entries(webhook_windows.slots) + 1));
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		if (slot->held == 0)
			continue;
		ids[n] = Int32GetDatum(slot->hook_id);
		counts[n] = Int32GetDatum(slot->held);
		n++;
	}
	limit = MAX_HELD - webhook_windows.total_held;
	args[0] = webhook_make_array(ids, NULL, n, INT4OID);
	args[1] = webhook_make_array(counts, NULL, n, INT4OID);
	args[2] = Int32GetDatum(webhook_max_in_flight);
	args[3] = Int32GetDatum(Max(limit, 0));
	/*
	 * Most claims find webhook.queue without a delivery waiting (it holds
	 * only retries, and what queues behind them): then the queue's claim and
	 * its look for the next retry are skipped, and so are the loads' counts
	 * of what waits there, which would all find nothing.
	 */
	if (SPI_execute_plan(waiting_plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for waiting deliveries");
	webhook_claiming.queue_waiting =
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (webhook_claiming.careful)
	{
		args[3] = Int32GetDatum(Min(Max(limit, 0), CAREFUL_CLAIM_MAX));
		got = claim_carefully(args, ext);
		from_log = webhook_claim_from_log(active, Max(limit, 0) - (int) got, ext,
										  webhook_claiming.queue_waiting,
										  &webhook_claiming.poisoned);
		if (from_log > 0)
			webhook_windows.log_dirty = true;
		got += from_log;
	}
	else
	{
		if (!webhook_claiming.queue_waiting)
			got = 0;
		else if (SPI_execute_plan(claim_plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not claim deliveries");
		else
			got = SPI_processed;

		/* start them in event order: RETURNING gives no order */
		rows = palloc(sizeof(ClaimedRow) * (got + 1));
		for (uint64 i = 0; i < got; i++)
		{
			rows[i].tuple = SPI_tuptable->vals[i];
			rows[i].id = DatumGetInt64(SPI_getbinval(rows[i].tuple, SPI_tuptable->tupdesc,
													 1, &isnull));
		}
		qsort(rows, got, sizeof(ClaimedRow), compare_claimed);
		for (uint64 i = 0; i < got; i++)
			webhook_take_row(rows[i].tuple, SPI_tuptable->tupdesc, ext);
		if (got > 0)
			SPI_freetuptable(SPI_tuptable);

		/* and what committed to the log since */
		from_log = webhook_claim_from_log(active, Max(limit, 0) - (int) got, ext,
										  webhook_claiming.queue_waiting,
										  &webhook_claiming.poisoned);
		if (from_log > 0)
			webhook_windows.log_dirty = true;
		got += from_log;
	}
	webhook_claiming.last_n = got;

	/* (loads only move deliveries to the queue while some wait there) */
	if (webhook_claiming.queue_waiting || webhook_claiming.careful)
	{
		if (SPI_execute_plan(next_retry_plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not find the next retry");
		next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			*next_retry = DatumGetTimestampTz(next);
	}

	webhook_end_work();
	webhook_claiming.committed = true;
	webhook_admit_fresh();
	return limit > 0 && got >= (uint64) limit;
}
