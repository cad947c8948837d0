/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Module entry point: GUCs, shared memory, the launcher's registration,
 *	  and waking the worker of the database when a transaction that queued
 *	  events commits.
 *
 * Waking works like this.  The capture trigger calls webhook_request_wake(),
 * which only sets a backend-local flag.  The transaction callback, registered
 * once per backend in _PG_init, sets the worker's latch at
 * XACT_EVENT_COMMIT when the flag is set and clears the flag at every end of
 * transaction.  So the worker wakes once per committing transaction that
 * queued something, never per row and never for a rollback.  COMMIT PREPARED
 * runs in a backend that never fired the trigger, so a ProcessUtility hook
 * requests the wake for it.  The same hook and an ExecutorEnd hook tell the
 * capture trigger that a statement ended (webhook_capture_release), and
 * hands DDL that the launcher must know of to launcher.c, before it runs
 * (webhook_launcher_utility) and when its transaction ends.
 *
 * Events of a paused or disabled webhook wake nobody: resume does.  A
 * transaction that queued such events still wakes the worker if a pause or
 * resume committed meanwhile (hooks_generation), since the claim that
 * resume caused may have run before its events were visible.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "webhook.h"
#include "settings.h"
#include "wake.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(webhook_wake);
PG_FUNCTION_INFO_V1(webhook_caller);
PG_FUNCTION_INFO_V1(webhook_api);
PG_FUNCTION_INFO_V1(webhook_on_ddl_start);
PG_FUNCTION_INFO_V1(webhook_worker_state);
PG_FUNCTION_INFO_V1(webhook_warn_not_preloaded);
PG_FUNCTION_INFO_V1(webhook_capture_trigger_oids);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;

void		_PG_init(void);

static void
webhook_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(webhook_shared_size()));
}

static void
webhook_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	webhook_shared = ShmemInitStruct("webhook", webhook_shared_size(), &found);
	if (!found)
		webhook_shared_init(webhook_shared);
	LWLockRelease(AddinShmemInitLock);
}

/* The relations named by the TRUNCATE statement now running, if any. */
static List *truncating = NIL;

/*
 * Does the TRUNCATE statement now running name relid?  (A partition's
 * truncate trigger asks, to leave the event to its truncated ancestor.)
 */
bool
webhook_truncating(Oid relid)
{
	return list_member_oid(truncating, relid);
}

static void
webhook_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, TransactionStmt) &&
		((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
		webhook_request_wake();
	webhook_launcher_utility(parsetree);

	if (IsA(parsetree, TruncateStmt))
	{
		List	   *saved = truncating;
		List	   *named = NIL;
		ListCell   *lc;

		foreach(lc, ((TruncateStmt *) parsetree)->relations)
			named = lappend_oid(named, RangeVarGetRelid(lfirst_node(RangeVar, lc),
														NoLock, true));
		truncating = named;
		PG_TRY();
		{
			if (prev_process_utility_hook)
				prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
										  params, queryEnv, dest, qc);
			else
				standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
										params, queryEnv, dest, qc);
		}
		PG_FINALLY();
		{
			truncating = saved;
		}
		PG_END_TRY();
	}
	else if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	webhook_capture_release();	/* e.g. after TRUNCATE of a watched table */

	/*
	 * Statements that can take from a webhook's owner the right to read what
	 * it watches: have the worker check owners as soon as they commit.
	 */
	switch (nodeTag(parsetree))
	{
		case T_GrantStmt:
		case T_GrantRoleStmt:
		case T_AlterTableStmt:
		case T_AlterRoleStmt:
		case T_DropRoleStmt:
		case T_DropOwnedStmt:
		case T_ReassignOwnedStmt:
		case T_AlterOwnerStmt:
			webhook_note_owners_changed();
			break;
		default:
			break;
	}
}

/* At the end of every statement, close the queue the capture trigger used. */
static void
webhook_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	webhook_capture_release();
}

/*
 * webhook._wake(): wake the worker when the calling transaction commits.
 * Used by the API functions that make deliveries due (resume, ping,
 * redeliver).
 */
Datum
webhook_wake(PG_FUNCTION_ARGS)
{
	webhook_request_wake();
	PG_RETURN_VOID();
}

/* The role that called the API function now running, if any. */
static Oid	api_caller = InvalidOid;

/*
 * webhook._caller(): the role on whose behalf the API was called: the
 * current role when the API function was entered (webhook_api).  A SECURITY
 * DEFINER function that calls the API therefore acts as its owner, the way
 * it would for any other SQL it runs.  Reached some other way (only a
 * superuser can call the internal functions), it is the session's role.
 */
Datum
webhook_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(OidIsValid(api_caller) ? api_caller : GetOuterUserId());
}

/*
 * The API functions that only read (webhook.secret) may run anywhere; the
 * others write, and a hot standby or a read-only transaction refuses them
 * here with one plain line, before any of their SQL runs.
 */
static void
check_writable(Oid self)
{
	char	   *name;

	if (!RecoveryInProgress() && !XactReadOnly)
		return;
	name = get_func_name(self);
	if (name == NULL || strcmp(name, "secret") == 0)
		return;
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute webhook.%s() during recovery", name),
				 errhint("Webhooks are changed on the primary; a standby follows it.")));
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot execute webhook.%s() in a read-only transaction", name)));
}

/*
 * Every API function (webhook.register, webhook.pause, ...) is this C
 * function, running with its caller's privileges.  It notes the current
 * role, then calls the SECURITY DEFINER function of the same name and
 * arguments with a leading underscore, which does the work as the
 * extension's owner.  Calling that function through fmgr skips its EXECUTE
 * check: it is revoked from PUBLIC, so only this door leads to it.
 */
Datum
webhook_api(PG_FUNCTION_ARGS)
{
	FmgrInfo   *impl = fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	Oid			saved = api_caller;
	Datum		result;

	check_writable(fcinfo->flinfo->fn_oid);
	if (impl == NULL)
	{
		Oid			self = fcinfo->flinfo->fn_oid;
		Oid		   *argtypes;
		int			nargs;
		char	   *nsp = get_namespace_name(get_func_namespace(self));
		char	   *name = get_func_name(self);
		Oid			target;

		if (nsp == NULL || name == NULL)
			elog(ERROR, "cache lookup failed for function %u", self);
		(void) get_func_signature(self, &argtypes, &nargs);
		target = LookupFuncName(list_make2(makeString(nsp),
										   makeString(psprintf("_%s", name))),
								nargs, argtypes, false);
		impl = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(target, impl, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = impl;
	}

	InitFunctionCallInfoData(*call, impl, fcinfo->nargs, fcinfo->fncollation,
							 NULL, NULL);
	for (int i = 0; i < fcinfo->nargs; i++)
		call->args[i] = fcinfo->args[i];

	api_caller = GetUserId();
	PG_TRY();
	{
		result = FunctionCallInvoke(call);
	}
	PG_FINALLY();
	{
		api_caller = saved;
	}
	PG_END_TRY();

	fcinfo->isnull = call->isnull;
	return result;
}

/*
 * webhook._on_ddl_start(): event trigger at ddl_command_start for ALTER
 * SCHEMA.  The extension's SQL and C name their schema, so renaming it
 * would break every function and trigger: refuse it before it happens.
 */
Datum
webhook_on_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook._on_ddl_start() was not called by event trigger manager")));
	if (IsA(trigdata->parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) trigdata->parsetree;

		if (stmt->renameType == OBJECT_SCHEMA && stmt->subname != NULL &&
			strcmp(stmt->subname, "webhook") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot rename schema \"webhook\" of extension \"webhook\""),
					 errdetail("The extension's functions and triggers refer to its schema by name.")));
	}
	PG_RETURN_VOID();
}

/*
 * Is a delivery worker serving this database?  Returns NULL if so, else why
 * not, in words.
 */
static const char *
worker_missing_reason(void)
{
	if (webhook_shared == NULL)
		return "webhook is not in shared_preload_libraries";
	if (RecoveryInProgress())
		return "the server is a hot standby";
	return webhook_worker_missing_reason();
}

/*
 * webhook._worker(): "running" while a delivery worker serves this
 * database, else "not running: " and the reason (webhook.webhooks.worker).
 */
Datum
webhook_worker_state(PG_FUNCTION_ARGS)
{
	const char *why = worker_missing_reason();

	if (why == NULL)
		PG_RETURN_TEXT_P(cstring_to_text("running"));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("not running: %s", why)));
}

/*
 * webhook._warn_not_preloaded(): a WARNING when the library was not
 * preloaded, so that no worker will deliver (CREATE EXTENSION, register).
 */
Datum
webhook_warn_not_preloaded(PG_FUNCTION_ARGS)
{
	if (webhook_shared == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webhook is not in shared_preload_libraries, so nothing is delivered"),
				 errdetail("Changes to watched tables are queued, and wait until a server started with the library delivers them."),
				 errhint("Add webhook to shared_preload_libraries in postgresql.conf and restart the server.")));
	PG_RETURN_VOID();
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	if (IsBinaryUpgrade)
		return;

	/*
	 * Not preloaded (a restore, a typo in postgresql.conf), a backend still
	 * loads the library when a capture trigger fires: capture keeps queueing
	 * and the events wait, durable, for a worker.  Only what needs the
	 * postmaster is left out: postmaster settings, shared memory, the
	 * launcher.  Wake-ups then find no worker and do nothing.
	 */
	webhook_define_settings();

	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = webhook_process_utility;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = webhook_executor_end;

	RegisterXactCallback(webhook_wake_xact_callback, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = webhook_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = webhook_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "webhook");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "webhook_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "webhook launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "webhook launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * webhook._capture_trigger_oids(rel): the oids, in order, of rel's own
 * triggers (not clones) that call webhook.capture, as the catalog is now,
 * whatever the transaction's snapshot shows (NULL for none).
 * webhook._lock_triggers compares the two: a repeatable-read transaction
 * that would remake a table's triggers from a view older than a concurrent
 * registration must fail rather than drop that registration's webhook.
 */
Datum
webhook_capture_trigger_oids(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			capture;
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid		   *oids = NULL;
	int			n = 0;
	int			room = 0;
	Datum	   *elems;

	capture = LookupFuncName(list_make2(makeString("webhook"), makeString("capture")),
							 0, NULL, false);
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	/* no snapshot: the catalog snapshot, which the lock just taken renewed */
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);

		if (tg->tgfoid != capture || tg->tgisinternal || OidIsValid(tg->tgparentid))
			continue;
		if (n == room)
		{
			room = room ? room * 2 : 4;
			oids = oids ? repalloc(oids, sizeof(Oid) * room) : palloc(sizeof(Oid) * room);
		}
		oids[n++] = tg->oid;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	if (n == 0)
		PG_RETURN_NULL();
	qsort(oids, n, sizeof(Oid), oid_cmp);
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		elems[i] = ObjectIdGetDatum(oids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}
