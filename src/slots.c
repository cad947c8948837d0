/*-------------------------------------------------------------------------
 *
 * slots.c
 *	  The shared state through which writers, DDL, workers and the launcher
 *	  find each other: one slot per running worker, holds on databases that
 *	  DDL needs to itself, and notifications for the launcher.
 *
 * Writers find the worker of their database in the slots (dboid) and set
 * its latch at commit; a committed privilege change flags every worker to
 * check its webhooks' owners.  A CREATE, ALTER or DROP EXTENSION webhook
 * names its database to the launcher at commit (webhook_launcher_xact_end);
 * CREATE, DROP and ALTER DATABASE just wake it.
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
 * set and cleared by the launcher only (webhook_slot_reserve and
 * webhook_slot_release); pid, latch and exited by its worker (attach,
 * detach); stop by a holder or the launcher; no_extension by the worker as
 * it leaves; check_owners by committing writers (and cleared by the
 * worker).  Latches are set after the lock is released.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "settings.h"

WebhookShared *webhook_shared = NULL;



/* longest a DDL command waits for the worker of its database to exit */
#define HOLD_WAIT_MS 5000

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
 * Why no worker serves the current database, in words; NULL if one does.
 * (The caller knows about standbys and a library not preloaded.)
 */
const char *
webhook_worker_missing_reason(void)
{
	bool		serving = false;
	bool		reserved = false;
	int			used = 0;

	SpinLockAcquire(&webhook_shared->mutex);
	for (int i = 0; i < webhook_shared->nslots; i++)
	{
		WebhookWorkerSlot *s = &webhook_shared->slots[i];

		if (OidIsValid(s->dboid))
			used++;
		if (s->dboid == MyDatabaseId)
		{
			reserved = true;
			if (s->latch != NULL)
				serving = true;
		}
	}
	SpinLockRelease(&webhook_shared->mutex);
	if (serving)
		return NULL;
	if (reserved)
		return "the webhook worker is starting";
	if (used >= webhook_shared->nslots)
		return "every worker slot (webhook.max_workers) is in use";
	return "the webhook worker is not running";
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

		/*
		 * Only for its owner (or a superuser), who alone may drop, rename
		 * or copy it: anyone else's attempt fails anyway, and must not get
		 * to stop the worker.
		 */
		if (OidIsValid(db) && db != MyDatabaseId &&
			pg_database_ownercheck(db, GetUserId()))
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
 * For the launcher
 * ---------------------------------------------------------------------
 */

/* on_shmem_exit: nobody is to set the launcher's latch any more */
static void
launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->launcher_latch = NULL;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * The launcher publishes its latch, so that notifications and holds reach
 * it; it is cleared when the launcher exits.
 */
void
webhook_slots_attach_launcher(void)
{
	on_shmem_exit(launcher_detach, (Datum) 0);
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->launcher_latch = MyLatch;
	SpinLockRelease(&webhook_shared->mutex);
}

/*
 * Workers of a previous launcher (one that exited with an error) still hold
 * slots this launcher has no handles for: ask them to exit, wait for them,
 * and free every slot.
 */
void
webhook_slots_clear_orphans(void)
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
void
webhook_slots_take_news(WebhookLauncherNews *news)
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

/* Ask the worker in slot to exit (its database is no longer one to serve). */
void
webhook_slot_ask_to_stop(int slot)
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
 * Reserve a free slot for db, unless it is held or a hold ended since the
 * turn began, hold_releases then (the look at pg_database may predate a
 * drop's commit).
 * Returns the slot, or -1 if none is free, -2 if the database must wait.
 */
int
webhook_slot_reserve(Oid db, uint64 hold_releases)
{
	int			slot = -1;

	SpinLockAcquire(&webhook_shared->mutex);
	if (held_locked(db) || webhook_shared->hold_releases != hold_releases)
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

/*
 * Free a slot whose worker has exited (or never started); *no_extension and
 * *stopped (if not NULL) say why it left: it found no extension, or it was
 * asked to.
 */
void
webhook_slot_release(int slot, bool *no_extension, bool *stopped)
{
	WebhookWorkerSlot *s = &webhook_shared->slots[slot];

	SpinLockAcquire(&webhook_shared->mutex);
	if (no_extension)
		*no_extension = s->no_extension;
	if (stopped)
		*stopped = s->stop;
	memset(s, 0, sizeof(WebhookWorkerSlot));
	s->exited = true;
	SpinLockRelease(&webhook_shared->mutex);
}

/* ---------------------------------------------------------------------
 * What the worker is sending
 * ---------------------------------------------------------------------
 */

/* In the worker: show the ids of the deliveries in flight (at most WEBHOOK_SENDING_SHOWN). */
void
webhook_worker_show_sending(const int64 *ids, int n)
{
	WebhookWorkerSlot *s;

	if (my_slot < 0)
		return;
	s = &webhook_shared->slots[my_slot];
	n = Min(n, WEBHOOK_SENDING_SHOWN);
	SpinLockAcquire(&webhook_shared->mutex);
	memcpy(s->sending, ids, sizeof(int64) * n);
	s->nsending = n;
	SpinLockRelease(&webhook_shared->mutex);
}

PG_FUNCTION_INFO_V1(webhook_sending);

/*
 * webhook._sending(): the ids of the deliveries this database's worker has
 * in flight (the views show them as sending), empty if no worker runs.
 */
Datum
webhook_sending(PG_FUNCTION_ARGS)
{
	int64		ids[WEBHOOK_SENDING_SHOWN];
	Datum		vals[WEBHOOK_SENDING_SHOWN];
	int			n = 0;

	if (webhook_shared != NULL)
	{
		SpinLockAcquire(&webhook_shared->mutex);
		for (int i = 0; i < webhook_shared->nslots; i++)
		{
			WebhookWorkerSlot *s = &webhook_shared->slots[i];

			if (s->dboid == MyDatabaseId && !s->exited && s->pid != 0)
			{
				n = s->nsending;
				memcpy(ids, s->sending, sizeof(int64) * n);
				break;
			}
		}
		SpinLockRelease(&webhook_shared->mutex);
	}
	for (int i = 0; i < n; i++)
		vals[i] = Int64GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(vals, n, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));
}
