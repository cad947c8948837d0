/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture trigger: the writer's path.
 *
 * webhook.register installs, for each webhook and watched table, a row-level
 * AFTER INSERT/UPDATE/DELETE trigger and a statement-level AFTER TRUNCATE
 * trigger, both calling webhook.capture('<hook id>').  Each firing inserts
 * one row into webhook.queue, in the writer's transaction, through one
 * prepared plan kept for the life of the backend.  The row is visible to the
 * worker only once the transaction commits, and vanishes with it (or with a
 * rolled-back subtransaction).  The trigger never touches the network and
 * never waits on the worker: it only asks for the worker's latch to be set
 * at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "webhook.h"

PG_FUNCTION_INFO_V1(webhook_capture);

#define NARGS 7

/* INSERT INTO webhook.queue, prepared once per backend */
static SPIPlanPtr insert_plan = NULL;

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
 * row, as a text[] datum, or (Datum) 0 when nothing changed.  Called in the
 * trigger's memory context.
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

/* A row as a json datum, like row_to_json: every type has a JSON form. */
static Datum
row_json(HeapTuple tuple, TupleDesc tupdesc)
{
	return DirectFunctionCall1(row_to_json,
							   heap_copy_tuple_as_datum(tuple, tupdesc));
}

/* Prepare the queue insert once; SPI must be connected. */
static void
prepare_insert(void)
{
	Oid			argtypes[NARGS] = {INT4OID, CHAROID, TEXTOID, TEXTOID,
	JSONOID, JSONOID, TEXTARRAYOID};
	SPIPlanPtr	plan;

	plan = SPI_prepare("INSERT INTO webhook.queue"
					   " (event_id, hook_id, op, schema_name, table_name, old_row, new_row, changed)"
					   " VALUES (pg_catalog.nextval('webhook.event_id_seq'::pg_catalog.regclass),"
					   " $1, $2, $3, $4, $5, $6, $7)",
					   NARGS, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	insert_plan = plan;
}

/* The role that owns webhook.queue: the trigger writes the queue as it. */
static Oid
queue_owner(void)
{
	Oid			nsp = get_namespace_oid("webhook", false);
	Oid			relid = get_relname_relid("queue", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.queue\" does not exist"),
				 errhint("Reinstall the webhook extension.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * webhook.capture(hook_id): queue one event for the firing row (or TRUNCATE)
 * for webhook hook_id.
 */
Datum
webhook_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	Relation	rel;
	char	   *end;
	long		hook_id;
	char		op;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Datum		values[NARGS];
	char		nulls[NARGS];
	Datum		changed = (Datum) 0;
	Oid			save_userid;
	int			save_sec_context;
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() was not called by trigger manager")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() must be fired AFTER")));
	if (trigdata->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() must be given exactly one argument, the webhook id")));
	hook_id = strtol(trigdata->tg_trigger->tgargs[0], &end, 10);
	if (*end != '\0' || hook_id <= 0 || hook_id > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() argument \"%s\" is not a webhook id",
						trigdata->tg_trigger->tgargs[0])));

	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);

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
			changed = changed_columns(oldtup, newtup, tupdesc);
			if (changed == (Datum) 0)
				return PointerGetDatum(NULL);	/* nothing changed: no event */
		}
		else
		{
			op = 'D';
			oldtup = trigdata->tg_trigtuple;
		}
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum((int32) hook_id);
	values[1] = CharGetDatum(op);
	values[2] = CStringGetTextDatum(get_namespace_name(RelationGetNamespace(rel)));
	values[3] = CStringGetTextDatum(RelationGetRelationName(rel));
	if (oldtup)
		values[4] = row_json(oldtup, tupdesc);
	else
		nulls[4] = 'n';
	if (newtup)
		values[5] = row_json(newtup, tupdesc);
	else
		nulls[5] = 'n';
	values[6] = changed;
	if (changed == (Datum) 0)
		nulls[6] = 'n';

	/*
	 * The writer need not have any privilege on the queue: write it as its
	 * owner, in a restricted operation, as a SECURITY DEFINER function would.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(queue_owner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (insert_plan == NULL)
		prepare_insert();
	ret = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not queue webhook event: %s", SPI_result_code_string(ret));
	SPI_finish();

	SetUserIdAndSecContext(save_userid, save_sec_context);

	webhook_request_wake();

	return PointerGetDatum(NULL);
}
