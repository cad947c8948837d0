/*-------------------------------------------------------------------------
 *
 * filter.h
 *	  Filters of a table webhook (columns, condition): the capture
 *	  trigger's one entry point, see filter.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_FILTER_H
#define WEBHOOK_FILTER_H

#include "commands/trigger.h"
#include "utils/rel.h"

typedef enum WebhookFilterResult
{
	WEBHOOK_FILTER_PASS,		/* queue the event */
	WEBHOOK_FILTER_SKIP,		/* filtered out: queue nothing */
	WEBHOOK_FILTER_ERROR		/* the condition failed: queue it as failed */
} WebhookFilterResult;

extern WebhookFilterResult webhook_filter_check(int32 hook_id, Relation rel,
												TriggerData *trigdata, void **entry,
												char **error);
extern void webhook_filter_queue_failed(int32 hook_id, Oid reported_relid, char op,
										Datum old_json, Datum new_json, Datum changed,
										bool truncated, const char *error);

#endif							/* WEBHOOK_FILTER_H */
