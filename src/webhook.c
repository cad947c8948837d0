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

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
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
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "webhook.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(webhook_wake);
PG_FUNCTION_INFO_V1(webhook_caller);
PG_FUNCTION_INFO_V1(webhook_api);
PG_FUNCTION_INFO_V1(webhook_on_ddl_start);
PG_FUNCTION_INFO_V1(webhook_worker_state);
PG_FUNCTION_INFO_V1(webhook_warn_not_preloaded);

/* GUC variables */
int			webhook_max_workers = 8;
char	   *webhook_allowed_networks = NULL;
char	   *webhook_retry_schedule = NULL;
int			webhook_retention_s = 7 * 24 * 3600;
int			webhook_log_rotation_ms = 10000;
int			webhook_max_connections_per_host = 64;
int			webhook_max_connections_per_webhook = 8;
int			webhook_max_in_flight = 256;
int			webhook_response_body_limit = 1024;
int			webhook_disable_after_s = 5 * 24 * 3600;
int			webhook_max_payload_size = 1024 * 1024;

WebhookShared *webhook_shared = NULL;

static bool wake_requested = false;
static bool owners_changed = false;	/* did this transaction change privileges? */
static bool hooks_changed = false;	/* did it pause or resume a webhook? */
static bool queued_inactive = false;	/* did it queue events of one not active? */
static uint64 inactive_generation;	/* hooks_generation when it first did */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;

void		_PG_init(void);

static bool
check_allowed_networks(char **newval, void **extra, GucSource source)
{
	WebhookNetwork *nets;
	int			nnets;
	char	   *bad;

	if (!webhook_parse_networks(*newval, &nets, &nnets, &bad))
	{
		GUC_check_errdetail("\"%s\" is not an IPv4 or IPv6 network in CIDR notation.", bad);
		free(bad);
		return false;
	}
	free(nets);
	return true;
}

static bool
check_retry_schedule(char **newval, void **extra, GucSource source)
{
	int		   *delays;
	int			ndelays;

	if (!webhook_parse_schedule(*newval, &delays, &ndelays))
	{
		GUC_check_errdetail("The retry schedule is a comma-separated list of delays such as \"5s,5min,30min,2h\".");
		return false;
	}
	free(delays);
	return true;
}

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

/* This transaction paused or resumed a webhook (webhook._hooks_changed). */
void
webhook_note_hooks_changed(void)
{
	hooks_changed = true;
}

/*
 * This transaction queued an event for a webhook that its capture cache
 * says is paused or disabled, so it will not wake the worker at commit...
 * unless a pause or resume commits in between: the webhook may have been
 * resumed, and the worker's claim at that resume may have run before this
 * transaction's events were visible.  Remember the generation to compare.
 */
void
webhook_note_inactive_event(void)
{
	if (!queued_inactive && webhook_shared != NULL)
	{
		queued_inactive = true;
		inactive_generation = pg_atomic_read_u64(&webhook_shared->hooks_generation);
	}
}

/* Ask for the worker to be woken when the current transaction commits. */
void
webhook_request_wake(void)
{
	wake_requested = true;
}

static void
webhook_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (owners_changed)
				webhook_flag_owners();
			if (hooks_changed && webhook_shared != NULL)
				pg_atomic_fetch_add_u64(&webhook_shared->hooks_generation, 1);
			if (queued_inactive && webhook_shared != NULL &&
				pg_atomic_read_u64(&webhook_shared->hooks_generation) != inactive_generation)
				wake_requested = true;
			if (wake_requested)
				webhook_wake_worker();
			webhook_launcher_xact_end(true);
			wake_requested = false;
			owners_changed = false;
			hooks_changed = false;
			queued_inactive = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			webhook_launcher_xact_end(false);
			wake_requested = false;
			owners_changed = false;
			hooks_changed = false;
			queued_inactive = false;
			break;
		default:
			break;
	}
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
			owners_changed = true;
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
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("webhook.max_workers",
								"Most databases served at once, one delivery worker each.",
								"Each worker is a background worker process: max_worker_processes must leave room for them and the launcher.",
								&webhook_max_workers,
								8,
								1, WEBHOOK_MAX_WORKERS,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	DefineCustomStringVariable("webhook.allowed_networks",
							   "Comma-separated CIDR networks that webhooks may reach although they are loopback, private or link-local.",
							   NULL,
							   &webhook_allowed_networks,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_allowed_networks, NULL, NULL);

	DefineCustomStringVariable("webhook.retry_schedule",
							   "Comma-separated delays before each retry of a failed delivery.",
							   "The last delay repeats until max_attempts is reached.",
							   &webhook_retry_schedule,
							   "5s,5min,30min,2h,5h,10h,10h",
							   PGC_SIGHUP,
							   0,
							   check_retry_schedule, NULL, NULL);

	DefineCustomIntVariable("webhook.retention",
							"How long delivered and failed deliveries are kept.",
							NULL,
							&webhook_retention_s,
							7 * 24 * 3600,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.log_rotation",
							"How long writers append to one table of the event log before the next.",
							"A table every webhook has read past is emptied with TRUNCATE once older than webhook.retention.",
							&webhook_log_rotation_ms,
							10000,
							100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_connections_per_host",
							"Most connections the worker opens to one host and port, over all webhooks.",
							NULL,
							&webhook_max_connections_per_host,
							64,
							1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_connections_per_webhook",
							"Most requests of one webhook in flight at once.",
							"Each needs its own connection; webhooks with fifo = true send one at a time.",
							&webhook_max_connections_per_webhook,
							8,
							1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight",
							"Most deliveries of one webhook the worker holds at once.",
							"Requests beyond the connection limit wait in the worker, in event order.",
							&webhook_max_in_flight,
							256,
							1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.response_body_limit",
							"How much of a response body is kept in webhook.deliveries.",
							NULL,
							&webhook_response_body_limit,
							1024,
							0, 65536,
							PGC_SIGHUP,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.disable_after",
							"How long a webhook's deliveries may fail without a success before it is disabled.",
							NULL,
							&webhook_disable_after_s,
							5 * 24 * 3600,
							1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_payload_size",
							"Largest old and new row data sent in one event.",
							"Larger rows are sent as their key columns, with \"truncated\": true.",
							&webhook_max_payload_size,
							1024 * 1024,
							1024, 256 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("webhook");

	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = webhook_process_utility;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = webhook_executor_end;

	RegisterXactCallback(webhook_xact_callback, NULL);

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
