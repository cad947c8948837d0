/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The delivery worker's parts, and the delivery state machine.
 *
 * The worker is one background worker per database (launcher.c starts it).
 * Its files, each using only those listed after it:
 *
 *	 worker.c	the loop: wait, collect finished requests, record, claim,
 *				purge, rotate, start what may start
 *	 claim.c	a claim transaction: due deliveries from webhook.queue, the
 *				owners' check, then the log (load.c)
 *	 record.c	a record transaction: outcomes into the queue, progress
 *				rows, cursors, webhook health; and the retention pass
 *	 load.c		reading the log through each webhook's cursor (cursor.c)
 *	 admit.c	a claimed row becomes a Delivery in its webhook's window
 *	 dispatch.c	signing deliveries and handing them to libcurl (http.c)
 *	 outcome.c	what an attempt ended with, waiting to be recorded
 *	 window.c	the per-webhook windows: lanes, the cursor's bookkeeping
 *	 txn.c		the transaction bracket of every step
 *	 retry.c	the retry schedule
 *
 * Delivery states.  A delivery is one event for one webhook.  Those with a
 * row in webhook.queue are in the state its status column holds (a CHECK
 * allows exactly the letters below); one read from the event log has no
 * row: it is pending until the webhook's cursor reaches it, sending while
 * the worker holds it (shown by webhook._sending()), and delivered once the
 * cursor is past it and no row of its own exists.  The transitions, and
 * the only ones the code makes (delivery_next() checks each):
 *
 *	 from		event			to		where
 *	 p, r		CLAIM			s		claim.c (a row), load.c (the log)
 *	 s			SUCCESS			d		2xx
 *	 s			FAILURE			r		any other answer, or none; attempts left
 *	 s			FINAL			f		410, attempts used up, or it can never
 *										be sent (poison)
 *	 s			HAND_BACK		p		its webhook stopped before it was sent;
 *										the attempt is not counted
 *	 s			QUEUE_BEHIND	p		from the log, behind an earlier
 *										delivery of its row in the queue: it
 *										gets a row of its own, unsent
 *	 s			RECOVER			r		left in s by a worker that died
 *	 d, f		REDELIVER		p		webhook.redeliver, webhook.replay (SQL)
 *
 * Who touches which row: writers (the capture trigger into the log, ping
 * into the queue) create deliveries in state p.  Only this worker moves
 * them into and out of s, each move in its own short transaction: a claim
 * transaction takes due rows (FOR UPDATE SKIP LOCKED) and events of the
 * log, marks rows s and commits before any request starts; a record
 * transaction writes the outcomes of finished requests.  No transaction is
 * open while HTTP is in flight.  redeliver moves d or f rows back to p and
 * unregister deletes a webhook's rows; neither touches s rows' outcome, and
 * the record step only updates rows still in s.  There is one worker per
 * database, so at start every row left in s belongs to a predecessor that
 * died or left mid-request: recovery makes them due again (at-least-once).
 *
 * In memory, each webhook has a window of at most webhook.max_in_flight
 * claimed deliveries, of which at most webhook.max_connections_per_webhook
 * (one with fifo) are handed to libcurl at once, in event order and one at
 * a time per row (window.c, "Per-row order"); the rest wait in the window.
 * So a slow or dead endpoint fills only its own window and its own
 * connections.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_WORKER_H
#define WEBHOOK_WORKER_H

#include "postgres.h"

#include "executor/spi.h"
#include "lib/ilist.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "body.h"
#include "http.h"

/* The states of a delivery: webhook.queue.status */
typedef enum DeliveryState
{
	DELIVERY_PENDING = 'p',
	DELIVERY_SENDING = 's',
	DELIVERY_RETRYING = 'r',
	DELIVERY_DELIVERED = 'd',
	DELIVERY_FAILED = 'f'
} DeliveryState;

/* What moves a delivery from one state to another (see the table above) */
typedef enum DeliveryEvent
{
	DELIVERY_CLAIM,
	DELIVERY_SUCCESS,
	DELIVERY_FAILURE,
	DELIVERY_FINAL,
	DELIVERY_HAND_BACK,
	DELIVERY_QUEUE_BEHIND,
	DELIVERY_RECOVER,
	DELIVERY_REDELIVER
} DeliveryEvent;

typedef struct DeliveryTransition
{
	DeliveryState from;
	DeliveryEvent event;
	DeliveryState to;
} DeliveryTransition;

/* The table above, as the code uses it */
static const DeliveryTransition delivery_transitions[] = {
	{DELIVERY_PENDING, DELIVERY_CLAIM, DELIVERY_SENDING},
	{DELIVERY_RETRYING, DELIVERY_CLAIM, DELIVERY_SENDING},
	{DELIVERY_SENDING, DELIVERY_SUCCESS, DELIVERY_DELIVERED},
	{DELIVERY_SENDING, DELIVERY_FAILURE, DELIVERY_RETRYING},
	{DELIVERY_SENDING, DELIVERY_FINAL, DELIVERY_FAILED},
	{DELIVERY_SENDING, DELIVERY_HAND_BACK, DELIVERY_PENDING},
	{DELIVERY_SENDING, DELIVERY_QUEUE_BEHIND, DELIVERY_PENDING},
	{DELIVERY_SENDING, DELIVERY_RECOVER, DELIVERY_RETRYING},
	{DELIVERY_DELIVERED, DELIVERY_REDELIVER, DELIVERY_PENDING},
	{DELIVERY_FAILED, DELIVERY_REDELIVER, DELIVERY_PENDING},
};

/* The state event moves a delivery in state from to; ERROR if none. */
static inline DeliveryState
delivery_next(DeliveryState from, DeliveryEvent event)
{
	for (int i = 0; i < lengthof(delivery_transitions); i++)
		if (delivery_transitions[i].from == from && delivery_transitions[i].event == event)
			return delivery_transitions[i].to;
	elog(ERROR, "no delivery transition from state %c on event %d", (char) from, (int) event);
	pg_unreachable();
}

/* A claimed delivery, in its own memory context. */
typedef struct Delivery
{
	WebhookRequest req;			/* first: http.c hands this back */
	MemoryContext cxt;
	char	   *msg_id;
	char	   *secret;
	char	   *poison;			/* why it can never be sent, if so */
	bool		fifo;
	int			batch_size;		/* above 1: POST arrays of up to this many */
	WebhookFormat format;		/* of the body (body.c) */
	List	   *riders;			/* deliveries sent in this one's POST */
	int64		lane;			/* its row's lane (webhook.queue.lane) */
	int64		table;			/* a hash of its table's name */
	bool		truncate;		/* a TRUNCATE: a barrier for its table */
	bool		lane_held;		/* handed to libcurl: its lane is busy */
	bool		from_log;		/* read from the log (cursor.c), not webhook.queue */
	bool		blocked;		/* from the log, behind a delivery of its row in the queue */
	int64		event_id;
	char	   *txid;			/* from the log: its chunk's transaction, as text */
	uint32		generation;		/* of the extension it was claimed under */
	int			nkeys;			/* live secrets, the current one first */
	uint8		keys[WEBHOOK_MAX_SECRETS][WEBHOOK_MAX_KEY];
	int			keylens[WEBHOOK_MAX_SECRETS];
	int			nheaders;
	char	  **header_lines;
} Delivery;

/* The lane (and table) of a delivery handed to libcurl. */
typedef struct BusyLane
{
	int64		id;				/* the delivery's */
	int64		lane;
	int64		table;
	bool		truncate;
} BusyLane;

/* The worker's window for one webhook. */
typedef struct HookSlot
{
	int32		hook_id;		/* hash key */
	int			held;			/* claimed, not yet recorded */
	int			sending;		/* handed to libcurl */
	bool		fifo;			/* one at a time, in order */
	dlist_head	waiting;		/* claimed, waiting for a connection */
	struct BusyLane *busy;		/* lanes of the deliveries handed to libcurl */
	int			nbusy;
	int			busy_cap;

	/*
	 * The webhook's cursor over the log (cursor.c): the events of its batch
	 * loaded so far that are not settled yet, or settled after one that is
	 * not (track[thead .. thead + tcount - 1], in id order, tdone for each);
	 * the last event loaded; the settled prefix, and how much of it the
	 * cursor in the database has.
	 */
	int64	   *track;
	bool	   *tdone;
	int			thead;
	int			tcount;
	int			tcap;
	int64		loaded_upto;
	int64		prefix;
	int64		pos_saved;
	int			log_held;		/* deliveries from the log in the window */
	bool		exhausted;		/* the batch has nothing more to load */
	bool		rewind;			/* some were handed back: load again from prefix */
	/* what the claim under way did, applied once it commits */
	int			fresh_n;
	bool		loaded_now;
	bool		exhausted_now;
	bool		switched_now;
	int64		skipped_now;	/* events up to this one are all in the queue */
} HookSlot;

/* The outcome of one attempt, waiting to be recorded. */
typedef struct Outcome
{
	int64		id;
	int32		hook_id;
	Oid			extension;
	DeliveryEvent event;
	DeliveryState status;		/* what event moves it to from s */
	int32		http_status;	/* 0: no response */
	char	   *error;			/* NULL on success */
	char	   *body;
	TimestampTz next_at;
	TimestampTz at;
	bool		gone;			/* 410: disable the webhook */
	bool		from_log;
	int64		event_id;
	char	   *txid;
	int			attempts;
} Outcome;

/* An active webhook, as a claim sees it. */
typedef struct ActiveHook
{
	int32		id;
	bool		fifo;
	int			batch_size;
} ActiveHook;

/* window.c: what the worker holds, over all webhooks */
typedef struct WebhookWindows
{
	HTAB	   *slots;			/* HookSlot by hook id */
	int			total_held;		/* deliveries held, all webhooks */
	uint32		generation;		/* bumped when the extension is created again */
	Oid			extension;		/* ... whose OID the windows are of */
	bool		sending_changed;	/* what is in flight, since it was last shown */
	bool		log_dirty;		/* may a log table be due for rotation? */
	MemoryContext loop_cxt;		/* reset every turn of the loop */
	MemoryContext deliveries_cxt;	/* parent of each Delivery's context */
} WebhookWindows;

extern WebhookWindows webhook_windows;
extern void webhook_windows_init(void);
extern void webhook_windows_restart(void);
extern HookSlot *webhook_window(int32 hook_id);
extern void webhook_lane_hold(HookSlot *slot, Delivery *d);
extern void webhook_lane_free(HookSlot *slot, Delivery *d);
extern Delivery *webhook_next_startable(HookSlot *slot);
extern void webhook_track_add(HookSlot *slot, int64 event_id);
extern void webhook_track_settle(HookSlot *slot, int64 event_id);
extern void webhook_track_rewind(HookSlot *slot);
extern void webhook_forget(HookSlot *slot, Delivery *d);

/* retry.c */
extern void webhook_retry_configure(const char *schedule);
extern int64 webhook_retry_delay_ms(int attempts, int retry_after_s);

/* outcome.c: outcomes waiting for a record transaction */
typedef struct WebhookOutcomes
{
	List	   *list;			/* of Outcome */
	TimestampTz first_at;		/* when the oldest came */
	bool		fifo;			/* is one of them a fifo webhook's? */
	MemoryContext cxt;			/* holds them; reset once recorded */
} WebhookOutcomes;

extern WebhookOutcomes webhook_outcomes;
extern void webhook_finish(Delivery *d);
extern void webhook_release_unsent(HookSlot *slot, Delivery *d);
extern void webhook_queue_behind(HookSlot *slot, Delivery *d);

/* dispatch.c */
extern void webhook_start_waiting(void);

/* txn.c; in the worker, between its transactions */
extern Oid	webhook_begin_work(const char *what);
extern void webhook_end_work(void);
extern void webhook_recover_from_error(void);
extern void webhook_report_doing(void);
extern void webhook_log_disabled(void);
extern bool webhook_transient_error(ErrorData *edata);

/* admit.c; take_row in a claim transaction */
extern void webhook_take_row(HeapTuple tup, TupleDesc desc, Oid ext);
struct WebhookLogEvent;
extern void webhook_take_log_events(HeapTuple hook, TupleDesc hd,
									const struct WebhookLogEvent *evs, int n, Oid ext);
extern int	webhook_fresh_count(void);
extern void webhook_fresh_drop(int keep);
extern void webhook_discard_fresh(void);
extern void webhook_admit_fresh(void);

/* load.c; in a claim transaction */
extern uint64 webhook_claim_from_log(List *active, int limit, Oid ext, bool queue_waiting,
									 bool *poisoned);

/* claim.c: the state of claiming, kept across claims */
typedef struct WebhookClaiming
{
	bool		recovered;		/* rows left in s by a predecessor made due? */
	bool		cursors_known;	/* has every webhook seen so far a cursor? */
	bool		committed;		/* is the claim under way past its commit? */
	uint64		last_n;			/* deliveries the last claim took */
	bool		careful;		/* did the last claim fail? then claim one by one */
	bool		careful_full;	/* did the last careful claim take its most? */
	bool		poisoned;		/* a webhook's events could not be read from the log */
	bool		queue_waiting;	/* did the claim find deliveries waiting in webhook.queue? */
	int64		transient_id;	/* a delivery whose careful claim failed ... */
	int			transient_failures; /* ... this often, with a transient error */
	TimestampTz next_owner_check;
	TimestampTz owner_recheck;	/* a check after a flagged one, if due */
} WebhookClaiming;

extern WebhookClaiming webhook_claiming;
extern bool webhook_claim(TimestampTz *next_retry, bool *present);

/* record.c */
extern bool webhook_record_due(void);
extern TimestampTz webhook_record_due_at(void);
extern void webhook_record(void);
extern bool webhook_purge(void);

#endif							/* WEBHOOK_WORKER_H */
