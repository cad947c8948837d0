/*-------------------------------------------------------------------------
 *
 * eventlog.h
 *	  The event log, the writer's side (eventlog.c); the worker's is in
 *	  cursor.h.
 *
 * The capture trigger hands each change to eventlog.c, which gathers a
 * transaction's changes in memory, per watched table, into chunks of at most
 * WEBHOOK_CHUNK_MAX changes and writes each chunk as one row of the current
 * log table (webhook.log_0, _1 or _2): when the chunk is full, or at
 * pre-commit.  A change that several webhooks watch is stored once, with a
 * bit per webhook.  The worker reads committed chunks through each
 * webhook's cursor, in commit order, and rotates the log tables (cursor.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_EVENTLOG_H
#define WEBHOOK_EVENTLOG_H

#include "access/htup.h"
#include "utils/relcache.h"

/* most changes in one chunk: webhook.event_id_seq steps by this much */
#define WEBHOOK_CHUNK_MAX 256
/* a chunk is written once its changes take about this many bytes */
#define WEBHOOK_CHUNK_BYTES (256 * 1024)
/* most webhooks the changes of one chunk are for (bits of a mask) */
#define WEBHOOK_CHUNK_HOOKS 32
/* number of log tables in rotation */
#define WEBHOOK_LOG_TABLES 3

/*
 * The change a firing trigger is about, as far as telling two firings for
 * the same change apart needs: the relation it fired on, the operation, and
 * the row version (its TID and inserting transaction; for TRUNCATE, none).
 */
typedef struct WebhookChangeId
{
	Oid			relid;
	char		op;
	ItemPointerData tid;
	TransactionId xmin;
} WebhookChangeId;

extern void webhook_log_hold(bool hold);
extern void webhook_change_id(WebhookChangeId *id, Relation rel, char op, HeapTuple tuple);
extern bool webhook_log_add_hook(int32 hook_id, Oid reported_relid, const WebhookChangeId *id);
extern void webhook_log_append(int32 hook_id, Oid reported_relid, const WebhookChangeId *id,
							   Datum old_json, Datum new_json, Datum changed, bool truncated,
							   Datum partition, int64 lane);

#endif							/* WEBHOOK_EVENTLOG_H */
