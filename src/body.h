/*-------------------------------------------------------------------------
 *
 * body.h
 *	  Body formats: how the worker wraps event bodies into a POST body.
 *
 * The body of one event comes from the claim (webhook._body for JSON,
 * webhook._body_xml for XML, both SQL-callable); these helpers add what
 * surrounds it: nothing or a JSON array for JSON, the XML declaration and
 * an <events> element for XML.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_BODY_H
#define WEBHOOK_BODY_H

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

#endif							/* WEBHOOK_BODY_H */
