/*-------------------------------------------------------------------------
 *
 * rowjson.c
 *	  A row as JSON, exactly as row_to_json writes it, with what can be
 *	  worked out once per relation worked out once.
 *
 * row_to_json looks up, for every column of every row, the column's type
 * category and output function (syscache lookups and an fmgr_info each
 * time), and first copies the whole row into a composite datum.  The
 * capture trigger serialises every row it queues, so this file keeps, per
 * relation and backend, each column's escaped "name": key, its category
 * (the one json.c's json_categorize_type gives, domains looked through) and
 * its output or cast function, and then writes each row straight from its
 * deformed values.  Arrays and composite columns are written by
 * array_to_json and row_to_json themselves, so every value comes out byte
 * for byte as row_to_json would write it (sql/capture.sql compares them).
 *
 * The commonest types skip the output function: integers are written with
 * the digits int2out/int4out/int8out would give, text and varchar are
 * escaped straight from the datum, and a date or time column remembers its
 * last value and how it was written (in the session's time zone, for a
 * timestamptz), since the rows of a statement so often share one.  The
 * result is built in place as a text datum: no copy.
 *
 * The cache is dropped by a relcache callback for the relation.  A
 * callback can run in the middle of a serialisation (a syscache miss takes a
 * lock, and taking a lock processes invalidations), so a dropped entry is
 * only freed at the next outermost call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "pgtime.h"

#include "rowjson.h"

/* json.c's categories, as far as writing a value needs them */
typedef enum ColumnKind
{
	KIND_DROPPED,
	KIND_BOOL,
	KIND_INT2,					/* integers: written without their output function */
	KIND_INT4,
	KIND_INT8,
	KIND_NUMERIC,				/* output, bare if a valid JSON number */
	KIND_TEXT,					/* text and varchar: escaped from the datum */
	KIND_DATE,
	KIND_TIMESTAMP,
	KIND_TIMESTAMPTZ,
	KIND_JSON,					/* output as is */
	KIND_ARRAY,
	KIND_COMPOSITE,
	KIND_CAST,					/* a cast function to json */
	KIND_OTHER					/* output, as a JSON string */
} ColumnKind;

typedef struct ColumnWriter
{
	ColumnKind	kind;
	char	   *key;			/* "name": (with the separator before it) */
	int			keylen;
	FmgrInfo	func;			/* output or cast function, if any */

	/*
	 * Dates and times: the last value written, and how, since the rows of
	 * one statement often share one (a default of now()).  A timestamptz is
	 * written in the session's time zone: the zone is part of the key.
	 */
	bool		has_last;
	Datum		last;
	pg_tz	   *last_zone;
	int			lastlen;
	char		lastout[MAXDATELEN + 3];
} ColumnWriter;

typedef struct RowWriter
{
	Oid			relid;			/* hash key */
	MemoryContext cxt;			/* holds the columns; NULL once dropped */
	int			natts;
	ColumnWriter *cols;
} RowWriter;

static HTAB *writers = NULL;
static RowWriter *last_writer = NULL;	/* the previous row's, until an invalidation */
static List *dropped = NIL;		/* contexts to free when none is in use */
static int	depth = 0;

static void
rowjson_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	RowWriter  *w;
	MemoryContext old;

	if (writers == NULL)
		return;
	last_writer = NULL;
	hash_seq_init(&seq, writers);
	while ((w = hash_seq_search(&seq)) != NULL)
	{
		if (relid != InvalidOid && w->relid != relid)
			continue;
		old = MemoryContextSwitchTo(TopMemoryContext);
		dropped = lappend(dropped, w->cxt);
		MemoryContextSwitchTo(old);
		hash_search(writers, &w->relid, HASH_REMOVE, NULL);
	}
}

/* What json_categorize_type makes of a column of type typoid. */
static ColumnKind
column_kind(Oid typoid, Oid *func)
{
	bool		varlena;

	typoid = getBaseType(typoid);
	*func = InvalidOid;
	switch (typoid)
	{
		case BOOLOID:
			return KIND_BOOL;
		case INT2OID:
			return KIND_INT2;
		case INT4OID:
			return KIND_INT4;
		case INT8OID:
			return KIND_INT8;
		case TEXTOID:
		case VARCHAROID:
			return KIND_TEXT;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			getTypeOutputInfo(typoid, func, &varlena);
			return KIND_NUMERIC;
		case DATEOID:
			return KIND_DATE;
		case TIMESTAMPOID:
			return KIND_TIMESTAMP;
		case TIMESTAMPTZOID:
			return KIND_TIMESTAMPTZ;
		case JSONOID:
		case JSONBOID:
			getTypeOutputInfo(typoid, func, &varlena);
			return KIND_JSON;
		default:
			break;
	}
	if (OidIsValid(get_element_type(typoid)) || typoid == ANYARRAYOID ||
		typoid == ANYCOMPATIBLEARRAYOID || typoid == RECORDARRAYOID)
		return KIND_ARRAY;
	if (type_is_rowtype(typoid))
		return KIND_COMPOSITE;
	if (typoid >= FirstNormalObjectId)
	{
		Oid			castfunc;

		if (find_coercion_pathway(JSONOID, typoid, COERCION_EXPLICIT, &castfunc) ==
			COERCION_PATH_FUNC && OidIsValid(castfunc))
		{
			*func = castfunc;
			return KIND_CAST;
		}
	}
	getTypeOutputInfo(typoid, func, &varlena);
	return KIND_OTHER;
}

/* Work out how to write each column of rel (cold path). */
static RowWriter *
writer_for(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	RowWriter  *w;
	RowWriter	fresh;
	bool		found;
	bool		first = true;
	MemoryContext old;
	StringInfoData key;

	if (writers == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RowWriter);
		writers = hash_create("webhook row writers", 64, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(rowjson_relcache_callback, (Datum) 0);
	}
	if (last_writer != NULL && last_writer->relid == relid && last_writer->natts == desc->natts)
		return last_writer;
	w = hash_search(writers, &relid, HASH_FIND, &found);
	if (found && w->natts == desc->natts)
		return last_writer = w;

	/* build it first: a lookup below may process invalidations */
	fresh.relid = relid;
	fresh.natts = desc->natts;
	fresh.cxt = AllocSetContextCreate(CacheMemoryContext, "webhook row writer",
									  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(fresh.cxt);
	fresh.cols = palloc0(sizeof(ColumnWriter) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ColumnWriter *c = &fresh.cols[i];
		Oid			func;

		if (att->attisdropped)
		{
			c->kind = KIND_DROPPED;
			continue;
		}
		c->kind = column_kind(att->atttypid, &func);
		if (OidIsValid(func))
			fmgr_info_cxt(func, &c->func, fresh.cxt);
		initStringInfo(&key);
		if (!first)
			appendStringInfoChar(&key, ',');
		first = false;
		escape_json(&key, NameStr(att->attname));
		appendStringInfoChar(&key, ':');
		c->key = key.data;
		c->keylen = key.len;
	}
	MemoryContextSwitchTo(old);

	w = hash_search(writers, &relid, HASH_ENTER, &found);
	if (found)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		dropped = lappend(dropped, w->cxt);
		MemoryContextSwitchTo(old);
	}
	*w = fresh;
	return last_writer = w;
}

/* escape_json's short forms of control characters; the others are \\u00XX */
static const char *const control_escapes[' '] = {
	['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"
};

/*
 * Append s (len bytes) as a JSON string, exactly as escape_json does, but
 * a run of characters that need no escape at a time.
 */
static void
escape_json_len(StringInfo buf, const char *s, int len)
{
	const char *end = s + len;

	appendStringInfoCharMacro(buf, '"');
	while (s < end)
	{
		const char *run = s;

		while (s < end && (unsigned char) *s >= ' ' && *s != '"' && *s != '\\')
			s++;
		if (s > run)
			appendBinaryStringInfo(buf, run, s - run);
		if (s == end)
			break;
		if (*s == '"')
			appendBinaryStringInfo(buf, "\\\"", 2);
		else if (*s == '\\')
			appendBinaryStringInfo(buf, "\\\\", 2);
		else if (control_escapes[(unsigned char) *s] != NULL)
			appendBinaryStringInfo(buf, control_escapes[(unsigned char) *s], 2);
		else
			appendStringInfo(buf, "\\u%04x", (int) *s);
		s++;
	}
	appendStringInfoCharMacro(buf, '"');
}

/* Append a date or time value, quoted, as JsonEncodeDateTime writes it. */
static void
write_datetime(StringInfo buf, ColumnWriter *c, Datum val, Oid typoid)
{
	pg_tz	   *zone = typoid == TIMESTAMPTZOID ? session_timezone : NULL;

	if (!c->has_last || c->last != val || c->last_zone != zone)
	{
		c->lastout[0] = '"';
		JsonEncodeDateTime(c->lastout + 1, val, typoid, NULL);
		c->lastlen = strlen(c->lastout);
		c->lastout[c->lastlen++] = '"';
		c->last = val;
		c->last_zone = zone;
		c->has_last = true;
	}
	appendBinaryStringInfo(buf, c->lastout, c->lastlen);
}

/* Append one non-null value the way json.c's datum_to_json does. */
static void
write_value(StringInfo buf, ColumnWriter *c, Datum val)
{
	char	   *out;

	switch (c->kind)
	{
		case KIND_BOOL:
			if (DatumGetBool(val))
				appendBinaryStringInfo(buf, "true", 4);
			else
				appendBinaryStringInfo(buf, "false", 5);
			break;
		case KIND_INT2:
		case KIND_INT4:
		case KIND_INT8:
			/* int2out, int4out and int8out write these very digits */
			enlargeStringInfo(buf, MAXINT8LEN + 1);
			buf->len += pg_lltoa(c->kind == KIND_INT2 ? DatumGetInt16(val) :
								 c->kind == KIND_INT4 ? DatumGetInt32(val) :
								 DatumGetInt64(val), buf->data + buf->len);
			break;
		case KIND_NUMERIC:
			out = OutputFunctionCall(&c->func, val);
			if (IsValidJsonNumber(out, strlen(out)))
				appendStringInfoString(buf, out);
			else
				escape_json(buf, out);
			pfree(out);
			break;
		case KIND_TEXT:
			{
				/* textout and varcharout are the text itself */
				text	   *t = DatumGetTextPP(val);

				escape_json_len(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				if ((Pointer) t != DatumGetPointer(val))
					pfree(t);
			}
			break;
		case KIND_DATE:
			write_datetime(buf, c, val, DATEOID);
			break;
		case KIND_TIMESTAMP:
			write_datetime(buf, c, val, TIMESTAMPOID);
			break;
		case KIND_TIMESTAMPTZ:
			write_datetime(buf, c, val, TIMESTAMPTZOID);
			break;
		case KIND_JSON:
			out = OutputFunctionCall(&c->func, val);
			appendStringInfoString(buf, out);
			pfree(out);
			break;
		case KIND_ARRAY:
			out = TextDatumGetCString(DirectFunctionCall1(array_to_json, val));
			appendStringInfoString(buf, out);
			pfree(out);
			break;
		case KIND_COMPOSITE:
			out = TextDatumGetCString(DirectFunctionCall1(row_to_json, val));
			appendStringInfoString(buf, out);
			pfree(out);
			break;
		case KIND_CAST:
			out = TextDatumGetCString(FunctionCall1(&c->func, val));
			appendStringInfoString(buf, out);
			pfree(out);
			break;
		case KIND_OTHER:
			out = OutputFunctionCall(&c->func, val);
			escape_json_len(buf, out, strlen(out));
			pfree(out);
			break;
		case KIND_DROPPED:
			break;
	}
}

/*
 * Row tuple of relation rel as a json datum, as row_to_json would write it,
 * in the current memory context.
 */
Datum
webhook_row_json(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	RowWriter  *w;
	ColumnWriter *cols;
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	Datum		values_here[64];
	bool		nulls_here[64];
	StringInfoData buf;
	volatile Datum result = (Datum) 0;

	if (depth == 0 && dropped != NIL)
	{
		ListCell   *lc;

		foreach(lc, dropped)
			MemoryContextDelete((MemoryContext) lfirst(lc));
		list_free(dropped);
		dropped = NIL;
	}

	depth++;
	PG_TRY();
	{
		/* an invalidation may drop w meanwhile; its columns live on */
		w = writer_for(rel);
		cols = w->cols;
		natts = w->natts;
		if (desc->natts <= lengthof(values_here))
		{
			values = values_here;
			nulls = nulls_here;
		}
		else
		{
			values = palloc(sizeof(Datum) * desc->natts);
			nulls = palloc(sizeof(bool) * desc->natts);
		}
		heap_deform_tuple(tuple, desc, values, nulls);

		/* written in place after a text header: the buffer is the result */
		initStringInfo(&buf);
		buf.len = VARHDRSZ;
		appendStringInfoChar(&buf, '{');
		for (int i = 0; i < natts; i++)
		{
			ColumnWriter *c = &cols[i];

			if (c->kind == KIND_DROPPED)
				continue;
			appendBinaryStringInfo(&buf, c->key, c->keylen);
			if (nulls[i])
				appendBinaryStringInfo(&buf, "null", 4);
			else
				write_value(&buf, c, values[i]);
		}
		appendStringInfoChar(&buf, '}');
		SET_VARSIZE(buf.data, buf.len);
		result = PointerGetDatum(buf.data);
		if (values != values_here)
		{
			pfree(values);
			pfree(nulls);
		}
	}
	PG_FINALLY();
	{
		depth--;
	}
	PG_END_TRY();
	return result;
}

/*
 * The thin form of a row too large to send: a JSON object of its replica
 * identity (by default primary key) columns, or NULL if it has none.
 */
Datum
webhook_row_key_json(Relation rel, HeapTuple tuple, const AttrNumber *keys, int n)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData buf;

	if (n == 0)
		return (Datum) 0;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, keys[i] - 1);
		bool		isnull;
		Datum		v = heap_getattr(tuple, keys[i], tupdesc, &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, NameStr(att->attname));
		appendStringInfoChar(&buf, ':');
		if (isnull)
			appendStringInfoString(&buf, "null");
		else
		{
			Oid			typoutput;
			bool		varlena;
			char	   *out;

			getTypeOutputInfo(att->atttypid, &typoutput, &varlena);
			out = OidOutputFunctionCall(typoutput, v);
			if ((att->atttypid == INT2OID || att->atttypid == INT4OID ||
				 att->atttypid == INT8OID || att->atttypid == NUMERICOID) &&
				strspn(out, "-0123456789.") == strlen(out))
				appendStringInfoString(&buf, out);
			else
				escape_json(&buf, out);
		}
	}
	appendStringInfoChar(&buf, '}');
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}
