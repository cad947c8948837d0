/*-------------------------------------------------------------------------
 *
 * outcome.c
 *	  What an attempt ended with: the outcomes of finished requests, and of
 *	  deliveries handed back unsent, gathered for a record transaction
 *	  (record.c).
 *
 * Each outcome is the event that moves its delivery out of s (worker.h):
 * SUCCESS, FAILURE or FINAL for a request that finished, HAND_BACK or
 * QUEUE_BEHIND for one never sent.  Here in memory only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

#include "worker.h"

WebhookOutcomes webhook_outcomes;

/*
 * Hand back every delivery waiting in slot's window in d's lane (or d's
 * table, if either is a TRUNCATE): after d failed, none may overtake its
 * retry (window.c, "Per-row order").
 */
static void
release_lane(HookSlot *slot, Delivery *d)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &slot->waiting)
	{
		Delivery   *w = dlist_container(Delivery, req.node, iter.cur);

		if (w->lane != d->lane &&
			!((w->truncate || d->truncate) && w->table == d->table))
			continue;
		dlist_delete(iter.cur);
		if (w->from_log)
			webhook_queue_behind(slot, w);	/* it waits in the queue behind the retry */
		else
			webhook_release_unsent(slot, w);
	}
}

/*
 * Bytes from a response body as text in the server encoding: valid UTF-8 is
 * kept when the server encoding is UTF-8, printable ASCII always, anything
 * else becomes '?'.
 */
static char *
clean_text(const char *s, size_t len)
{
	char	   *out = palloc(len + 1);
	size_t		o = 0;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	for (size_t i = 0; i < len;)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r')
		{
			out[o++] = c;
			i++;
			continue;
		}
		if (utf8 && c >= 0x80)
		{
			int			l = pg_utf_mblen((const unsigned char *) s + i);

			if (i + l <= len && pg_utf8_islegal((const unsigned char *) s + i, l))
			{
				memcpy(out + o, s + i, l);
				o += l;
				i += l;
				continue;
			}
		}
		out[o++] = '?';
		i++;
	}
	out[o] = '\0';
	return out;
}

/*
 * Record delivery m's outcome: what its request (or the batch it rode in)
 * ended with, in "result", decided for m's own attempts.
 */
static void
add_outcome(Delivery *m, const Outcome *result)
{
	MemoryContext old = MemoryContextSwitchTo(webhook_outcomes.cxt);
	Outcome    *o = palloc(sizeof(Outcome));

	*o = *result;
	o->id = m->req.delivery_id;
	o->hook_id = m->req.hook_id;
	o->extension = m->req.extension;
	o->from_log = m->from_log;
	o->event_id = m->event_id;
	o->txid = m->txid ? pstrdup(m->txid) : NULL;
	o->attempts = m->req.attempts;
	if (o->event == DELIVERY_FAILURE &&
		(o->gone || m->req.attempts >= m->req.max_attempts))
		o->event = DELIVERY_FINAL;
	o->status = delivery_next(DELIVERY_SENDING, o->event);
	if (webhook_outcomes.list == NIL)
		webhook_outcomes.first_at = o->at;
	if (m->fifo)
		webhook_outcomes.fifo = true;
	webhook_outcomes.list = lappend(webhook_outcomes.list, o);
	MemoryContextSwitchTo(old);
}

/*
 * Turn a finished request into outcomes to record: its delivery's, and
 * those of the deliveries that rode in its batch.  What the request ended
 * with is worked out once, in webhook_outcomes.cxt, and shared by all of them.
 */
void
webhook_finish(Delivery *d)
{
	WebhookRequest *req = &d->req;
	HookSlot   *slot = webhook_window(req->hook_id);
	bool		responded = req->status > 0 &&
		(req->code == CURLE_OK || req->resp_aborted);
	MemoryContext old = MemoryContextSwitchTo(webhook_outcomes.cxt);
	Outcome		result = {0};
	ListCell   *lc;

	result.at = GetCurrentTimestamp();
	result.http_status = (int32) req->status;
	if (req->resp_len > 0)
		result.body = clean_text(req->resp, req->resp_len);
	if (responded && req->status >= 200 && req->status < 300)
		result.event = DELIVERY_SUCCESS;
	else
	{
		result.event = DELIVERY_FAILURE;	/* or FINAL: add_outcome decides, per delivery */
		if (responded && req->status >= 300 && req->status < 400)
			result.error = psprintf("HTTP %ld (redirects are not followed)", req->status);
		else if (responded)
			result.error = psprintf("HTTP %ld", req->status);
		else
		{
			char		buf[CURL_ERROR_SIZE + 256];

			webhook_http_error_text(req, buf, sizeof(buf));
			result.error = pstrdup(buf);
		}
		result.gone = responded && req->status == 410;

		/*
		 * A batch is retried together, on its first event's schedule: a
		 * fifo webhook's next claim waits for the whole batch to be due.
		 */
		result.next_at = TimestampTzPlusMilliseconds(result.at,
													 webhook_retry_delay_ms(req->attempts,
																	req->retry_after_s));
	}
	MemoryContextSwitchTo(old);

	add_outcome(d, &result);
	webhook_lane_free(slot, d);
	if (result.event != DELIVERY_SUCCESS && d->generation == webhook_windows.generation)
		release_lane(slot, d);
	foreach(lc, d->riders)
	{
		Delivery   *r = lfirst(lc);

		add_outcome(r, &result);
		webhook_lane_free(slot, r);
		if (result.event != DELIVERY_SUCCESS && d->generation == webhook_windows.generation)
			release_lane(slot, r);
		webhook_forget(slot, r);
	}
	if (d->generation == webhook_windows.generation)
		slot->sending--;
	webhook_forget(slot, d);
}

/*
 * Record an outcome for d, which was never sent (event HAND_BACK or
 * QUEUE_BEHIND), and forget it.
 */
static void
unsent(HookSlot *slot, Delivery *d, DeliveryEvent event)
{
	MemoryContext old = MemoryContextSwitchTo(webhook_outcomes.cxt);
	Outcome    *o = palloc0(sizeof(Outcome));

	o->id = d->req.delivery_id;
	o->hook_id = d->req.hook_id;
	o->extension = d->req.extension;
	o->at = GetCurrentTimestamp();
	o->event = event;
	o->status = delivery_next(DELIVERY_SENDING, event);
	o->from_log = d->from_log;
	o->event_id = d->event_id;
	o->txid = d->txid ? pstrdup(d->txid) : NULL;
	if (webhook_outcomes.list == NIL)
		webhook_outcomes.first_at = o->at;
	webhook_outcomes.list = lappend(webhook_outcomes.list, o);
	MemoryContextSwitchTo(old);
	webhook_forget(slot, d);
}

/*
 * Hand back a delivery that waited in a window but was never sent, because
 * its webhook is no longer active: its row goes back to pending, the
 * attempt uncounted.  One from the log has no row: it is loaded again, from
 * the settled prefix on (webhook_track_rewind).
 */
void
webhook_release_unsent(HookSlot *slot, Delivery *d)
{
	if (d->from_log)
	{
		slot->rewind = true;
		webhook_forget(slot, d);
		return;
	}
	unsent(slot, d, DELIVERY_HAND_BACK);
}

/*
 * A delivery from the log that must wait behind an earlier delivery of its
 * row in webhook.queue (retrying, or queued itself): it gets a row of its
 * own there, pending, unsent.
 */
void
webhook_queue_behind(HookSlot *slot, Delivery *d)
{
	unsent(slot, d, DELIVERY_QUEUE_BEHIND);
}
