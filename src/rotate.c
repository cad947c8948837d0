/*-------------------------------------------------------------------------
 *
 * rotate.c
 *	  The rotation of the event log's tables: writers move on to the next
 *	  table now and then, and a table nothing needs is emptied with
 *	  TRUNCATE, its space going back to the operating system without VACUUM.
 *
 * Writers append to the table log_state.current names.  When that table has
 * grown past ROTATE_BYTES, or has been current for webhook.log_rotation,
 * and the next one is empty, current moves on to the next (with a relcache
 * invalidation of log_state, which writers cache), and log_state.left_at
 * notes when the old one stopped being current.  A table that is not
 * current is emptied once
 *  - it has been out of use for webhook.retention (the delivered history
 *    webhook.deliveries shows lives in the log),
 *  - every webhook's cursor (cursor.c) is past every chunk in it that names
 *    that webhook (the chunk is in a batch it has finished, or all its
 *    events are at or before the position in the current one); a webhook that is not active and whose events the worker
 *    does not hold (paused, disabled) is not waited for: its unsettled
 *    events are moved into webhook.queue first (webhook_cursor_spill), so
 *    it holds back only its own events, and
 *  - this worker holds its lock exclusively (taken without waiting: so no
 *    writer is inside it).
 *
 * Runs in a worker transaction with SPI connected.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "settings.h"
#include "cursor.h"
#include "plans.h"
#include "eventlog.h"

/* switch to the next log table past this size, or after webhook.log_rotation */
#define ROTATE_BYTES (16 * 1024 * 1024)

#define LOG_UNION \
	"(SELECT * FROM webhook.log_0 UNION ALL SELECT * FROM webhook.log_1" \
	" UNION ALL SELECT * FROM webhook.log_2)"

static SPIPlanPtr state_plan = NULL;
static SPIPlanPtr switch_plan = NULL;
static SPIPlanPtr blockers_plan[WEBHOOK_LOG_TABLES];
static SPIPlanPtr truncate_plan[WEBHOOK_LOG_TABLES];

#define keep webhook_keep_plan

static void
prepare_plans(void)
{
	Oid			int4[2] = {INT4OID, INT4OID};
	char		sql[1024];

	if (state_plan != NULL)
		return;
	state_plan = keep("SELECT s.current, s.switched_at, s.left_at FROM webhook.log_state s", 0, NULL);
	switch_plan = keep("UPDATE webhook.log_state"
					   "   SET current = $1, switched_at = pg_catalog.now(), left_at[$2] = pg_catalog.now()",
					   2, int4);
	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
	{
		/* the webhooks whose cursors are not past some chunk of the table */
		snprintf(sql, sizeof(sql),
				 "SELECT DISTINCT k.hook_id, h.state OPERATOR(pg_catalog.=) 'active'"
				 "  FROM webhook.log_%d l CROSS JOIN LATERAL pg_catalog.unnest(l.hooks) AS k(hook_id)"
				 "  JOIN webhook.hook h ON h.id OPERATOR(pg_catalog.=) k.hook_id"
				 "  LEFT JOIN webhook.cursor c ON c.hook_id OPERATOR(pg_catalog.=) k.hook_id"
				 " WHERE c.hook_id IS NULL"
				 "    OR (NOT pg_catalog.pg_visible_in_snapshot(l.txid, c.done)"
				 "        AND NOT (pg_catalog.pg_visible_in_snapshot(l.txid, c.upto)"
				 "                 AND l.last_id OPERATOR(pg_catalog.<=) c.pos))", i);
		blockers_plan[i] = keep(sql, 0, NULL);
		snprintf(sql, sizeof(sql), "TRUNCATE webhook.log_%d", i);
		truncate_plan[i] = keep(sql, 0, NULL);
	}
}

/* The size of the relation, in bytes; the caller holds a lock on it. */
static uint64
relation_bytes(Oid relid)
{
	Relation	rel = table_open(relid, NoLock);
	uint64		bytes = (uint64) RelationGetNumberOfBlocks(rel) * BLCKSZ;

	table_close(rel, NoLock);
	return bytes;
}

/*
 * Empty the log tables that are done with and switch writers to the next
 * table when it is time (see the header).  Returns whether some table is
 * still waiting to be emptied, so that the caller comes back.
 */
bool
webhook_rotate_log(const int32 *busy, int nbusy)
{
	Oid			nsp = get_namespace_oid("webhook", false);
	Oid			tables[WEBHOOK_LOG_TABLES];
	bool		empty[WEBHOOK_LOG_TABLES];
	TimestampTz left_at[WEBHOOK_LOG_TABLES];
	bool		waiting = false;
	int			current;
	TimestampTz switched_at;
	bool		isnull;
	char		name[NAMEDATALEN];
	TimestampTz kept_since = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 -(int64) webhook_retention_s * 1000);

	prepare_plans();
	if (SPI_execute_plan(state_plan, NULL, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read webhook.log_state");
	current = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	switched_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
	{
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 3, &isnull));
		Datum	   *vals;
		int			nvals;

		deconstruct_array(arr, TIMESTAMPTZOID, sizeof(TimestampTz), true, TYPALIGN_DOUBLE,
						  &vals, NULL, &nvals);
		for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
			left_at[i] = i < nvals ? DatumGetTimestampTz(vals[i]) : DT_NOBEGIN;
	}

	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
	{
		bool		blocked = false;
		List	   *spill = NIL;
		ListCell   *lc;

		snprintf(name, sizeof(name), "log_%d", i);
		tables[i] = get_relname_relid(name, nsp);
		if (!OidIsValid(tables[i]))
			elog(ERROR, "relation \"webhook.%s\" does not exist", name);
		empty[i] = false;
		if (i == current)
			continue;

		/* a writer still inside it, or one about to be: later */
		if (!ConditionalLockRelationOid(tables[i], AccessExclusiveLock))
		{
			waiting = true;
			continue;
		}
		if (relation_bytes(tables[i]) == 0)
		{
			empty[i] = true;
			continue;
		}
		/* its delivered history is still kept */
		if (left_at[i] > kept_since)
		{
			waiting = true;
			continue;
		}
		if (SPI_execute_plan(blockers_plan[i], NULL, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read webhook.%s", name);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			int32		hook_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r],
															  SPI_tuptable->tupdesc, 1, &isnull));
			bool		active = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r],
															SPI_tuptable->tupdesc, 2, &isnull));
			bool		held = false;

			for (int j = 0; j < nbusy; j++)
				held = held || busy[j] == hook_id;
			if (active || held)
				blocked = true;
			else
				spill = lappend_int(spill, hook_id);
		}
		if (blocked)
		{
			waiting = true;
			continue;
		}
		foreach(lc, spill)
		{
			uint64		n = webhook_cursor_spill(lfirst_int(lc));

			if (n > 0)
				ereport(LOG,
						(errmsg("webhook %d is not active: " UINT64_FORMAT " of its events move from the event log into webhook.queue",
								lfirst_int(lc), n),
						 errdetail("So that the log's space can come back; they are delivered once the webhook is resumed.")));
		}
		if (SPI_execute_plan(truncate_plan[i], NULL, NULL, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not empty webhook.%s", name);
		empty[i] = true;
	}

	/* time to move on? */
	{
		int			next = (current + 1) % WEBHOOK_LOG_TABLES;
		uint64		bytes;

		LockRelationOid(tables[current], AccessShareLock);
		bytes = relation_bytes(tables[current]);
		if (bytes > 0 && empty[next] &&
			(bytes >= ROTATE_BYTES ||
			 TimestampDifferenceExceeds(switched_at, GetCurrentTimestamp(), webhook_log_rotation_ms)))
		{
			Datum		args[2];

			args[0] = Int32GetDatum(next);
			args[1] = Int32GetDatum(current + 1);
			if (SPI_execute_plan(switch_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not switch log tables");
			/* writers cache the current table: tell them at commit */
			CacheInvalidateRelcacheByRelid(get_relname_relid("log_state", nsp));
		}
		if (bytes > 0)
			waiting = true;
	}
	return waiting;
}
