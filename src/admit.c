/*-------------------------------------------------------------------------
 *
 * admit.c
 *	  Claimed rows become deliveries: each row a claim returns (a queue row
 *	  of claim.c, or an event of the log from load.c, in the same columns)
 *	  is built into a Delivery, kept aside until the claim commits, then
 *	  put in its webhook's window.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"

/* claimed, the claim not yet committed */
static List *fresh = NIL;

/*
 * Decode d's space-separated secrets into its keys; false if one is
 * malformed.  More than WEBHOOK_MAX_SECRETS (which rotate_secret never
 * keeps) are ignored.
 */
static bool
decode_secrets(Delivery *d)
{
	char	   *copy = pstrdup(d->secret);
	char	   *save = NULL;
	char	   *tok;

	d->nkeys = 0;
	for (tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
	{
		if (d->nkeys == WEBHOOK_MAX_SECRETS)
			break;
		if (!webhook_decode_secret(tok, d->keys[d->nkeys], &d->keylens[d->nkeys]))
			return false;
		d->nkeys++;
	}
	pfree(copy);
	return d->nkeys > 0;
}

/*
 * Build a Delivery from one claimed row (SPI tuple), in its own memory
 * context, and add it to the fresh list: it joins its webhook's window only
 * once the claim has committed (webhook_admit_fresh).
 */
void
webhook_take_row(HeapTuple tup, TupleDesc desc, Oid ext)
{
	bool		isnull;
	MemoryContext cxt = AllocSetContextCreate(webhook_windows.deliveries_cxt, "webhook delivery",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Delivery   *d = palloc0(sizeof(Delivery));
	Datum		event;
	StringInfoData body;
	char	   *utf8;
	ArrayType  *headers;
	Datum	   *hvals;
	int			nh;

	d->cxt = cxt;
	d->req.delivery_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d->req.hook_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	d->req.attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	d->req.max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	d->req.extension = ext;
	d->req.url = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
	d->secret = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
	headers = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull));
	deconstruct_array(headers, TEXTOID, -1, false, TYPALIGN_INT, &hvals, NULL, &nh);
	d->nheaders = nh;
	d->header_lines = palloc(sizeof(char *) * Max(nh, 1));
	for (int i = 0; i < nh; i++)
		d->header_lines[i] = TextDatumGetCString(hvals[i]);
	d->req.timeout_ms = (long) DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	d->msg_id = TextDatumGetCString(SPI_getbinval(tup, desc, 9, &isnull));
	d->format = webhook_format_from_name(TextDatumGetCString(SPI_getbinval(tup, desc, 13, &isnull)));
	event = SPI_getbinval(tup, desc, 10, &isnull);
	initStringInfo(&body);
	if (isnull ||
		!webhook_event_body(&body, DatumGetHeapTupleHeader(event),
							TextDatumGetCString(SPI_getbinval(tup, desc, 17, &isnull)),
							d->format))
	{
		/* only a damaged queue row has no body: an unknown op, an infinite time */
		d->poison = pstrdup("the event cannot be serialised: its stored data is damaged");
		utf8 = NULL;
	}
	else
		utf8 = webhook_body_to_utf8(body.data, &d->poison);
	d->req.body = utf8;
	d->req.bodylen = utf8 ? strlen(utf8) : 0;
	d->req.resp_cap = webhook_response_body_limit;
	d->req.resp = palloc(Max(d->req.resp_cap, 1));
	d->fifo = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	d->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	d->lane = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	d->table = DatumGetInt64(SPI_getbinval(tup, desc, 15, &isnull));
	d->truncate = DatumGetBool(SPI_getbinval(tup, desc, 16, &isnull));
	if (desc->natts >= WEBHOOK_LOAD_BLOCKED)
	{
		d->from_log = true;
		d->txid = TextDatumGetCString(SPI_getbinval(tup, desc, WEBHOOK_LOAD_TXID, &isnull));
		d->event_id = DatumGetInt64(SPI_getbinval(tup, desc, WEBHOOK_LOAD_EVENT_ID, &isnull));
		d->blocked = DatumGetBool(SPI_getbinval(tup, desc, WEBHOOK_LOAD_BLOCKED, &isnull));
	}
	d->generation = webhook_windows.generation;
	webhook_window(d->req.hook_id)->fresh_n++;

	MemoryContextSwitchTo(webhook_windows.deliveries_cxt);
	fresh = lappend(fresh, d);
	MemoryContextSwitchTo(old);
}

/* Forget claimed deliveries whose claim did not commit. */
void
webhook_discard_fresh(void)
{
	ListCell   *lc;

	HASH_SEQ_STATUS seq;
	HookSlot   *slot;

	foreach(lc, fresh)
		MemoryContextDelete(((Delivery *) lfirst(lc))->cxt);
	list_free(fresh);
	fresh = NIL;
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		slot->loaded_now = slot->switched_now = false;
		slot->skipped_now = 0;
	}
}

/*
 * Put deliveries whose claim committed into their webhooks' windows, in
 * event order.  One that cannot be sent at all (no body, a malformed
 * secret) gets its outcome at once; a URL libcurl refuses fails when the
 * delivery is about to be sent (webhook_start_waiting).
 */
void
webhook_admit_fresh(void)
{
	List	   *admitted = fresh;
	ListCell   *lc;
	HASH_SEQ_STATUS seq;
	HookSlot   *s;

	/* what the claim did to the cursors, now that it committed */
	hash_seq_init(&seq, webhook_windows.slots);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		if (s->switched_now)
		{
			s->thead = s->tcount = 0;
			s->loaded_upto = s->prefix = s->pos_saved = 0;
		}
		if (s->loaded_now)
			s->exhausted = s->exhausted_now;
		s->loaded_upto = Max(s->loaded_upto, s->skipped_now);
		s->loaded_now = s->switched_now = false;
		s->skipped_now = 0;
	}

	/* from here on the deliveries belong to their windows, not to fresh */
	fresh = NIL;
	foreach(lc, admitted)
	{
		Delivery   *d = lfirst(lc);
		HookSlot   *slot = webhook_window(d->req.hook_id);

		slot->fifo = d->fifo;
		slot->held++;
		slot->sending++;		/* undone by webhook_finish() */
		webhook_windows.total_held++;
		if (d->from_log)
		{
			webhook_track_add(slot, d->event_id);
			slot->log_held++;
		}

		if (d->blocked)
		{
			slot->sending--;
			webhook_queue_behind(slot, d);
		}
		else if (d->poison != NULL)
		{
			strlcpy(d->req.errbuf, d->poison, sizeof(d->req.errbuf));
			d->req.code = CURLE_CONV_FAILED;
			d->req.never_sent = true;
			d->req.attempts = d->req.max_attempts;	/* will not get better */
			webhook_finish(d);
		}
		else if (!decode_secrets(d))
		{
			strlcpy(d->req.errbuf, "the webhook's signing secret is malformed",
					sizeof(d->req.errbuf));
			d->req.code = CURLE_BAD_FUNCTION_ARGUMENT;
			d->req.never_sent = true;
			d->req.attempts = d->req.max_attempts;	/* will not get better */
			webhook_finish(d);
		}
		else
		{
			slot->sending--;
			dlist_push_tail(&slot->waiting, &d->req.node);
		}
	}
	list_free(admitted);
}
