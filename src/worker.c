/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker: claims due deliveries, posts them, records how
 *	  it went.
 *
 * Delivery state machine (webhook.queue.status):
 *
 *	 p pending  --claim-->  s sending  --2xx-->             d delivered
 *	 r retrying --claim-->  s sending  --410, or failure
 *	                                     at max_attempts--> f failed
 *	                        s sending  --other failure-->   r retrying
 *	                                                        (next_attempt_at)
 *	 d, f  --webhook.redeliver-->  p
 *
 * Who touches which row: writers (the capture trigger, ping) insert rows in
 * state p.  Only this worker moves rows into and out of s, each move in its
 * own short transaction: a claim transaction takes due rows (FOR UPDATE SKIP
 * LOCKED), marks them s and commits before any request starts; a record
 * transaction writes the outcomes of finished requests.  No transaction is
 * open while HTTP is in flight.  redeliver moves d or f rows back to p and
 * unregister deletes a webhook's rows; neither touches s rows' outcome,
 * and the record step only updates rows still in s.  There is one worker per
 * database (the launcher, launcher.c, starts it and never two at once), so
 * at start every row left in s belongs to a predecessor that died or left
 * mid-request: recovery makes them due again (at-least-once).
 *
 * The worker commits asynchronously: a commit lost in a crash only means a
 * request is sent again, which the at-least-once contract allows.
 *
 * In memory, each webhook has a window of at most webhook.max_in_flight
 * claimed deliveries, of which at most webhook.max_connections_per_webhook
 * (one with fifo) are handed to libcurl at once, in event order; the rest
 * wait in the window.  So a slow or dead endpoint fills only its own window
 * and its own connections, and never delays other webhooks (up to the
 * per-host cap, webhook.max_connections_per_host, shared by webhooks that
 * post to one host).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <time.h>

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "webhook.h"
#include "body.h"
#include "cursor.h"
#include "eventlog.h"
#include "http.h"

/* longest sleep with nothing to do: a safety net, not polling */
#define SAFETY_TIMEOUT_MS 30000
/* most deliveries held by the worker over all webhooks */
#define MAX_HELD 20000

/* deliveries one careful claim (claim_carefully) takes at most */
#define CAREFUL_CLAIM_MAX 1000
/* after a claim that found nothing, the next waits this long */
#define EMPTY_CLAIM_PAUSE_MS 2
/* how often owners' privileges are checked again */
#define OWNER_CHECK_INTERVAL_MS 2000
#define OWNER_RECHECK_MS 100

/* a batch-mode POST grows to this many bytes at most (one event may exceed it) */
#define BATCH_MAX_BYTES (1024 * 1024)

/* outcomes gather for a record transaction this long at most, or this many */
#define RECORD_DELAY_MS 2
#define RECORD_BATCH 256
/* between two rotation passes of the event log while it has work */
#define ROTATE_PAUSE_MS Min(1000, webhook_log_rotation_ms)
/* rows removed per retention pass */
#define PURGE_BATCH 10000
/* bounds on a receiver's Retry-After */
#define MIN_RETRY_AFTER_S 1
#define MAX_RETRY_AFTER_S (24 * 3600)

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
	char		status;			/* d, r or f */
	int32		http_status;	/* 0: no response */
	char	   *error;			/* NULL on success */
	char	   *body;
	TimestampTz next_at;
	TimestampTz at;
	bool		gone;			/* 410: disable the webhook */
	bool		from_log;		/* status q: queue it behind its row's earlier one */
	int64		event_id;
	char	   *txid;
	int			attempts;
} Outcome;

static MemoryContext loop_cxt;
static MemoryContext deliveries_cxt;
static MemoryContext outcomes_cxt;
static ResourceOwner signing_owner;	/* pg_hmac needs one outside transactions */
static List *outcomes = NIL;
static List *fresh = NIL;		/* claimed, claim not yet committed */
static bool claim_committed = false;	/* is the current claim past commit? */
static TimestampTz next_owner_check = 0;
static TimestampTz owner_recheck = 0;	/* a check after a flagged one, if due */
static uint64 claimed_last = 0;		/* rows the last claim took */
static TimestampTz next_empty_claim = 0;
static bool careful = false;	/* did the last claim fail? then claim one by one */
static bool careful_full = false;	/* did the last careful claim take its most? */
static int64 transient_id = 0;	/* a delivery whose careful claim failed ... */
static int	transient_failures = 0; /* ... this often, with a transient error */
static HTAB *slots;
static int	total_held = 0;
static TimestampTz first_outcome_at = 0;	/* when the oldest unrecorded outcome came */
static bool fifo_outcome = false;	/* is one of them a fifo webhook's? */
static bool log_dirty = false;	/* may a log table be due for rotation? */
static bool sending_changed = false;	/* what is in flight, since it was last shown */
static Oid	cursors_of = InvalidOid;	/* the extension the cursors' state is of */
static uint32 generation = 0;	/* bumped when that changes */
static int *schedule_ms = NULL;
static int	schedule_len = 0;

static SPIPlanPtr claim_plan;
static SPIPlanPtr candidates_plan;
static SPIPlanPtr claim_one_plan;
static SPIPlanPtr poison_plan;
static SPIPlanPtr record_plan;
static SPIPlanPtr health_plan;
static SPIPlanPtr recover_plan;
static SPIPlanPtr next_retry_plan;
static SPIPlanPtr purge_plan;
static SPIPlanPtr purge_progress_plan;
static SPIPlanPtr orphans_plan;
static SPIPlanPtr disable_plan;
static SPIPlanPtr active_plan;
static SPIPlanPtr owners_plan;

/*
 * Parse a retry schedule such as "5s,5min,30min,2h" into malloc'd delays in
 * milliseconds.  A bare number is seconds; units are ms, s, min, h, d.
 * Usable from a GUC check hook.
 */
bool
webhook_parse_schedule(const char *value, int **delays_ms, int *ndelays)
{
	const char *p = value ? value : "";
	int			cap = 8;
	int		   *out = malloc(cap * sizeof(int));
	int			n = 0;

	if (out == NULL)
		return false;
	while (*p)
	{
		char	   *end;
		double		num;
		double		unit;

		while (*p == ' ' || *p == '\t')
			p++;
		num = strtod(p, &end);
		if (end == p || num < 0 || isnan(num))
			goto fail;
		p = end;
		while (*p == ' ')
			p++;
		if (strncmp(p, "ms", 2) == 0)
			unit = 1, p += 2;
		else if (strncmp(p, "min", 3) == 0)
			unit = 60000, p += 3;
		else if (*p == 's')
			unit = 1000, p += 1;
		else if (*p == 'h')
			unit = 3600000, p += 1;
		else if (*p == 'd')
			unit = 86400000, p += 1;
		else
			unit = 1000;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ',' && *p != '\0')
			goto fail;
		if (*p == ',')
			p++;
		if (num * unit > (double) PG_INT32_MAX)
			goto fail;
		if (n == cap)
		{
			int		   *grown = realloc(out, cap * 2 * sizeof(int));

			if (grown == NULL)
				goto fail;
			out = grown;
			cap *= 2;
		}
		out[n++] = (int) (num * unit);
	}
	if (n == 0)
		goto fail;
	*delays_ms = out;
	*ndelays = n;
	return true;

fail:
	free(out);
	return false;
}

static void
load_settings(void)
{
	int		   *delays;
	int			n;

	if (webhook_parse_schedule(webhook_retry_schedule, &delays, &n))
	{
		free(schedule_ms);
		schedule_ms = delays;
		schedule_len = n;
	}
	webhook_http_configure();
}

/*
 * A claim: per active webhook with room in its window ($1 webhook ids and
 * $2 deliveries held, $3 the window), its due deliveries in order; at most
 * $4 in all.  Pending deliveries held back by an earlier retrying one of
 * their lane (see "Per-row order") are skipped, among the first four
 * windows' worth of pending ones only: a backlog of a table without a key
 * behind a retry costs each claim a bounded look, not a walk of the whole
 * backlog.  A fifo webhook's due deliveries are taken only up to its first
 * one not yet due (a batch of them may be waiting on a retry).
 * hook_columns: what the statement that follows needs of each webhook (at
 * least id and fifo).
 */
#define CLAIM_PICK(hook_columns) \
	"WITH hooks AS MATERIALIZED (" \
	"  SELECT " hook_columns "," \
	"         GREATEST(CASE WHEN NOT h.fifo THEN $3 OPERATOR(pg_catalog.-) COALESCE(f.n, 0)" \
	"                       WHEN f.n IS NULL THEN h.batch_size ELSE 0 END, 0) AS room" \
	"    FROM webhook.hook h" \
	"    LEFT JOIN ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS f(hook_id, n)" \
	"      ON f.hook_id OPERATOR(pg_catalog.=) h.id" \
	"   WHERE h.state OPERATOR(pg_catalog.=) 'active'" \
	"), picked AS (" \
	"  SELECT c.id FROM hooks CROSS JOIN LATERAL (" \
	"      SELECT u.id, u.next_attempt_at," \
	"             pg_catalog.bool_and(u.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())" \
	"               OVER (ORDER BY u.id) AS run_due FROM (" \
	"        (SELECT q.id, q.next_attempt_at FROM (" \
	"           SELECT q.id, q.next_attempt_at, q.lane, q.op, q.schema_name, q.table_name" \
	"             FROM webhook.queue q" \
	"            WHERE q.status OPERATOR(pg_catalog.=) 'p' AND q.hook_id OPERATOR(pg_catalog.=) hooks.id" \
	"            ORDER BY q.next_attempt_at, q.id LIMIT hooks.room OPERATOR(pg_catalog.*) 4) q" \
	"          WHERE NOT EXISTS (SELECT FROM webhook.queue e" \
	"                 WHERE e.status OPERATOR(pg_catalog.=) 'r'" \
	"                   AND e.hook_id OPERATOR(pg_catalog.=) hooks.id AND e.id OPERATOR(pg_catalog.<) q.id" \
	"                   AND (e.lane OPERATOR(pg_catalog.=) q.lane" \
	"                        OR ((e.op OPERATOR(pg_catalog.=) 'T' OR q.op OPERATOR(pg_catalog.=) 'T')" \
	"                            AND e.schema_name OPERATOR(pg_catalog.=) q.schema_name" \
	"                            AND e.table_name OPERATOR(pg_catalog.=) q.table_name)))" \
	"          ORDER BY q.next_attempt_at, q.id LIMIT hooks.room)" \
	"        UNION ALL" \
	"        (SELECT q.id, q.next_attempt_at FROM webhook.queue q" \
	"          WHERE q.status OPERATOR(pg_catalog.=) 'r' AND q.hook_id OPERATOR(pg_catalog.=) hooks.id" \
	"            AND (hooks.fifo OR q.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now())" \
	"          ORDER BY q.next_attempt_at, q.id LIMIT hooks.room)" \
	"      ) u ORDER BY u.id LIMIT hooks.room) c" \
	"   WHERE c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()" \
	"     AND (NOT hooks.fifo OR c.run_due)" \
	"   LIMIT $4" \
	")"

/* What the worker needs of each claimed delivery: see take_row. */
#define CLAIM_RETURNING \
	" RETURNING q.id, q.hook_id, q.attempts, hooks.max_attempts, hooks.url, hooks.secret," \
	"   hooks.header_lines, hooks.timeout_ms," \
	"   hooks.msg_prefix OPERATOR(pg_catalog.||) q.event_id," \
	"   CASE WHEN hooks.format OPERATOR(pg_catalog.=) 'xml' THEN webhook._body_xml(q, hooks.name)" \
	"        ELSE webhook._body(q, hooks.name) END," \
	"   hooks.fifo, hooks.batch_size, hooks.format, q.lane," \
	"   pg_catalog.hashtextextended(q.schema_name OPERATOR(pg_catalog.||) '.'" \
	"                               OPERATOR(pg_catalog.||) q.table_name, 0)," \
	"   q.op OPERATOR(pg_catalog.=) 'T'"

#define prepare webhook_keep_plan

/* Prepare the worker's statements once; SPI must be connected. */
static void
prepare_plans(void)
{
	if (claim_plan != NULL)
		return;

	{
		Oid			types[4] = {INT4ARRAYOID, INT4ARRAYOID, INT4OID, INT4OID};

		claim_plan = prepare(CLAIM_PICK(WEBHOOK_CLAIM_HOOK_COLUMNS)
			" UPDATE webhook.queue q"
			"    SET status = 's', attempts = q.attempts OPERATOR(pg_catalog.+) 1,"
			"        last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			"   FROM hooks"
			"  WHERE q.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT picked.id FROM picked))"
			"    AND (CASE WHEN q.status IN ('p', 'r') THEN true END)"
			"    AND hooks.id OPERATOR(pg_catalog.=) (q.hook_id OPERATOR(pg_catalog.+) 0)"
			CLAIM_RETURNING,
			4, types);
		/* not the hook columns: a webhook's own may be what fails */
		candidates_plan = prepare(CLAIM_PICK("h.id, h.fifo, h.batch_size")
			" SELECT picked.id FROM picked ORDER BY picked.id",
			4, types);
	}
	{
		Oid			types[1] = {INT8OID};

		claim_one_plan = prepare(
			"UPDATE webhook.queue q"
			"   SET status = 's', attempts = q.attempts OPERATOR(pg_catalog.+) 1,"
			"       last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			"  FROM (SELECT " WEBHOOK_CLAIM_HOOK_COLUMNS " FROM webhook.hook h) hooks"
			" WHERE q.id OPERATOR(pg_catalog.=) $1"
			"   AND (CASE WHEN q.status IN ('p', 'r') THEN true END)"
			"   AND hooks.id OPERATOR(pg_catalog.=) (q.hook_id OPERATOR(pg_catalog.+) 0)"
			CLAIM_RETURNING,
			1, types);
	}
	{
		Oid			types[2] = {INT8OID, TEXTOID};

		poison_plan = prepare(
			"UPDATE webhook.queue"
			"   SET status = 'f', attempts = attempts OPERATOR(pg_catalog.+) 1, last_error = $2,"
			"       last_attempt_at = pg_catalog.now(), next_attempt_at = pg_catalog.now()"
			" WHERE id OPERATOR(pg_catalog.=) $1 AND (CASE WHEN status IN ('p', 'r') THEN true END)",
			2, types);
	}
	{
		Oid			types[7] = {INT8ARRAYOID, CHARARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};

		/*
		 * status p is a delivery handed back unsent (its webhook was paused
		 * or removed meanwhile): the attempt is not counted.
		 */
		record_plan = prepare(
			"UPDATE webhook.queue q"
			"   SET status = r.status,"
			"       attempts = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                  THEN q.attempts OPERATOR(pg_catalog.-) 1 ELSE q.attempts END,"
			"       last_status = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                     THEN q.last_status ELSE r.http_status END,"
			"       last_error = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                    THEN q.last_error ELSE r.error END,"
			"       response_body = CASE WHEN r.status OPERATOR(pg_catalog.=) 'p'"
			"                       THEN q.response_body ELSE r.body END,"
			"       next_attempt_at = CASE r.status WHEN 'r' THEN r.next_at"
			"                         WHEN 'p' THEN '-infinity' ELSE r.at END,"
			"       delivered_at = CASE WHEN r.status OPERATOR(pg_catalog.=) 'd' THEN r.at END"
			"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
			"                 pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
			"                 pg_catalog.unnest($7))"
			"       AS r(id, status, http_status, error, body, next_at, at)"
			" WHERE q.id OPERATOR(pg_catalog.=) ANY ($1) AND q.id OPERATOR(pg_catalog.=) r.id"
			"   AND (CASE WHEN q.status OPERATOR(pg_catalog.=) 's' THEN true END)",
			7, types);
	}
	{
		Oid			types[8] = {INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
		INT4OID, TIMESTAMPTZOID, BOOLOID, TEXTOID};

		/*
		 * $2 last success, $3 last failure, $4 last error, $5 failures after
		 * the last success in this batch, $6 the first of those, $7 gone,
		 * $8 reason.
		 */
		health_plan = prepare(
			"UPDATE webhook.hook h"
			"   SET last_success_at = COALESCE($2, h.last_success_at),"
			"       last_failure_at = COALESCE($3, h.last_failure_at),"
			"       last_error = COALESCE($4, h.last_error),"
			"       consecutive_failures = CASE WHEN $2 IS NULL"
			"            THEN h.consecutive_failures OPERATOR(pg_catalog.+) $5 ELSE $5 END,"
			"       failing_since = CASE WHEN $5 OPERATOR(pg_catalog.=) 0 THEN NULL"
			"            WHEN $2 IS NOT NULL OR h.failing_since IS NULL THEN $6"
			"            ELSE h.failing_since END,"
			"       state = CASE WHEN $7 THEN 'disabled' ELSE h.state END,"
			"       disabled_reason = CASE WHEN $7 THEN $8 ELSE h.disabled_reason END"
			" WHERE h.id OPERATOR(pg_catalog.=) $1"
			" RETURNING h.name",
			8, types);
	}
	recover_plan = prepare(
		"UPDATE webhook.queue SET status = 'r', next_attempt_at = pg_catalog.now()"
		" WHERE status OPERATOR(pg_catalog.=) 's'",
		0, NULL);
	next_retry_plan = prepare(
		"SELECT pg_catalog.min(n.at) FROM webhook.hook h CROSS JOIN LATERAL ("
		"  SELECT q.next_attempt_at AS at FROM webhook.queue q"
		"   WHERE q.status OPERATOR(pg_catalog.=) 'r' AND q.hook_id OPERATOR(pg_catalog.=) h.id"
		"     AND q.next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()"
		"   ORDER BY q.next_attempt_at LIMIT 1) n"
		" WHERE h.state OPERATOR(pg_catalog.=) 'active'",
		0, NULL);
	/*
	 * Each active webhook's first reason to stop: its owner was dropped, lost
	 * USAGE on its schema, or lost SELECT on a table it has triggers on (a
	 * schema webhook's tables too), or that table got row security its owner
	 * does not bypass.  Only triggers that capture for the webhook on what it
	 * watches count (anyone may create a trigger of that name on a table of
	 * their own); partitions are left out (row triggers cloned there, and
	 * the truncate triggers of a partitioned table's partitions): reading
	 * through the parent needs no privilege on them.  A schema that no longer exists
	 * (dropped, renamed) has nothing left to check.
	 */
	owners_plan = prepare(
		"UPDATE webhook.hook h"
		"   SET state = 'disabled',"
		"       disabled_reason = 'its owner can no longer read every row of '"
		"                         OPERATOR(pg_catalog.||) bad.what"
		"  FROM (SELECT w.id, COALESCE("
		"          CASE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_authid a"
		"                                 WHERE a.oid OPERATOR(pg_catalog.=) w.owner)"
		"               THEN COALESCE('table ' OPERATOR(pg_catalog.||) w.relation::pg_catalog.text,"
		"                             'schema ' OPERATOR(pg_catalog.||) w.schema_name,"
		"                             'its tables') END,"
		"          (SELECT 'schema ' OPERATOR(pg_catalog.||) n.nspname FROM pg_catalog.pg_namespace n"
		"            WHERE n.nspname OPERATOR(pg_catalog.=) w.schema_name"
		"              AND NOT pg_catalog.has_schema_privilege(w.owner, n.oid, 'USAGE')),"
		"          (SELECT 'table ' OPERATOR(pg_catalog.||) t.tgrelid::pg_catalog.regclass::pg_catalog.text"
		"             FROM pg_catalog.pg_trigger t"
		"             JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid"
		"            WHERE t.tgrelid OPERATOR(pg_catalog.=) ANY ("
		"                    CASE WHEN w.relation IS NOT NULL THEN ARRAY[w.relation::pg_catalog.oid]"
		"                    ELSE ARRAY(SELECT r.oid FROM pg_catalog.pg_class r"
		"                                 JOIN pg_catalog.pg_namespace n"
		"                                   ON n.oid OPERATOR(pg_catalog.=) r.relnamespace"
		"                                WHERE n.nspname OPERATOR(pg_catalog.=) w.schema_name) END)"
		"              AND t.tgname IN ('webhook_' OPERATOR(pg_catalog.||) w.id OPERATOR(pg_catalog.||) '_row',"
		"                               'webhook_' OPERATOR(pg_catalog.||) w.id OPERATOR(pg_catalog.||) '_truncate')"
		"              AND t.tgparentid OPERATOR(pg_catalog.=) 0"
		"              AND (NOT c.relispartition"
		"                   OR t.tgrelid OPERATOR(pg_catalog.=) w.relation::pg_catalog.oid)"
		"              AND t.tgfoid OPERATOR(pg_catalog.=) 'webhook.capture()'::pg_catalog.regprocedure"
		"              AND t.tgargs OPERATOR(pg_catalog.=) (pg_catalog.convert_to(w.id::pg_catalog.text, 'SQL_ASCII')"
		"                                                   OPERATOR(pg_catalog.||) '\\x00'::pg_catalog.bytea)"
		"              AND (NOT pg_catalog.has_table_privilege(w.owner, t.tgrelid, 'SELECT')"
		"                   OR (c.relrowsecurity AND NOT EXISTS ("
		"                         SELECT FROM pg_catalog.pg_authid r"
		"                          WHERE r.oid OPERATOR(pg_catalog.=) w.owner"
		"                            AND (r.rolsuper OR r.rolbypassrls))))"
		"            ORDER BY t.tgrelid LIMIT 1)) AS what"
		"          FROM webhook.hook w"
		"         WHERE w.state OPERATOR(pg_catalog.=) 'active') bad"
		" WHERE h.id OPERATOR(pg_catalog.=) bad.id AND bad.what IS NOT NULL"
		" RETURNING h.name, h.disabled_reason, h.id",
		0, NULL);
	active_plan = prepare(
		"SELECT id, fifo, batch_size FROM webhook.hook WHERE state OPERATOR(pg_catalog.=) 'active'"
		" ORDER BY id",
		0, NULL);
	{
		Oid			types[2] = {INT4OID, INT4OID};

		purge_progress_plan = prepare(
			"DELETE FROM webhook.progress WHERE ctid = ANY (ARRAY("
			"  SELECT p.ctid FROM webhook.progress p"
			"   WHERE p.at OPERATOR(pg_catalog.<)"
			"         (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			"   LIMIT $2))",
			2, types);
		purge_plan = prepare(
			"DELETE FROM webhook.queue WHERE id IN ("
			"  SELECT old.id FROM webhook.hook h CROSS JOIN LATERAL ("
			"    SELECT q.id FROM webhook.queue q"
			"     WHERE q.status IN ('d', 'f') AND q.hook_id OPERATOR(pg_catalog.=) h.id"
			"       AND q.next_attempt_at OPERATOR(pg_catalog.<)"
			"           (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			"     LIMIT $2) old"
			"  LIMIT $2)",
			2, types);
	}
	{
		Oid			types[1] = {INT4OID};

		/*
		 * Rows of webhooks that no longer exist: an event committed after
		 * its webhook's unregister by a transaction that queued it before,
		 * or rows unregister skipped because this worker held them.  The
		 * webhook ids the queue holds are found by skipping through the
		 * work index, one probe per (status, webhook), never a scan.
		 */
		orphans_plan = prepare(
			"WITH RECURSIVE k(status, hook_id) AS ("
			"  SELECT s.status, (SELECT q.hook_id FROM webhook.queue q"
			"                     WHERE q.status OPERATOR(pg_catalog.=) s.status"
			"                     ORDER BY q.hook_id LIMIT 1)"
			"    FROM (VALUES ('p'::\"char\"), ('s'), ('r'), ('d'), ('f')) s(status)"
			"  UNION ALL"
			"  SELECT k.status, (SELECT q.hook_id FROM webhook.queue q"
			"                     WHERE q.status OPERATOR(pg_catalog.=) k.status"
			"                       AND q.hook_id OPERATOR(pg_catalog.>) k.hook_id"
			"                     ORDER BY q.hook_id LIMIT 1)"
			"    FROM k WHERE k.hook_id IS NOT NULL"
			"), dead AS MATERIALIZED ("
			"  SELECT k.status, k.hook_id FROM k"
			"   WHERE k.hook_id IS NOT NULL"
			"     AND NOT EXISTS (SELECT FROM webhook.hook h"
			"                      WHERE h.id OPERATOR(pg_catalog.=) k.hook_id)"
			")"
			"DELETE FROM webhook.queue WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
			"  SELECT x.id FROM dead CROSS JOIN LATERAL ("
			"    SELECT q.id FROM webhook.queue q"
			"     WHERE q.status OPERATOR(pg_catalog.=) dead.status"
			"       AND q.hook_id OPERATOR(pg_catalog.=) dead.hook_id"
			"     LIMIT $1) x"
			"   LIMIT $1))",
			1, types);
	}
	{
		Oid			types[1] = {INT4OID};

		disable_plan = prepare(
			"UPDATE webhook.hook"
			"   SET state = 'disabled',"
			"       disabled_reason = 'every delivery attempt failed since '"
			"                         OPERATOR(pg_catalog.||) failing_since"
			" WHERE state OPERATOR(pg_catalog.=) 'active'"
			"   AND failing_since OPERATOR(pg_catalog.<)"
			"       (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
			" RETURNING name, disabled_reason, id",
			1, types);
	}
}

/*
 * Begin a worker transaction with SPI connected and a snapshot.  Returns the
 * extension's OID, or InvalidOid if it is not installed (the transaction is
 * still open).
 */
static Oid
begin_work(const char *what)
{
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	ext = get_extension_oid("webhook", true);
	if (OidIsValid(ext))
	{
		/*
		 * Hold the extension for the transaction, as DROP EXTENSION does
		 * before it drops anything: a drop then waits for this short
		 * transaction (or this one for the drop) instead of the two
		 * deadlocking over the extension's tables.  It may be gone by the
		 * time the lock is granted.
		 */
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
		if (get_extension_oid("webhook", true) != ext)
			ext = InvalidOid;
	}
	if (OidIsValid(ext))
		prepare_plans();
	return ext;
}

/* what pg_stat_activity last showed between transactions (-1: something else) */
static int	reported_sending = -1;

/*
 * Show in pg_stat_activity what the worker does between its transactions:
 * "idle", or "sending N" while N requests are in flight.  Transactions show
 * their own step ("claiming", "recording", "purging").
 */
static void
report_doing(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	int			n = 0;
	char		buf[32];

	if (sending_changed)
	{
		int64		shown[WEBHOOK_SENDING_SHOWN];
		int			nshown = 0;

		hash_seq_init(&seq, slots);
		while ((slot = hash_seq_search(&seq)) != NULL)
			for (int i = 0; i < slot->nbusy && nshown < WEBHOOK_SENDING_SHOWN; i++)
				shown[nshown++] = slot->busy[i].id;
		webhook_worker_show_sending(shown, nshown);
		sending_changed = false;
	}
	hash_seq_init(&seq, slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
		n += slot->sending;
	if (n == reported_sending)
		return;
	reported_sending = n;
	if (n == 0)
		pgstat_report_activity(STATE_IDLE, "idle");
	else
	{
		snprintf(buf, sizeof(buf), "sending %d", n);
		pgstat_report_activity(STATE_RUNNING, buf);
	}
}

static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);	/* so that autovacuum sees the churn */
	pgstat_report_activity(STATE_IDLE, NULL);
	reported_sending = -1;
	MemoryContextSwitchTo(loop_cxt);
}

Datum
webhook_make_array(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1];
	int			lbs[1];

	if (n == 0)
		return PointerGetDatum(construct_empty_array(elemtype));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, elemtype,
											  typlen, typbyval, typalign));
}

static HookSlot *
slot_for(int32 hook_id)
{
	bool		found;
	HookSlot   *slot = hash_search(slots, &hook_id, HASH_ENTER, &found);

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
 * webhook's connections.
 */
static bool
lane_busy(HookSlot *slot, Delivery *d)
{
	for (int i = 0; i < slot->nbusy; i++)
	{
		BusyLane   *b = &slot->busy[i];

		if (b->lane == d->lane ||
			((b->truncate || d->truncate) && b->table == d->table))
			return true;
	}
	return false;
}

static void
hold_lane(HookSlot *slot, Delivery *d)
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
	sending_changed = true;
}

static void
free_lane(HookSlot *slot, Delivery *d)
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
	sending_changed = true;
}

/* Hand back every delivery waiting in slot's window in lane (see above). */
static void release_unsent(HookSlot *slot, Delivery *d);
static void queue_behind(HookSlot *slot, Delivery *d);

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
			queue_behind(slot, w);	/* it waits in the queue behind the retry */
		else
			release_unsent(slot, w);
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

/* Delay before the retry that follows attempt number attempts, in ms. */
static int64
retry_delay_ms(int attempts, int retry_after_s)
{
	double		delay;

	if (retry_after_s >= 0)
		return (int64) Max(Min(retry_after_s, MAX_RETRY_AFTER_S), MIN_RETRY_AFTER_S) * 1000;
	delay = schedule_ms[Min(attempts, schedule_len) - 1];
	/* +-10% jitter so that retries of a burst spread out */
	delay *= 0.9 + 0.2 * pg_prng_double(&pg_global_prng_state);
	return (int64) delay;
}

/*
 * The cursor's bookkeeping (see HookSlot): an event loaded from the log is
 * tracked until it and every event loaded before it are settled; the
 * settled prefix is what the cursor's pos may move to.
 */
static void
track_add(HookSlot *slot, int64 event_id)
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
static void
track_settle(HookSlot *slot, int64 event_id)
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
static void
track_rewind(HookSlot *slot)
{
	slot->thead = slot->tcount = 0;
	slot->loaded_upto = slot->prefix;
	slot->exhausted = false;
	slot->rewind = false;
}

/* Drop a delivery from the worker's memory, once its outcome is known. */
static void
forget(HookSlot *slot, Delivery *d)
{
	total_held--;
	/* one claimed before the extension was created again is no longer counted */
	if (d->generation == generation)
	{
		slot->held--;
		if (d->from_log)
			slot->log_held--;
	}
	webhook_http_release(&d->req);
	MemoryContextDelete(d->cxt);
}

/*
 * Record delivery m's outcome: what its request (or the batch it rode in)
 * ended with, in "result", decided for m's own attempts.
 */
static void
add_outcome(Delivery *m, const Outcome *result)
{
	MemoryContext old = MemoryContextSwitchTo(outcomes_cxt);
	Outcome    *o = palloc(sizeof(Outcome));

	*o = *result;
	o->id = m->req.delivery_id;
	o->hook_id = m->req.hook_id;
	o->extension = m->req.extension;
	o->from_log = m->from_log;
	o->event_id = m->event_id;
	o->txid = m->txid ? pstrdup(m->txid) : NULL;
	o->attempts = m->req.attempts;
	if (o->status != 'd')
		o->status = (o->gone || m->req.attempts >= m->req.max_attempts) ? 'f' : 'r';
	if (outcomes == NIL)
		first_outcome_at = o->at;
	if (m->fifo)
		fifo_outcome = true;
	outcomes = lappend(outcomes, o);
	MemoryContextSwitchTo(old);
}

/*
 * Turn a finished request into outcomes to record: its delivery's, and
 * those of the deliveries that rode in its batch.  What the request ended
 * with is worked out once, in outcomes_cxt, and shared by all of them.
 */
static void
finish(Delivery *d)
{
	WebhookRequest *req = &d->req;
	HookSlot   *slot = slot_for(req->hook_id);
	bool		responded = req->status > 0 &&
		(req->code == CURLE_OK || req->resp_aborted);
	MemoryContext old = MemoryContextSwitchTo(outcomes_cxt);
	Outcome		result = {0};
	ListCell   *lc;

	result.at = GetCurrentTimestamp();
	result.http_status = (int32) req->status;
	if (req->resp_len > 0)
		result.body = clean_text(req->resp, req->resp_len);
	if (responded && req->status >= 200 && req->status < 300)
		result.status = 'd';
	else
	{
		result.status = 'r';	/* or f: add_outcome decides, per delivery */
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
													 retry_delay_ms(req->attempts,
																	req->retry_after_s));
	}
	MemoryContextSwitchTo(old);

	add_outcome(d, &result);
	free_lane(slot, d);
	if (result.status != 'd' && d->generation == generation)
		release_lane(slot, d);
	foreach(lc, d->riders)
	{
		Delivery   *r = lfirst(lc);

		add_outcome(r, &result);
		free_lane(slot, r);
		if (result.status != 'd' && d->generation == generation)
			release_lane(slot, r);
		forget(slot, r);
	}
	if (d->generation == generation)
		slot->sending--;
	forget(slot, d);
}

/*
 * Record an outcome for d, which was never sent (status p: handed back; q:
 * queued behind its row's earlier delivery), and forget it.
 */
static void
unsent(HookSlot *slot, Delivery *d, char status)
{
	MemoryContext old = MemoryContextSwitchTo(outcomes_cxt);
	Outcome    *o = palloc0(sizeof(Outcome));

	o->id = d->req.delivery_id;
	o->hook_id = d->req.hook_id;
	o->extension = d->req.extension;
	o->at = GetCurrentTimestamp();
	o->status = status;
	o->from_log = d->from_log;
	o->event_id = d->event_id;
	o->txid = d->txid ? pstrdup(d->txid) : NULL;
	if (outcomes == NIL)
		first_outcome_at = o->at;
	outcomes = lappend(outcomes, o);
	MemoryContextSwitchTo(old);
	forget(slot, d);
}

/*
 * Hand back a delivery that waited in a window but was never sent, because
 * its webhook is no longer active: its row goes back to pending, the
 * attempt uncounted.  One from the log has no row: it is loaded again, from
 * the settled prefix on (track_rewind).
 */
static void
release_unsent(HookSlot *slot, Delivery *d)
{
	if (d->from_log)
	{
		slot->rewind = true;
		forget(slot, d);
		return;
	}
	unsent(slot, d, 'p');
}

/*
 * A delivery from the log that must wait behind an earlier delivery of its
 * row in webhook.queue (retrying, or queued itself): it gets a row of its
 * own there, pending, unsent.
 */
static void
queue_behind(HookSlot *slot, Delivery *d)
{
	unsent(slot, d, 'q');
}

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
 * The first delivery waiting in slot's window that may start now (see
 * "Per-row order"), or NULL.  A delivery left waiting keeps the later ones
 * of its lane waiting, and a TRUNCATE left waiting (or one that found an
 * earlier delivery of its table still waiting) those of its whole table.
 */
static Delivery *
next_startable(HookSlot *slot)
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

/* Sign and hand to libcurl as many waiting deliveries as connections allow. */
static void make_batch(HookSlot *slot, Delivery *d);
static void make_document(Delivery *d);

static void
start_waiting(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	ResourceOwner save_owner = CurrentResourceOwner;

	CurrentResourceOwner = signing_owner;
	hash_seq_init(&seq, slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		while (slot->sending < (slot->fifo ? 1 : webhook_max_connections_per_webhook))
		{
			Delivery   *d = next_startable(slot);
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
				finish(d);
				continue;
			}
			if (d->batch_size > 1)
				make_batch(slot, d);
			else if (d->format == WEBHOOK_FORMAT_XML)
				make_document(d);
			/* its lanes (and its riders') are busy until it is done */
			hold_lane(slot, d);
			foreach(lc, d->riders)
				hold_lane(slot, lfirst(lc));
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
		Delivery   *r = next_startable(slot);

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

/*
 * A body in the server encoding as UTF-8, in the current memory context.
 * SQL_ASCII data is not checked by PostgreSQL, so invalid UTF-8 in it
 * becomes U+FFFD.  If the text has no UTF-8 form (a conversion error),
 * returns NULL with *poison set to the reason: such an event can never be
 * sent, and fails alone rather than stall every claim.
 */
static char *
body_as_utf8(char *body, char **poison)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile out = NULL;

	if (GetDatabaseEncoding() == PG_SQL_ASCII)
	{
		StringInfoData buf;
		size_t		len = strlen(body);

		initStringInfo(&buf);
		for (size_t i = 0; i < len;)
		{
			int			l = pg_utf_mblen((const unsigned char *) body + i);

			if (i + l <= len && pg_utf8_islegal((const unsigned char *) body + i, l))
			{
				appendBinaryStringInfo(&buf, body + i, l);
				i += l;
			}
			else
			{
				appendStringInfoString(&buf, "\xEF\xBF\xBD");
				i++;
			}
		}
		return buf.data;
	}

	/* conversion is pure computation: an error can be caught and dropped */
	PG_TRY();
	{
		out = pg_server_to_any(body, strlen(body), PG_UTF8);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*poison = psprintf("the event cannot be converted to UTF-8: %s", edata->message);
		out = NULL;
	}
	PG_END_TRY();
	return out;
}

/*
 * Build a Delivery from one claimed row (SPI tuple), in its own memory
 * context, and add it to the fresh list: it joins its webhook's window only
 * once the claim has committed (admit_fresh).
 */
static void
take_row(HeapTuple tup, TupleDesc desc, Oid ext)
{
	bool		isnull;
	MemoryContext cxt = AllocSetContextCreate(deliveries_cxt, "webhook delivery",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Delivery   *d = palloc0(sizeof(Delivery));
	Datum		body_datum;
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
	body_datum = SPI_getbinval(tup, desc, 10, &isnull);
	if (isnull)
	{
		/* only a damaged queue row has no body: an unknown op, an infinite time */
		d->poison = pstrdup("the event cannot be serialised: its stored data is damaged");
		utf8 = NULL;
	}
	else
		utf8 = body_as_utf8(TextDatumGetCString(body_datum), &d->poison);
	d->req.body = utf8;
	d->req.bodylen = utf8 ? strlen(utf8) : 0;
	d->req.resp_cap = webhook_response_body_limit;
	d->req.resp = palloc(Max(d->req.resp_cap, 1));
	d->fifo = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
	d->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 12, &isnull));
	d->format = webhook_format_from_name(TextDatumGetCString(SPI_getbinval(tup, desc, 13, &isnull)));
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
	d->generation = generation;
	slot_for(d->req.hook_id)->fresh_n++;

	MemoryContextSwitchTo(deliveries_cxt);
	fresh = lappend(fresh, d);
	MemoryContextSwitchTo(old);
}

/* Forget claimed deliveries whose claim did not commit. */
static void
discard_fresh(void)
{
	ListCell   *lc;

	HASH_SEQ_STATUS seq;
	HookSlot   *slot;

	foreach(lc, fresh)
		MemoryContextDelete(((Delivery *) lfirst(lc))->cxt);
	list_free(fresh);
	fresh = NIL;
	hash_seq_init(&seq, slots);
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
 * delivery is about to be sent (start_waiting).
 */
static void
admit_fresh(void)
{
	List	   *admitted = fresh;
	ListCell   *lc;
	HASH_SEQ_STATUS seq;
	HookSlot   *s;

	/* what the claim did to the cursors, now that it committed */
	hash_seq_init(&seq, slots);
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
		HookSlot   *slot = slot_for(d->req.hook_id);

		slot->fifo = d->fifo;
		slot->held++;
		slot->sending++;		/* undone by finish() */
		total_held++;
		if (d->from_log)
		{
			track_add(slot, d->event_id);
			slot->log_held++;
		}

		if (d->blocked)
		{
			slot->sending--;
			queue_behind(slot, d);
		}
		else if (d->poison != NULL)
		{
			strlcpy(d->req.errbuf, d->poison, sizeof(d->req.errbuf));
			d->req.code = CURLE_CONV_FAILED;
			d->req.never_sent = true;
			d->req.attempts = d->req.max_attempts;	/* will not get better */
			finish(d);
		}
		else if (!decode_secrets(d))
		{
			strlcpy(d->req.errbuf, "the webhook's signing secret is malformed",
					sizeof(d->req.errbuf));
			d->req.code = CURLE_BAD_FUNCTION_ARGUMENT;
			d->req.never_sent = true;
			d->req.attempts = d->req.max_attempts;	/* will not get better */
			finish(d);
		}
		else
		{
			slot->sending--;
			dlist_push_tail(&slot->waiting, &d->req.node);
		}
	}
	list_free(admitted);
}

/* LOG each webhook a statement just disabled: it returned (name, reason, id). */
static void
log_disabled(void)
{
	for (uint64 i = 0; i < SPI_processed; i++)
		ereport(LOG,
				(errmsg("webhook \"%s\" (id %s) disabled: %s",
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3),
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2))));
}

/* An active webhook, as a claim sees it. */
typedef struct ActiveHook
{
	int32		id;
	bool		fifo;
	int			batch_size;
} ActiveHook;

/*
 * Hand back what waits in the windows of webhooks that are no longer active
 * (paused, disabled or removed since the claim).  In a claim transaction.
 * Returns the active webhooks (ActiveHook), in id order.
 */
static List *
release_inactive(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	List	   *active = NIL;
	List	   *ids = NIL;

	if (SPI_execute_plan(active_plan, NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read active webhooks");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		ActiveHook *a = palloc(sizeof(ActiveHook));
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		a->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		a->fifo = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		a->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		active = lappend(active, a);
		ids = lappend_int(ids, a->id);
	}
	hash_seq_init(&seq, slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		if (dlist_is_empty(&slot->waiting) || list_member_int(ids, slot->hook_id))
			continue;
		while (!dlist_is_empty(&slot->waiting))
			release_unsent(slot, dlist_container(Delivery, req.node,
												 dlist_pop_head_node(&slot->waiting)));
	}
	return active;
}

static bool poisoned_hook = false;	/* a webhook's events could not be read */
static bool transient_error(ErrorData *edata);

/*
 * Load the next events of slot's webhook (webhook_cursor_load) in a
 * subtransaction: if that fails (its stored headers are not an object, say,
 * or an event cannot be serialised), its events move into the queue
 * (webhook_cursor_spill), where the next, careful claim takes them one by
 * one and fails those that cannot be sent, so that the webhook's other
 * events and the other webhooks go on.  Returns false, with nothing loaded,
 * if the load failed; else *n and SPI_tuptable hold the rows.
 */
static bool
load_guarded(HookSlot *slot, int64 after, int room, uint64 *n)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*n = webhook_cursor_load(slot->hook_id, after, room);
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
		ok = false;

		/* not the events' fault (deadlock, resources, ...): the claim fails */
		if (transient_error(edata))
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
				poisoned_hook = true;
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
load_next(HookSlot *slot, int64 after, int room, uint64 *n, bool *exhausted)
{
	for (int tries = 0;; tries++)
	{
		int64		scanned;

		*exhausted = false;
		if (!load_guarded(slot, after, room, n))
			return false;
		if (*n > 0 || tries == 3)
			return true;
		SPI_freetuptable(SPI_tuptable);
		scanned = webhook_cursor_scanned(slot->hook_id, after, room);
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
 * for one webhook's sake.  Returns how many deliveries were taken.
 */
static uint64
claim_from_log(List *active, int limit, Oid ext)
{
	uint64		got = 0;
	ListCell   *lc;
	/* cut the log at the claim's snapshot: the webhooks' batches end at ticks */
	webhook_cursor_tick(webhook_cursor_snapshot());

	foreach(lc, active)
	{
		ActiveHook *a = lfirst(lc);
		HookSlot   *slot = slot_for(a->id);
		int			room;
		int			queued;
		int64		after;
		uint64		n;
		bool		exhausted;

		if (slot->rewind)
		{
			if (slot->log_held > 0)
				continue;
			track_rewind(slot);
		}
		room = a->fifo ? ((slot->held + slot->fresh_n == 0) ? a->batch_size : 0) :
			webhook_max_in_flight - slot->held - slot->fresh_n;
		room = Min(room, limit - (int) got);
		if (room <= 0)
			continue;
		queued = webhook_cursor_queued(a->id);
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
		if (!load_next(slot, after, room, &n, &exhausted))
			continue;
		if (exhausted && !slot->switched_now && slot->tcount == 0 && slot->log_held == 0)
		{
			/* nothing left of this batch, and all of it settled: the next one */
			int			next;

			SPI_freetuptable(SPI_tuptable);
			next = webhook_cursor_next_batch(a->id);
			slot->loaded_now = slot->exhausted_now = true;
			if (next < 0)
				continue;
			slot->switched_now = true;
			slot->skipped_now = 0;	/* that was of the batch before */
			if (next == 0)
				continue;
			if (!load_next(slot, 0, room, &n, &exhausted))
				continue;
		}
		for (uint64 i = 0; i < n; i++)
			take_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, ext);
		SPI_freetuptable(SPI_tuptable);
		slot->loaded_now = true;
		slot->exhausted_now = exhausted;
		got += n;
	}
	return got;
}

typedef struct ClaimedRow
{
	int64		id;
	HeapTuple	tuple;
} ClaimedRow;

static int
compare_claimed(const void *a, const void *b)
{
	int64		x = ((const ClaimedRow *) a)->id;
	int64		y = ((const ClaimedRow *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Is this error probably not the event's fault (deadlock, resources, state,
 * I/O), so that the claim should fail and be tried again?
 */
static bool
transient_error(ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * Claim what claim_plan would, one delivery at a time, each in a
 * subtransaction: after a claim failed, this finds the deliveries that make
 * it fail (a damaged row, a webhook whose stored headers are not an object)
 * and fails them with the error, so that one poison event cannot stall
 * every webhook.  Returns how many were claimed.
 */
static uint64
claim_carefully(Datum *args, Oid ext)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	uint64		n;
	uint64		got = 0;
	int64	   *ids;
	bool		isnull;

	if (SPI_execute_plan(candidates_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not find due deliveries");
	n = SPI_processed;
	ids = palloc(sizeof(int64) * (n + 1));
	for (uint64 i = 0; i < n; i++)
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	careful_full = n >= (uint64) DatumGetInt32(args[3]);

	for (uint64 i = 0; i < n; i++)
	{
		Datum		id = Int64GetDatum(ids[i]);

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			if (SPI_execute_plan(claim_one_plan, &id, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "could not claim delivery " INT64_FORMAT, ids[i]);
			if (SPI_processed == 1)
			{
				take_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ext);
				got++;
			}
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			Datum		pargs[2];

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;

			/*
			 * Probably not the event's fault (deadlock, resources, state,
			 * I/O): fail the claim and try again, unless this delivery
			 * failed that way in each of the last few careful claims.
			 */
			if (transient_error(edata))
			{
				if (ids[i] != transient_id)
				{
					transient_id = ids[i];
					transient_failures = 0;
				}
				if (++transient_failures < 3)
					ReThrowError(edata);
			}

			ereport(WARNING,
					(errmsg("webhook delivery " INT64_FORMAT " can never be sent: %s",
							ids[i], edata->message)));
			pargs[0] = id;
			pargs[1] = CStringGetTextDatum(psprintf("the event cannot be sent: %s",
													edata->message));
			if (SPI_execute_plan(poison_plan, pargs, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not fail delivery " INT64_FORMAT, ids[i]);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	return got;
}

/*
 * One claim transaction: take due deliveries into the webhooks' windows.
 * Returns true if the claim was cut short by the global cap, so more work
 * may be due.  Sets *next_retry to when the next retry falls due (0 if
 * none) and *present to whether the extension exists.
 */
static bool
claim(bool *recovered, TimestampTz *next_retry, bool *present)
{
	Oid			ext = begin_work("claiming");
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	Datum	   *ids;
	Datum	   *counts;
	int			n = 0;
	int			limit;
	Datum		args[4];
	bool		isnull;
	Datum		next;
	uint64		got;
	ClaimedRow *rows;
	bool		flagged;
	List	   *active;
	uint64		from_log = 0;

	*next_retry = 0;
	claimed_last = 0;
	*present = OidIsValid(ext);
	if (!*present)
	{
		end_work();
		return false;
	}

	if (!*recovered)
	{
		if (SPI_execute_plan(recover_plan, NULL, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not recover claimed deliveries");
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("webhook worker will retry " UINT64_FORMAT " deliveries interrupted by a restart",
							SPI_processed)));
		*recovered = true;
	}

	webhook_cursor_ensure();
	hash_seq_init(&seq, slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		slot->fresh_n = 0;

		/*
		 * The extension was dropped and created again: its webhooks are new
		 * (their ids start again) and so are their cursors.  What is still
		 * in flight of the old ones is no longer counted.
		 */
		if (ext != cursors_of)
		{
			while (!dlist_is_empty(&slot->waiting))
			{
				Delivery   *w = dlist_container(Delivery, req.node,
												dlist_pop_head_node(&slot->waiting));

				total_held--;
				webhook_http_release(&w->req);
				MemoryContextDelete(w->cxt);
			}
			slot->held = slot->sending = slot->nbusy = 0;
			slot->thead = slot->tcount = 0;
			slot->loaded_upto = slot->prefix = slot->pos_saved = 0;
			slot->log_held = 0;
			slot->exhausted = slot->rewind = false;
			sending_changed = true;
		}
	}
	if (ext != cursors_of)
	{
		cursors_of = ext;
		generation++;
	}

	/* a webhook whose owner lost the right to read what it watches stops */
	flagged = webhook_take_check_owners();
	if (flagged || GetCurrentTimestamp() >= next_owner_check ||
		(owner_recheck != 0 && GetCurrentTimestamp() >= owner_recheck))
	{
		if (SPI_execute_plan(owners_plan, NULL, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not check webhook owners");
		log_disabled();
		next_owner_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   OWNER_CHECK_INTERVAL_MS);

		/*
		 * The flag is raised at commit, just before the committing backend
		 * sends its catalog invalidations: this check may have read the old
		 * privileges.  Look again shortly, busy or idle.
		 */
		owner_recheck = flagged ?
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), OWNER_RECHECK_MS) : 0;
	}
	active = release_inactive();

	ids = palloc(sizeof(Datum) * (hash_get_num_entries(slots) + 1));
	counts = palloc(sizeof(Datum) * (hash_get_num_entries(slots) + 1));
	hash_seq_init(&seq, slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
	{
		if (slot->held == 0)
			continue;
		ids[n] = Int32GetDatum(slot->hook_id);
		counts[n] = Int32GetDatum(slot->held);
		n++;
	}
	limit = MAX_HELD - total_held;
	args[0] = webhook_make_array(ids, NULL, n, INT4OID);
	args[1] = webhook_make_array(counts, NULL, n, INT4OID);
	args[2] = Int32GetDatum(webhook_max_in_flight);
	args[3] = Int32GetDatum(Max(limit, 0));
	if (careful)
	{
		args[3] = Int32GetDatum(Min(Max(limit, 0), CAREFUL_CLAIM_MAX));
		got = claim_carefully(args, ext);
		from_log = claim_from_log(active, Max(limit, 0) - (int) got, ext);
		if (from_log > 0)
			log_dirty = true;
		got += from_log;
	}
	else
	{
		if (SPI_execute_plan(claim_plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not claim deliveries");
		got = SPI_processed;

		/* start them in event order: RETURNING gives no order */
		rows = palloc(sizeof(ClaimedRow) * (got + 1));
		for (uint64 i = 0; i < got; i++)
		{
			rows[i].tuple = SPI_tuptable->vals[i];
			rows[i].id = DatumGetInt64(SPI_getbinval(rows[i].tuple, SPI_tuptable->tupdesc,
													 1, &isnull));
		}
		qsort(rows, got, sizeof(ClaimedRow), compare_claimed);
		for (uint64 i = 0; i < got; i++)
			take_row(rows[i].tuple, SPI_tuptable->tupdesc, ext);
		SPI_freetuptable(SPI_tuptable);

		/* and what committed to the log since */
		from_log = claim_from_log(active, Max(limit, 0) - (int) got, ext);
		if (from_log > 0)
			log_dirty = true;
		got += from_log;
	}
	claimed_last = got;

	if (SPI_execute_plan(next_retry_plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not find the next retry");
	next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*next_retry = DatumGetTimestampTz(next);

	end_work();
	claim_committed = true;
	admit_fresh();
	return limit > 0 && got >= (uint64) limit;
}

/* Per-webhook summary of a batch of outcomes, for webhook.hook. */
typedef struct Health
{
	int32		hook_id;
	TimestampTz last_success;
	TimestampTz last_failure;
	TimestampTz first_trailing_failure;
	char	   *last_error;
	int			trailing_failures;
	bool		gone;
	char	   *reason;
} Health;

/* One record transaction: write every outcome gathered so far. */
static void
record(void)
{
	Oid			ext;
	int			n = list_length(outcomes);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *statuses = palloc(sizeof(Datum) * n);
	Datum	   *codes = palloc(sizeof(Datum) * n);
	bool	   *codes_null = palloc(sizeof(bool) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *errors_null = palloc(sizeof(bool) * n);
	Datum	   *bodies = palloc(sizeof(Datum) * n);
	bool	   *bodies_null = palloc(sizeof(bool) * n);
	Datum	   *nexts = palloc(sizeof(Datum) * n);
	bool	   *nexts_null = palloc(sizeof(bool) * n);
	Datum	   *dones = palloc(sizeof(Datum) * n);
	bool	   *dones_null = palloc(sizeof(bool) * n);
	Health	   *health = palloc0(sizeof(Health) * n);
	int			nhealth = 0;
	int			k = 0;
	bool		any_failure = false;
	ListCell   *lc;
	/* from the log: delivered ones, and those that get a row of their own */
	Datum	   *d_hooks = palloc(sizeof(Datum) * n);
	Datum	   *d_ids = palloc(sizeof(Datum) * n);
	Datum	   *d_codes = palloc(sizeof(Datum) * n);
	Datum	   *d_ats = palloc(sizeof(Datum) * n);
	int			nd = 0;
	WebhookCopy copy;
	int			nc = 0;
	Datum	   *m_hooks = palloc(sizeof(Datum) * n);
	Datum	   *m_pos = palloc(sizeof(Datum) * n);
	HookSlot  **moved = palloc(sizeof(HookSlot *) * n);
	int			nm = 0;

	copy.hooks = palloc(sizeof(Datum) * n);
	copy.ids = palloc(sizeof(Datum) * n);
	copy.txids = palloc(sizeof(Datum) * n);
	copy.statuses = palloc(sizeof(Datum) * n);
	copy.attempts = palloc(sizeof(Datum) * n);
	copy.codes = palloc(sizeof(Datum) * n);
	copy.errors = palloc(sizeof(Datum) * n);
	copy.errors_null = palloc(sizeof(bool) * n);
	copy.bodies = palloc(sizeof(Datum) * n);
	copy.bodies_null = palloc(sizeof(bool) * n);
	copy.nexts = palloc(sizeof(Datum) * n);
	copy.ats = palloc(sizeof(Datum) * n);

	ext = begin_work("recording");

	foreach(lc, outcomes)
	{
		Outcome    *o = lfirst(lc);
		Health	   *hl = NULL;

		if (o->extension != ext)
			continue;			/* the extension was dropped since the claim */
		if (o->from_log)
		{
			HookSlot   *slot = slot_for(o->hook_id);
			bool		seen = false;

			if (o->status == 'd')
			{
				d_hooks[nd] = Int32GetDatum(o->hook_id);
				d_ids[nd] = Int64GetDatum(o->id);
				d_codes[nd] = Int32GetDatum(o->http_status);
				d_ats[nd] = TimestampTzGetDatum(o->at);
				nd++;
			}
			else
			{
				copy.hooks[nc] = Int32GetDatum(o->hook_id);
				copy.ids[nc] = Int64GetDatum(o->id);
				copy.txids[nc] = CStringGetTextDatum(o->txid);
				copy.statuses[nc] = CharGetDatum(o->status == 'q' ? 'p' : o->status);
				copy.attempts[nc] = Int32GetDatum(o->status == 'q' ? 0 : o->attempts);
				copy.codes[nc] = Int32GetDatum(o->http_status);
				copy.errors[nc] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
				copy.errors_null[nc] = o->error == NULL;
				copy.bodies[nc] = o->body ? CStringGetTextDatum(o->body) : (Datum) 0;
				copy.bodies_null[nc] = o->body == NULL;
				copy.nexts[nc] = TimestampTzGetDatum(o->status == 'r' ? o->next_at : o->at);
				copy.ats[nc] = TimestampTzGetDatum(o->at);
				nc++;
			}
			/* settled: the cursor may move past it (written below) */
			track_settle(slot, o->event_id);
			for (int i = 0; i < nm; i++)
				seen = seen || moved[i] == slot;
			if (!seen)
				moved[nm++] = slot;
			if (o->status == 'q')
				continue;		/* not sent: no news of the webhook */
		}
		else
		{
		ids[k] = Int64GetDatum(o->id);
		statuses[k] = CharGetDatum(o->status);
		codes[k] = Int32GetDatum(o->http_status);
		codes_null[k] = o->http_status == 0;
		errors[k] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
		errors_null[k] = o->error == NULL;
		bodies[k] = o->body ? CStringGetTextDatum(o->body) : (Datum) 0;
		bodies_null[k] = o->body == NULL;
		nexts[k] = TimestampTzGetDatum(o->next_at);
		nexts_null[k] = o->status != 'r';
		dones[k] = TimestampTzGetDatum(o->at);
		dones_null[k] = false;
		k++;

		if (o->status == 'p')
			continue;			/* handed back unsent: no news of the webhook */
		}

		for (int i = 0; i < nhealth; i++)
			if (health[i].hook_id == o->hook_id)
				hl = &health[i];
		if (hl == NULL)
		{
			hl = &health[nhealth++];
			hl->hook_id = o->hook_id;
		}
		if (o->status == 'd')
		{
			hl->last_success = o->at;
			hl->trailing_failures = 0;
		}
		else
		{
			any_failure = true;
			if (hl->trailing_failures++ == 0)
				hl->first_trailing_failure = o->at;
			hl->last_failure = o->at;
			hl->last_error = o->error;
			if (o->gone && !hl->gone)
			{
				hl->gone = true;
				hl->reason = psprintf("the endpoint answered 410 Gone at %s",
									  timestamptz_to_str(o->at));
			}
		}
	}

	if (k > 0)
	{
		Datum		args[7];

		args[0] = webhook_make_array(ids, NULL, k, INT8OID);
		args[1] = webhook_make_array(statuses, NULL, k, CHAROID);
		args[2] = webhook_make_array(codes, codes_null, k, INT4OID);
		args[3] = webhook_make_array(errors, errors_null, k, TEXTOID);
		args[4] = webhook_make_array(bodies, bodies_null, k, TEXTOID);
		args[5] = webhook_make_array(nexts, nexts_null, k, TIMESTAMPTZOID);
		args[6] = webhook_make_array(dones, dones_null, k, TIMESTAMPTZOID);
		if (SPI_execute_plan(record_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record delivery outcomes");
	}

	/* the log's: one progress row per webhook, rows for the others, the cursors */
	webhook_cursor_delivered(nd, d_hooks, d_ids, d_codes, d_ats);
	webhook_cursor_copy(nc, &copy);

	for (int i = 0; i < nhealth; i++)
	{
		Health	   *hl = &health[i];
		Datum		args[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		args[0] = Int32GetDatum(hl->hook_id);
		args[1] = TimestampTzGetDatum(hl->last_success);
		nulls[1] = hl->last_success ? ' ' : 'n';
		args[2] = TimestampTzGetDatum(hl->last_failure);
		nulls[2] = hl->last_failure ? ' ' : 'n';
		args[3] = hl->last_error ? CStringGetTextDatum(hl->last_error) : (Datum) 0;
		nulls[3] = hl->last_error ? ' ' : 'n';
		args[4] = Int32GetDatum(hl->trailing_failures);
		args[5] = TimestampTzGetDatum(hl->first_trailing_failure);
		nulls[5] = hl->trailing_failures ? ' ' : 'n';
		args[6] = BoolGetDatum(hl->gone);
		args[7] = hl->reason ? CStringGetTextDatum(hl->reason) : (Datum) 0;
		nulls[7] = hl->reason ? ' ' : 'n';
		if (SPI_execute_plan(health_plan, args, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not record webhook health");
		if (hl->gone && SPI_processed > 0)
			ereport(LOG,
					(errmsg("webhook \"%s\" (id %d) disabled: %s",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							hl->hook_id, hl->reason)));
	}

	if (any_failure)
	{
		Datum		arg = Int32GetDatum(webhook_disable_after_s);

		if (SPI_execute_plan(disable_plan, &arg, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not disable failing webhooks");
		log_disabled();
	}

	/*
	 * The cursors last: an API call locks its webhook's row and then its
	 * cursor (unregister deletes it), so the worker, which updated webhook
	 * rows above, locks cursors only when it will wait for nothing more.
	 */
	{
		int			np = 0;

		for (int i = 0; i < nm; i++)
			if (moved[i]->prefix > moved[i]->pos_saved)
			{
				m_hooks[np] = Int32GetDatum(moved[i]->hook_id);
				m_pos[np] = Int64GetDatum(moved[i]->prefix);
				np++;
			}
		webhook_cursor_move(np, m_hooks, m_pos);
	}

	end_work();
	for (int i = 0; i < nm; i++)
		moved[i]->pos_saved = Max(moved[i]->pos_saved, moved[i]->prefix);
	list_free(outcomes);
	outcomes = NIL;
	fifo_outcome = false;
	MemoryContextReset(outcomes_cxt);
}

/*
 * One retention pass: delete up to PURGE_BATCH delivered or failed rows
 * older than webhook.retention, and up to PURGE_BATCH rows of webhooks that
 * no longer exist.  Returns true if there may be more.
 */
static bool
purge(void)
{
	Oid			ext = begin_work("purging");
	Datum		args[2];
	bool		more = false;

	if (OidIsValid(ext))
	{
		args[0] = Int32GetDatum(webhook_retention_s);
		args[1] = Int32GetDatum(PURGE_BATCH);
		if (SPI_execute_plan(purge_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge delivery history");
		more = SPI_processed >= PURGE_BATCH;
		if (SPI_execute_plan(purge_progress_plan, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not purge delivery history");
		more = more || SPI_processed >= PURGE_BATCH;
		if (SPI_execute_plan(orphans_plan, &args[1], NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not remove the events of removed webhooks");
		more = more || SPI_processed >= PURGE_BATCH;
	}
	end_work();
	return more;
}

static long
ms_until(TimestampTz when, TimestampTz now)
{
	if (when <= now)
		return 0;
	return (long) Min((when - now + 999) / 1000, (TimestampTz) SAFETY_TIMEOUT_MS);
}

/*
 * After an ERROR in one of the worker's transactions: report it, abort the
 * transaction and go on.  What the failed step would have written is redone
 * later (a claim rolls back; outcomes are kept and recorded again).
 */
static void
recover_from_error(void)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	pgstat_report_activity(STATE_IDLE, NULL);
	reported_sending = -1;
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(loop_cxt);
}

/* Main loop state; static so that it survives longjmp out of PG_TRY. */
static bool recovered = false;	/* rows left in s by a predecessor reset? */
static bool present = false;	/* is the extension installed? */
static bool looked = false;		/* has a claim found out whether it is? */
static char my_dbname[NAMEDATALEN];	/* for log lines */
static bool work_due = true;	/* should the next turn claim? */
static int	record_failures = 0;
static int	finished_since_claim = 0;	/* outcomes since the last claim */
static TimestampTz next_retry = 0;
static TimestampTz next_purge = 0;
static TimestampTz next_rotate = 0;

/* One rotation pass of the event log (rotate.c), in its own transaction. */
static void
guarded_rotate(TimestampTz now)
{
	PG_TRY();
	{
		Oid			ext = begin_work("rotating");
		HASH_SEQ_STATUS seq;
		HookSlot   *slot;
		int32	   *busy = palloc(sizeof(int32) * (hash_get_num_entries(slots) + 1));
		int			nbusy = 0;

		/* the webhooks whose events the worker holds cannot be moved out of the log */
		hash_seq_init(&seq, slots);
		while ((slot = hash_seq_search(&seq)) != NULL)
			if (slot->log_held > 0 || slot->tcount > 0)
				busy[nbusy++] = slot->hook_id;
		log_dirty = OidIsValid(ext) && webhook_rotate_log(busy, nbusy);
		end_work();
	}
	PG_CATCH();
	{
		recover_from_error();
	}
	PG_END_TRY();
	next_rotate = TimestampTzPlusMilliseconds(now, ROTATE_PAUSE_MS);
}
static TimestampTz next_look = 0;

/*
 * Should the outcomes gathered so far be recorded now?  A record transaction
 * costs about as much for one outcome as for a hundred, so under load they
 * gather for up to RECORD_DELAY_MS (or RECORD_BATCH of them); at once when
 * nothing else is in flight (so an idle worker adds no latency) or a fifo
 * webhook waits on one (its next delivery is claimed only after).
 */
static bool
record_due(void)
{
	if (outcomes == NIL)
		return false;
	return total_held == 0 || fifo_outcome ||
		list_length(outcomes) >= RECORD_BATCH ||
		GetCurrentTimestamp() >= TimestampTzPlusMilliseconds(first_outcome_at, RECORD_DELAY_MS);
}

/* Claim due work, catching errors; on error back off for a second. */
static void
guarded_claim(void)
{
	PG_TRY();
	{
		TimestampTz retry;
		bool		here;

		finished_since_claim = 0;
		claim_committed = false;
		work_due = claim(&recovered, &retry, &here);
		/* stay careful while careful claims come back full */
		if (careful && careful_full)
			work_due = true;
		else
			careful = false;
		/* a webhook's events moved into the queue: claim them carefully, now */
		if (poisoned_hook)
		{
			careful = true;
			work_due = true;
			poisoned_hook = false;
		}
		next_retry = retry;
		present = here;
		looked = true;
		next_look = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SAFETY_TIMEOUT_MS);
	}
	PG_CATCH();
	{
		recover_from_error();
		discard_fresh();

		/*
		 * Rows whose claim committed but that never reached a window stay
		 * in s: have the next claim make them due again, as after a crash.
		 */
		if (claim_committed)
			recovered = false;
		else
			careful = true;
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
		record();
		record_failures = 0;
	}
	PG_CATCH();
	{
		recover_from_error();
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
		if (purge())
			next_purge = now;
		else
			next_purge = TimestampTzPlusMilliseconds(now, Min(60000, Max(1000, webhook_retention_s * 100L)));
	}
	PG_CATCH();
	{
		recover_from_error();
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
	HASHCTL		ctl;
	Oid			dboid;
	bool		announced = false;

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

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "webhook worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	deliveries_cxt = AllocSetContextCreate(TopMemoryContext, "webhook deliveries",
										   ALLOCSET_DEFAULT_SIZES);
	outcomes_cxt = AllocSetContextCreate(TopMemoryContext, "webhook outcomes",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(HookSlot);
	slots = hash_create("webhook slots", 64, &ctl, HASH_ELEM | HASH_BLOBS);

	signing_owner = ResourceOwnerCreate(NULL, "webhook signing");
	webhook_http_start();
	load_settings();

	for (;;)
	{
		WaitEventSet *set;
		WaitEvent	events[64];
		int			nevents;
		long		timeout;
		TimestampTz now;
		WebhookRequest *req;

		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
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
			finish(d);
		}

		/*
		 * Claim again once a good part of the windows has drained, so that
		 * each claim moves a batch; at once when nothing is held.
		 */
		if (finished_since_claim > 0 &&
			(total_held == 0 || finished_since_claim >= Max(webhook_max_in_flight / 4, 1)))
			work_due = true;
		if (record_due())
			guarded_record();

		/* take more work, and purge old history now and then */
		now = GetCurrentTimestamp();
		if ((next_retry != 0 && now >= next_retry) || now >= next_look ||
			(owner_recheck != 0 && now >= owner_recheck))
			work_due = true;
		/*
		 * Not while outcomes wait to be recorded: fifo order depends on
		 * them.  And after a claim that found nothing, not again for a few
		 * milliseconds: commits to the tables of a paused webhook wake the
		 * worker too, and must not keep it busy claiming nothing.
		 */
		if (work_due && outcomes == NIL)
		{
			if (claimed_last == 0 && now < next_empty_claim)
			{
				work_due = false;	/* the timer below brings it back */
				next_look = Min(next_look, next_empty_claim);
			}
			else
			{
				guarded_claim();
				announced = announce_or_leave(announced);
				next_empty_claim = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   EMPTY_CLAIM_PAUSE_MS);
			}
		}
		if (present && now >= next_purge)
			guarded_purge(now);
		if (present && log_dirty && now >= next_rotate)
			guarded_rotate(now);
		start_waiting();

		/* sleep until a socket, the latch, libcurl's timer or a due retry */
		now = GetCurrentTimestamp();
		timeout = ms_until(next_look, now);
		if (next_retry != 0)
			timeout = Min(timeout, ms_until(next_retry, now));
		if (owner_recheck != 0)
			timeout = Min(timeout, ms_until(owner_recheck, now));
		if (present)
			timeout = Min(timeout, ms_until(next_purge, now));
		if (present && log_dirty)
			timeout = Min(timeout, ms_until(next_rotate, now));
		if (webhook_http_timeout() >= 0)
			timeout = Min(timeout, webhook_http_timeout());
		/* (a claim waits for outcomes to be recorded: no hurry for it until then) */
		if ((work_due && outcomes == NIL) || record_due())
			timeout = 0;
		else if (outcomes != NIL)
			timeout = Min(timeout, ms_until(TimestampTzPlusMilliseconds(first_outcome_at,
																	   RECORD_DELAY_MS), now));

		report_doing();
		set = CreateWaitEventSet(loop_cxt, 2 + webhook_http_sockets());
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		webhook_http_add_events(set);
		nevents = WaitEventSetWait(set, timeout, events, lengthof(events), PG_WAIT_EXTENSION);
		for (int i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				work_due = true;
			}
			else if (events[i].events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
				webhook_http_socket_ready(events[i].fd, events[i].events);
		}
		FreeWaitEventSet(set);
	}
}
