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
extern bool webhook_event_body(StringInfo buf, HeapTupleHeader q, const char *webhook_name,
							   WebhookFormat format);
extern char *webhook_body_to_utf8(char *body, char **poison);

#endif							/* WEBHOOK_BODY_H */
