/*-------------------------------------------------------------------------
 *
 * load.c
 *	  The log's part of a claim: each active webhook reads its next events
 *	  through its cursor (cursor.c), as many as its window has room for.
 *
 * What a load did to a window (loaded_now, exhausted_now, switched_now,
 * skipped_now) is applied only once the claim commits (admit.c): a claim
 * that rolls back leaves the windows as they were.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"

/* did a load of this claim move a webhook's events into the queue? */
static bool poisoned = false;

/*
 * Load the next events of slot's webhook (webhook_cursor_load) and build
 * their deliveries (admit.c), in a subtransaction: if that fails (its
 * stored headers are not an object, say, or an event cannot be
 * serialised), the deliveries of this load are dropped and its events
 * move into the queue (webhook_cursor_spill), where the next, careful
 * claim takes them one by one and fails those that cannot be sent, so that
 * the webhook's other events and the other webhooks go on.  Returns false,
 * with nothing loaded, if the load failed; else *n is how many were
 * loaded, and *scanned as webhook_cursor_load says (and waiting as it
 * wants).
 */
static bool
load_guarded(HookSlot *slot, int64 after, int room, bool waiting, Oid ext, int *n,
			 int64 *scanned)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;
	int			keep = webhook_fresh_count();

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		WebhookLogEvent *events;
		HeapTuple	hook;
		TupleDesc	hookdesc;

		*n = webhook_cursor_load(slot->hook_id, after, room, waiting, &events, &hook, &hookdesc,
								 scanned);
		if (*n > 0)
			webhook_take_log_events(hook, hookdesc, events, *n, ext);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		webhook_fresh_drop(keep);
		*n = 0;
		ok = false;

		/* not the events' fault (deadlock, resources, ...): the claim fails */
		if (webhook_transient_error(edata))
			ReThrowError(edata);
		if (slot->log_held == 0 && slot->tcount == 0)
		{
			uint64		moved = webhook_cursor_spill(slot->hook_id);

			slot->switched_now = slot->loaded_now = slot->exhausted_now = true;
			if (moved > 0)
			{
				ereport(WARNING,
						(errmsg("webhook %d: its events cannot be read from the event log: %s",
								slot->hook_id, edata->message),
						 errdetail(UINT64_FORMAT " of them move into webhook.queue, where those that cannot be sent fail one by one.",
								   moved)));
				poisoned = true;
			}
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return ok;
}

/*
 * Load slot's next events after event after (load_guarded).  A load that
 * finds nothing may have looked only at events that have rows in the queue
 * already: then look on past them (a few times).  Sets *exhausted when the
 * batch has nothing more.  Returns false if the load failed.
 */
static bool
load_next(HookSlot *slot, int64 after, int room, bool waiting, Oid ext, int *n,
		  bool *exhausted)
{
	for (int tries = 0;; tries++)
	{
		int64		scanned;

		*exhausted = false;
		if (!load_guarded(slot, after, room, waiting, ext, n, &scanned))
			return false;
		if (*n > 0 || tries == 3)
			return true;
		if (scanned == 0)
		{
			*exhausted = true;
			return true;
		}
		slot->skipped_now = Max(slot->skipped_now, scanned);
		after = scanned;
	}
}

/*
 * The log's part of a claim: each active webhook's next events from its
 * cursor (cursor.c), as many as its window has room for, at most limit in
 * all.  When the webhook's batch is done, its next one begins.  A webhook
 * with many deliveries waiting in webhook.queue reads no further (they go
 * first, and its endpoint is probably failing); a fifo webhook reads only
 * when it holds nothing and the queue has nothing of its.  Each webhook's
 * load is guarded (load_guarded), so this part of a claim does not fail
 * for one webhook's sake.  queue_waiting: did the claim find any delivery
 * waiting in webhook.queue (if not, none is counted per webhook).  Returns
 * how many deliveries were taken; sets *poisoned_out if a webhook's events
 * moved into the queue because they could not be read.
 */
uint64
webhook_claim_from_log(List *active, int limit, Oid ext, bool queue_waiting,
					   bool *poisoned_out)
{
	uint64		got = 0;
	ListCell   *lc;

	poisoned = false;
	/* cut the log at the claim's snapshot: the webhooks' batches end at ticks */
	webhook_cursor_tick(webhook_cursor_snapshot());

	foreach(lc, active)
	{
		ActiveHook *a = lfirst(lc);
		HookSlot   *slot = webhook_window(a->id);
		int			room;
		int			queued;
		int64		after;
		int			n;
		bool		exhausted;

		if (slot->rewind)
		{
			if (slot->log_held > 0)
				continue;
			webhook_track_rewind(slot);
		}
		room = a->fifo ? ((slot->held + slot->fresh_n == 0) ? a->batch_size : 0) :
			webhook_max_in_flight - slot->held - slot->fresh_n;
		room = Min(room, limit - (int) got);
		if (room <= 0)
			continue;
		queued = queue_waiting ? webhook_cursor_queued(a->id) : 0;
		if (queued > WEBHOOK_QUEUE_GATE || (a->fifo && queued > 0))
			continue;
		after = slot->loaded_upto;
		if (slot->exhausted)
		{
			int			next;

			if (slot->tcount > 0 || slot->log_held > 0)
				continue;		/* the batch is not done yet */
			next = webhook_cursor_next_batch(a->id);
			if (next < 0)
				continue;
			slot->switched_now = true;
			slot->skipped_now = 0;	/* that was of the batch before */
			slot->loaded_now = slot->exhausted_now = true;
			if (next == 0)
				continue;		/* an empty batch: nothing to load */
			after = 0;
		}
		if (!load_next(slot, after, room, queued > 0, ext, &n, &exhausted))
			continue;
		if (exhausted && !slot->switched_now && slot->tcount == 0 && slot->log_held == 0)
		{
			/* nothing left of this batch, and all of it settled: the next one */
			int			next;

			next = webhook_cursor_next_batch(a->id);
			slot->loaded_now = slot->exhausted_now = true;
			if (next < 0)
				continue;
			slot->switched_now = true;
			slot->skipped_now = 0;	/* that was of the batch before */
			if (next == 0)
				continue;
			if (!load_next(slot, 0, room, queued > 0, ext, &n, &exhausted))
				continue;
		}
		slot->loaded_now = true;
		slot->exhausted_now = exhausted;
		got += n;
	}
	*poisoned_out = poisoned;
	return got;
}
