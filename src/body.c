/*-------------------------------------------------------------------------
 *
 * body.c
 *	  Body formats: the XML body of format => 'xml', and the wrapping of
 *	  event bodies into a POST body for either format.
 *
 * An XML event carries the same fields as the JSON one (webhook._body), in
 * PostgreSQL's own XML conventions, those of query_to_xml:
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
#include "utils/jsonfuncs.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/xml.h"

#include "body.h"

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

/*
 * webhook._body_xml(q webhook.queue, webhook_name text): the <event>
 * element for a queued event, in the server encoding (the worker converts
 * the whole body to UTF-8).  NULL, like webhook._body, when the stored
 * event is damaged (an unknown operation, an infinite capture time).
 */
Datum
webhook_body_xml(PG_FUNCTION_ARGS)
{
	HeapTupleHeader q = PG_GETARG_HEAPTUPLEHEADER(0);
	char	   *webhook_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		isnull;
	char		op = DatumGetChar(GetAttributeByName(q, "op", &isnull));
	int64		event_id = DatumGetInt64(GetAttributeByName(q, "event_id", &isnull));
	TimestampTz created = DatumGetTimestampTz(GetAttributeByName(q, "created_at", &isnull));
	const char *type;
	const char *operation;
	struct pg_tm tm;
	fsec_t		fsec;
	StringInfoData buf;

	switch (op)
	{
		case 'I':
			type = "row.inserted", operation = "INSERT";
			break;
		case 'U':
			type = "row.updated", operation = "UPDATE";
			break;
		case 'D':
			type = "row.deleted", operation = "DELETE";
			break;
		case 'T':
			type = "table.truncated", operation = "TRUNCATE";
			break;
		case 'P':
			type = "webhook.ping", operation = NULL;
			break;
		default:
			PG_RETURN_NULL();
	}
	if (TIMESTAMP_NOT_FINITE(created) || timestamp2tm(created, NULL, &tm, &fsec, NULL, NULL) != 0)
		PG_RETURN_NULL();

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "<event " XSI_NAMESPACE " type=\"%s\" timestamp=\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\">",
					 type, tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					 (int) fsec);
	appendStringInfo(&buf, "<event_id>" INT64_FORMAT "</event_id><webhook>", event_id);
	append_text(&buf, webhook_name);
	appendStringInfoString(&buf, "</webhook>");
	if (operation != NULL)
	{
		char	   *schema = text_to_cstring(text_field(q, "schema_name"));
		char	   *table = text_to_cstring(text_field(q, "table_name"));
		Oid			nsp = get_namespace_oid(schema, true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;
		Datum		changed = GetAttributeByName(q, "changed", &isnull);

		appendStringInfoString(&buf, "<schema>");
		append_text(&buf, schema);
		appendStringInfoString(&buf, "</schema><table>");
		append_text(&buf, table);
		appendStringInfo(&buf, "</table><operation>%s</operation>", operation);
		append_row(&buf, "new", text_field(q, "new_row"), relid);
		append_row(&buf, "old", text_field(q, "old_row"), relid);
		if (op == 'U')
		{
			appendStringInfoString(&buf, "<changed>");
			if (!isnull)
			{
				Datum	   *names;
				bool	   *nulls;
				int			n;

				deconstruct_array(DatumGetArrayTypeP(changed), TEXTOID, -1, false,
								  TYPALIGN_INT, &names, &nulls, &n);
				for (int i = 0; i < n; i++)
				{
					if (nulls[i])
						continue;
					appendStringInfoString(&buf, "<column>");
					append_text(&buf, TextDatumGetCString(names[i]));
					appendStringInfoString(&buf, "</column>");
				}
			}
			appendStringInfoString(&buf, "</changed>");
		}
		if (DatumGetBool(GetAttributeByName(q, "truncated", &isnull)) && !isnull)
			appendStringInfoString(&buf, "<truncated>true</truncated>");
	}
	appendStringInfoString(&buf, "</event>");
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
