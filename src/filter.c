/*-------------------------------------------------------------------------
 *
 * filter.c
 *	  Filters of a table webhook: columns and condition.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_FUNCTION_INFO_V1(webhook_check_filter);

/* webhook._check_filter(relation, columns, condition): not built yet */
Datum
webhook_check_filter(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(1) || !PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("arguments \"columns\" and \"condition\" are not supported yet")));
	PG_RETURN_VOID();
}
