/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  Waking the worker of the database when a transaction that queued
 *	  events commits, and telling it what else that transaction changed.
 *
 * The capture trigger calls webhook_request_wake(), which only sets a
 * backend-local flag.  The transaction callback (registered once per
 * backend in _PG_init) sets the worker's latch at XACT_EVENT_COMMIT when
 * the flag is set and clears the flag at every end of transaction.  So the
 * worker wakes once per committing transaction that queued something,
 * never per row and never for a rollback.
 *
 * Events of a paused or disabled webhook wake nobody: resume does.  A
 * transaction that queued such events still wakes the worker if a pause or
 * resume committed meanwhile (hooks_generation), since the claim that
 * resume caused may have run before its events were visible.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "port/atomics.h"

#include "webhook.h"
#include "wake.h"

static bool wake_requested = false;
static bool owners_changed = false;	/* did this transaction change privileges? */
static bool hooks_changed = false;	/* did it pause or resume a webhook? */
static bool queued_inactive = false;	/* did it queue events of one not active? */
static uint64 inactive_generation;	/* hooks_generation when it first did */


/*
 * This transaction ran a statement that can take from a webhook's owner the
 * right to read what it watches: the worker checks owners once it commits.
 */
void
webhook_note_owners_changed(void)
{
	owners_changed = true;
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

/*
 * At the end of every transaction: if it committed, wake the worker and
 * pass on what it changed; either way forget it.  Cannot fail.
 */
void
webhook_wake_xact_callback(XactEvent event, void *arg)
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
