/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture trigger: the writer's path.
 *
 * webhook.register installs, on each watched table, one row-level AFTER
 * INSERT/UPDATE/DELETE trigger and one statement-level AFTER TRUNCATE
 * trigger for all the webhooks that watch it, both calling
 * webhook.capture('<hook id>', ...) with those webhooks' ids (the SQL side,
 * webhook._set_trigger, keeps each table's triggers in step with its
 * webhooks).  A firing queues its change once, with a bit for every webhook
 * that wants it: one trigger, one serialisation and one queued change
 * however many webhooks watch the table.  Each firing hands its change to
 * the event log (eventlog.c), which keeps it in memory and writes it, in
 * chunks, into the log table inside the writer's transaction: a change is
 * visible to the worker only once the transaction commits, and vanishes
 * with it (or with a rolled-back subtransaction).  A partition watched
 * directly and through its partitioned table fires two triggers (its own
 * and the clone of its ancestor's); the second only adds its webhooks to
 * the change the first stored.  The trigger never touches the network and
 * never waits on the worker: it only asks for the worker's latch to be set
 * at commit.
 *
 * Per backend, a cache of firing triggers: which webhooks each serves,
 * whether each really watches the table and for which operations, and which
 * relation their events name, dropped by a relcache callback when the
 * watched relation's relcache entry is invalidated (ALTER TABLE, DROP
 * TRIGGER) or webhook.hook's is (a webhook paused, resumed, dropped).  The
 * names themselves are looked up per chunk through the syscache, so a
 * renamed table or schema is reported by its new name from the next
 * statement on.
 *
 * The cache is also the guard against forged triggers: anyone may create a
 * trigger that calls webhook.capture('3') on a table of their own, but it
 * only queues events for webhook 3 if webhook 3 watches that table (or a
 * partition ancestor of it, or its schema), and only for the operations it
 * was registered for.  Otherwise it does nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "settings.h"
#include "wake.h"
#include "eventlog.h"
#include "filter.h"
#include "rowjson.h"

PG_FUNCTION_INFO_V1(webhook_capture);
PG_FUNCTION_INFO_V1(webhook_hooks_changed);

/* webhook.hook, whose invalidation drops every cached target */
static Oid	hook_relid = InvalidOid;

/* What one firing trigger captures for one of its webhooks. */
typedef struct TargetHook
{
	int32		hook_id;
	bool		belongs;		/* does the webhook watch this relation? */
	bool		active;			/* was the webhook active? then wake the worker */
	uint8		events;			/* the operations it is registered for (op_bit) */
	Oid			reported;		/* the relation its events name */
	void	   *filter;			/* filter.c's entry for it, once known */
} TargetHook;

/* What one firing trigger captures for, looked up once per backend. */
typedef struct CaptureTarget
{
	Oid			tgoid;			/* hash key */
	Oid			relid;			/* the relation the trigger is on */
	int			nkeys;			/* the relation's replica identity columns */
	AttrNumber	keys[INDEX_MAX_KEYS];
	int			nhooks;			/* the webhooks the trigger serves, ... */
	TargetHook *hooks;			/* ... its arguments, in CacheMemoryContext */
} CaptureTarget;

/* an operation ('I', 'U', 'D', 'T') as a bit of TargetHook.events */
static inline uint8
op_bit(char op)
{
	switch (op)
	{
		case 'I':
			return 1;
		case 'U':
			return 2;
		case 'D':
			return 4;
		default:
			return 8;
	}
}

static HTAB *targets = NULL;

/*
 * The targets of the latest firings, by trigger oid modulo RECENT_TARGETS,
 * until an invalidation: a table with a few webhooks fires their triggers
 * in turn, each of them once per row.
 */
#define RECENT_TARGETS 8
static CaptureTarget *recent[RECENT_TARGETS];

/* Drop cached knowledge of a relation (InvalidOid: of all relations). */
static void
capture_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	CaptureTarget *t;

	if (targets == NULL)
		return;
	memset(recent, 0, sizeof(recent));
	hash_seq_init(&seq, targets);
	while ((t = hash_seq_search(&seq)) != NULL)
	{
		/* webhook._hooks_changed() names webhook.hook: a state changed */
		if (relid == InvalidOid || t->relid == relid ||
			(OidIsValid(relid) && relid == hook_relid))
		{
			pfree(t->hooks);
			hash_search(targets, &t->tgoid, HASH_REMOVE, NULL);
		}
	}
}

/* The role that owns webhook.hook (and the extension's other tables). */
static Oid
hook_owner(void)
{
	HeapTuple	tup;
	Oid			owner;

	hook_relid = get_relname_relid("hook", get_namespace_oid("webhook", false));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(hook_relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.hook\" does not exist"),
				 errhint("Reinstall the webhook extension.")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Read webhook hook_id's relation, schema, state and events (cold path, once
 * per trigger per backend).  Runs the query as the owner of webhook.hook, since the
 * writer may not read the catalog.  Returns false if there is no such
 * webhook.
 */
static bool
fetch_hook(int32 hook_id, Oid *relation, char **schema_name, bool *active,
		   uint8 *events)
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		found = false;
	bool		isnull;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(hook_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int32GetDatum(hook_id);

	/*
	 * What this finds is cached for the whole backend, so read the latest
	 * committed state, not the statement's snapshot: a repeatable-read
	 * transaction older than the webhook would otherwise cache that it
	 * does not exist, or is paused, until the next invalidation.  (A commit
	 * is visible before its invalidations are sent.)
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args("SELECT relation::pg_catalog.oid, schema_name::pg_catalog.text,"
							  " state OPERATOR(pg_catalog.=) 'active',"
							  " 'insert' OPERATOR(pg_catalog.=) ANY (events),"
							  " 'update' OPERATOR(pg_catalog.=) ANY (events),"
							  " 'delete' OPERATOR(pg_catalog.=) ANY (events),"
							  " 'truncate' OPERATOR(pg_catalog.=) ANY (events)"
							  " FROM webhook.hook WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webhook %d", hook_id);
	PopActiveSnapshot();
	if (SPI_processed == 1)
	{
		Datum		d;
		MemoryContext old = MemoryContextSwitchTo(CacheMemoryContext);

		found = true;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		*relation = isnull ? InvalidOid : DatumGetObjectId(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		*schema_name = isnull ? NULL : TextDatumGetCString(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		*active = !isnull && DatumGetBool(d);
		*events = 0;
		for (int i = 0; i < 4; i++)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4 + i, &isnull);
			if (!isnull && DatumGetBool(d))
				*events |= op_bit("IUDT"[i]);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return found;
}

/*
 * Fill in a new cache entry: does webhook hook_id watch rel, directly, as a
 * partition ancestor, or through its schema?  The names reported are those
 * of the relation the webhook watches (for a partition, the partitioned
 * table).
 */
static void
resolve_target(TargetHook *t, Relation rel)
{
	Oid			watched_rel = InvalidOid;
	char	   *watched_schema = NULL;
	List	   *candidates = list_make1_oid(RelationGetRelid(rel));
	ListCell   *lc;
	Oid			chosen = InvalidOid;

	if (rel->rd_rel->relispartition)
		candidates = list_concat(candidates, get_partition_ancestors(RelationGetRelid(rel)));

	if (fetch_hook(t->hook_id, &watched_rel, &watched_schema, &t->active, &t->events))
	{
		foreach(lc, candidates)
		{
			Oid			cand = lfirst_oid(lc);

			if (OidIsValid(watched_rel) && cand == watched_rel)
				chosen = cand;
			else if (watched_schema != NULL && !isAnyTempNamespace(get_rel_namespace(cand)))
			{
				char	   *nsp = get_namespace_name(get_rel_namespace(cand));

				/* the topmost ancestor in the schema is the one to name */
				if (nsp != NULL && strcmp(nsp, watched_schema) == 0)
					chosen = cand;
			}
		}
	}
	t->belongs = OidIsValid(chosen);
	t->reported = chosen;
	if (watched_schema)
		pfree(watched_schema);
}

/*
 * The columns of rel's replica identity (by default its primary key), as
 * attribute numbers in column order, into keys (room for INDEX_MAX_KEYS);
 * *n of them (0 without one).
 */
static void
key_columns(Relation rel, AttrNumber *keys, int *n)
{
	Bitmapset  *ident = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	int			x = -1;

	*n = 0;
	while ((x = bms_next_member(ident, x)) >= 0 && *n < INDEX_MAX_KEYS)
	{
		AttrNumber	attno = x + FirstLowInvalidHeapAttributeNumber;

		if (attno > 0)
			keys[(*n)++] = attno;
	}
	bms_free(ident);
}

/*
 * The webhook ids a capture trigger was given, checked: one or more, each a
 * positive integer.  Into a palloc'd array, *n of them.
 */
static int32 *
trigger_hook_ids(TriggerData *trigdata, int *n)
{
	Trigger    *tg = trigdata->tg_trigger;
	int32	   *ids;

	if (tg->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() must be given the ids of the webhooks it captures for")));
	ids = palloc(sizeof(int32) * tg->tgnargs);
	for (int i = 0; i < tg->tgnargs; i++)
	{
		char	   *end;
		long		hook_id = strtol(tg->tgargs[i], &end, 10);

		if (*end != '\0' || end == tg->tgargs[i] || hook_id <= 0 || hook_id > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("webhook.capture() argument \"%s\" is not a webhook id",
							tg->tgargs[i])));
		ids[i] = (int32) hook_id;
	}
	*n = tg->tgnargs;
	return ids;
}

/* The cache entry of the firing trigger, resolved on its first firing. */
static CaptureTarget *
target_for(TriggerData *trigdata)
{
	Oid			tgoid = trigdata->tg_trigger->tgoid;
	CaptureTarget *t;
	bool		found;

	if (targets == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CaptureTarget);
		ctl.hcxt = CacheMemoryContext;
		targets = hash_create("webhook capture targets", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(capture_relcache_callback, (Datum) 0);
	}
	t = hash_search(targets, &tgoid, HASH_FIND, &found);
	if (found)
		return recent[tgoid % RECENT_TARGETS] = t;

	/* resolve before entering, so that an ERROR leaves no half entry */
	{
		CaptureTarget fresh;
		int			n;
		int32	   *ids = trigger_hook_ids(trigdata, &n);
		TargetHook *hooks = palloc0(sizeof(TargetHook) * n);

		memset(&fresh, 0, sizeof(fresh));
		fresh.tgoid = tgoid;
		fresh.relid = RelationGetRelid(trigdata->tg_relation);
		for (int i = 0; i < n; i++)
		{
			hooks[i].hook_id = ids[i];
			resolve_target(&hooks[i], trigdata->tg_relation);
		}
		key_columns(trigdata->tg_relation, fresh.keys, &fresh.nkeys);
		fresh.nhooks = n;
		fresh.hooks = MemoryContextAlloc(CacheMemoryContext, sizeof(TargetHook) * n);
		memcpy(fresh.hooks, hooks, sizeof(TargetHook) * n);
		t = hash_search(targets, &tgoid, HASH_ENTER, &found);
		*t = fresh;
	}
	return recent[tgoid % RECENT_TARGETS] = t;
}

/* Is an ancestor of partition relid truncated by the TRUNCATE now running? */
static bool
truncating_ancestor(Oid relid)
{
	List	   *ancestors = get_partition_ancestors(relid);
	ListCell   *lc;

	foreach(lc, ancestors)
	{
		if (webhook_truncating(lfirst_oid(lc)))
			return true;
	}
	return false;
}

/* {"schema": ..., "table": ...} of a partition, as a json datum */
static Datum
partition_json(Relation rel)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"schema\":");
	escape_json(&buf, get_namespace_name(RelationGetNamespace(rel)));
	appendStringInfoString(&buf, ",\"table\":");
	escape_json(&buf, RelationGetRelationName(rel));
	appendStringInfoChar(&buf, '}');
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * Are two non-null values of one attribute the same, byte for byte?  An
 * UPDATE that leaves a TOASTed value alone carries the same TOAST pointer,
 * which is compared without fetching the value.
 */
static bool
same_value(Datum a, Datum b, Form_pg_attribute att)
{
	if (att->attlen == -1)
	{
		struct varlena *va = (struct varlena *) DatumGetPointer(a);
		struct varlena *vb = (struct varlena *) DatumGetPointer(b);

		if (VARATT_IS_EXTERNAL_ONDISK(va) && VARATT_IS_EXTERNAL_ONDISK(vb) &&
			VARSIZE_EXTERNAL(va) == VARSIZE_EXTERNAL(vb) &&
			memcmp(va, vb, VARSIZE_EXTERNAL(va)) == 0)
			return true;
	}
	return datum_image_eq(a, b, att->attbyval, att->attlen);
}

/*
 * The names of the columns whose values differ between two versions of a
 * row, as a text[] datum, or (Datum) 0 when nothing changed.
 */
static Datum
changed_columns(HeapTuple oldtup, HeapTuple newtup, TupleDesc tupdesc)
{
	Datum	   *names = palloc(sizeof(Datum) * tupdesc->natts);
	int			nchanged = 0;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		oldnull,
					newnull;
		Datum		oldval,
					newval;

		if (att->attisdropped)
			continue;
		oldval = heap_getattr(oldtup, i + 1, tupdesc, &oldnull);
		newval = heap_getattr(newtup, i + 1, tupdesc, &newnull);
		if (oldnull && newnull)
			continue;
		if (oldnull != newnull || !same_value(oldval, newval, att))
			names[nchanged++] = CStringGetTextDatum(NameStr(att->attname));
	}
	if (nchanged == 0)
		return (Datum) 0;
	return PointerGetDatum(construct_array(names, nchanged, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Roughly how many bytes a row's values take, without detoasting them: the
 * JSON text is at least about this long.  Only out-of-line (TOASTed) values
 * can make a row huge before serialisation; a row without any is measured by
 * its own length, without walking its attributes (the size of its JSON is
 * checked after serialisation anyway).
 */
static Size
row_raw_size(HeapTuple tuple, TupleDesc tupdesc)
{
	Size		total = 0;

	if (!HeapTupleHasExternal(tuple))
		return tuple->t_len;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		isnull;
		Datum		v;

		if (att->attisdropped)
			continue;
		v = heap_getattr(tuple, i + 1, tupdesc, &isnull);
		if (isnull)
			continue;
		if (att->attlen == -1)
			total += toast_raw_datum_size(v);
		else if (att->attlen > 0)
			total += att->attlen;
		else
			total += strlen(DatumGetCString(v));
	}
	return total;
}

/*
 * The lane of a change: a hash of the relation its events name and the
 * row's replica identity (by default its primary key) values, so that the
 * worker sends one row's events one at a time, in order.  A table without
 * a replica identity is one lane, and so is every TRUNCATE (tuple NULL).
 * Values are hashed by their stored image: a row keeps its lane as long as
 * its key does not change.
 */
static int64
row_lane(Oid reported, Relation rel, HeapTuple tuple, const AttrNumber *keys, int n)
{
	uint64		h = hash_bytes_uint32_extended((uint32) reported, 0);
	TupleDesc	desc = RelationGetDescr(rel);

	if (tuple == NULL)
		return (int64) h;
	for (int i = 0; i < n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, keys[i] - 1);
		bool		isnull;
		Datum		v = heap_getattr(tuple, keys[i], desc, &isnull);

		h = hash_combine64(h, isnull ? 0 :
						   datum_image_hash(v, att->attbyval, att->attlen));
	}
	return (int64) h;
}

/* The serialised forms of a change, made once for all webhooks of a firing. */
typedef struct ChangeBody
{
	bool		made;
	Datum		old_json;
	Datum		new_json;
	bool		truncated;
} ChangeBody;

/*
 * Serialise the change (once): rows too large to send are sent thin, as
 * their key columns and a truncated flag, and never serialised whole: the
 * writer's statement must not fail, or run out of memory, because a row is
 * huge.
 */
static void
make_body(ChangeBody *body, Relation rel, HeapTuple oldtup, HeapTuple newtup,
		  const AttrNumber *keys, int nkeys)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Size		limit = (Size) webhook_max_payload_size;

	if (body->made)
		return;
	body->made = true;
	body->old_json = body->new_json = (Datum) 0;
	body->truncated = (oldtup ? row_raw_size(oldtup, tupdesc) : 0) +
		(newtup ? row_raw_size(newtup, tupdesc) : 0) > limit;
	if (!body->truncated)
	{
		body->old_json = oldtup ? webhook_row_json(rel, oldtup) : (Datum) 0;
		body->new_json = newtup ? webhook_row_json(rel, newtup) : (Datum) 0;
		body->truncated =
			(body->old_json ? VARSIZE_ANY_EXHDR(DatumGetPointer(body->old_json)) : 0) +
			(body->new_json ? VARSIZE_ANY_EXHDR(DatumGetPointer(body->new_json)) : 0) > limit;
	}
	if (body->truncated)
	{
		body->old_json = oldtup ? webhook_row_key_json(rel, oldtup, keys, nkeys) : (Datum) 0;
		body->new_json = newtup ? webhook_row_key_json(rel, newtup, keys, nkeys) : (Datum) 0;
	}
}

/*
 * webhook.capture(hook_id, ...): queue one event for the firing row (or
 * TRUNCATE) for each webhook given that watches the table for this
 * operation.  The change is stored once, with a bit per webhook.
 */
Datum
webhook_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	char		op;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Datum		changed = (Datum) 0;
	CaptureTarget *t;
	WebhookChangeId id;
	int			nhooks;
	TargetHook *hooks;
	WebhookFilterResult *verdict;
	char	  **filter_error;
	int			nkeys;
	AttrNumber	keys[INDEX_MAX_KEYS];
	ChangeBody	body;
	TargetHook	local_hooks[8];
	WebhookFilterResult local_verdict[8];
	char	   *local_error[8];
	bool		wake = false;
	bool		inactive = false;
	bool		any = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() was not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() must be fired AFTER")));
	rel = trigdata->tg_relation;

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		if (!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("webhook.capture() must be fired FOR EACH STATEMENT on TRUNCATE")));
		op = 'T';
	}
	else
	{
		if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("webhook.capture() must be fired FOR EACH ROW on INSERT, UPDATE and DELETE")));
		if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		{
			op = 'I';
			newtup = trigdata->tg_trigtuple;
		}
		else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		{
			op = 'U';
			oldtup = trigdata->tg_trigtuple;
			newtup = trigdata->tg_newtuple;
		}
		else
		{
			op = 'D';
			oldtup = trigdata->tg_trigtuple;
		}
	}

	/*
	 * What the trigger serves (a webhook that does not watch the table
	 * queues nothing: see header), and each webhook's filters, are looked
	 * up with the chunk writes held.  The entry is copied out: t may go
	 * with the next invalidation.
	 */
	webhook_log_hold(true);
	t = recent[trigdata->tg_trigger->tgoid % RECENT_TARGETS];
	if (t == NULL || t->tgoid != trigdata->tg_trigger->tgoid)
		t = target_for(trigdata);
	webhook_change_id(&id, rel, op, op == 'D' ? oldtup : newtup);
	nhooks = t->nhooks;
	if (nhooks <= lengthof(local_hooks))
	{
		hooks = local_hooks;
		verdict = local_verdict;
		filter_error = local_error;
	}
	else
	{
		hooks = palloc(sizeof(TargetHook) * nhooks);
		verdict = palloc(sizeof(WebhookFilterResult) * nhooks);
		filter_error = palloc(sizeof(char *) * nhooks);
	}
	memcpy(hooks, t->hooks, sizeof(TargetHook) * nhooks);
	nkeys = t->nkeys;
	memcpy(keys, t->keys, sizeof(AttrNumber) * nkeys);
	for (int i = 0; i < nhooks; i++)
	{
		TargetHook *h = &hooks[i];

		verdict[i] = WEBHOOK_FILTER_SKIP;
		filter_error[i] = NULL;
		if (!h->belongs || (h->events & op_bit(op)) == 0)
			continue;

		/*
		 * A TRUNCATE of a partition of the watched table (its own statement
		 * trigger: they are not cloned) is an event of the watched table
		 * naming the partition, unless an ancestor of that partition is
		 * truncated by the same statement: then that one's event says it
		 * all.
		 */
		if (op == 'T' && h->reported != RelationGetRelid(rel) &&
			truncating_ancestor(RelationGetRelid(rel)))
			continue;

		/* the webhook's filters (filter.c): nothing, or an event that failed */
		verdict[i] = webhook_filter_check(h->hook_id, rel, trigdata, &h->filter,
										  &filter_error[i]);
		/* kept only if no invalidation meanwhile took t away */
		if (recent[trigdata->tg_trigger->tgoid % RECENT_TARGETS] == t)
			t->hooks[i].filter = h->filter;
		any |= verdict[i] != WEBHOOK_FILTER_SKIP;
	}
	webhook_log_hold(false);
	if (!any)
		return PointerGetDatum(NULL);

	if (op == 'U')
	{
		changed = changed_columns(oldtup, newtup, RelationGetDescr(rel));
		if (changed == (Datum) 0)
			return PointerGetDatum(NULL);	/* nothing changed: no event */
	}

	memset(&body, 0, sizeof(body));
	for (int i = 0; i < nhooks; i++)
	{
		TargetHook *h = &hooks[i];

		if (verdict[i] == WEBHOOK_FILTER_SKIP)
			continue;
		/* another webhook has just stored this change: share it */
		if (verdict[i] == WEBHOOK_FILTER_ERROR ||
			!webhook_log_add_hook(h->hook_id, h->reported, &id))
		{
			Datum		partition = (Datum) 0;

			make_body(&body, rel, oldtup, newtup, keys, nkeys);
			if (op == 'T' && h->reported != RelationGetRelid(rel))
				partition = partition_json(rel);
			if (verdict[i] == WEBHOOK_FILTER_ERROR)
				webhook_filter_queue_failed(h->hook_id, h->reported, op,
											body.old_json, body.new_json,
											changed, body.truncated, filter_error[i]);
			else
				webhook_log_append(h->hook_id, h->reported, &id,
								   body.old_json, body.new_json, changed,
								   body.truncated, partition,
								   row_lane(h->reported, rel,
											op == 'I' ? newtup : oldtup, keys, nkeys));
		}
		/* a paused or disabled webhook's events wait: resume wakes the worker */
		if (h->active)
			wake = true;
		else
			inactive = true;
	}
	if (wake)
		webhook_request_wake();
	if (inactive)
		webhook_note_inactive_event();

	return PointerGetDatum(NULL);
}

/*
 * webhook._hooks_changed(): a webhook's state changed (pause, resume).  At
 * commit, every backend drops its cached capture targets, and with them
 * what it knew of the webhooks' states, by way of a relcache invalidation
 * of webhook.hook (capture_relcache_callback).
 */
Datum
webhook_hooks_changed(PG_FUNCTION_ARGS)
{
	Oid			hook = get_relname_relid("hook", get_namespace_oid("webhook", false));

	if (OidIsValid(hook))
		CacheInvalidateRelcacheByRelid(hook);
	webhook_note_hooks_changed();
	PG_RETURN_VOID();
}
