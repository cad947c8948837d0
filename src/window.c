/*-------------------------------------------------------------------------
 *
 * window.c
 *	  The worker's windows: per webhook, the deliveries it holds, the lanes
 *	  of those in flight, and its cursor's bookkeeping over the log.
 *
 * A window is a HookSlot (worker.h), created the first time a webhook has
 * a delivery claimed, in webhook_windows.slots.  Everything here runs in
 * the worker's memory only: no transaction is needed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "worker.h"
#include "settings.h"

WebhookWindows webhook_windows;

/* Create the windows' table and the worker's memory contexts. */
void
webhook_windows_init(void)
{
	HASHCTL		ctl;

	webhook_windows.loop_cxt = AllocSetContextCreate(TopMemoryContext, "webhook worker loop",
													 ALLOCSET_DEFAULT_SIZES);
	webhook_windows.deliveries_cxt = AllocSetContextCreate(TopMemoryContext, "webhook deliveries",
														   ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(HookSlot);
	webhook_windows.slots = hash_create("webhook slots", 64, &ctl, HASH_ELEM | HASH_BLOBS);
}

/*
 * The extension was dropped and created again: its webhooks are new (their
 * ids start again) and so are their cursors.  What waits in the windows is
 * dropped, and what is still in flight of the old ones is no longer
 * counted (its generation is old).
 */
void
webhook_windows_restart(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;

	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		while (!dlist_is_empty(&slot->waiting))
		{
			Delivery   *w = dlist_container(Delivery, req.node,
											dlist_pop_head_node(&slot->waiting));

			webhook_windows.total_held--;
			webhook_http_release(&w->req);
			MemoryContextDelete(w->cxt);
		}
		slot->held = slot->sending = slot->nbusy = 0;
		slot->thead = slot->tcount = 0;
		slot->loaded_upto = slot->prefix = slot->pos_saved = 0;
		slot->log_held = 0;
		slot->exhausted = slot->rewind = false;
	}
	webhook_windows.sending_changed = true;
	webhook_windows.generation++;
}

/* The window of webhook hook_id, created empty if it has none. */
HookSlot *
webhook_window(int32 hook_id)
{
	bool		found;
	HookSlot   *slot = hash_search(webhook_windows.slots, &hook_id, HASH_ENTER, &found);

	if (!found)
	{
		slot->held = 0;
		slot->sending = 0;
		slot->fifo = false;
		dlist_init(&slot->waiting);
		slot->busy = NULL;
		slot->nbusy = 0;
		slot->busy_cap = 0;
		slot->track = NULL;
		slot->tdone = NULL;
		slot->thead = slot->tcount = slot->tcap = 0;
		slot->loaded_upto = slot->prefix = slot->pos_saved = 0;
		slot->log_held = 0;
		slot->exhausted = slot->rewind = false;
		slot->fresh_n = 0;
		slot->loaded_now = slot->exhausted_now = slot->switched_now = false;
		slot->skipped_now = 0;
	}
	return slot;
}

/*
 * Per-row order.  A delivery is handed to libcurl only when no earlier
 * delivery of its lane (the same row of the same table) is in flight, nor
 * waits before it in the window; a TRUNCATE only when no earlier delivery of
 * its table is, and no later delivery of its table goes before it is done.
 * A claim never takes a pending delivery that an earlier retrying one holds
 * back by the same rules (claim_plan); and when a request fails, the
 * deliveries of its lanes that wait in the window are handed back, so that
 * none overtakes the retry.  Different lanes go out side by side, up to the
 * webhook's connections.  (webhook.row_order = off, a developer option,
 * turns the lanes off, to measure what they cost.)
 */
static bool
lane_busy(HookSlot *slot, Delivery *d)
{
	if (!webhook_row_order)
		return false;
	for (int i = 0; i < slot->nbusy; i++)
	{
		BusyLane   *b = &slot->busy[i];

		if (b->lane == d->lane ||
			((b->truncate || d->truncate) && b->table == d->table))
			return true;
	}
	return false;
}

/* d is handed to libcurl: its lane (and table) is busy until it is done. */
void
webhook_lane_hold(HookSlot *slot, Delivery *d)
{
	if (slot->nbusy == slot->busy_cap)
	{
		slot->busy_cap = Max(16, slot->busy_cap * 2);
		slot->busy = slot->busy == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(BusyLane) * slot->busy_cap) :
			repalloc(slot->busy, sizeof(BusyLane) * slot->busy_cap);
	}
	slot->busy[slot->nbusy].id = d->req.delivery_id;
	slot->busy[slot->nbusy].lane = d->lane;
	slot->busy[slot->nbusy].table = d->table;
	slot->busy[slot->nbusy].truncate = d->truncate;
	slot->nbusy++;
	d->lane_held = true;
	webhook_windows.sending_changed = true;
}

/* d is done: its lane is free again. */
void
webhook_lane_free(HookSlot *slot, Delivery *d)
{
	if (!d->lane_held)
		return;
	for (int i = 0; i < slot->nbusy; i++)
		if (slot->busy[i].id == d->req.delivery_id)
		{
			slot->busy[i] = slot->busy[--slot->nbusy];
			break;
		}
	d->lane_held = false;
	webhook_windows.sending_changed = true;
}

/*
 * The cursor's bookkeeping (see HookSlot): an event loaded from the log is
 * tracked until it and every event loaded before it are settled; the
 * settled prefix is what the cursor's pos may move to.
 */
void
webhook_track_add(HookSlot *slot, int64 event_id)
{
	if (slot->thead + slot->tcount == slot->tcap)
	{
		if (slot->thead > 0)
		{
			memmove(slot->track, slot->track + slot->thead, sizeof(int64) * slot->tcount);
			memmove(slot->tdone, slot->tdone + slot->thead, sizeof(bool) * slot->tcount);
			slot->thead = 0;
		}
		else
		{
			slot->tcap = Max(64, slot->tcap * 2);
			slot->track = slot->track == NULL ?
				MemoryContextAlloc(TopMemoryContext, sizeof(int64) * slot->tcap) :
				repalloc(slot->track, sizeof(int64) * slot->tcap);
			slot->tdone = slot->tdone == NULL ?
				MemoryContextAlloc(TopMemoryContext, sizeof(bool) * slot->tcap) :
				repalloc(slot->tdone, sizeof(bool) * slot->tcap);
		}
	}
	slot->track[slot->thead + slot->tcount] = event_id;
	slot->tdone[slot->thead + slot->tcount] = false;
	slot->tcount++;
	slot->loaded_upto = Max(slot->loaded_upto, event_id);
}

/* Mark event_id settled, and move the settled prefix on. */
void
webhook_track_settle(HookSlot *slot, int64 event_id)
{
	int			lo = slot->thead;
	int			hi = slot->thead + slot->tcount - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (slot->track[mid] == event_id)
		{
			slot->tdone[mid] = true;
			break;
		}
		if (slot->track[mid] < event_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	while (slot->tcount > 0 && slot->tdone[slot->thead])
	{
		slot->prefix = slot->track[slot->thead];
		slot->thead++;
		slot->tcount--;
	}
	if (slot->tcount == 0)
		slot->thead = 0;
}

/* Forget what was loaded past the settled prefix: the next load starts there. */
void
webhook_track_rewind(HookSlot *slot)
{
	slot->thead = slot->tcount = 0;
	slot->loaded_upto = slot->prefix;
	slot->exhausted = false;
	slot->rewind = false;
}

/* Drop a delivery from the worker's memory, once its outcome is known. */
void
webhook_forget(HookSlot *slot, Delivery *d)
{
	webhook_windows.total_held--;
	/* one claimed before the extension was created again is no longer counted */
	if (d->generation == webhook_windows.generation)
	{
		slot->held--;
		if (d->from_log)
			slot->log_held--;
	}
	webhook_http_release(&d->req);
	MemoryContextDelete(d->cxt);
}

/*
 * The first delivery waiting in slot's window that may start now (see
 * "Per-row order"), or NULL.  A delivery left waiting keeps the later ones
 * of its lane waiting, and a TRUNCATE left waiting (or one that found an
 * earlier delivery of its table still waiting) those of its whole table.
 */
Delivery *
webhook_next_startable(HookSlot *slot)
{
	dlist_iter	iter;
	int64	   *tables = NULL;	/* tables with an earlier delivery left waiting */
	bool	   *barriers = NULL;	/* ... that is a TRUNCATE */
	int			ntables = 0;
	Delivery   *found = NULL;

	dlist_foreach(iter, &slot->waiting)
	{
		Delivery   *d = dlist_container(Delivery, req.node, iter.cur);
		bool		held = lane_busy(slot, d);

		for (int i = 0; !held && i < ntables; i++)
			if (tables[i] == d->table && (barriers[i] || d->truncate))
				held = true;
		if (!held)
		{
			found = d;
			break;
		}
		if (tables == NULL)
		{
			tables = palloc(sizeof(int64) * (slot->held + 1));
			barriers = palloc(sizeof(bool) * (slot->held + 1));
		}
		if (ntables <= slot->held)
		{
			tables[ntables] = d->table;
			barriers[ntables] = d->truncate;
			ntables++;
		}
	}
	if (tables)
	{
		pfree(tables);
		pfree(barriers);
	}
	return found;
}
