/*-------------------------------------------------------------------------
 *
 * cursor.h
 *	  The worker's side of the event log: each webhook's cursor over it
 *	  (cursor.c) and the rotation of its tables (rotate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_CURSOR_H
#define WEBHOOK_CURSOR_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"

/*
 * Past this many deliveries waiting in webhook.queue (retrying, or queued
 * behind a retry), a webhook's cursor stops: its new events wait in the log
 * rather than pile up in the queue while its endpoint fails.
 */
#define WEBHOOK_QUEUE_GATE 10000

/*
 * What a claim needs of each webhook, computed once per webhook rather than
 * per delivery: header lines, timeout in ms, the prefix of webhook-ids, the
 * live secrets (the current one, then those of a rotation's grace period,
 * newest first), space-separated.  Over webhook.hook h.
 */
#define WEBHOOK_CLAIM_HOOK_COLUMNS \
	"h.id, h.name, h.url, h.max_attempts, h.fifo, h.batch_size, h.format," \
	" pg_catalog.array_to_string(ARRAY[h.secret] OPERATOR(pg_catalog.||) ARRAY(" \
	"     SELECT o.s FROM ROWS FROM (pg_catalog.unnest(h.old_secrets)," \
	"                                pg_catalog.unnest(h.old_secrets_until))" \
	"      WITH ORDINALITY AS o(s, u, n)" \
	"      WHERE o.u OPERATOR(pg_catalog.>) pg_catalog.now() ORDER BY o.n), ' ') AS secret," \
	" ARRAY(SELECT e.key OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) e.value" \
	"         FROM pg_catalog.jsonb_each_text(h.headers) e) AS header_lines," \
	" pg_catalog.ceil(pg_catalog.date_part('epoch', h.timeout) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8" \
	"   AS timeout_ms," \
	" 'msg_' OPERATOR(pg_catalog.||) h.token OPERATOR(pg_catalog.||) '_' AS msg_prefix"

/* the columns of WEBHOOK_CLAIM_HOOK_COLUMNS, as webhook_cursor_load returns them */
#define WEBHOOK_HOOK_ID 1
#define WEBHOOK_HOOK_NAME 2
#define WEBHOOK_HOOK_URL 3
#define WEBHOOK_HOOK_MAX_ATTEMPTS 4
#define WEBHOOK_HOOK_FIFO 5
#define WEBHOOK_HOOK_BATCH_SIZE 6
#define WEBHOOK_HOOK_FORMAT 7
#define WEBHOOK_HOOK_SECRET 8
#define WEBHOOK_HOOK_HEADER_LINES 9
#define WEBHOOK_HOOK_TIMEOUT_MS 10
#define WEBHOOK_HOOK_MSG_PREFIX 11

/* the fields of webhook.change (attribute numbers) */
#define WEBHOOK_CHANGE_OP 1
#define WEBHOOK_CHANGE_AT 2
#define WEBHOOK_CHANGE_MASK 3
#define WEBHOOK_CHANGE_TRUNCATED 4
#define WEBHOOK_CHANGE_OLD_ROW 5
#define WEBHOOK_CHANGE_NEW_ROW 6
#define WEBHOOK_CHANGE_CHANGED 7
#define WEBHOOK_CHANGE_PARTITION 8
#define WEBHOOK_CHANGE_LANE 9

/* One event of the log a load found for a webhook (webhook_cursor_load). */
typedef struct WebhookLogEvent
{
	int64		event_id;
	int64		delivery_id;
	HeapTupleHeader change;		/* a webhook.change */
	const char *txid;			/* its chunk's transaction, as text */
	const char *schema;
	const char *table;
	int64		lane;
	int64		table_hash;		/* as the queue's claim hashes schema.table */
	bool		truncate;
	bool		blocked;		/* an earlier delivery of its row waits in the queue */
} WebhookLogEvent;

/* Deliveries from the log that get rows of their own: parallel arrays. */
typedef struct WebhookCopy
{
	Datum	   *hooks;
	Datum	   *ids;
	Datum	   *txids;			/* text: their chunks' txids */
	Datum	   *statuses;		/* p (queued behind another), r or f */
	Datum	   *attempts;
	Datum	   *codes;			/* HTTP status, 0 if none */
	Datum	   *errors;
	bool	   *errors_null;
	Datum	   *bodies;
	bool	   *bodies_null;
	Datum	   *nexts;			/* when a retry is due */
	Datum	   *ats;			/* when the attempt ended */
} WebhookCopy;

/* cursor.c; in a worker transaction, SPI connected */
extern void webhook_cursor_ensure(void);
extern Datum webhook_cursor_snapshot(void);
extern void webhook_cursor_tick(Datum snapshot);
extern int	webhook_cursor_next_batch(int32 hook_id);
extern int	webhook_cursor_queued(int32 hook_id);
extern int	webhook_cursor_load(int32 hook_id, int64 after, int limit, bool waiting,
								WebhookLogEvent **events, HeapTuple *hook, TupleDesc *hookdesc,
								int64 *scanned);
extern uint64 webhook_cursor_spill(int32 hook_id);
extern void webhook_cursor_delivered(int n, Datum *hooks, Datum *ids, Datum *codes, Datum *ats);
extern void webhook_cursor_copy(int n, WebhookCopy *copy);
extern void webhook_cursor_move(int n, Datum *hooks, Datum *positions);

/* rotate.c; likewise.  busy: webhooks whose events the worker holds */
extern bool webhook_rotate_log(const int32 *busy, int nbusy);

#endif							/* WEBHOOK_CURSOR_H */
