/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one delivery worker for every database that has the
 *	  extension, and the shared slots through which writers, workers and
 *	  DDL find each other.
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
 * Holds.  DROP DATABASE (with or without FORCE), ALTER DATABASE ... RENAME
 * and CREATE DATABASE ... TEMPLATE wait for every other connection to the
 * database to go away (CountOtherDBBackends), so a worker must not be there.
 * Before such a command runs, the ProcessUtility hook puts a hold on the
 * database, asks its worker to stop and waits (at most HOLD_WAIT_MS) for it
 * to exit; the launcher starts no worker in a held database, and when the
 * command's transaction ends (committed or not) the hold goes and the
 * launcher looks again: a renamed database or a failed drop gets its worker
 * back.  A hold whose backend died is dropped by the launcher.
 *
 * Locking: one spinlock (webhook_shared->mutex) protects the slots, the
 * holds and the notifications; it is held only to scan the slots or copy or
 * set a few fields, never across a call that can fail.  A slot's dboid is
 * set and cleared by the launcher only (reserve_slot, reap); pid, latch and
 * exited by its worker (attach, detach); stop by a holder or the launcher,
 * no_extension by the worker as it leaves, check_owners by committing
 * writers (and cleared by the worker).  Latches are set after the lock is
 * released.
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
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "webhook.h"

/* how often a launcher in recovery checks whether it ended */
#define RECOVERY_POLL_MS 500
/* a look at pg_database even when nobody said anything changed */
#define LAUNCHER_SAFETY_MS 60000
/* longest a DDL command waits for the worker of its database to exit */
#define HOLD_WAIT_MS 5000
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

/* What one turn of the launcher read from shared memory, under the lock. */
typedef struct LauncherNews
{
	bool		all;			/* every absent database is news */
	int			n;
	Oid			dbs[WEBHOOK_MAX_NOTIFY];
	uint64		hold_releases;
	int			nheld;
	Oid			held[WEBHOOK_MAX_HOLDS];
} LauncherNews;

/* in a worker: its slot; -1 elsewhere */
static int	my_slot = -1;

/* in a backend: what to tell the launcher when this transaction ends */
static bool notify_launcher = false;
static bool notify_this_db = false; /* the extension here changed */
static int	nheld_here = 0;		/* holds taken by this transaction */

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

Size
webhook_shared_size(void)
{
	return add_size(offsetof(WebhookShared, slots),
					mul_size(webhook_max_workers, sizeof(WebhookWorkerSlot)));
}

/* Initialise the shared state (at postmaster start, under AddinShmemInitLock). */
void
webhook_shared_init(WebhookShared *shared)
{
	memset(shared, 0, webhook_shared_size());
	SpinLockInit(&shared->mutex);
	pg_atomic_init_u64(&shared->hooks_generation, 0);
	shared->nslots = webhook_max_workers;
	for (int i = 0; i < shared->nslots; i++)
		shared->slots[i].exited = true;
}

/*
 * Set the latch of the worker of the current database, if one runs.
 * Cannot fail: safe in a commit callback.
 */
void
webhook_wake_worker(void)
{
	Latch	   *latch = NULL;

	if (webhook_shared == NULL)
		return;
	SpinLockAcquire(&webhook_shared->mutex);
	for (int i = 0; i < webhook_shared->nslots; i++)
	{
		WebhookWorkerSlot *s = &webhook_shared->slots[i];

		if (s->dboid == MyDatabaseId && s->latch != NULL)
		{
			latch = s->latch;
			break;
		}
	}
	SpinLockRelease(&webhook_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * A privilege change committed: have every worker check its webhooks'
 * owners before its next claim.  Every worker, since roles are shared by
 * all databases.  Cannot fail.
 */
void
webhook_flag_owners(void)
{
	Latch	   *latches[WEBHOOK_MAX_WORKERS];
	int			n = 0;

	if (webhook_shared == NULL)
		return;
	SpinLockAcquire(&webhook_shared->mutex);
	for (int i = 0; i < webhook_shared->nslots; i++)
	{
		WebhookWorkerSlot *s = &webhook_shared->slots[i];

		if (OidIsValid(s->dboid))
		{
			s->check_owners = true;
			if (s->latch != NULL && n < lengthof(latches))
				latches[n++] = s->latch;
		}
	}
	SpinLockRelease(&webhook_shared->mutex);
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
}

/*
 * In a worker: did a privilege change commit since the last call?  Clears
 * the flag.
 */
bool
webhook_take_check_owners(void)
{
	bool		check;

	Assert(my_slot >= 0);
	SpinLockAcquire(&webhook_shared->mutex);
	check = webhook_shared->slots[my_slot].check_owners;
	webhook_shared->slots[my_slot].check_owners = false;
	SpinLockRelease(&webhook_shared->mutex);
	return check;
}

/* Is db held?  Caller holds the mutex. */
static bool
held_locked(Oid db)
{
	for (int i = 0; i < WEBHOOK_MAX_HOLDS; i++)
		if (webhook_shared->holds[i].dboid == db)
			return true;
	return false;
}

static void
wake_launcher(void)
{
	Latch	   *latch;

	SpinLockAcquire(&webhook_shared->mutex);
	latch = webhook_shared->launcher_latch;
	SpinLockRelease(&webhook_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/* ---------------------------------------------------------------------
 * In backends: DDL that the launcher must hear of, or that needs a hold
 * ---------------------------------------------------------------------
 */

/* Does this DROP EXTENSION drop ours? */
static bool
drops_webhook(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "webhook") == 0)
			return true;
	}
	return false;
}

/*
 * The database a command needs no other connection to, if it is one of
 * those: DROP DATABASE, ALTER DATABASE ... RENAME, CREATE DATABASE (its
 * template).  NULL otherwise.
 */
static const char *
exclusive_target(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) parsetree)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) parsetree)->subname;
			return NULL;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) parsetree)->options)
			{
				DefElem    *def = lfirst(lc);

				if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
					return defGetString(def);
			}
			return "template1";
		default:
			return NULL;
	}
}

/*
 * Put a hold on db for the rest of the transaction, ask its worker to exit,
 * and wait (at most HOLD_WAIT_MS) until it has.  Past that, the command
 * goes on and does its own waiting.
 */
static void
hold_database(Oid db)
{
	Latch	   *latch = NULL;
	bool		busy;
	TimestampTz deadline;

	SpinLockAcquire(&webhook_shared->mutex);
	for (int i = 0; i < WEBHOOK_MAX_HOLDS; i++)
	{
		if (!OidIsValid(webhook_shared->holds[i].dboid))
		{
			webhook_shared->holds[i].dboid = db;
			webhook_shared->holds[i].pid = MyProcPid;
			nheld_here++;
			break;
		}
	}
	for (int i = 0; i < webhook_shared->nslots; i++)
	{
		WebhookWorkerSlot *s = &webhook_shared->slots[i];

		if (s->dboid == db)
		{
			s->stop = true;
			latch = s->latch;
		}
	}
	SpinLockRelease(&webhook_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_WAIT_MS);
	for (;;)
	{
		busy = false;
		SpinLockAcquire(&webhook_shared->mutex);
		for (int i = 0; i < webhook_shared->nslots; i++)
			if (webhook_shared->slots[i].dboid == db && !webhook_shared->slots[i].exited)
				busy = true;
		SpinLockRelease(&webhook_shared->mutex);
		if (!busy || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * From the ProcessUtility hook, before the statement runs: note what the
 * launcher must hear when the transaction ends, and take a hold for the
 * commands that need their database to themselves.
 */
void
webhook_launcher_utility(Node *parsetree)
{
	const char *target;

	if (webhook_shared == NULL)
		return;
	switch (nodeTag(parsetree))
	{
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) parsetree)->extname, "webhook") == 0)
				notify_launcher = notify_this_db = true;
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) parsetree)->extname, "webhook") == 0)
				notify_launcher = notify_this_db = true;
			break;
		case T_DropStmt:
			if (drops_webhook((DropStmt *) parsetree))
				notify_launcher = notify_this_db = true;
			break;
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
			notify_launcher = true;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				notify_launcher = true;
			break;
		default:
			break;
	}

	target = exclusive_target(parsetree);
	if (target != NULL)
	{
		Oid			db = get_database_oid(target, true);

		if (OidIsValid(db) && db != MyDatabaseId)
			hold_database(db);
	}
}

/*
 * At the end of every transaction: release its holds and tell the launcher
 * what it changed, if anything; on commit, also wake this database's worker
 * after a DROP EXTENSION, so that it notices and exits.  Cannot fail: runs
 * in a transaction callback.
 */
void
webhook_launcher_xact_end(bool commit)
{
	bool		tell = false;

	if (webhook_shared == NULL)
		return;
	if (nheld_here > 0)
	{
		SpinLockAcquire(&webhook_shared->mutex);
		for (int i = 0; i < WEBHOOK_MAX_HOLDS; i++)
		{
			if (webhook_shared->holds[i].pid == MyProcPid)
			{
				webhook_shared->holds[i].dboid = InvalidOid;
				webhook_shared->holds[i].pid = 0;
			}
		}
		webhook_shared->hold_releases++;
		SpinLockRelease(&webhook_shared->mutex);
		nheld_here = 0;
		tell = true;
	}
	if (commit && notify_launcher)
	{
		SpinLockAcquire(&webhook_shared->mutex);
		if (notify_this_db)
		{
			if (webhook_shared->nnotify < WEBHOOK_MAX_NOTIFY)
				webhook_shared->notify[webhook_shared->nnotify++] = MyDatabaseId;
			else
				webhook_shared->notify_all = true;
		}
		SpinLockRelease(&webhook_shared->mutex);
		if (notify_this_db)
			webhook_wake_worker();
		tell = true;
	}
	notify_launcher = notify_this_db = false;
	if (tell)
		wake_launcher();
}

/* ---------------------------------------------------------------------
 * In a worker
 * ---------------------------------------------------------------------
 */

/* on_shmem_exit: the worker leaves its slot (before it leaves the procarray) */
static void
detach(int code, Datum arg)
{
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->slots[my_slot].pid = 0;
	webhook_shared->slots[my_slot].latch = NULL;
	webhook_shared->slots[my_slot].exited = true;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * A worker takes the slot the launcher reserved for it (connected to its
 * database, before its first transaction).  If its database was held
 * meanwhile, it exits at once.
 */
void
webhook_worker_attach(int slot)
{
	WebhookWorkerSlot *s;
	bool		leave;

	if (slot < 0 || slot >= webhook_shared->nslots)
		elog(FATAL, "webhook worker slot %d out of range", slot);
	my_slot = slot;
	s = &webhook_shared->slots[slot];
	on_shmem_exit(detach, (Datum) 0);
	SpinLockAcquire(&webhook_shared->mutex);
	leave = s->dboid != MyDatabaseId || s->stop || held_locked(MyDatabaseId);
	if (!leave)
	{
		s->pid = MyProcPid;
		s->latch = MyLatch;
	}
	SpinLockRelease(&webhook_shared->mutex);
	if (leave)
		proc_exit(0);
}

/* Has a DDL command asked this worker to leave its database? */
bool
webhook_worker_stop_requested(void)
{
	bool		stop;

	SpinLockAcquire(&webhook_shared->mutex);
	stop = webhook_shared->slots[my_slot].stop;
	SpinLockRelease(&webhook_shared->mutex);
	return stop;
}

/* The extension is not installed here: say so to the launcher and exit. */
void
webhook_worker_exit_no_extension(void)
{
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->slots[my_slot].no_extension = true;
	SpinLockRelease(&webhook_shared->mutex);
	proc_exit(0);
}

/* ---------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------
 */

static HTAB *dbs;

/* on_shmem_exit: nobody is to set the launcher's latch any more */
static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->launcher_latch = NULL;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * Workers of a previous launcher (one that exited with an error) still hold
 * slots this launcher has no handles for: ask them to exit, wait for them,
 * and free every slot.
 */
static void
clear_orphans(void)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_WAIT_MS);
	bool		busy;

	for (;;)
	{
		Latch	   *latches[WEBHOOK_MAX_WORKERS];
		int			n = 0;

		busy = false;
		SpinLockAcquire(&webhook_shared->mutex);
		for (int i = 0; i < webhook_shared->nslots; i++)
		{
			WebhookWorkerSlot *s = &webhook_shared->slots[i];

			if (OidIsValid(s->dboid) && s->pid != 0)
			{
				busy = true;
				if (!s->stop && s->latch != NULL && n < lengthof(latches))
					latches[n++] = s->latch;
				s->stop = true;
			}
		}
		SpinLockRelease(&webhook_shared->mutex);
		for (int i = 0; i < n; i++)
			SetLatch(latches[i]);
		if (!busy || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SpinLockAcquire(&webhook_shared->mutex);
	for (int i = 0; i < webhook_shared->nslots; i++)
		if (webhook_shared->slots[i].pid == 0)
			memset(&webhook_shared->slots[i], 0, sizeof(WebhookWorkerSlot)),
				webhook_shared->slots[i].exited = true;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * Take the notifications and a copy of the holds; drop holds whose backend
 * is gone.  Taken before the look at pg_database, so that a hold released
 * after it (its drop committed) still counts for this turn.
 */
static void
take_news(LauncherNews *news)
{
	WebhookHold holds[WEBHOOK_MAX_HOLDS];

	SpinLockAcquire(&webhook_shared->mutex);
	news->all = webhook_shared->notify_all;
	news->n = webhook_shared->nnotify;
	memcpy(news->dbs, webhook_shared->notify, sizeof(Oid) * news->n);
	webhook_shared->notify_all = false;
	webhook_shared->nnotify = 0;
	news->hold_releases = webhook_shared->hold_releases;
	memcpy(holds, webhook_shared->holds, sizeof(holds));
	SpinLockRelease(&webhook_shared->mutex);

	news->nheld = 0;
	for (int i = 0; i < WEBHOOK_MAX_HOLDS; i++)
	{
		if (!OidIsValid(holds[i].dboid))
			continue;
		if (BackendPidGetProc(holds[i].pid) == NULL)
		{
			/* its backend died before its transaction could end */
			SpinLockAcquire(&webhook_shared->mutex);
			if (webhook_shared->holds[i].pid == holds[i].pid)
			{
				webhook_shared->holds[i].dboid = InvalidOid;
				webhook_shared->holds[i].pid = 0;
				webhook_shared->hold_releases++;
				/* ours, and before the look at pg_database: not news */
				news->hold_releases = webhook_shared->hold_releases;
			}
			SpinLockRelease(&webhook_shared->mutex);
			continue;
		}
		news->held[news->nheld++] = holds[i].dboid;
	}
}

static bool
news_holds(const LauncherNews *news, Oid db)
{
	for (int i = 0; i < news->nheld; i++)
		if (news->held[i] == db)
			return true;
	return false;
}

static bool
news_names(const LauncherNews *news, Oid db)
{
	if (news->all)
		return true;
	for (int i = 0; i < news->n; i++)
		if (news->dbs[i] == db)
			return true;
	return false;
}

/* Ask the worker in slot to exit (its database is no longer one to serve). */
static void
ask_to_stop(int slot)
{
	Latch	   *latch;

	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->slots[slot].stop = true;
	latch = webhook_shared->slots[slot].latch;
	SpinLockRelease(&webhook_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
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
			ask_to_stop(e->slot);	/* forgotten once reaped */
		else
			(void) hash_search(dbs, &e->dboid, HASH_REMOVE, NULL);
	}
}

/* A worker exited: free its slot and decide what comes next for its database. */
static void
reap(DbEntry *e, TimestampTz now)
{
	WebhookWorkerSlot *s = &webhook_shared->slots[e->slot];
	bool		no_extension;
	bool		stopped;

	Assert(e->state == DB_RUNNING);
	SpinLockAcquire(&webhook_shared->mutex);
	no_extension = s->no_extension;
	stopped = s->stop;
	memset(s, 0, sizeof(WebhookWorkerSlot));
	s->exited = true;
	SpinLockRelease(&webhook_shared->mutex);
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
 * Reserve a free slot for db, unless it is held or a hold ended since the
 * turn began (the look at pg_database may predate a drop's commit).
 * Returns the slot, or -1 if none is free, -2 if the database must wait.
 */
static int
reserve_slot(Oid db, const LauncherNews *news)
{
	int			slot = -1;

	SpinLockAcquire(&webhook_shared->mutex);
	if (held_locked(db) || webhook_shared->hold_releases != news->hold_releases)
		slot = -2;
	else
	{
		for (int i = 0; i < webhook_shared->nslots; i++)
		{
			WebhookWorkerSlot *s = &webhook_shared->slots[i];

			if (!OidIsValid(s->dboid))
			{
				memset(s, 0, sizeof(WebhookWorkerSlot));
				s->dboid = db;
				slot = i;
				break;
			}
		}
	}
	SpinLockRelease(&webhook_shared->mutex);
	return slot;
}

static void
release_slot(int slot)
{
	SpinLockAcquire(&webhook_shared->mutex);
	memset(&webhook_shared->slots[slot], 0, sizeof(WebhookWorkerSlot));
	webhook_shared->slots[slot].exited = true;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * Start a worker for e, if a slot is free.  Returns false when it could
 * not start for want of a slot or a background worker process.
 */
static bool
start_worker(DbEntry *e, const LauncherNews *news, TimestampTz now)
{
	BackgroundWorker w;
	int			slot = reserve_slot(e->dboid, news);
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
		release_slot(slot);
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
	LauncherNews news;
	HASH_SEQ_STATUS seq;
	DbEntry    *e;
	DbEntry   **order;
	int			n = 0;
	TimestampTz now;
	long		timeout = LAUNCHER_SAFETY_MS;
	bool		full = false;

	take_news(&news);
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

	clear_orphans();
	on_shmem_exit(launcher_detach, (Datum) 0);
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->launcher_latch = MyLatch;
	SpinLockRelease(&webhook_shared->mutex);
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
