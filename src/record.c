/*-------------------------------------------------------------------------
 *
 * record.c
 *	  A record transaction: the outcomes gathered so far (outcome.c), and
 *	  the retention pass.
 *
 * For deliveries with a row in webhook.queue, the row moves out of s to
 * where its outcome's event leads (worker.h).  For those from the log, a
 * delivered one adds its id to its webhook's progress row, one that failed
 * or waits behind its row's earlier delivery gets a row of its own, and
 * each webhook's cursor moves past what is settled.  The webhooks' health
 * follows, and their cursors come last (see below).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"
#include "plans.h"

/* outcomes gather for a record transaction this long at most, or this many */
#define RECORD_DELAY_MS 2
#define RECORD_BATCH 256

/* rows removed per retention pass */
#define PURGE_BATCH 10000

static SPIPlanPtr record_plan;
static SPIPlanPtr health_plan;
static SPIPlanPtr disable_plan;
static SPIPlanPtr purge_plan;
static SPIPlanPtr purge_progress_plan;
static SPIPlanPtr orphans_plan;

#define prepare webhook_keep_plan

/* Prepare the record's and the retention's statements once; SPI connected. */
static void
prepare_record(void)
{
	if (record_plan != NULL)
		return;

	{
		Oid			types[7] = {INT8ARRAYOID, CHARARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};

		/*
		 * status p is a delivery handed back unsent (its webhook was paused
		 * or removed meanwhile): the attempt is not counted.
		 */
		record_plan = prepare(
			"UPDATE webhook.queue q"
			"   SET status = r.status,"
			"       attempts = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                  THEN q.attempts OPERATOR(pg_catalog.-) 1 ELSE q.attempts END,"
			"       last_status = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                     THEN q.last_status ELSE r.http_status END,"
			"       last_error = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                    THEN q.last_error ELSE r.error END,"
			"       response_body = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                       THEN q.response_body ELSE r.body END,"
			"       next_attempt_at = CASE r.status WHEN 'r' THEN r.next_at"
			"                         WHEN 'p' THEN '-infinity' ELSE r.at END,"
			"       delivered_at = CASE WHEN r.status OPERATOR(pg_catalog.=) 'd' THEN r.at END"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			"                 pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
			"                 pg_catalog.unnest($7))"
			"       AS r(id, status, http_status, error, body, next_at, at)"
			" WHERE q.id OPERATOR(pg_catalog.=) ANY ($1) AND q.id OPERATOR(pg_catalog.=) r.id"
			"   AND (CASE WHEN q.status OPERATOR(pg_catalog.=) 's' THEN true END)",
			7, types);
	}
	{
		Oid			types[8] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
		INT4OID, TIMESTAMPTZOID, BOOLOID, TEXTOID};

		/*
		 * $2 last success, $3 last failure, $4 last error, $5 failures after
		 * the last success in this batch, $6 the first of those, $7 gone,
		 * $8 reason.
		 */
		health_plan = prepare(
			"UPDATE webhook.hook h"
			"   SET last_success_at = COALESCE($2, h.last_success_at),"
			"       last_failure_at = COALESCE($3, h.last_failure_at),"
			"       last_error = COALESCE($4, h.last_error),"
			"       consecutive_failures = CASE WHEN $2 IS NULL"
			"            THEN h.consecutive_failures OPERATOR(pg_catalog.+) $5 ELSE $5 END,"
			"       failing_since = CASE WHEN $5 OPERATOR(pg_catalog.=) 0 THEN NULL"
			"            WHEN $2 IS NOT NULL OR h.failing_since IS NULL THEN $6"
			"            ELSE h.failing_since END,"
			"       state = CASE WHEN $7 THEN 'disabled' ELSE h.state END,"
			"       disabled_reason = CASE WHEN $7 THEN $8 ELSE h.disabled_reason END"
			" WHERE h.id OPERATOR(pg_catalog.=) $1"
			" RETURNING h.name",
			8, types);
	}
	{
		Oid			types[2] = {INT4OID, INT4OID};

		purge_progress_plan = prepare(
			"DELETE FROM webhook.progress WHERE ctid = ANY (ARRAY("
			"  SELECT p.ctid FROM webhook.progress p"
			"   WHERE p.at OPERATOR(pg_catalog.<)"
			"         (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			"   LIMIT $2))",
			2, types);
		purge_plan = prepare(
			"DELETE FROM webhook.queue WHERE id IN ("
			"  SELECT old.id FROM webhook.hook h CROSS JOIN LATERAL ("
			"    SELECT q.id FROM webhook.queue q"
			"     WHERE q.status IN ('d', 'f') AND q.hook_id OPERATOR(pg_catalog.=) h.id"
			"       AND q.next_attempt_at OPERATOR(pg_catalog.<)"
			"           (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			"     LIMIT $2) old"
			"  LIMIT $2)",
			2, types);
	}
	{
		Oid			types[1] = {INT4OID};

		/*
		 * Rows of webhooks that no longer exist: an event committed after
		 * its webhook's unregister by a transaction that queued it before,
		 * or rows unregister skipped because this worker held them.  The
		 * webhook ids the queue holds are found by skipping through the
		 * work index, one probe per (status, webhook), never a scan.
		 */
		orphans_plan = prepare(
			"WITH RECURSIVE k(status, hook_id) AS ("
			"  SELECT s.status, (SELECT q.hook_id FROM webhook.queue q"
			"                     WHERE q.status OPERATOR(pg_catalog.=) s.status"
			"                     ORDER BY q.hook_id LIMIT 1)"
			"    FROM (VALUES ('p'::\"char\"), ('s'), ('r'), ('d'), ('f')) s(status)"
			"  UNION ALL"
			"  SELECT k.status, (SELECT q.hook_id FROM webhook.queue q"
			"                     WHERE q.status OPERATOR(pg_catalog.=) k.status"
			"                       AND q.hook_id OPERATOR(pg_catalog.>) k.hook_id"
			"                     ORDER BY q.hook_id LIMIT 1)"
			"    FROM k WHERE k.hook_id IS NOT NULL"
			"), dead AS MATERIALIZED ("
			"  SELECT k.status, k.hook_id FROM k"
			"   WHERE k.hook_id IS NOT NULL"
			"     AND NOT EXISTS (SELECT FROM webhook.hook h"
			"                      WHERE h.id OPERATOR(pg_catalog.=) k.hook_id)"
			")"
			"DELETE FROM webhook.queue WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
			"  SELECT x.id FROM dead CROSS JOIN LATERAL ("
			"    SELECT q.id FROM webhook.queue q"
			"     WHERE q.status OPERATOR(pg_catalog.=) dead.status"
			"       AND q.hook_id OPERATOR(pg_catalog.=) dead.hook_id"
			"     LIMIT $1) x"
			"   LIMIT $1))",
			1, types);
	}
	{
		Oid			types[1] = {INT4OID};

		disable_plan = prepare(
			"UPDATE webhook.hook"
			"   SET state = 'disabled',"
			"       disabled_reason = 'every delivery attempt failed since '"
			"                         OPERATOR(pg_catalog.||) failing_since"
			" WHERE state OPERATOR(pg_catalog.=) 'active'"
			"   AND failing_since OPERATOR(pg_catalog.<)"
			"       (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			" RETURNING name, disabled_reason, id",
			1, types);
	}
}

/* Per-webhook summary of a batch of outcomes, for webhook.hook. */
typedef struct Health
{
	int32		hook_id;
	TimestampTz last_success;
	TimestampTz last_failure;
	TimestampTz first_trailing_failure;
	char	   *last_error;
	int			trailing_failures;
	bool		gone;
	char	   *reason;
} Health;

/* One record transaction: write every outcome gathered so far. */
void
webhook_record(void)
{
	Oid			ext;
	int			n = list_length(webhook_outcomes.list);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *codes = palloc(sizeof(Datum) * n);
	bool	   *codes_null = palloc(sizeof(bool) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *errors_null = palloc(sizeof(bool) * n);
	Datum	   *bodies = palloc(sizeof(Datum) * n);
	bool	   *bodies_null = palloc(sizeof(bool) * n);
	Datum	   *nexts = palloc(sizeof(Datum) * n);
	bool	   *nexts_null = palloc(sizeof(bool) * n);
	Datum	   *dones = palloc(sizeof(Datum) * n);
	bool	   *dones_null = palloc(sizeof(bool) * n);
	Health	   *health = palloc0(sizeof(Health) * n);
	int			nhealth = 0;
	int			k = 0;
	bool		any_failure = false;
	ListCell   *lc;
	/* from the log: delivered ones, and those that get a row of their own */
	Datum	   *d_hooks = palloc(sizeof(Datum) * n);
	Datum	   *d_ids = palloc(sizeof(Datum) * n);
	Datum	   *d_codes = palloc(sizeof(Datum) * n);
	Datum	   *d_ats = palloc(sizeof(Datum) * n);
	int			nd = 0;
	WebhookCopy copy;
	int			nc = 0;
	Datum	   *m_hooks = palloc(sizeof(Datum) * n);
	Datum	   *m_pos = palloc(sizeof(Datum) * n);
	HookSlot  **moved = palloc(sizeof(HookSlot *) * n);
	int			nm = 0;

	copy.hooks = palloc(sizeof(Datum) * n);
	copy.ids = palloc(sizeof(Datum) * n);
	copy.txids = palloc(sizeof(Datum) * n);
	copy.statuses = palloc(sizeof(Datum) * n);
	copy.attempts = palloc(sizeof(Datum) * n);
	copy.codes = palloc(sizeof(Datum) * n);
	copy.errors = palloc(sizeof(Datum) * n);
	copy.errors_null = palloc(sizeof(bool) * n);
	copy.bodies = palloc(sizeof(Datum) * n);
	copy.bodies_null = palloc(sizeof(bool) * n);
	copy.nexts = palloc(sizeof(Datum) * n);
	copy.ats = palloc(sizeof(Datum) * n);

	ext = webhook_begin_work("recording");
	if (OidIsValid(ext))
		prepare_record();

	foreach(lc, webhook_outcomes.list)
	{
		Outcome    *o = lfirst(lc);
		Health	   *hl = NULL;

		if (o->extension != ext)
			continue;			/* the extension was dropped since the claim */
		if (o->from_log)
		{
			HookSlot   *slot = webhook_window(o->hook_id);
			bool		seen = false;

			if (o->status == DELIVERY_DELIVERED)
			{
				d_hooks[nd] = Int32GetDatum(o->hook_id);
				d_ids[nd] = Int64GetDatum(o->id);
				d_codes[nd] = Int32GetDatum(o->http_status);
				d_ats[nd] = TimestampTzGetDatum(o->at);
				nd++;
			}
			else
			{
				copy.hooks[nc] = Int32GetDatum(o->hook_id);
				copy.ids[nc] = Int64GetDatum(o->id);
				copy.txids[nc] = CStringGetTextDatum(o->txid);
				copy.statuses[nc] = CharGetDatum((char) o->status);
				copy.attempts[nc] = Int32GetDatum(o->event == DELIVERY_QUEUE_BEHIND ? 0 : o->attempts);
				copy.codes[nc] = Int32GetDatum(o->http_status);
				copy.errors[nc] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
				copy.errors_null[nc] = o->error == NULL;
				copy.bodies[nc] = o->body ? CStringGetTextDatum(o->body) : (Datum) 0;
				copy.bodies_null[nc] = o->body == NULL;
				copy.nexts[nc] = TimestampTzGetDatum(o->status == DELIVERY_RETRYING ? o->next_at : o->at);
				copy.ats[nc] = TimestampTzGetDatum(o->at);
				nc++;
			}
			/* settled: the cursor may move past it (written below) */
			webhook_track_settle(slot, o->event_id);
			for (int i = 0; i < nm; i++)
				seen = seen || moved[i] == slot;
			if (!seen)
				moved[nm++] = slot;
			if (o->event == DELIVERY_QUEUE_BEHIND)
				continue;		/* not sent: no news of the webhook */
		}
		else
		{
		ids[k] = Int64GetDatum(o->id);
		statuses[k] = CharGetDatum((char) o->status);
		codes[k] = Int32GetDatum(o->http_status);
		codes_null[k] = o->http_status == 0;
		errors[k] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
		errors_null[k] = o->error == NULL;
		bodies[k] = o->body ? CStringGetTextDatum(o->body) : (Datum) 0;
		bodies_null[k] = o->body == NULL;
		nexts[k] = TimestampTzGetDatum(o->next_at);
		nexts_null[k] = o->status != DELIVERY_RETRYING;
		dones[k] = TimestampTzGetDatum(o->at);
		dones_null[k] = false;
		k++;

		if (o->event == DELIVERY_HAND_BACK)
			continue;			/* handed back unsent: no news of the webhook */
		}

		for (int i = 0; i < nhealth; i++)
			if (health[i].hook_id == o->hook_id)
				hl = &health[i];
		if (hl == NULL)
		{
			hl = &health[nhealth++];
			hl->hook_id = o->hook_id;
		}
		if (o->status == DELIVERY_DELIVERED)
		{
			hl->last_success = o->at;
			hl->trailing_failures = 0;
		}
		else
		{
			any_failure = true;
			if (hl->trailing_failures++ == 0)
				hl->first_trailing_failure = o->at;
			hl->last_failure = o->at;
			hl->last_error = o->error;
			if (o->gone && !hl->gone)
			{
				hl->gone = true;
				hl->reason = psprintf("the endpoint answered 410 Gone at %s",
									  timestamptz_to_str(o->at));
			}
		}
	}

	if (k > 0)
	{
		Datum		args[7];

		args[0] = webhook_make_array(ids, NULL, k, INT8OID);
		args[1] = webhook_make_array(statuses, NULL, k, CHAROID);
		args[2] = webhook_make_array(codes, codes_null, k, INT4OID);
		args[3] = webhook_make_array(errors, errors_null, k, TEXTOID);
		args[4] = webhook_make_array(bodies, bodies_null, k, TEXTOID);
		args[5] = webhook_make_array(nexts, nexts_null, k, TIMESTAMPTZOID);
		args[6] = webhook_make_array(dones, dones_null, k, TIMESTAMPTZOID);
		if (SPI_execute_plan(record_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record delivery outcomes");
	}

	/* the log's: one progress row per webhook, rows for the others, the cursors */
	webhook_cursor_delivered(nd, d_hooks, d_ids, d_codes, d_ats);
	webhook_cursor_copy(nc, &copy);

	for (int i = 0; i < nhealth; i++)
	{
		Health	   *hl = &health[i];
		Datum		args[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		args[0] = Int32GetDatum(hl->hook_id);
		args[1] = TimestampTzGetDatum(hl->last_success);
		nulls[1] = hl->last_success ? ' ' : 'n';
		args[2] = TimestampTzGetDatum(hl->last_failure);
		nulls[2] = hl->last_failure ? ' ' : 'n';
		args[3] = hl->last_error ? CStringGetTextDatum(hl->last_error) : (Datum) 0;
		nulls[3] = hl->last_error ? ' ' : 'n';
		args[4] = Int32GetDatum(hl->trailing_failures);
		args[5] = TimestampTzGetDatum(hl->first_trailing_failure);
		nulls[5] = hl->trailing_failures ? ' ' : 'n';
		args[6] = BoolGetDatum(hl->gone);
		args[7] = hl->reason ? CStringGetTextDatum(hl->reason) : (Datum) 0;
		nulls[7] = hl->reason ? ' ' : 'n';
		if (SPI_execute_plan(health_plan, args, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not record webhook health");
		if (hl->gone && SPI_processed > 0)
			ereport(LOG,
					(errmsg("webhook \"%s\" (id %d) disabled: %s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							hl->hook_id, hl->reason)));
	}

	if (any_failure)
	{
		Datum		arg = Int32GetDatum(webhook_disable_after_s);

		if (SPI_execute_plan(disable_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not disable failing webhooks");
		webhook_log_disabled();
	}

	/*
	 * The cursors last: an API call locks its webhook's row and then its
	 * cursor (unregister deletes it), so the worker, which updated webhook
	 * rows above, locks cursors only when it will wait for nothing more.
	 */
	{
		int			np = 0;

		for (int i = 0; i < nm; i++)
			if (moved[i]->prefix > moved[i]->pos_saved)
			{
				m_hooks[np] = Int32GetDatum(moved[i]->hook_id);
				m_pos[np] = Int64GetDatum(moved[i]->prefix);
				np++;
			}
		webhook_cursor_move(np, m_hooks, m_pos);
	}

	webhook_end_work();
	for (int i = 0; i < nm; i++)
		moved[i]->pos_saved = Max(moved[i]->pos_saved, moved[i]->prefix);
	list_free(webhook_outcomes.list);
	webhook_outcomes.list = NIL;
	webhook_outcomes.fifo = false;
	MemoryContextReset(webhook_outcomes.cxt);
}

/*
 * One retention pass: delete up to PURGE_BATCH delivered or failed rows
 * older than webhook.retention, and up to PURGE_BATCH rows of webhooks that
 * no longer exist.  Returns true if there may be more.
 */
bool
webhook_purge(void)
{
	Oid			ext = webhook_begin_work("purging");
	Datum		args[2];
	bool		more = false;

	if (OidIsValid(ext))
	{
		prepare_record();
		args[0] = Int32GetDatum(webhook_retention_s);
		args[1] = Int32GetDatum(PURGE_BATCH);
		if (SPI_execute_plan(purge_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge delivery history");
		more = SPI_processed >= PURGE_BATCH;
		if (SPI_execute_plan(purge_progress_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge delivery history");
		more = more || SPI_processed >= PURGE_BATCH;
		if (SPI_execute_plan(orphans_plan, &args[1], NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove the events of removed webhooks");
		more = more || SPI_processed >= PURGE_BATCH;
	}
	webhook_end_work();
	return more;
}

/*
 * Should the outcomes gathered so far be recorded now?  A record transaction
 * costs about as much for one outcome as for a hundred, so under load they
 * gather for up to RECORD_DELAY_MS (or RECORD_BATCH of them); at once when
 * nothing else is in flight (so an idle worker adds no latency) or a fifo
 * webhook waits on one (its next delivery is claimed only after).
 */
bool
webhook_record_due(void)
{
	if (webhook_outcomes.list == NIL)
		return false;
	return webhook_windows.total_held == 0 || webhook_outcomes.fifo ||
		list_length(webhook_outcomes.list) >= RECORD_BATCH ||
		GetCurrentTimestamp() >= TimestampTzPlusMilliseconds(webhook_outcomes.first_at, RECORD_DELAY_MS);
}

/* When the outcomes gathered so far fall due for recording (0: none). */
TimestampTz
webhook_record_due_at(void)
{
	if (webhook_outcomes.list == NIL)
		return 0;
	return TimestampTzPlusMilliseconds(webhook_outcomes.first_at, RECORD_DELAY_MS);
}
