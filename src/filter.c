/*-------------------------------------------------------------------------
 *
 * filter.c
 *	  Filters of a table webhook: columns and condition.
 *
 * register(..., columns => '{status}') sends an UPDATE only when one of the
 * listed columns' values changed (IS DISTINCT FROM, by the type's default
 * equality, by image for types without one); register(..., condition =>
 * 'new.status = ''paid''') sends a change only when a boolean expression
 * over the row after (new) and before (old) it is true, like a trigger's
 * WHEN clause.  Both are checked at registration (webhook._check_filter,
 * with the SQLSTATEs PostgreSQL gives a WHEN clause) and stored as written
 * in webhook.hook, so that pg_dump keeps them and the listing shows them.
 *
 * The capture trigger calls webhook_filter_check once per firing row.  A
 * cache per backend, keyed by (webhook, firing relation), holds the
 * columns' attribute numbers and the condition parsed, analysed and
 * planned against that relation (a partition has its own attribute
 * numbers): the condition is never parsed per row.  An entry is dropped by
 * a relcache invalidation of its relation (ALTER TABLE) or of webhook.hook
 * (a webhook registered, paused, unregistered).  The executor state that
 * evaluates the condition is built once per transaction from the cached
 * plan (a plan outlives transactions; an ExprState, whose functions may
 * cache transaction-lifetime state, does not).  old is an all-NULL row for
 * an insert and new for a delete, so old.col is NULL there (and so is
 * "old IS NULL").  Names in it resolve with search_path pg_catalog,
 * pg_temp, at registration (the API pins it) as in the writer (this file
 * does), so a writer's path cannot redirect them: other schemas' functions,
 * types and operators are written qualified.  It runs as the webhook's owner, in a
 * restricted security context: the writer lends it nothing, and a webhook
 * only ever reads what its owner may.
 *
 * A condition that raises at run time (division by zero, a failed cast)
 * must never fail the writer's statement: the event is queued as failed,
 * with the error as its reason.  Catching an error safely needs a
 * subtransaction: a PG_TRY without one is not safe for an arbitrary
 * function, which may hold locks, buffer pins or half-updated state when it
 * raises, and being LEAKPROOF or IMMUTABLE does not change that.  So a
 * condition is classified once, when it is prepared: one built only of
 * columns, constants, AND/OR/NOT, IS [NOT] NULL, CASE, COALESCE and
 * operators and functions marked LEAKPROOF (=, <>, <, IS DISTINCT FROM on
 * the built-in types), which by their contract raise no error that depends
 * on their arguments, runs unguarded; any other runs in a subtransaction
 * per row.  Measured (bench/filter.sh, scenario 9 of bench/run.sh: one
 * INSERT ... SELECT of 100,000 rows, paused webhook, 2 shared cores), a
 * subtransaction adds about 0.5-0.9 us to a row, while a queued change
 * costs the writer about 1.2 us and a filtered-out one about 0.3 us: a
 * condition passing half the rows takes 1.02x the time of no condition when
 * it runs directly, 1.17x in a subtransaction; one passing none 0.73x.  Building the
 * per-transaction executor state (ExecInitQual, which checks EXECUTE
 * privileges) runs inside the subtransaction for a guarded condition; for
 * an unguarded one it is not protected, and only a REVOKE of EXECUTE on a
 * built-in operator from the webhook's owner could make it raise.
 * Preparing the condition (parse analysis, planning, which folds constants
 * and can raise) runs in a subtransaction, once per backend and relation;
 * if that fails, every event is queued as failed with that reason until
 * the table or the webhooks change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteManip.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "filter.h"

PG_FUNCTION_INFO_V1(webhook_check_filter);

/* range table indexes of old and new in an analysed condition */
#define OLD_VARNO 1
#define NEW_VARNO 2

typedef struct FilterKey
{
	int32		hook_id;
	Oid			relid;			/* the firing relation */
} FilterKey;

/* A webhook's filters, prepared for one relation. */
typedef struct FilterEntry
{
	FilterKey	key;			/* hash key */
	bool		valid;			/* cleared by invalidation; rebuilt at next use */
	bool		none;			/* no filter: every change passes */
	MemoryContext cxt;			/* holds what follows */
	char	   *error;			/* why the filters cannot be applied, if so */
	Oid			owner;			/* the webhook's owner: the condition runs as it */
	int			ncolumns;
	AttrNumber *columns;		/* NULL: no columns filter */
	Expr	   *condition;		/* planned; old and new as INNER_VAR, OUTER_VAR */
	bool		guarded;		/* evaluate in a subtransaction */
	/* the condition's executor state, for transaction lxid only */
	LocalTransactionId lxid;
	EState	   *estate;
	ExprState  *qual;
	TupleTableSlot *nullslot;
} FilterEntry;

static HTAB *filters = NULL;
static Oid	hook_relid = InvalidOid;	/* webhook.hook, when last seen */

/* Mark the entries of a relation (of all, for webhook.hook) for rebuilding. */
static void
filter_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	FilterEntry *e;

	hash_seq_init(&seq, filters);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (relid == InvalidOid || relid == e->key.relid || relid == hook_relid)
			e->valid = false;
	}
}

/*
 * Parse and analyse a condition against rel, with rel as both old (range
 * table index 1) and new (2).  Raises PostgreSQL's errors for a trigger's
 * WHEN clause.  In the current memory context.
 */
static Node *
analyze_condition(Relation rel, const char *condition)
{
	List	   *raw;
	SelectStmt *stmt;
	ResTarget  *target;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *node;
	Oid			type;

	raw = raw_parser(condition, RAW_PARSE_PLPGSQL_EXPR);
	stmt = list_length(raw) == 1 ? (SelectStmt *) linitial_node(RawStmt, raw)->stmt : NULL;
	if (stmt == NULL || !IsA(stmt, SelectStmt) ||
		list_length(stmt->targetList) != 1 || stmt->distinctClause ||
		stmt->fromClause || stmt->whereClause || stmt->groupClause ||
		stmt->havingClause || stmt->windowClause || stmt->sortClause ||
		stmt->limitCount || stmt->limitOffset || stmt->lockingClause ||
		stmt->intoClause || stmt->withClause || stmt->valuesLists ||
		stmt->op != SETOP_NONE ||
		((ResTarget *) linitial(stmt->targetList))->name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("argument \"condition\" must be a single expression")));
	target = linitial(stmt->targetList);

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = condition;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   makeAlias("old", NIL), false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   makeAlias("new", NIL), false, false);
	addNSItemToQuery(pstate, nsitem, false, true, true);

	node = transformExpr(pstate, target->val, EXPR_KIND_TRIGGER_WHEN);
	type = exprType(node);
	if (type != BOOLOID && type != UNKNOWNOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"condition\" must be of type boolean, not type %s",
						format_type_be(type))));
	node = coerce_to_boolean(pstate, node, "condition");
	assign_expr_collations(pstate, node);
	free_parsestate(pstate);
	return node;
}

/*
 * webhook._check_filter(relation, columns, condition): raise an error
 * unless columns name columns of relation and condition is a boolean
 * expression over its new and old rows.  Each error names its argument.
 */
Datum
webhook_check_filter(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Relation	rel;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	relid = PG_GETARG_OID(0);
	rel = relation_open(relid, AccessShareLock);

	if (!PG_ARGISNULL(1))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *names;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"columns\" must list at least one column"),
					 errhint("Leave it NULL to send every update.")));
		for (int i = 0; i < n; i++)
		{
			char	   *name;
			AttrNumber	attno;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("argument \"columns\" must not contain nulls")));
			name = TextDatumGetCString(names[i]);
			attno = get_attnum(relid, name);
			if (attno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("argument \"columns\": column \"%s\" of relation \"%s\" does not exist",
								name, RelationGetRelationName(rel))));
		}
	}

	if (!PG_ARGISNULL(2))
	{
		char	   *condition = text_to_cstring(PG_GETARG_TEXT_PP(2));
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			(void) analyze_condition(rel, condition);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* rethrown at once: name the argument in the message */
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			if (strncmp(edata->message, "argument \"condition\"", 20) != 0)
				edata->message = psprintf("argument \"condition\": %s", edata->message);
			/* a position is one in the condition, not in the caller's query */
			if (edata->cursorpos > 0 || edata->internalpos > 0)
			{
				if (edata->cursorpos > 0)
					edata->internalpos = edata->cursorpos;
				edata->internalquery = condition;
				edata->cursorpos = 0;
			}
			/* aggregates and window functions get one SQLSTATE, as for a trigger's WHEN */
			if (edata->sqlerrcode == ERRCODE_WINDOWING_ERROR)
				edata->sqlerrcode = ERRCODE_GROUPING_ERROR;
			ReThrowError(edata);
		}
		PG_END_TRY();
	}

	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/* check_functions_in_node callback: true for a function not LEAKPROOF */
static bool
not_leakproof(Oid funcid, void *context)
{
	return !get_func_leakproof(funcid);
}

/*
 * Can evaluating this expression raise an error that depends on the data?
 * True unless it is built only of the nodes below, with LEAKPROOF
 * functions (see the header comment).
 */
static bool
may_raise(Node *node, void *context)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
		case T_Const:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_RelabelType:
		case T_CoalesceExpr:
		case T_CaseExpr:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_List:
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
		case T_ScalarArrayOpExpr:
		case T_FuncExpr:
			if (check_functions_in_node(node, not_leakproof, NULL))
				return true;
			break;
		default:
			return true;
	}
	return expression_tree_walker(node, may_raise, context);
}

/* The role that owns webhook.hook (the extension's tables), and its OID. */
static Oid
catalog_owner(void)
{
	HeapTuple	tup;
	Oid			owner;

	hook_relid = get_relname_relid("hook", get_namespace_oid("webhook", false));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(hook_relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", hook_relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Fill entry e (memory context made, nothing else) for rel: read the
 * webhook's filters and prepare them.  May raise: the caller runs it in a
 * subtransaction.
 */
static void
prepare_entry(FilterEntry *e, Relation rel)
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	bool		isnull;
	Datum		columns = (Datum) 0;
	char	   *condition = NULL;
	MemoryContext old;

	/* the writer may not read the catalog: read it as the extension's owner */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(catalog_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = Int32GetDatum(e->key.hook_id);
	/* cached for the backend: the latest committed state (see capture.c) */
	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute_with_args("SELECT columns, condition, owner::pg_catalog.oid FROM webhook.hook"
							  " WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webhook %d", e->key.hook_id);
	PopActiveSnapshot();
	old = MemoryContextSwitchTo(e->cxt);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d;

		d = SPI_getbinval(tup, desc, 1, &isnull);
		if (!isnull)
			columns = PointerGetDatum(DatumGetArrayTypePCopy(d));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
			condition = TextDatumGetCString(d);
		e->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	e->none = (columns == (Datum) 0 && condition == NULL);
	if (e->none)
		return;

	old = MemoryContextSwitchTo(e->cxt);
	if (columns != (Datum) 0)
	{
		Datum	   *names;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(columns), TEXTOID, -1, false, TYPALIGN_INT,
						  &names, NULL, &n);
		e->columns = palloc(sizeof(AttrNumber) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			char	   *name = TextDatumGetCString(names[i]);
			AttrNumber	attno = get_attnum(RelationGetRelid(rel), name);

			if (attno <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								name, RelationGetRelationName(rel)),
						 errdetail("The webhook's columns filter names it.")));
			e->columns[e->ncolumns++] = attno;
		}
	}
	if (condition != NULL)
	{
		Node	   *node;
		int			nestlevel = NewGUCNestLevel();

		/* names resolve as at registration, never by the writer's path */
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		node = analyze_condition(rel, condition);
		AtEOXact_GUC(true, nestlevel);

		ChangeVarNodes(node, OLD_VARNO, INNER_VAR, 0);
		ChangeVarNodes(node, NEW_VARNO, OUTER_VAR, 0);
		e->condition = expression_planner((Expr *) node);
		e->guarded = may_raise((Node *) e->condition, NULL);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The prepared filters of webhook hook_id for rel, building them if need
 * be.  A failure to prepare them is recorded in the entry, not raised.
 */
static FilterEntry *
entry_for(int32 hook_id, Relation rel)
{
	FilterKey	key;
	FilterEntry *e;
	bool		found;
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (filters == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(FilterKey);
		ctl.entrysize = sizeof(FilterEntry);
		ctl.hcxt = CacheMemoryContext;
		filters = hash_create("webhook filters", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(filter_relcache_callback, (Datum) 0);
	}
	memset(&key, 0, sizeof(key));
	key.hook_id = hook_id;
	key.relid = RelationGetRelid(rel);
	e = hash_search(filters, &key, HASH_ENTER, &found);
	if (found && e->valid)
		return e;
	if (found && e->cxt != NULL)
		MemoryContextDelete(e->cxt);
	memset(e, 0, sizeof(FilterEntry));
	e->key = key;
	e->cxt = AllocSetContextCreate(CacheMemoryContext, "webhook filter",
								   ALLOCSET_SMALL_SIZES);
	e->valid = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		prepare_entry(e, rel);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		e->none = false;
		e->error = MemoryContextStrdup(e->cxt, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return e;
}

/* Did any of the entry's columns change between the two versions of a row? */
static bool
columns_changed(FilterEntry *e, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	TupleDesc	desc = oldslot->tts_tupleDescriptor;

	for (int i = 0; i < e->ncolumns; i++)
	{
		AttrNumber	attno = e->columns[i];
		Form_pg_attribute att = TupleDescAttr(desc, attno - 1);
		bool		oldnull,
					newnull;
		Datum		a = slot_getattr(oldslot, attno, &oldnull);
		Datum		b = slot_getattr(newslot, attno, &newnull);
		TypeCacheEntry *tc;

		if (oldnull || newnull)
		{
			if (oldnull != newnull)
				return true;
			continue;
		}
		tc = lookup_type_cache(att->atttypid, TYPECACHE_EQ_OPR_FINFO);
		if (OidIsValid(tc->eq_opr_finfo.fn_oid))
		{
			if (!DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, att->attcollation, a, b)))
				return true;
		}
		else if (!datum_image_eq(a, b, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

/* Build the entry's executor state for this transaction, if not yet built. */
static void
init_qual(FilterEntry *e, Relation rel)
{
	MemoryContext old;

	if (e->qual != NULL && e->lxid == MyProc->lxid)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	e->qual = NULL;
	e->estate = CreateExecutorState();
	MemoryContextSwitchTo(e->estate->es_query_cxt);
	e->nullslot = MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(rel)),
										   &TTSOpsVirtual);
	ExecStoreAllNullTuple(e->nullslot);
	e->qual = ExecInitQual(make_ands_implicit(copyObject(e->condition)), NULL);
	e->lxid = MyProc->lxid;
	MemoryContextSwitchTo(old);
}

/* Evaluate the entry's condition on old and new, as the webhook's owner. */
static bool
eval_condition(FilterEntry *e, Relation rel, TupleTableSlot *oldslot,
			   TupleTableSlot *newslot)
{
	Oid			save_userid;
	int			save_sec_context;
	ExprContext *econtext;
	bool		pass;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(e->owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	init_qual(e, rel);
	econtext = GetPerTupleExprContext(e->estate);
	econtext->ecxt_innertuple = oldslot ? oldslot : e->nullslot;
	econtext->ecxt_outertuple = newslot ? newslot : e->nullslot;
	pass = ExecQual(e->qual, econtext);
	ResetExprContext(econtext);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return pass;
}

/*
 * The capture trigger's entry point: should the firing row change of rel
 * go to webhook hook_id?  PASS: queue it; SKIP: queue nothing; ERROR: the
 * filter could not be evaluated, *error says why (palloc'd): queue it as
 * failed.  Statement-level firings (TRUNCATE) always pass.  Never raises
 * for an error of the condition itself (see the header comment).  *entry
 * is the caller's cache of the entry for (hook_id, rel): NULL at first.
 */
WebhookFilterResult
webhook_filter_check(int32 hook_id, Relation rel, TriggerData *trigdata, void **entry,
					 char **error)
{
	FilterEntry *e = (FilterEntry *) *entry;
	TupleTableSlot *oldslot = NULL;
	TupleTableSlot *newslot = NULL;
	bool		pass;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return WEBHOOK_FILTER_PASS;
	/* the caller's entry from an earlier row, if still good (entries stay put) */
	if (e == NULL || !e->valid || e->key.hook_id != hook_id ||
		e->key.relid != RelationGetRelid(rel))
		*entry = e = entry_for(hook_id, rel);
	if (e->none)
		return WEBHOOK_FILTER_PASS;
	if (e->error != NULL)
	{
		*error = psprintf("the webhook's filter cannot be applied: %s", e->error);
		return WEBHOOK_FILTER_ERROR;
	}

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newslot = trigdata->tg_trigslot;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldslot = trigdata->tg_trigslot;
		newslot = trigdata->tg_newslot;
		if (e->columns != NULL && !columns_changed(e, oldslot, newslot))
			return WEBHOOK_FILTER_SKIP;
	}
	else
		oldslot = trigdata->tg_trigslot;

	if (e->condition == NULL)
		return WEBHOOK_FILTER_PASS;

	if (!e->guarded)
		pass = eval_condition(e, rel, oldslot, newslot);
	else
	{
		MemoryContext old = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(old);
		PG_TRY();
		{
			pass = eval_condition(e, rel, oldslot, newslot);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(old);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
			/* the executor state may be mid-evaluation: build it afresh */
			if (e->estate != NULL)
				FreeExecutorState(e->estate);
			e->estate = NULL;
			e->qual = NULL;
			*error = psprintf("the webhook's condition failed: %s", edata->message);
			FreeErrorData(edata);
			return WEBHOOK_FILTER_ERROR;
		}
		PG_END_TRY();
	}
	return pass ? WEBHOOK_FILTER_PASS : WEBHOOK_FILTER_SKIP;
}

/*
 * Queue the change a filter could not be applied to as a delivery that has
 * failed, with error as its reason: nothing is dropped silently, and
 * redeliver can still send it.  It goes straight into webhook.queue (it
 * will never be sent, so it needs no place in the log's commit order), in
 * the writer's transaction, as the extension's owner.  Its event id comes
 * from webhook.event_id_seq, as a ping's does.  Rare: SPI is cheap enough.
 */
void
webhook_filter_queue_failed(int32 hook_id, Oid reported_relid, char op,
							Datum old_json, Datum new_json, Datum changed,
							bool truncated, const char *error)
{
	Oid			save_userid;
	int			save_sec_context;
	Oid			argtypes[9] = {INT4OID, CHAROID, TEXTOID, TEXTOID, JSONOID, JSONOID,
	TEXTARRAYOID, BOOLOID, TEXTOID};
	Datum		args[9];
	char		nulls[9];
	char	   *nsp = get_namespace_name(get_rel_namespace(reported_relid));
	char	   *rel = get_rel_name(reported_relid);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int32GetDatum(hook_id);
	args[1] = CharGetDatum(op);
	args[2] = CStringGetTextDatum(nsp ? nsp : "");
	args[3] = CStringGetTextDatum(rel ? rel : "");
	args[4] = old_json;
	nulls[4] = old_json ? ' ' : 'n';
	args[5] = new_json;
	nulls[5] = new_json ? ' ' : 'n';
	args[6] = changed;
	nulls[6] = changed ? ' ' : 'n';
	args[7] = BoolGetDatum(truncated);
	args[8] = CStringGetTextDatum(error);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(catalog_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name,"
							  " table_name, created_at, old_row, new_row, changed, truncated,"
							  " status, attempts, next_attempt_at, last_error)"
							  " SELECT webhook._delivery_id(e.id, 0), e.id, $1, $2, $3, $4,"
							  " pg_catalog.clock_timestamp(), $5, $6, $7, $8, 'f', 0,"
							  " pg_catalog.clock_timestamp(), $9"
							  " FROM (SELECT pg_catalog.nextval('webhook.event_id_seq') AS id) e",
							  9, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not queue a failed event for webhook %d", hook_id);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}
