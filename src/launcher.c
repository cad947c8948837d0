/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one delivery worker for every database that has the
 *	  extension.
 *
 * The launcher is a static background worker connected to shared catalogs
 * only.  It cannot read pg_extension of other databases, so it learns where
 * the extension is the way TimescaleDB's loader does: it starts a worker in
 * every database that allows connections and is not a template, and a
 * worker that finds no extension exits at once, saying so in its slot.  The
 * launcher then remembers "no extension" for that database and starts
 * nothing there until told otherwise: a CREATE, ALTER or DROP EXTENSION
 * webhook names its database at commit (webhook_launcher_xact_end), and a
 * new database (CREATE DATABASE, possibly from a template that has the
 * extension) is unknown, so it is tried once.  Probing costs one short-lived
 * worker per database at server start and one per new database; a worker
 * per database polling pg_extension, or a probe per database per interval
 * (pg_partman's way), would cost more for the same answer.
 *
 * Per database, the launcher's state machine:
 *
 *	 idle   --slot free, not held-->      running
 *	 running --exit: no extension-->      absent (idle when notified, or
 *	                                        after ABSENT_RECHECK_MS)
 *	 running --exit: asked to stop-->     idle   (a hold; started when it ends)
 *	 running --exit: error or crash-->    backoff (idle after 1 s, 2 s, ... 60 s)
 *	 any    --gone from pg_database,
 *	          a template, no connections--> forgotten (worker asked to stop)
 *
 * Holds (slots.c): DROP DATABASE, ALTER DATABASE ... RENAME and CREATE
 * DATABASE ... TEMPLATE hold their database while they run, so that no
 * worker is in their way; the launcher starts none in a held database, and
 * looks again when the hold ends.
 *
 * On a hot standby nothing is delivered: the launcher starts with the
 * server's consistent state, so it shows in pg_stat_activity, and checks
 * every RECOVERY_POLL_MS whether recovery ended; its workers start only
 * then, and claim whatever the primary had not delivered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "settings.h"

/* how often a launcher in recovery checks whether it ended */
#define RECOVERY_POLL_MS 100
/* a look at pg_database even when nobody said anything changed */
#define LAUNCHER_SAFETY_MS 60000
/* restarts after a worker error: first delay, and the most */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* a worker that ran this long is healthy again: back off from the start */
#define BACKOFF_RESET_MS 60000
/*
 * a database without the extension is tried again this rarely, in case it
 * got one without a notification (COMMIT PREPARED of a CREATE EXTENSION)
 */
#define ABSENT_RECHECK_MS (10 * 60 * 1000)

typedef enum DbState
{
	DB_IDLE,					/* no worker; start one when a slot frees */
	DB_RUNNING,					/* a worker is registered in a slot */
	DB_ABSENT,					/* its worker found no extension */
	DB_BACKOFF					/* its worker failed; start again at retry_at */
} DbState;

/* What the launcher knows about one database (hash key: dboid). */
typedef struct DbEntry
{
	Oid			dboid;
	char		name[NAMEDATALEN];
	bool		seen;			/* in the last look at pg_database */
	DbState		state;
	int			slot;			/* while running */
	BackgroundWorkerHandle *handle; /* likewise */
	bool		notified;		/* its extension changed while it ran */
	TimestampTz started_at;
	TimestampTz retry_at;		/* in backoff; when absent, the next try */
	int			failures;		/* worker errors in a row */
	bool		waiting_logged; /* said that it waits for a slot */
} DbEntry;

static HTAB *dbs;

static bool
news_holds(const WebhookLauncherNews *news, Oid db)
{
	for (int i = 0; i < news->nheld; i++)
		if (news->held[i] == db)
			return true;
	return false;
}

static bool
news_names(const WebhookLauncherNews *news, Oid db)
{
	if (news->all)
		return true;
	for (int i = 0; i < news->n; i++)
		if (news->dbs[i] == db)
			return true;
	return false;
}

/*
 * Look at pg_database: add databases that take connections and are not
 * templates, forget those that went (asking their workers to stop).
 */
static void
scan_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS seq;
	DbEntry    *e;

	hash_seq_init(&seq, dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->seen = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reading pg_database");
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);
		bool		found;

		if (!d->datallowconn || d->datistemplate || database_is_invalid_form(d))
			continue;
		e = hash_search(dbs, &d->oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) e) + sizeof(Oid), 0, sizeof(DbEntry) - sizeof(Oid));
			e->state = DB_IDLE;
			e->slot = -1;
		}
		strlcpy(e->name, NameStr(d->datname), NAMEDATALEN);
		e->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	hash_seq_init(&seq, dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->seen)
			continue;
		if (e->state == DB_RUNNING)
			webhook_slot_ask_to_stop(e->slot);	/* forgotten once reaped */
		else
			(void) hash_search(dbs, &e->dboid, HASH_REMOVE, NULL);
	}
}

/* A worker exited: free its slot and decide what comes next for its database. */
static void
reap(DbEntry *e, TimestampTz now)
{
	bool		no_extension;
	bool		stopped;

	Assert(e->state == DB_RUNNING);
	webhook_slot_release(e->slot, &no_extension, &stopped);
	pfree(e->handle);
	e->handle = NULL;
	e->slot = -1;

	if (no_extension && !e->notified)
	{
		e->state = DB_ABSENT;
		e->retry_at = TimestampTzPlusMilliseconds(now, ABSENT_RECHECK_MS);
	}
	else if (no_extension || stopped)
		e->state = DB_IDLE;
	else
	{
		long		delay;

		if (TimestampDifferenceExceeds(e->started_at, now, BACKOFF_RESET_MS))
			e->failures = 0;
		delay = Min(BACKOFF_MAX_MS, (long) BACKOFF_MIN_MS << Min(e->failures, 10));
		e->retry_at = TimestampTzPlusMilliseconds(now, delay);
		e->failures++;
		e->state = DB_BACKOFF;
		ereport(LOG,
				(errmsg("webhook worker for database \"%s\" exited unexpectedly, restarting in %ld ms",
						e->name, delay)));
	}
	e->notified = false;
	if (!e->seen)
		(void) hash_search(dbs, &e->dboid, HASH_REMOVE, NULL);
}

/*
 * Start a worker for e, if a slot is free.  Returns false when it could
 * not start for want of a slot or a background worker process.
 */
static bool
start_worker(DbEntry *e, const WebhookLauncherNews *news, TimestampTz now)
{
	BackgroundWorker w;
	int			slot = webhook_slot_reserve(e->dboid, news->hold_releases);
	MemoryContext oldcxt;
	bool		registered;

	if (slot == -2)
		return true;			/* held: not a matter of slots */
	if (slot == -1)
	{
		if (!e->waiting_logged)
			ereport(LOG,
					(errmsg("no webhook worker slot is free for database \"%s\"", e->name),
					 errdetail("All %d slots of webhook.max_workers are in use; the database gets a worker, if it has the extension, as soon as one frees.",
							   webhook_max_workers),
					 errhint("Raise webhook.max_workers (and max_worker_processes), or drop the extension from databases that do not use it.")));
		e->waiting_logged = true;
		return false;
	}

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "webhook");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "webhook_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "webhook worker");
	snprintf(w.bgw_type, BGW_MAXLEN, "webhook worker");
	w.bgw_main_arg = Int32GetDatum(slot);
	memcpy(w.bgw_extra, &e->dboid, sizeof(Oid));
	w.bgw_notify_pid = MyProcPid;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);	/* the handle outlives the turn */
	registered = RegisterDynamicBackgroundWorker(&w, &e->handle);
	MemoryContextSwitchTo(oldcxt);
	if (!registered)
	{
		webhook_slot_release(slot, NULL, NULL);
		e->handle = NULL;
		if (!e->waiting_logged)
			ereport(LOG,
					(errmsg("could not start a webhook worker for database \"%s\"", e->name),
					 errdetail("No background worker process is free."),
					 errhint("Raise max_worker_processes: it must leave room for the webhook launcher and webhook.max_workers workers.")));
		e->waiting_logged = true;
		e->state = DB_BACKOFF;
		e->retry_at = TimestampTzPlusMilliseconds(now, BACKOFF_MIN_MS);
		return false;
	}
	e->slot = slot;
	e->state = DB_RUNNING;
	e->started_at = now;
	e->notified = false;
	e->waiting_logged = false;
	return true;
}

static int
compare_oid(const void *a, const void *b)
{
	Oid			x = (*(DbEntry *const *) a)->dboid;
	Oid			y = (*(DbEntry *const *) b)->dboid;

	return (x > y) - (x < y);
}

/*
 * One turn: apply the news, reap exited workers, start workers where due.
 * Returns how long to sleep at most.
 */
static long
launcher_turn(void)
{
	WebhookLauncherNews news;
	HASH_SEQ_STATUS seq;
	DbEntry    *e;
	DbEntry   **order;
	int			n = 0;
	TimestampTz now;
	long		timeout = LAUNCHER_SAFETY_MS;
	bool		full = false;

	webhook_slots_take_news(&news);
	scan_databases();
	now = GetCurrentTimestamp();

	order = palloc(sizeof(DbEntry *) * Max(hash_get_num_entries(dbs), 1));
	hash_seq_init(&seq, dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		order[n++] = e;
	qsort(order, n, sizeof(DbEntry *), compare_oid);

	for (int i = 0; i < n; i++)
	{
		e = order[i];
		if (news_names(&news, e->dboid))
		{
			if (e->state == DB_RUNNING)
				e->notified = true;
			else if (e->state == DB_ABSENT)
				e->state = DB_IDLE;
		}
		if (e->state == DB_RUNNING)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(e->handle, &pid) == BGWH_STOPPED)
			{
				bool		gone = !e->seen;

				reap(e, now);
				if (gone)
					order[i] = NULL;	/* removed from the hash */
			}
		}
	}

	/* in OID order, so that who waits for a slot does not depend on the hash */
	for (int i = 0; i < n; i++)
	{
		e = order[i];
		if (e == NULL || !e->seen)
			continue;
		if (e->state == DB_BACKOFF || e->state == DB_ABSENT)
		{
			if (now >= e->retry_at)
				e->state = DB_IDLE;
			else
				timeout = Min(timeout, (long) ((e->retry_at - now) / 1000) + 1);
		}
		if (e->state != DB_IDLE || news_holds(&news, e->dboid))
			continue;
		if (full)
		{
			(void) start_worker(e, &news, now); /* logs that it waits */
			continue;
		}
		if (!start_worker(e, &news, now))
			full = true;
		if (e->state == DB_BACKOFF)
			timeout = Min(timeout, BACKOFF_MIN_MS);
	}
	pfree(order);
	return timeout;
}

/* Wait quietly while the server is a standby. */
static void
wait_for_recovery_end(void)
{
	if (!RecoveryInProgress())
		return;
	ereport(LOG,
			(errmsg("webhook launcher waits for recovery to end"),
			 errdetail("A standby delivers nothing; delivery starts when it is promoted.")));
	pgstat_report_activity(STATE_IDLE, "waiting for recovery to end");
	while (RecoveryInProgress())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RECOVERY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	ereport(LOG, (errmsg("webhook launcher starts delivery: recovery ended")));
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
webhook_launcher_main(Datum main_arg)
{
	HASHCTL		ctl;
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* shared catalogs only: never in the way of a database's DDL */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("webhook launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DbEntry);
	dbs = hash_create("webhook databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "webhook launcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	wait_for_recovery_end();

	webhook_slots_clear_orphans();
	webhook_slots_attach_launcher();
	ereport(LOG,
			(errmsg("webhook launcher started with %d worker slots", webhook_max_workers)));

	for (;;)
	{
		long		timeout;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		timeout = launcher_turn();

		/* the latch: notifications, and workers starting or stopping (bgw_notify_pid) */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
