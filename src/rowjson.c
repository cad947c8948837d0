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
 * for byte as row_to_json would write it.
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

#include "rowjson.h"

/* json.c's categories, as far as writing a value needs them */
typedef enum ColumnKind
{
	KIND_DROPPED,
	KIND_BOOL,
	KIND_NUMERIC,				/* output, bare if a valid JSON number */
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
	FmgrInfo	func;			/* output or cast function, if any */
} ColumnWriter;

typedef struct RowWriter
{
	Oid			relid;			/* hash key */
	MemoryContext cxt;			/* holds the columns; NULL once dropped */
	int			natts;
	ColumnWriter *cols;
} RowWriter;

static HTAB *writers = NULL;
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
		case INT4OID:
		case INT8OID:
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
	w = hash_search(writers, &relid, HASH_FIND, &found);
	if (found && w->natts == desc->natts)
		return w;

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
	return w;
}

/* Append one non-null value the way json.c's datum_to_json does. */
static void
write_value(StringInfo buf, ColumnWriter *c, Datum val)
{
	char		dt[MAXDATELEN + 1];
	char	   *out;

	switch (c->kind)
	{
		case KIND_BOOL:
			appendStringInfoString(buf, DatumGetBool(val) ? "true" : "false");
			break;
		case KIND_NUMERIC:
			out = OutputFunctionCall(&c->func, val);
			if (IsValidJsonNumber(out, strlen(out)))
				appendStringInfoString(buf, out);
			else
				escape_json(buf, out);
			pfree(out);
			break;
		case KIND_DATE:
			JsonEncodeDateTime(dt, val, DATEOID, NULL);
			appendStringInfo(buf, "\"%s\"", dt);
			break;
		case KIND_TIMESTAMP:
			JsonEncodeDateTime(dt, val, TIMESTAMPOID, NULL);
			appendStringInfo(buf, "\"%s\"", dt);
			break;
		case KIND_TIMESTAMPTZ:
			JsonEncodeDateTime(dt, val, TIMESTAMPTZOID, NULL);
			appendStringInfo(buf, "\"%s\"", dt);
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
			escape_json(buf, out);
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
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(tuple, desc, values, nulls);
		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		for (int i = 0; i < natts; i++)
		{
			ColumnWriter *c = &cols[i];

			if (c->kind == KIND_DROPPED)
				continue;
			appendStringInfoString(&buf, c->key);
			if (nulls[i])
				appendStringInfoString(&buf, "null");
			else
				write_value(&buf, c, values[i]);
		}
		appendStringInfoChar(&buf, '}');
		result = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
		pfree(buf.data);
		pfree(values);
		pfree(nulls);
	}
	PG_FINALLY();
	{
		depth--;
	}
	PG_END_TRY();
	return result;
}
