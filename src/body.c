/*-------------------------------------------------------------------------
 *
 * body.c
 *	  The bodies the worker POSTs, built in this one place: an event's
 *	  body in either format (JSON, or XML for format => 'xml'), its
 *	  conversion to UTF-8, and the wrapping of events into a POST body.
 *
 * The JSON body is what the README shows.  An XML event carries the same
 * fields, in PostgreSQL's own XML conventions, those of query_to_xml:
 *
 *	<event xmlns:xsi="..." type="row.updated" timestamp="...Z">
 *	  <event_id>42</event_id><webhook>crm</webhook><schema>public</schema>
 *	  <table>orders</table><operation>UPDATE</operation>
 *	  <new><id>7</id><status>paid</status></new><old>...</old>
 *	  <changed><column>status</column></changed>
 *	</event>
 *
 * The rows are read from the JSON the capture trigger stored (so XML costs
 * the writer nothing, and replay or redeliver send what was captured):
 * column names and object keys go through map_sql_identifier_to_xml_name
 * (fully escaped, _xHHHH_), values through escape_xml, as
 * map_sql_value_to_xml_value does for a type without a special form.  The
 * JSON form of the types it treats specially is already theirs: booleans
 * are true/false, dates and timestamps are in XSD form (both use
 * USE_XSD_DATES); infinite ones, which map_sql_value_to_xml_value refuses,
 * stay "infinity" and "-infinity".  bytea, stored as \x hex, is decoded and
 * mapped by map_sql_value_to_xml_value itself (base64, or hex under
 * xmlbinary).  A NULL column is <col xsi:nil="true"/>; an array is one
 * <element> per item (a NULL item too, as xsi:nil, where
 * map_sql_value_to_xml_value would drop it and lose its position); a
 * composite or a json object nests one element per field.
 *
 * XML 1.0 forbids the C0 control characters other than tab, newline and
 * carriage return, even as character references, and U+FFFE and U+FFFF;
 * escape_xml keeps them, so they are replaced with U+FFFD, written as the
 * reference &#xFFFD; so that it means the same in every database encoding.  In a SQL_ASCII database, where bytes
 * above 0x7F have no known encoding, a name holding any is escaped byte by
 * byte (_x00HH_): xml.c would read such bytes as UTF-8.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/xml.h"

#include "body.h"

PG_FUNCTION_INFO_V1(webhook_body_json);
PG_FUNCTION_INFO_V1(webhook_body_xml);

#define XML_DECLARATION "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define XSI_NAMESPACE "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

/* "json" or "xml", as webhook.hook.format says */
WebhookFormat
webhook_format_from_name(const char *name)
{
	return (name != NULL && strcmp(name, "xml") == 0) ? WEBHOOK_FORMAT_XML : WEBHOOK_FORMAT_JSON;
}

/* The Content-Type header line of a format. */
const char *
webhook_content_type_header(WebhookFormat format)
{
	return format == WEBHOOK_FORMAT_XML ?
		"Content-Type: application/xml; charset=utf-8" :
		"Content-Type: application/json";
}

/* What comes before the first event of a POST body. */
void
webhook_body_open(StringInfo buf, WebhookFormat format, bool batch)
{
	if (format == WEBHOOK_FORMAT_XML)
	{
		appendStringInfoString(buf, XML_DECLARATION);
		if (batch)
			appendStringInfoString(buf, "<events " XSI_NAMESPACE ">");
	}
	else if (batch)
		appendStringInfoChar(buf, '[');
}

/* What comes between two events of a batch. */
void
webhook_body_separate(StringInfo buf, WebhookFormat format)
{
	if (format == WEBHOOK_FORMAT_JSON)
		appendStringInfoChar(buf, ',');
}

/* What comes after the last event of a POST body. */
void
webhook_body_close(StringInfo buf, WebhookFormat format, bool batch)
{
	if (!batch)
		return;
	appendStringInfoString(buf, format == WEBHOOK_FORMAT_XML ? "</events>" : "]");
}

/*
 * Append text that escape_xml has escaped, with the characters XML 1.0
 * forbids replaced (see the header comment).
 */
static void
append_xml_chars(StringInfo buf, const char *s)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8 ||
		GetDatabaseEncoding() == PG_SQL_ASCII;
	const char *replacement = "&#xFFFD;";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			appendStringInfoString(buf, replacement);
		else if (utf8 && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
		{
			appendStringInfoString(buf, replacement);
			p += 2;
		}
		else
			appendStringInfoChar(buf, (char) *p);
	}
}

/* Append a text value as XML character data. */
static void
append_text(StringInfo buf, const char *s)
{
	append_xml_chars(buf, escape_xml(s));
}

/* An SQL identifier or JSON key as an XML name (see the header comment). */
static char *
xml_name(const char *ident)
{
	if (*ident == '\0')
		return "_x0000_";		/* no identifier holds U+0000: unambiguous */
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
	{
		for (const unsigned char *p = (const unsigned char *) ident; *p; p++)
		{
			if (*p >= 0x80)
			{
				StringInfoData buf;

				initStringInfo(&buf);
				for (p = (const unsigned char *) ident; *p; p++)
				{
					bool		ok = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
								  (*p == '_' && p[1] != 'x')) &&
						!(p == (const unsigned char *) ident && pg_strncasecmp(ident, "xml", 3) == 0);

					ok = ok ||
						(p != (const unsigned char *) ident &&
						 ((*p >= '0' && *p <= '9') || *p == '-' || *p == '.'));

					if (ok)
						appendStringInfoChar(&buf, (char) *p);
					else
						appendStringInfo(&buf, "_x%04X_", (unsigned int) *p);
				}
				return buf.data;
			}
		}
	}
	return map_sql_identifier_to_xml_name(ident, true, false);
}

/* Parser state turning one stored row (JSON) into XML elements. */
typedef struct RowToXml
{
	StringInfo	buf;
	Oid			relid;			/* the watched table, to find bytea columns */
	int			depth;			/* of objects and arrays; the row is 1 */
	char	   *field;			/* the current top-level column */
} RowToXml;

static void
rx_object_start(void *state)
{
	((RowToXml *) state)->depth++;
}

static void
rx_object_end(void *state)
{
	((RowToXml *) state)->depth--;
}

static void
rx_field_start(void *state, char *fname, bool isnull)
{
	RowToXml   *rx = state;
	char	   *name = xml_name(fname);

	if (rx->depth == 1)
		rx->field = fname;
	appendStringInfo(rx->buf, isnull ? "<%s xsi:nil=\"true\"/>" : "<%s>", name);
}

static void
rx_field_end(void *state, char *fname, bool isnull)
{
	RowToXml   *rx = state;

	if (!isnull)
		appendStringInfo(rx->buf, "</%s>", xml_name(fname));
	if (rx->depth == 1)
		rx->field = NULL;
}

static void
rx_element_start(void *state, bool isnull)
{
	appendStringInfoString(((RowToXml *) state)->buf,
						   isnull ? "<element xsi:nil=\"true\"/>" : "<element>");
}

static void
rx_element_end(void *state, bool isnull)
{
	if (!isnull)
		appendStringInfoString(((RowToXml *) state)->buf, "</element>");
}

/* Is the current top-level column of the row a bytea (or a domain over one)? */
static bool
field_is_bytea(RowToXml *rx)
{
	AttrNumber	attno;

	if (rx->depth != 1 || rx->field == NULL || !OidIsValid(rx->relid))
		return false;
	attno = get_attnum(rx->relid, rx->field);
	return attno != InvalidAttrNumber &&
		getBaseType(get_atttype(rx->relid, attno)) == BYTEAOID;
}

static void
rx_scalar(void *state, char *token, JsonTokenType type)
{
	RowToXml   *rx = state;

	switch (type)
	{
		case JSON_TOKEN_NULL:
			break;				/* written as xsi:nil by the field or element */
		case JSON_TOKEN_STRING:
			if (token[0] == '\\' && token[1] == 'x' && field_is_bytea(rx))
			{
				Datum		bytes = DirectFunctionCall1(byteain, CStringGetDatum(token));

				appendStringInfoString(rx->buf,
									   map_sql_value_to_xml_value(bytes, BYTEAOID, true));
			}
			else
				append_text(rx->buf, token);
			break;
		default:				/* numbers, true, false */
			appendStringInfoString(rx->buf, token);
			break;
	}
}

/* Append <tag>row</tag> for a stored row, or <tag xsi:nil="true"/>. */
static void
append_row(StringInfo buf, const char *tag, text *row, Oid relid)
{
	RowToXml	rx;
	JsonSemAction sem;
	JsonLexContext *lex;

	if (row == NULL)
	{
		appendStringInfo(buf, "<%s xsi:nil=\"true\"/>", tag);
		return;
	}
	memset(&rx, 0, sizeof(rx));
	rx.buf = buf;
	rx.relid = relid;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &rx;
	sem.object_start = rx_object_start;
	sem.object_end = rx_object_end;
	sem.array_start = rx_object_start;
	sem.array_end = rx_object_end;
	sem.object_field_start = rx_field_start;
	sem.object_field_end = rx_field_end;
	sem.array_element_start = rx_element_start;
	sem.array_element_end = rx_element_end;
	sem.scalar = rx_scalar;

	appendStringInfo(buf, "<%s>", tag);
	lex = makeJsonLexContext(row, true);
	pg_parse_json_or_ereport(lex, &sem);
	appendStringInfo(buf, "</%s>", tag);
}

static text *
text_field(HeapTupleHeader q, const char *name)
{
	bool		isnull;
	Datum		d = GetAttributeByName(q, name, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

/* What an event's operation is called: its type, and its operation (NULL for a ping). */
static bool
event_names(char op, const char **type, const char **operation)
{
	switch (op)
	{
		case 'I':
			*type = "row.inserted", *operation = "INSERT";
			return true;
		case 'U':
			*type = "row.updated", *operation = "UPDATE";
			return true;
		case 'D':
			*type = "row.deleted", *operation = "DELETE";
			return true;
		case 'T':
			*type = "table.truncated", *operation = "TRUNCATE";
			return true;
		case 'P':
			*type = "webhook.ping", *operation = NULL;
			return true;
		default:
			return false;
	}
}

/* Append the "changed" columns of an update, as a JSON array of strings. */
static void
append_changed_json(StringInfo buf, Datum changed, bool isnull)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;

	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	deconstruct_array(DatumGetArrayTypeP(changed), TEXTOID, -1, false,
					  TYPALIGN_INT, &names, &nulls, &n);
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (nulls[i])
			appendStringInfoString(buf, "null");
		else
			escape_json(buf, TextDatumGetCString(names[i]));
	}
	appendStringInfoChar(buf, ']');
}

/* Append the JSON text of a stored row (json), or null. */
static void
append_json_row(StringInfo buf, text *row)
{
	if (row == NULL)
		appendStringInfoString(buf, "null");
	else
		appendBinaryStringInfo(buf, VARDATA_ANY(row), VARSIZE_ANY_EXHDR(row));
}

/*
 * The JSON body of one event, in the README's order: type, timestamp, data
 * (event_id, webhook, schema, table, operation, new, old, changed for
 * updates, truncated when the rows were too large to send, partition for
 * the TRUNCATE of a partition).  Compact, no spaces.
 */
static void
append_json_event(StringInfo buf, const WebhookEvent *ev, const char *webhook_name,
				  const char *type, const char *operation, const char *timestamp)
{
	appendStringInfo(buf, "{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":{\"event_id\":" INT64_FORMAT ",\"webhook\":",
					 type, timestamp, ev->event_id);
	escape_json(buf, webhook_name);
	if (operation != NULL)
	{
		appendStringInfoString(buf, ",\"schema\":");
		escape_json(buf, ev->schema);
		appendStringInfoString(buf, ",\"table\":");
		escape_json(buf, ev->table);
		appendStringInfo(buf, ",\"operation\":\"%s\",\"new\":", operation);
		append_json_row(buf, ev->new_row);
		appendStringInfoString(buf, ",\"old\":");
		append_json_row(buf, ev->old_row);
		if (ev->op == 'U')
		{
			appendStringInfoString(buf, ",\"changed\":");
			append_changed_json(buf, ev->changed, ev->changed_null);
		}
		if (ev->truncated)
			appendStringInfoString(buf, ",\"truncated\":true");
		if (ev->partition != NULL)
		{
			appendStringInfoString(buf, ",\"partition\":");
			append_json_row(buf, ev->partition);
		}
	}
	appendStringInfoString(buf, "}}");
}

/*
 * The <event> element of one event (see the header comment), with the
 * same fields as the JSON body.
 */
static void
append_xml_event(StringInfo buf, const WebhookEvent *ev, const char *webhook_name,
				 const char *type, const char *operation, const char *timestamp)
{
	appendStringInfo(buf, "<event " XSI_NAMESPACE " type=\"%s\" timestamp=\"%s\">", type, timestamp);
	appendStringInfo(buf, "<event_id>" INT64_FORMAT "</event_id><webhook>", ev->event_id);
	append_text(buf, webhook_name);
	appendStringInfoString(buf, "</webhook>");
	if (operation != NULL)
	{
		const char *schema = ev->schema;
		const char *table = ev->table;
		Oid			nsp = get_namespace_oid(schema, true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;

		appendStringInfoString(buf, "<schema>");
		append_text(buf, schema);
		appendStringInfoString(buf, "</schema><table>");
		append_text(buf, table);
		appendStringInfo(buf, "</table><operation>%s</operation>", operation);
		append_row(buf, "new", ev->new_row, relid);
		append_row(buf, "old", ev->old_row, relid);
		if (ev->op == 'U')
		{
			appendStringInfoString(buf, "<changed>");
			if (!ev->changed_null)
			{
				Datum	   *names;
				bool	   *nulls;
				int			n;

				deconstruct_array(DatumGetArrayTypeP(ev->changed), TEXTOID, -1, false,
								  TYPALIGN_INT, &names, &nulls, &n);
				for (int i = 0; i < n; i++)
				{
					if (nulls[i])
						continue;
					appendStringInfoString(buf, "<column>");
					append_text(buf, TextDatumGetCString(names[i]));
					appendStringInfoString(buf, "</column>");
				}
			}
			appendStringInfoString(buf, "</changed>");
		}
		if (ev->truncated)
			appendStringInfoString(buf, "<truncated>true</truncated>");
	}
	appendStringInfoString(buf, "</event>");
}

/*
 * Append the body of one event sent to the webhook named webhook_name, in
 * format, in the server encoding (webhook_body_to_utf8 converts it).
 * Returns false, appending nothing, when the stored event is damaged (an
 * unknown operation, an infinite capture time).  This is the one place a
 * body is built: the worker calls it for every delivery (from the queue or
 * the log), and the SQL functions webhook._body and webhook._body_xml show
 * what it builds.
 */
bool
webhook_event_body(StringInfo buf, const WebhookEvent *ev, const char *webhook_name,
				   WebhookFormat format)
{
	const char *type;
	const char *operation;
	struct pg_tm tm;
	fsec_t		fsec;
	char		timestamp[64];

	if (!event_names(ev->op, &type, &operation))
		return false;
	if (TIMESTAMP_NOT_FINITE(ev->at) || timestamp2tm(ev->at, NULL, &tm, &fsec, NULL, NULL) != 0)
		return false;
	snprintf(timestamp, sizeof(timestamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	if (format == WEBHOOK_FORMAT_XML)
		append_xml_event(buf, ev, webhook_name, type, operation, timestamp);
	else
		append_json_event(buf, ev, webhook_name, type, operation, timestamp);
	return true;
}

/* An event as a row of webhook.queue q holds it (pointing into q). */
void
webhook_event_from_queue(HeapTupleHeader q, WebhookEvent *ev)
{
	bool		isnull;
	text	   *t;

	ev->op = DatumGetChar(GetAttributeByName(q, "op", &isnull));
	ev->at = DatumGetTimestampTz(GetAttributeByName(q, "created_at", &isnull));
	if (isnull)
		ev->at = DT_NOEND;		/* damaged: no body */
	ev->event_id = DatumGetInt64(GetAttributeByName(q, "event_id", &isnull));
	t = text_field(q, "schema_name");
	ev->schema = t ? text_to_cstring(t) : "";
	t = text_field(q, "table_name");
	ev->table = t ? text_to_cstring(t) : "";
	ev->old_row = text_field(q, "old_row");
	ev->new_row = text_field(q, "new_row");
	ev->changed = GetAttributeByName(q, "changed", &ev->changed_null);
	ev->truncated = DatumGetBool(GetAttributeByName(q, "truncated", &isnull)) && !isnull;
	ev->partition = text_field(q, "truncated_partition");
}

/*
 * A body in the server encoding as UTF-8, in the current memory context.
 * SQL_ASCII data is not checked by PostgreSQL, so invalid UTF-8 in it
 * becomes U+FFFD.  If the text has no UTF-8 form (a conversion error),
 * returns NULL with *poison set to the reason: such an event can never be
 * sent, and fails alone rather than stall every claim.
 */
char *
webhook_body_to_utf8(char *body, char **poison)
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

/* The SQL functions: a body as text, or NULL if the stored event is damaged. */
static Datum
body_function(FunctionCallInfo fcinfo, WebhookFormat format)
{
	HeapTupleHeader q = PG_GETARG_HEAPTUPLEHEADER(0);
	char	   *webhook_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	WebhookEvent ev;
	StringInfoData buf;

	webhook_event_from_queue(q, &ev);
	initStringInfo(&buf);
	if (!webhook_event_body(&buf, &ev, webhook_name, format))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/* webhook._body(q webhook.queue, webhook_name text): the JSON body of an event */
Datum
webhook_body_json(PG_FUNCTION_ARGS)
{
	return body_function(fcinfo, WEBHOOK_FORMAT_JSON);
}

/* webhook._body_xml(q webhook.queue, webhook_name text): its <event> element */
Datum
webhook_body_xml(PG_FUNCTION_ARGS)
{
	return body_function(fcinfo, WEBHOOK_FORMAT_XML);
}
