/*-------------------------------------------------------------------------
 *
 * expand.c
 *	  The worker's side of the event log: expand committed chunks into
 *	  deliveries, in commit order, and rotate the log tables.
 *
 * Expansion.  webhook.log_state.expanded is the snapshot as of which the
 * log has been expanded: every chunk whose transaction is visible in it has
 * its deliveries in webhook.queue.  A pass takes, in one statement, every
 * chunk visible now and not in that snapshot (whatever its ids: a
 * transaction that took its ids first and committed last comes in the pass
 * that sees its commit), inserts one delivery per (change, webhook whose bit
 * is set, if that webhook still exists), in event-id order within the pass,
 * and moves the snapshot up to the statement's own.  So deliveries are
 * queued in commit order, as finely as the passes see commits (each pass
 * follows the commits that woke the worker), and exactly once: the
 * deliveries and the new snapshot commit together.  The chunks it reads are
 * found through the txid index: those at or above the snapshot's xmax, and
 * those of the transactions it saw in progress.
 *
 * Rotation.  Writers append to the table log_state.current names.  When
 * that table has grown past ROTATE_BYTES, or has been current for
 * webhook.log_rotation, and the next one is empty, current moves on to the
 * next (with a relcache invalidation of log_state, which writers cache).  A
 * table that is not current is emptied with TRUNCATE once this worker holds
 * its lock exclusively (taken without waiting: so no writer is inside it)
 * and every chunk in it is expanded; its space goes back to the operating
 * system, without VACUUM.
 *
 * Both run in a worker transaction with SPI connected.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "eventlog.h"

/* switch to the next log table past this size, or after webhook.log_rotation */
#define ROTATE_BYTES (16 * 1024 * 1024)

#define LOG_UNION \
	"(SELECT * FROM webhook.log_0 UNION ALL SELECT * FROM webhook.log_1" \
	" UNION ALL SELECT * FROM webhook.log_2)"

/*
 * One expansion pass (see the header).  Returns the chunks it expanded and
 * the deliveries it queued.
 */
static const char *const expand_sql =
	"WITH st AS (SELECT s.expanded FROM webhook.log_state s"
	"), l AS MATERIALIZED ("
	"  SELECT l.first_id, l.schema_name, l.table_name, l.hooks, l.changes"
	"    FROM " LOG_UNION " l, st"
	"   WHERE (l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmax(st.expanded)"
	"          OR l.txid OPERATOR(pg_catalog.=)"
	"             ANY (ARRAY(SELECT pg_catalog.pg_snapshot_xip(st.expanded))))"
	"     AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, st.expanded)"
	"), ins AS ("
	"  INSERT INTO webhook.queue (event_id, hook_id, op, schema_name, table_name, created_at,"
	"                             old_row, new_row, changed, truncated, truncated_partition)"
	"  SELECT l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1, k.hook_id,"
	"         c.op, l.schema_name, l.table_name, c.at, c.old_row, c.new_row, c.changed,"
	"         c.truncated, c.partition"
	"    FROM l"
	"   CROSS JOIN LATERAL pg_catalog.unnest(l.changes) WITH ORDINALITY"
	"         AS c(op, at, mask, truncated, old_row, new_row, changed, partition, n)"
	"   CROSS JOIN LATERAL pg_catalog.unnest(l.hooks) WITH ORDINALITY AS k(hook_id, bit)"
	"   WHERE (c.mask OPERATOR(pg_catalog.&)"
	"          (1 OPERATOR(pg_catalog.<<) (k.bit::pg_catalog.int4 OPERATOR(pg_catalog.-) 1)))"
	"         OPERATOR(pg_catalog.<>) 0"
	"     AND EXISTS (SELECT FROM webhook.hook h WHERE h.id OPERATOR(pg_catalog.=) k.hook_id)"
	"   ORDER BY l.first_id, c.n, k.bit"
	"  RETURNING 1"
	")"
	" UPDATE webhook.log_state SET expanded = pg_catalog.pg_current_snapshot()"
	"  WHERE EXISTS (SELECT FROM l)"
	" RETURNING (SELECT pg_catalog.count(*) FROM l), (SELECT pg_catalog.count(*) FROM ins)";

static SPIPlanPtr expand_plan = NULL;
static SPIPlanPtr state_plan = NULL;
static SPIPlanPtr switch_plan = NULL;
static SPIPlanPtr unexpanded_plan[WEBHOOK_LOG_TABLES];
static SPIPlanPtr truncate_plan[WEBHOOK_LOG_TABLES];

static SPIPlanPtr
keep(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static void
prepare_plans(void)
{
	Oid			int4[1] = {INT4OID};
	char		sql[512];

	if (expand_plan != NULL)
		return;
	expand_plan = keep(expand_sql, 0, NULL);
	state_plan = keep("SELECT s.current, s.switched_at FROM webhook.log_state s", 0, NULL);
	switch_plan = keep("UPDATE webhook.log_state SET current = $1, switched_at = pg_catalog.now()",
					   1, int4);
	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
	{
		snprintf(sql, sizeof(sql),
				 "SELECT EXISTS (SELECT FROM webhook.log_%d l, webhook.log_state s"
				 " WHERE l.txid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin(s.expanded)"
				 "   AND NOT pg_catalog.pg_visible_in_snapshot(l.txid, s.expanded))", i);
		unexpanded_plan[i] = keep(sql, 0, NULL);
		snprintf(sql, sizeof(sql), "TRUNCATE webhook.log_%d", i);
		truncate_plan[i] = keep(sql, 0, NULL);
	}
}

/*
 * Expand every chunk committed since the last pass into deliveries.
 * Returns the number of chunks expanded.
 */
uint64
webhook_expand_log(void)
{
	bool		isnull;
	uint64		chunks = 0;

	prepare_plans();
	if (SPI_execute_plan(expand_plan, NULL, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not expand the event log");
	if (SPI_processed == 1)
		chunks = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
	return chunks;
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
webhook_rotate_log(void)
{
	Oid			nsp = get_namespace_oid("webhook", false);
	Oid			tables[WEBHOOK_LOG_TABLES];
	bool		empty[WEBHOOK_LOG_TABLES];
	bool		waiting = false;
	int			current;
	TimestampTz switched_at;
	bool		isnull;
	char		name[NAMEDATALEN];

	prepare_plans();
	if (SPI_execute_plan(state_plan, NULL, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read webhook.log_state");
	current = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	switched_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));

	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
	{
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
		if (SPI_execute_plan(unexpanded_plan[i], NULL, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read webhook.%s", name);
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		{
			waiting = true;
			continue;
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
			Datum		arg = Int32GetDatum(next);

			if (SPI_execute_plan(switch_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not switch log tables");
			/* writers cache the current table: tell them at commit */
			CacheInvalidateRelcacheByRelid(get_relname_relid("log_state", nsp));
		}
		if (bytes > 0)
			waiting = true;
	}
	return waiting;
}
