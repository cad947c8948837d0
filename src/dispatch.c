/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  Handing deliveries to libcurl: as many as each webhook's connections
 *	  allow, in event order and one at a time per row (window.c), each
 *	  signed, a batch-mode webhook's events in one POST.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "utils/memutils.h"
#include "utils/resowner.h"

#include "worker.h"
#include "settings.h"

/* pg_hmac needs a resource owner outside transactions */
static ResourceOwner signing_owner = NULL;

static void make_batch(HookSlot *slot, Delivery *d);
static void make_document(Delivery *d);

/* a batch-mode POST grows to this many bytes at most (one event may exceed it) */
#define BATCH_MAX_BYTES (1024 * 1024)

/* Append a header line to a request's list; false if out of memory. */
static bool
add_header(WebhookRequest *req, const char *line)
{
	struct curl_slist *h = curl_slist_append(req->headers, line);

	if (h == NULL)
		return false;
	req->headers = h;
	return true;
}

/*
 * The webhook-signature value for d's body at ts: one "v1," signature per
 * live secret, the current one first, space-separated (Standard Webhooks'
 * form for a secret rotation).  In the current memory context.
 */
static char *
signatures(Delivery *d, int64 ts)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < d->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ' ');
		appendStringInfoString(&buf, webhook_signature(d->keys[i], d->keylens[i], d->msg_id,
													   ts, d->req.body, d->req.bodylen));
	}
	return buf.data;
}

void
webhook_start_waiting(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	ResourceOwner save_owner = CurrentResourceOwner;

	if (signing_owner == NULL)
		signing_owner = ResourceOwnerCreate(NULL, "webhook signing");
	CurrentResourceOwner = signing_owner;
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		while (slot->sending < (slot->fifo ? 1 : webhook_max_connections_per_webhook))
		{
			Delivery   *d = webhook_next_startable(slot);
			MemoryContext old;
			ListCell   *lc;
			int64		ts;
			char	   *sig;
			bool		ok;
			char	   *error;

			if (d == NULL)
				break;
			dlist_delete(&d->req.node);
			old = MemoryContextSwitchTo(d->cxt);

			/* a libcurl handle only for what is sent now (riders need none) */
			slot->sending++;
			if (!webhook_http_prepare(&d->req, &error))
			{
				strlcpy(d->req.errbuf, error, sizeof(d->req.errbuf));
				d->req.code = CURLE_URL_MALFORMAT;
				d->req.never_sent = true;
				d->req.attempts = d->req.max_attempts;	/* will not get better */
				MemoryContextSwitchTo(old);
				webhook_finish(d);
				continue;
			}
			if (d->batch_size > 1)
				make_batch(slot, d);
			else if (d->format == WEBHOOK_FORMAT_XML)
				make_document(d);
			/* its lanes (and its riders') are busy until it is done */
			webhook_lane_hold(slot, d);
			foreach(lc, d->riders)
				webhook_lane_hold(slot, lfirst(lc));
			ts = (int64) time(NULL);
			sig = signatures(d, ts);
			ok = add_header(&d->req, webhook_content_type_header(d->format)) &&
				add_header(&d->req, psprintf("webhook-id: %s", d->msg_id)) &&
				add_header(&d->req, psprintf("webhook-timestamp: " INT64_FORMAT, ts)) &&
				add_header(&d->req, psprintf("webhook-signature: %s", sig)) &&
				add_header(&d->req, "Expect:");
			for (int i = 0; ok && i < d->nheaders; i++)
				ok = add_header(&d->req, d->header_lines[i]);
			MemoryContextSwitchTo(old);
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory building request headers")));
			webhook_http_submit(&d->req);
		}
	}
	CurrentResourceOwner = save_owner;
}

/*
 * Batch mode: make d the carrier of a POST of up to its webhook's
 * batch_size events, taking the next ones waiting in its window (they are
 * in event order).  The body is a JSON array of the events' bodies, or an
 * XML <events> element holding their <event> elements (body.c); the
 * webhook-id names the first and last event (msg_<token>_<first>-<last>),
 * or is the event's own for a batch of one.  In d's memory context.
 */
static void
make_batch(HookSlot *slot, Delivery *d)
{
	StringInfoData body;
	Delivery   *last = d;

	initStringInfo(&body);
	webhook_body_open(&body, d->format, true);
	appendBinaryStringInfo(&body, d->req.body, d->req.bodylen);
	while (list_length(d->riders) + 1 < d->batch_size)
	{
		Delivery   *r = webhook_next_startable(slot);

		if (r == NULL || body.len + 1 + r->req.bodylen + 1 > BATCH_MAX_BYTES)
			break;
		dlist_delete(&r->req.node);

		webhook_body_separate(&body, d->format);
		appendBinaryStringInfo(&body, r->req.body, r->req.bodylen);
		d->riders = lappend(d->riders, r);
		last = r;
	}
	webhook_body_close(&body, d->format, true);
	webhook_http_set_body(&d->req, body.data, body.len);
	if (last != d)
		d->msg_id = psprintf("%s-%s", d->msg_id, strrchr(last->msg_id, '_') + 1);
}

/*
 * One event's XML body as a document: the XML declaration before its
 * <event> element.  In d's memory context.
 */
static void
make_document(Delivery *d)
{
	StringInfoData body;

	initStringInfo(&body);
	webhook_body_open(&body, d->format, false);
	appendBinaryStringInfo(&body, d->req.body, d->req.bodylen);
	webhook_body_close(&body, d->format, false);
	webhook_http_set_body(&d->req, body.data, body.len);
}
