/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker's loop (worker.h says what its parts do).
 *
 * Each turn: collect the requests libcurl finished and turn them into
 * outcomes; record outcomes when due; claim when windows have room and
 * work may be due; purge old history and rotate the log now and then;
 * hand what may start to libcurl; sleep until a socket, the latch,
 * libcurl's timer or the next due time.  Each step that needs the
 * database runs in its own short transaction, guarded: an ERROR in one is
 * reported and the loop goes on (what the step would have written is done
 * again later).
 *
 * The worker commits asynchronously: a commit lost in a crash only means a
 * request is sent again, which the at-least-once contract allows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"

/* longest sleep with nothing to do: a safety net, not polling */
#define SAFETY_TIMEOUT_MS 30000
/* after a claim that found nothing, the next waits this long */
#define EMPTY_CLAIM_PAUSE_MS 2
/* between two rotation passes of the event log while it has work */
#define ROTATE_PAUSE_MS Min(1000, webhook_log_rotation_ms)

/* Take the settings in: at start, and after a reload. */
static void
load_settings(void)
{
	webhook_retry_configure(webhook_retry_schedule);
	webhook_http_configure();
}

static long
ms_until(TimestampTz when, TimestampTz now)
{
	if (when <= now)
		return 0;
	return (long) Min((when - now + 999) / 1000, (TimestampTz) SAFETY_TIMEOUT_MS);
}

/* Main loop state; static so that it survives longjmp out of PG_TRY. */
static bool present = false;	/* is the extension installed? */
static bool looked = false;		/* has a claim found out whether it is? */
static char my_dbname[NAMEDATALEN];	/* for log lines */
static bool work_due = true;	/* should the next turn claim? */
static bool woken = false;		/* by the latch (commits) since the last claim? */
static int	record_failures = 0;
static int	finished_since_claim = 0;	/* outcomes since the last claim */
static TimestampTz next_retry = 0;
static TimestampTz next_purge = 0;
static TimestampTz next_rotate = 0;
static TimestampTz next_empty_claim = 0;

/* One rotation pass of the event log (rotate.c), in its own transaction. */
static void
guarded_rotate(TimestampTz now)
{
	PG_TRY();
	{
		Oid			ext = webhook_begin_work("rotating");
		HASH_SEQ_STATUS seq;
		HookSlot   *slot;
		int32	   *busy = palloc(sizeof(int32) * (hash_get_num_entries(webhook_windows.slots) + 1));
		int			nbusy = 0;

		/* the webhooks whose events the worker holds cannot be moved out of the log */
		hash_seq_init(&seq, webhook_windows.slots);
		while ((slot = hash_seq_search(&seq)) != NULL)
			if (slot->log_held > 0 || slot->tcount > 0)
				busy[nbusy++] = slot->hook_id;
		webhook_windows.log_dirty = OidIsValid(ext) && webhook_rotate_log(busy, nbusy);
		webhook_end_work();
	}
	PG_CATCH();
	{
		webhook_recover_from_error();
	}
	PG_END_TRY();
	next_rotate = TimestampTzPlusMilliseconds(now, ROTATE_PAUSE_MS);
}
static TimestampTz next_look = 0;

/* Claim due work, catching errors; on error back off for a second. */
static void
guarded_claim(void)
{
	PG_TRY();
	{
		TimestampTz retry;
		bool		here;

		finished_since_claim = 0;
		webhook_claiming.committed = false;
		work_due = webhook_claim(&retry, &here);
		/* stay careful while careful claims come back full */
		if (webhook_claiming.careful && webhook_claiming.careful_full)
			work_due = true;
		else
			webhook_claiming.careful = false;
		/* a webhook's events moved into the queue: claim them carefully, now */
		if (webhook_claiming.poisoned)
		{
			webhook_claiming.careful = true;
			work_due = true;
			webhook_claiming.poisoned = false;
		}
		next_retry = retry;
		present = here;
		looked = true;
		next_look = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SAFETY_TIMEOUT_MS);
	}
	PG_CATCH();
	{
		webhook_recover_from_error();
		webhook_discard_fresh();

		/*
		 * Rows whose claim committed but that never reached a window stay
		 * in s: have the next claim make them due again, as after a crash.
		 */
		if (webhook_claiming.committed)
			webhook_claiming.recovered = false;
		else
			webhook_claiming.careful = true;
		work_due = false;
		next_look = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	}
	PG_END_TRY();
}

/*
 * Record outcomes, catching errors; they stay queued and are tried again.
 * After three failures in a row, exit: the restarted worker recovers rows
 * left in s and sends them again.
 */
static void
guarded_record(void)
{
	PG_TRY();
	{
		webhook_record();
		record_failures = 0;
	}
	PG_CATCH();
	{
		webhook_recover_from_error();
		if (++record_failures >= 3)
			ereport(FATAL,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("webhook worker could not record delivery outcomes"),
					 errdetail("The worker restarts and sends the affected deliveries again.")));
		next_look = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	}
	PG_END_TRY();
}

/* Purge history, catching errors; on error try again in a minute. */
static void
guarded_purge(TimestampTz now)
{
	PG_TRY();
	{
		if (webhook_purge())
			next_purge = now;
		else
			next_purge = TimestampTzPlusMilliseconds(now, Min(60000, Max(1000, webhook_retention_s * 100L)));
	}
	PG_CATCH();
	{
		webhook_recover_from_error();
		next_purge = TimestampTzPlusMilliseconds(now, 60000);
	}
	PG_END_TRY();
}

/*
 * Exit quietly if asked to (launcher.c): a DROP DATABASE, a rename or a
 * CREATE DATABASE ... TEMPLATE of this database waits for the worker to
 * leave, or the database became a template or stopped taking connections,
 * or a launcher that restarted is taking over.  Deliveries in flight stay
 * in s; whoever serves the database next sends them again.
 */
static void
leave_if_asked(bool announced)
{
	if (!webhook_worker_stop_requested())
		return;
	if (announced)
		ereport(LOG,
				(errmsg("webhook worker for database \"%s\" stops, as asked", my_dbname),
				 errdetail("A DROP DATABASE, a rename or a CREATE DATABASE ... TEMPLATE needs the database to itself, the database no longer takes a worker, or a new launcher took over.")));
	proc_exit(0);
}

/*
 * After a claim: once it is known whether the extension is installed, say
 * that the worker serves this database, or (not installed, or dropped)
 * exit, telling the launcher to start none here until the extension is
 * created.  Returns whether the worker has announced itself.
 */
static bool
announce_or_leave(bool announced)
{
	if (!looked)
		return announced;
	if (!present)
	{
		if (announced)
			ereport(LOG,
					(errmsg("webhook worker for database \"%s\" stops: the extension was dropped",
							my_dbname)));
		webhook_worker_exit_no_extension();
	}
	if (!announced)
		ereport(LOG,
				(errmsg("webhook worker started for database \"%s\"",
						my_dbname)));
	return true;
}

void
webhook_worker_main(Datum main_arg)
{
	Oid			dboid;
	bool		announced = false;
	WaitEventSet *set;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, SIG_IGN);	/* a cancel would only cost a restart */
	BackgroundWorkerUnblockSignals();

	/* the database is the launcher's choice (launcher.c), the slot too */
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("webhook worker");
	webhook_worker_attach(DatumGetInt32(main_arg));
	StartTransactionCommand();
	strlcpy(my_dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	CommitTransactionCommand();

	/* the worker's own statements resolve nothing through a user's path */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	/* nor inherits settings meant for sessions */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Every statement of the worker reaches rows through the queue's
	 * indexes, with arrays of ids whose sizes a plan cannot know: one
	 * generic plan each, and never a scan of the whole queue.  (Updates by
	 * id test the status inside a CASE, and join their webhook through
	 * hook_id + 0, so that the plan looks rows up by primary key whatever
	 * the statistics were when it was made, rather than walk a range of the
	 * work index, which holds the dead entries of every state change until
	 * vacuum.)
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_SUSET, PGC_S_OVERRIDE);
	/* short statements: compiling them would cost more than running them */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* a lost commit only means a resend, which at-least-once allows */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	webhook_windows_init();
	webhook_outcomes.cxt = AllocSetContextCreate(TopMemoryContext, "webhook outcomes",
												 ALLOCSET_DEFAULT_SIZES);
	webhook_http_start();
	load_settings();

	/* built once: libcurl's sockets change inside the poll socket (http.c) */
	set = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(set, WL_SOCKET_READABLE, webhook_http_poll_socket(), NULL, NULL);

	for (;;)
	{
		WaitEvent	events[4];
		int			nevents;
		long		timeout;
		TimestampTz now;
		WebhookRequest *req;

		MemoryContextSwitchTo(webhook_windows.loop_cxt);
		MemoryContextReset(webhook_windows.loop_cxt);
		CHECK_FOR_INTERRUPTS();
		leave_if_asked(announced);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			load_settings();
			work_due = true;
		}

		/* collect finished requests and write down how they went */
		webhook_http_run_timers();
		while ((req = webhook_http_next_done()) != NULL)
		{
			Delivery   *d = (Delivery *) req;

			finished_since_claim += 1 + list_length(d->riders);
			webhook_finish(d);
		}

		/*
		 * Claim again once half a window has drained, so that each claim
		 * moves a batch (a claim costs about as much for 128 as for 64); at
		 * once when nothing is held.  New commits wake the worker (the
		 * latch) and are claimed at once either way.
		 */
		if (finished_since_claim > 0 &&
			(webhook_windows.total_held == 0 || finished_since_claim >= Max(webhook_max_in_flight / 2, 1)))
			work_due = true;
		/*
		 * Outcomes gather for a few milliseconds (webhook_record_due), but
		 * a claim waits on them: when something committed meanwhile, they
		 * are recorded at once, so that a new event is not held back until
		 * the deliveries in flight are written down.
		 */
		if (webhook_record_due() || (woken && webhook_outcomes.list != NIL))
			guarded_record();

		/* take more work, and purge old history now and then */
		now = GetCurrentTimestamp();
		if ((next_retry != 0 && now >= next_retry) || now >= next_look ||
			(webhook_claiming.owner_recheck != 0 && now >= webhook_claiming.owner_recheck))
			work_due = true;
		/*
		 * Not while outcomes wait to be recorded: fifo order depends on
		 * them.  And after a claim that found nothing, not again for a few
		 * milliseconds, unless the latch says something committed since:
		 * the claims that follow recorded outcomes, timers and retries must
		 * not keep the worker busy claiming nothing, but a new event should
		 * not wait for them either.
		 */
		if (work_due && webhook_outcomes.list == NIL)
		{
			if (webhook_claiming.last_n == 0 && now < next_empty_claim && !woken)
			{
				work_due = false;	/* the timer below brings it back */
				next_look = Min(next_look, next_empty_claim);
			}
			else
			{
				woken = false;
				guarded_claim();
				announced = announce_or_leave(announced);
				next_empty_claim = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   EMPTY_CLAIM_PAUSE_MS);
			}
		}
		if (present && now >= next_purge)
			guarded_purge(now);
		if (present && webhook_windows.log_dirty && now >= next_rotate)
			guarded_rotate(now);
		webhook_start_waiting();

		/* sleep until a socket, the latch, libcurl's timer or a due retry */
		now = GetCurrentTimestamp();
		timeout = ms_until(next_look, now);
		if (next_retry != 0)
			timeout = Min(timeout, ms_until(next_retry, now));
		if (webhook_claiming.owner_recheck != 0)
			timeout = Min(timeout, ms_until(webhook_claiming.owner_recheck, now));
		if (present)
			timeout = Min(timeout, ms_until(next_purge, now));
		if (present && webhook_windows.log_dirty)
			timeout = Min(timeout, ms_until(next_rotate, now));
		if (webhook_http_timeout() >= 0)
			timeout = Min(timeout, webhook_http_timeout());
		/* (a claim waits for outcomes to be recorded: no hurry for it until then) */
		if ((work_due && webhook_outcomes.list == NIL) || webhook_record_due() ||
			(woken && webhook_outcomes.list != NIL))
			timeout = 0;
		else if (webhook_outcomes.list != NIL)
			timeout = Min(timeout, ms_until(webhook_record_due_at(), now));

		webhook_report_doing();
		nevents = WaitEventSetWait(set, timeout, events, lengthof(events), PG_WAIT_EXTENSION);
		for (int i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				work_due = true;
				woken = true;
			}
			else if (events[i].events & WL_SOCKET_READABLE)
				webhook_http_poll_ready();
		}
	}
}
