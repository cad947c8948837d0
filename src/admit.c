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

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "worker.h"
#include "settings.h"
#include "cursor.h"

/* claimed, the claim not yet committed */
static List *fresh = NIL;

/* A json (text) field of a webhook.change, or NULL. */
static text *
row_text(HeapTuple tuple, int attno, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attno, desc, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

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

/* A new Delivery in a memory context of its own, which is current on return. */
static Delivery *
new_delivery(Oid ext)
{
	MemoryContext cxt = AllocSetContextCreate(webhook_windows.deliveries_cxt, "webhook delivery",
											  ALLOCSET_SMALL_SIZES);
	Delivery   *d;

	MemoryContextSwitchTo(cxt);
	d = palloc0(sizeof(Delivery));
	d->cxt = cxt;
	d->req.extension = ext;
	d->req.resp_cap = webhook_response_body_limit;
	d->req.resp = palloc(Max(d->req.resp_cap, 1));
	d->generation = webhook_windows.generation;
	return d;
}

/* d's header lines, from a text[] of "name: value" */
static void
take_headers(Delivery *d, Datum lines)
{
	Datum	   *hvals;
	int			nh;

	deconstruct_array(DatumGetArrayTypeP(lines), TEXTOID, -1, false, TYPALIGN_INT, &hvals, NULL, &nh);
	d->nheaders = nh;
	d->header_lines = palloc(sizeof(char *) * Max(nh, 1));
	for (int i = 0; i < nh; i++)
		d->header_lines[i] = TextDatumGetCString(hvals[i]);
}

/*
 * d's body, from ev, for the webhook named name (body.c); or, if the
 * stored event is damaged or has no UTF-8 form, why it can never be sent.
 * Then d joins the fresh list.  In d's memory context; switches back to
 * old.
 */
static void
take_body(Delivery *d, const WebhookEvent *ev, const char *name, MemoryContext old)
{
	StringInfoData body;
	char	   *utf8 = NULL;

	initStringInfo(&body);
	if (ev == NULL || !webhook_event_body(&body, ev, name, d->format))
		/* only a damaged row has no body: an unknown op, an infinite time */
		d->poison = pstrdup("the event cannot be serialised: its stored data is damaged");
	else
		utf8 = webhook_body_to_utf8(body.data, &d->poison);
	d->req.body = utf8;
	d->req.bodylen = utf8 ? strlen(utf8) : 0;
	webhook_window(d->req.hook_id)->fresh_n++;

	MemoryContextSwitchTo(webhook_windows.deliveries_cxt);
	fresh = lappend(fresh, d);
	MemoryContextSwitchTo(old);
}

/*
 * Build a Delivery from one row a claim of webhook.queue returned (SPI
 * tuple; claim.c, CLAIM_RETURNING), in its own memory context, and add it
 * to the fresh list: it joins its webhook's window only once the claim has
 * committed (webhook_admit_fresh).
 */
void
webhook_take_row(HeapTuple tup, TupleDesc desc, Oid ext)
{
	bool		isnull;
	MemoryContext old = CurrentMemoryContext;
	Delivery   *d = new_delivery(ext);
	Datum		row;
	WebhookEvent ev;

	d->req.delivery_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d->req.hook_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	d->req.attempts = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	d->req.max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	d->req.url = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
	d->secret = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
	take_headers(d, SPI_getbinval(tup, desc, 7, &isnull));
	d->req.timeout_ms = (long) DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	d->msg_id = TextDatumGetCString(SPI_getbinval(tup, desc, 9, &isnull));
	d->fifo = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	d->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	d->format = webhook_format_from_name(TextDatumGetCString(SPI_getbinval(tup, desc, 13, &isnull)));
	d->lane = DatumGetInt64(SPI_getbinval(tup, desc, 14, &isnull));
	d->table = DatumGetInt64(SPI_getbinval(tup, desc, 15, &isnull));
	d->truncate = DatumGetBool(SPI_getbinval(tup, desc, 16, &isnull));
	row = SPI_getbinval(tup, desc, 10, &isnull);
	if (!isnull)
		webhook_event_from_queue(DatumGetHeapTupleHeader(row), &ev);
	take_body(d, isnull ? NULL : &ev,
			  TextDatumGetCString(SPI_getbinval(tup, desc, 17, &isnull)), old);
}

/*
 * Build Deliveries from n events a load found in the log for one webhook
 * (cursor.c; hook is the webhook's row), likewise.  Each is the first
 * attempt of its delivery.
 */
void
webhook_take_log_events(HeapTuple hook, TupleDesc hd, const WebhookLogEvent *evs, int n, Oid ext)
{
	bool		isnull;
	MemoryContext old = CurrentMemoryContext;
	int32		hook_id = DatumGetInt32(SPI_getbinval(hook, hd, WEBHOOK_HOOK_ID, &isnull));
	char	   *name = TextDatumGetCString(SPI_getbinval(hook, hd, WEBHOOK_HOOK_NAME, &isnull));
	char	   *url = TextDatumGetCString(SPI_getbinval(hook, hd, WEBHOOK_HOOK_URL, &isnull));
	int32		max_attempts = DatumGetInt32(SPI_getbinval(hook, hd, WEBHOOK_HOOK_MAX_ATTEMPTS, &isnull));
	bool		fifo = DatumGetBool(SPI_getbinval(hook, hd, WEBHOOK_HOOK_FIFO, &isnull));
	int32		batch_size = DatumGetInt32(SPI_getbinval(hook, hd, WEBHOOK_HOOK_BATCH_SIZE, &isnull));
	WebhookFormat format = webhook_format_from_name(TextDatumGetCString(SPI_getbinval(hook, hd, WEBHOOK_HOOK_FORMAT, &isnull)));
	char	   *secret = TextDatumGetCString(SPI_getbinval(hook, hd, WEBHOOK_HOOK_SECRET, &isnull));
	Datum		headers = SPI_getbinval(hook, hd, WEBHOOK_HOOK_HEADER_LINES, &isnull);
	long		timeout_ms = (long) DatumGetInt64(SPI_getbinval(hook, hd, WEBHOOK_HOOK_TIMEOUT_MS, &isnull));
	char	   *prefix = TextDatumGetCString(SPI_getbinval(hook, hd, WEBHOOK_HOOK_MSG_PREFIX, &isnull));
	TupleDesc	change_desc = NULL;

	for (int i = 0; i < n; i++)
	{
		const WebhookLogEvent *le = &evs[i];
		HeapTupleData tuple;
		WebhookEvent ev;
		Delivery   *d;

		if (change_desc == NULL)
			change_desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(le->change),
												 HeapTupleHeaderGetTypMod(le->change));
		d = new_delivery(ext);
		d->req.delivery_id = le->delivery_id;
		d->req.hook_id = hook_id;
		d->req.attempts = 1;
		d->req.max_attempts = max_attempts;
		d->req.url = pstrdup(url);
		d->secret = pstrdup(secret);
		take_headers(d, headers);
		d->req.timeout_ms = timeout_ms;
		d->msg_id = psprintf("%s" INT64_FORMAT, prefix, le->event_id);
		d->fifo = fifo;
		d->batch_size = batch_size;
		d->format = format;
		d->lane = le->lane;
		d->table = le->table_hash;
		d->truncate = le->truncate;
		d->from_log = true;
		d->txid = pstrdup(le->txid);
		d->event_id = le->event_id;
		d->blocked = le->blocked;

		tuple.t_data = le->change;
		tuple.t_len = HeapTupleHeaderGetDatumLength(le->change);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		ev.op = DatumGetChar(heap_getattr(&tuple, WEBHOOK_CHANGE_OP, change_desc, &isnull));
		ev.at = DatumGetTimestampTz(heap_getattr(&tuple, WEBHOOK_CHANGE_AT, change_desc, &isnull));
		if (isnull)
			ev.at = DT_NOEND;	/* damaged: no body */
		ev.event_id = le->event_id;
		ev.schema = le->schema;
		ev.table = le->table;
		ev.old_row = row_text(&tuple, WEBHOOK_CHANGE_OLD_ROW, change_desc);
		ev.new_row = row_text(&tuple, WEBHOOK_CHANGE_NEW_ROW, change_desc);
		ev.changed = heap_getattr(&tuple, WEBHOOK_CHANGE_CHANGED, change_desc, &ev.changed_null);
		ev.truncated = DatumGetBool(heap_getattr(&tuple, WEBHOOK_CHANGE_TRUNCATED, change_desc, &isnull)) &&
			!isnull;
		ev.partition = row_text(&tuple, WEBHOOK_CHANGE_PARTITION, change_desc);
		take_body(d, &ev, name, old);
	}
	if (change_desc != NULL)
		ReleaseTupleDesc(change_desc);
}

/* How many deliveries are fresh (webhook_fresh_drop). */
int
webhook_fresh_count(void)
{
	return list_length(fresh);
}

/* Forget the fresh deliveries past the first keep: their load failed. */
void
webhook_fresh_drop(int keep)
{
	while (list_length(fresh) > keep)
	{
		Delivery   *d = llast(fresh);

		webhook_window(d->req.hook_id)->fresh_n--;
		MemoryContextDelete(d->cxt);
		fresh = list_delete_last(fresh);
	}
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
