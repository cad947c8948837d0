/*-------------------------------------------------------------------------
 *
 * eventlog.c
 *	  The writer's side of the event log: gather a transaction's changes
 *	  in memory and write them as chunks, each change once.
 *
 * Every capture trigger firing hands its change here (capture.c).  Changes
 * gather in pending chunks, one per (reported relation, subtransaction),
 * kept in memory (freed at the end of the transaction at the latest).  A chunk is written as one
 * row of the current log table when it is full (WEBHOOK_CHUNK_MAX changes
 * or WEBHOOK_CHUNK_BYTES), when the statement ends, and at the latest at
 * pre-commit (or pre-prepare); so a statement that changes many rows writes
 * one heap row and one index entry per chunk, not per change, and a
 * single-row transaction writes one row.
 * Nothing is written for a subtransaction that rolls back: its chunks are
 * dropped at its abort, and at its commit they pass to its parent.
 *
 * Fan-out.  Each webhook has its own trigger on a watched table, and the
 * triggers of one change fire one after another.  The first firing appends
 * the change; each following firing for the same change (same relation,
 * operation and row version, in the very next capture call) only sets its
 * webhook's bit in that change's mask (webhook_log_add_hook), so the row is
 * serialised and stored once whatever the number of webhooks.  When that
 * cannot be told for sure, the change is simply stored again for the other
 * webhook: never lost, never sent to a webhook whose trigger did not fire.
 *
 * The log table to append to is read from webhook.log_state once per
 * backend and cached; the worker's rotation sends a relcache invalidation of
 * log_state when it switches.  A writer that still appends to the previous
 * table is harmless: the worker reads every table, and empties one only
 * when it holds that table's lock exclusively (no writer is in it) and
 * every webhook's cursor is past every chunk in it (rotate.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "webhook.h"
#include "eventlog.h"

/* The log's objects, looked up once per backend. */
typedef struct LogLayout
{
	bool		valid;
	Oid			tables[WEBHOOK_LOG_TABLES];
	Oid			indexes[WEBHOOK_LOG_TABLES];
	Oid			state_relid;
	Oid			seqid;
	Oid			change_type;
	int			current;		/* the table to append to */
} LogLayout;

/* One chunk of changes waiting to be written. */
typedef struct PendingChunk
{
	MemoryContext cxt;			/* holds this struct and its values */
	Oid			relid;			/* the relation its events name */
	SubTransactionId subid;
	int64		first_id;
	char	   *schema_name;	/* names as of the chunk's first change */
	char	   *table_name;
	int			nhooks;
	int32		hooks[WEBHOOK_CHUNK_HOOKS];
	int			n;
	Size		bytes;
	/* per change, the first n set (new_chunk zeroes only what is above) */
	char		op[WEBHOOK_CHUNK_MAX];
	TimestampTz at[WEBHOOK_CHUNK_MAX];
	uint32		mask[WEBHOOK_CHUNK_MAX];
	bool		truncated[WEBHOOK_CHUNK_MAX];
	Datum		old_json[WEBHOOK_CHUNK_MAX];	/* (Datum) 0 for none */
	Datum		new_json[WEBHOOK_CHUNK_MAX];
	Datum		changed[WEBHOOK_CHUNK_MAX];
	Datum		partition[WEBHOOK_CHUNK_MAX];	/* TRUNCATE of a partition */
	int64		lane[WEBHOOK_CHUNK_MAX];
} PendingChunk;

/* The attributes of webhook.log_N and webhook.change, in order. */
enum
{
	LOG_TXID, LOG_FIRST_ID, LOG_RELID, LOG_SCHEMA, LOG_TABLE, LOG_HOOKS, LOG_CHANGES,
	LOG_LAST_ID, LOG_NATTS
};
enum
{
	CH_OP, CH_AT, CH_MASK, CH_TRUNCATED, CH_OLD, CH_NEW, CH_CHANGED, CH_PARTITION, CH_LANE,
	CH_NATTS
};

static LogLayout layout = {false};
static List *pending = NIL;		/* PendingChunk *, oldest first */
static MemoryContext spare = NULL;	/* a chunk's context, reset, for the next */
static MemoryContext write_cxt = NULL;	/* write_chunk's, reset at each write */

/* the last change appended or added to, for webhook_log_add_hook */
static PendingChunk *last_chunk = NULL;
static int	last_index;
static WebhookChangeId last_id;
static uint64 last_call = 0;
static uint64 calls = 0;		/* capture calls so far in this backend */
static int	held = 0;			/* > 0 while a capture call is resolving its target */

static void
eventlog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == layout.state_relid)
		layout.valid = false;
	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
		if (relid == layout.tables[i])
			layout.valid = false;
}


/* Which log table writers append to, as webhook.log_state says now. */
static int
read_current_table(void)
{
	Relation	rel = table_open(layout.state_relid, AccessShareLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	HeapTuple	tup = systable_getnext(scan);
	int			current = 0;

	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		if (!isnull)
			current = DatumGetInt32(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return (current >= 0 && current < WEBHOOK_LOG_TABLES) ? current : 0;
}

/*
 * Look up the log's objects and the current table, if not known.  Returns
 * false if they are not all there (the extension was dropped, perhaps by
 * this very transaction), or raises an error if missing_ok is false.
 */
static bool
load_layout(bool missing_ok)
{
	static bool callback_registered = false;
	Oid			nsp;
	char		name[NAMEDATALEN];
	const char *missing = NULL;

	if (layout.valid)
		return true;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(eventlog_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	nsp = get_namespace_oid("webhook", true);
	for (int i = 0; i < WEBHOOK_LOG_TABLES; i++)
	{
		snprintf(name, sizeof(name), "log_%d", i);
		layout.tables[i] = get_relname_relid(name, nsp);
		snprintf(name, sizeof(name), "log_%d_txid", i);
		layout.indexes[i] = get_relname_relid(name, nsp);
		if (!OidIsValid(layout.tables[i]) || !OidIsValid(layout.indexes[i]))
			missing = "log_0";
	}
	layout.state_relid = get_relname_relid("log_state", nsp);
	layout.seqid = get_relname_relid("event_id_seq", nsp);
	layout.change_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										 CStringGetDatum("change"), ObjectIdGetDatum(nsp));
	if (!OidIsValid(layout.state_relid))
		missing = "log_state";
	if (!OidIsValid(layout.seqid))
		missing = "event_id_seq";
	if (!OidIsValid(layout.change_type))
		missing = "change";
	if (missing != NULL)
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("object \"webhook.%s\" of the event log does not exist", missing),
				 errhint("Reinstall the webhook extension.")));
	}
	layout.valid = true;
	layout.current = read_current_table();
	return true;
}

/*
 * Write chunk c as one row of the current log table, with its index entry.
 * Runs in the transaction (or subtransaction) the chunk belongs to.
 */
static void
write_chunk(PendingChunk *c)
{
	MemoryContext old;
	Relation	rel;
	Relation	index;
	TupleDesc	cdesc;
	Datum	   *elems;
	Datum	   *hooks;
	Datum		values[LOG_NATTS];
	bool		nulls[LOG_NATTS];
	Datum		ivalues[1];
	bool		inulls[1] = {false};
	HeapTuple	tup;
	int			table;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	/* one context for every write, its first block kept between writes */
	if (write_cxt == NULL)
		write_cxt = AllocSetContextCreate(TopMemoryContext, "webhook chunk writer",
										  512 * 1024, 512 * 1024, 8 * 1024 * 1024);
	MemoryContextReset(write_cxt);
	old = MemoryContextSwitchTo(write_cxt);

	/* nowhere to write once the extension is gone: its events go with it */
	if (!load_layout(true))
	{
		MemoryContextSwitchTo(old);
		return;
	}
	table = layout.current;
	rel = table_open(layout.tables[table], RowExclusiveLock);
	/* the lock may have processed invalidations: the objects are the same */
	load_layout(false);
	index = index_open(layout.indexes[table], RowExclusiveLock);

	cdesc = lookup_rowtype_tupdesc(layout.change_type, -1);
	elems = palloc(sizeof(Datum) * c->n);
	for (int i = 0; i < c->n; i++)
	{
		Datum		cv[CH_NATTS];
		bool		cn[CH_NATTS];

		memset(cn, false, sizeof(cn));
		cv[CH_OP] = CharGetDatum(c->op[i]);
		cv[CH_AT] = TimestampTzGetDatum(c->at[i]);
		cv[CH_MASK] = Int32GetDatum((int32) c->mask[i]);
		cv[CH_TRUNCATED] = BoolGetDatum(c->truncated[i]);
		cv[CH_OLD] = c->old_json[i];
		cn[CH_OLD] = c->old_json[i] == (Datum) 0;
		cv[CH_NEW] = c->new_json[i];
		cn[CH_NEW] = c->new_json[i] == (Datum) 0;
		cv[CH_CHANGED] = c->changed[i];
		cn[CH_CHANGED] = c->changed[i] == (Datum) 0;
		cv[CH_PARTITION] = c->partition[i];
		cn[CH_PARTITION] = c->partition[i] == (Datum) 0;
		cv[CH_LANE] = Int64GetDatum(c->lane[i]);
		elems[i] = HeapTupleGetDatum(heap_form_tuple(cdesc, cv, cn));
	}
	ReleaseTupleDesc(cdesc);
	get_typlenbyvalalign(layout.change_type, &typlen, &typbyval, &typalign);

	hooks = palloc(sizeof(Datum) * c->nhooks);
	for (int i = 0; i < c->nhooks; i++)
		hooks[i] = Int32GetDatum(c->hooks[i]);

	memset(nulls, false, sizeof(nulls));
	values[LOG_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[LOG_FIRST_ID] = Int64GetDatum(c->first_id);
	values[LOG_RELID] = ObjectIdGetDatum(c->relid);
	values[LOG_SCHEMA] = CStringGetTextDatum(c->schema_name);
	values[LOG_TABLE] = CStringGetTextDatum(c->table_name);
	values[LOG_HOOKS] = PointerGetDatum(construct_array(hooks, c->nhooks, INT4OID,
														sizeof(int32), true, TYPALIGN_INT));
	values[LOG_CHANGES] = PointerGetDatum(construct_array(elems, c->n, layout.change_type,
														  typlen, typbyval, typalign));
	values[LOG_LAST_ID] = Int64GetDatum(c->first_id + c->n - 1);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	heap_insert(rel, tup, GetCurrentCommandId(true), 0, NULL);

	ivalues[0] = values[LOG_TXID];
	index_insert(index, ivalues, inulls, &tup->t_self, rel, UNIQUE_CHECK_NO, false,
				 BuildIndexInfo(index));

	index_close(index, NoLock);
	table_close(rel, NoLock);
	MemoryContextSwitchTo(old);
}

/* Free a chunk's memory, keeping one context for the next chunk. */
static void
free_chunk(PendingChunk *c)
{
	MemoryContext cxt = c->cxt;

	if (last_chunk == c)
		last_chunk = NULL;
	if (spare == NULL)
	{
		MemoryContextReset(cxt);
		spare = cxt;
	}
	else
		MemoryContextDelete(cxt);
}

/* Forget chunk c (written or dropped) and free its memory. */
static void
forget_chunk(PendingChunk *c)
{
	pending = list_delete_ptr(pending, c);
	free_chunk(c);
}

/* Drop every pending chunk (the transaction ended). */
static void
drop_all(void)
{
	ListCell   *lc;

	foreach(lc, pending)
		free_chunk(lfirst(lc));
	pending = NIL;				/* the list itself went with the transaction */
	last_chunk = NULL;
	held = 0;
}

/* Write every pending chunk, oldest first (at pre-commit). */
static void
write_all(void)
{
	while (pending != NIL)
	{
		PendingChunk *c = linitial(pending);

		write_chunk(c);
		forget_chunk(c);
	}
}

/*
 * A statement ended (from the executor and utility hooks, webhook.c): write
 * the chunks of the current subtransaction, so that the transaction's next
 * statements see its events in the views.  Chunks of enclosing
 * subtransactions wait: they may still roll back without this one.
 */
void
webhook_capture_release(void)
{
	SubTransactionId subid;
	ListCell   *lc;

	if (pending == NIL || held > 0 || !IsTransactionState())
		return;
	subid = GetCurrentSubTransactionId();
	foreach(lc, pending)
	{
		PendingChunk *c = lfirst(lc);

		if (c->subid != subid)
			continue;
		write_chunk(c);
		free_chunk(c);
		pending = foreach_delete_current(pending, lc);
	}
}

/*
 * Hold (or release) the writes at statement end: a capture call that looks
 * its webhook up runs a query, whose end must not write the chunk the
 * previous call's change is in, or the next webhook's trigger for that
 * change could not add itself to it.
 */
void
webhook_log_hold(bool hold)
{
	held += hold ? 1 : -1;
	Assert(held >= 0);
}

static void
eventlog_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			write_all();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_ABORT:
			drop_all();
			break;
		default:
			break;
	}
}

static void
eventlog_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending)
		{
			PendingChunk *c = lfirst(lc);

			if (c->subid == mySubid)
				c->subid = parentSubid;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending)
		{
			PendingChunk *c = lfirst(lc);

			if (c->subid == mySubid)
			{
				free_chunk(c);
				pending = foreach_delete_current(pending, lc);
			}
		}
	}
}

/* A new, empty chunk for changes to relid in the current subtransaction. */
static PendingChunk *
new_chunk(Oid relid)
{
	static bool callbacks_registered = false;
	MemoryContext cxt;
	MemoryContext old;
	PendingChunk *c;
	char	   *nsp;
	char	   *rel;

	if (!callbacks_registered)
	{
		RegisterXactCallback(eventlog_xact_callback, NULL);
		RegisterSubXactCallback(eventlog_subxact_callback, NULL);
		callbacks_registered = true;
	}
	load_layout(false);

	/* the names as of this change: the syscache follows renames */
	nsp = get_namespace_name(get_rel_namespace(relid));
	rel = get_rel_name(relid);

	/*
	 * Under TopMemoryContext, so that its first block can serve chunk after
	 * chunk; the transaction callback frees what is pending at its end.
	 */
	if (spare != NULL)
	{
		cxt = spare;
		spare = NULL;
	}
	else
		cxt = AllocSetContextCreate(TopMemoryContext, "webhook pending chunk",
									128 * 1024, 128 * 1024, 8 * 1024 * 1024);
	/* the per-change arrays are filled as changes come: zero the rest only */
	c = MemoryContextAlloc(cxt, sizeof(PendingChunk));
	memset(c, 0, offsetof(PendingChunk, op));
	c->cxt = cxt;
	c->relid = relid;
	c->subid = GetCurrentSubTransactionId();
	c->first_id = nextval_internal(layout.seqid, false);
	c->schema_name = MemoryContextStrdup(cxt, nsp ? nsp : "");
	c->table_name = MemoryContextStrdup(cxt, rel ? rel : "");
	old = MemoryContextSwitchTo(TopTransactionContext);
	pending = lappend(pending, c);
	MemoryContextSwitchTo(old);
	return c;
}

/* The bit of hook_id in chunk c's masks, or -1 if c has no room for it. */
static int
hook_bit(PendingChunk *c, int32 hook_id)
{
	for (int i = 0; i < c->nhooks; i++)
		if (c->hooks[i] == hook_id)
			return i;
	if (c->nhooks == WEBHOOK_CHUNK_HOOKS)
		return -1;
	c->hooks[c->nhooks] = hook_id;
	return c->nhooks++;
}

/*
 * Describe the change a capture call is about (tuple: the new row version
 * for INSERT and UPDATE, the old one for DELETE, NULL for TRUNCATE), and
 * count the call.
 */
void
webhook_change_id(WebhookChangeId *id, Relation rel, char op, HeapTuple tuple)
{
	calls++;
	memset(id, 0, sizeof(*id));
	id->relid = RelationGetRelid(rel);
	id->op = op;
	if (tuple != NULL && tuple->t_data != NULL)
	{
		id->tid = tuple->t_self;
		id->xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
	}
	else
	{
		ItemPointerSetInvalid(&id->tid);
		/* one TRUNCATE statement's triggers share a command id */
		id->xmin = (TransactionId) GetCurrentCommandId(false);
	}
}

/*
 * If this capture call or the previous one appended this very change (id)
 * for events reported as reported_relid, add webhook hook_id to it and
 * return true.
 * Otherwise return false: the caller appends the change for hook_id.
 */
bool
webhook_log_add_hook(int32 hook_id, Oid reported_relid, const WebhookChangeId *id)
{
	PendingChunk *c = last_chunk;
	int			bit;

	if (c == NULL || (last_call != calls && last_call != calls - 1) ||
		c->relid != reported_relid || c->subid != GetCurrentSubTransactionId() ||
		last_id.relid != id->relid || last_id.op != id->op ||
		!ItemPointerEquals((ItemPointer) &last_id.tid, (ItemPointer) &id->tid) ||
		last_id.xmin != id->xmin)
		return false;
	bit = hook_bit(c, hook_id);
	if (bit < 0 || (c->mask[last_index] & (1u << bit)) != 0)
		return false;
	c->mask[last_index] |= 1u << bit;
	last_call = calls;
	return true;
}

/*
 * Append a change for webhook hook_id, reported as relation reported_relid.
 * old_json, new_json (json), changed (text[]) and partition (json, for the
 * TRUNCATE of a partition of the watched table) may be (Datum) 0; they are
 * copied.  The caller has checked webhook_log_add_hook first.
 */
void
webhook_log_append(int32 hook_id, Oid reported_relid, const WebhookChangeId *id,
				   Datum old_json, Datum new_json, Datum changed, bool truncated,
				   Datum partition, int64 lane)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	PendingChunk *c = NULL;
	ListCell   *lc;
	MemoryContext old;
	int			bit;
	int			i;

	/* the newest chunk of this relation and subtransaction */
	foreach(lc, pending)
	{
		PendingChunk *p = lfirst(lc);

		if (p->relid == reported_relid && p->subid == subid)
			c = p;
	}
	if (c != NULL && (c->n == WEBHOOK_CHUNK_MAX || c->bytes >= WEBHOOK_CHUNK_BYTES))
	{
		write_chunk(c);
		forget_chunk(c);
		c = NULL;
	}
	if (c == NULL)
		c = new_chunk(reported_relid);
	bit = hook_bit(c, hook_id);
	if (bit < 0)
	{
		c = new_chunk(reported_relid);
		bit = hook_bit(c, hook_id);
	}

	i = c->n++;
	old = MemoryContextSwitchTo(c->cxt);
	c->op[i] = id->op;
	c->at[i] = GetCurrentTimestamp();
	c->mask[i] = 1u << bit;
	c->truncated[i] = truncated;
	c->old_json[i] = old_json ? datumCopy(old_json, false, -1) : (Datum) 0;
	c->new_json[i] = new_json ? datumCopy(new_json, false, -1) : (Datum) 0;
	c->changed[i] = changed ? datumCopy(changed, false, -1) : (Datum) 0;
	c->partition[i] = partition ? datumCopy(partition, false, -1) : (Datum) 0;
	c->lane[i] = lane;
	MemoryContextSwitchTo(old);
	c->bytes += 64 + (old_json ? VARSIZE_ANY(DatumGetPointer(old_json)) : 0) +
		(new_json ? VARSIZE_ANY(DatumGetPointer(new_json)) : 0) +
		(changed ? VARSIZE_ANY(DatumGetPointer(changed)) : 0);

	last_chunk = c;
	last_index = i;
	last_id = *id;
	last_call = calls;
}
