/*-------------------------------------------------------------------------
 *
 * views.c
 *	  What the views read of the event log without unpacking it in SQL.
 *
 * webhook.webhooks counts a webhook's pending events per chunk of the log
 * rather than per event: a chunk holds up to 256 changes, each with the
 * mask of the webhooks it is for, and this walks the chunk's array in C
 * (one detoast) instead of unnesting it into rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(webhook_chunk_pending);

/* the fields of webhook.change this reads (attribute numbers) */
#define CHANGE_AT 2
#define CHANGE_MASK 3

/*
 * webhook._chunk_pending(changes webhook.change[], first_id bigint,
 *                        bit integer, after bigint,
 *                        OUT n bigint, OUT oldest timestamptz)
 *
 * Of the changes of one chunk whose event ids (first_id for the first) are
 * above after, how many are for the webhook at position bit (from 1) of
 * the chunk's hooks, and when the oldest of them was captured (NULL if
 * none).  A bit outside 1..32 (NULL: the webhook is not among the chunk's)
 * counts nothing.
 */
Datum
webhook_chunk_pending(PG_FUNCTION_ARGS)
{
	ArrayType  *changes;
	int64		first_id;
	int64		after;
	int32		bit;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	TupleDesc	change_desc;
	TupleDesc	result_desc;
	int64		n = 0;
	TimestampTz oldest = 0;
	bool		any = false;
	Datum		values[2];
	bool		result_nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "webhook._chunk_pending must return a record");
	result_desc = BlessTupleDesc(result_desc);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > 32)
		nelems = 0;
	else
	{
		changes = PG_GETARG_ARRAYTYPE_P(0);
		first_id = PG_GETARG_INT64(1);
		bit = PG_GETARG_INT32(2);
		after = PG_ARGISNULL(3) ? PG_INT64_MIN : PG_GETARG_INT64(3);
		elemtype = ARR_ELEMTYPE(changes);
		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		deconstruct_array(changes, elemtype, typlen, typbyval, typalign,
						  &elems, &nulls, &nelems);
		change_desc = lookup_rowtype_tupdesc(elemtype, -1);
		for (int i = 0; i < nelems; i++)
		{
			HeapTupleHeader h;
			HeapTupleData tuple;
			bool		isnull;
			int32		mask;

			if (nulls[i] || first_id + i <= after)
				continue;
			h = DatumGetHeapTupleHeader(elems[i]);
			tuple.t_len = HeapTupleHeaderGetDatumLength(h);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = InvalidOid;
			tuple.t_data = h;
			mask = DatumGetInt32(heap_getattr(&tuple, CHANGE_MASK, change_desc, &isnull));
			if (isnull || (mask & (int32) (UINT32_C(1) << (bit - 1))) == 0)
				continue;
			n++;
			{
				TimestampTz at = DatumGetTimestampTz(heap_getattr(&tuple, CHANGE_AT,
																  change_desc, &isnull));

				if (!isnull && (!any || at < oldest))
				{
					oldest = at;
					any = true;
				}
			}
		}
		ReleaseTupleDesc(change_desc);
	}

	values[0] = Int64GetDatum(n);
	values[1] = TimestampTzGetDatum(oldest);
	result_nulls[1] = !any;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, values, result_nulls)));
}
