/*-------------------------------------------------------------------------
 *
 * body.h
 *	  The bodies the worker POSTs (body.c): one event's body in either
 *	  format, its UTF-8 form, and what surrounds the events of a POST:
 *	  nothing or a JSON array for JSON, the XML declaration and an <events>
 *	  element for XML.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_BODY_H
#define WEBHOOK_BODY_H

#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "datatype/timestamp.h"

typedef enum WebhookFormat
{
	WEBHOOK_FORMAT_JSON,
	WEBHOOK_FORMAT_XML
} WebhookFormat;

extern WebhookFormat webhook_format_from_name(const char *name);
extern const char *webhook_content_type_header(WebhookFormat format);
extern void webhook_body_open(StringInfo buf, WebhookFormat format, bool batch);
extern void webhook_body_separate(StringInfo buf, WebhookFormat format);
extern void webhook_body_close(StringInfo buf, WebhookFormat format, bool batch);
/* What a body says of one event (text values in the server encoding) */
typedef struct WebhookEvent
{
	char		op;				/* I, U, D, T or P (ping) */
	TimestampTz at;			/* when it was captured */
	int64		event_id;
	const char *schema;
	const char *table;
	text	   *old_row;		/* json, or NULL */
	text	   *new_row;
	Datum		changed;		/* text[] of an update's changed columns */
	bool		changed_null;
	bool		truncated;		/* the rows were too large to send */
	text	   *partition;		/* json: the partition a TRUNCATE was of, or NULL */
} WebhookEvent;

extern bool webhook_event_body(StringInfo buf, const WebhookEvent *ev, const char *webhook_name,
							   WebhookFormat format);
extern void webhook_event_from_queue(HeapTupleHeader q, WebhookEvent *ev);
extern char *webhook_body_to_utf8(char *body, char **poison);

#endif							/* WEBHOOK_BODY_H */
