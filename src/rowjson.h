/*-------------------------------------------------------------------------
 *
 * rowjson.h
 *	  A row as JSON, as row_to_json writes it, with per-relation caching
 *	  (rowjson.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ROWJSON_H
#define WEBHOOK_ROWJSON_H

#include "access/htup.h"
#include "utils/relcache.h"

extern Datum webhook_row_json(Relation rel, HeapTuple tuple);

#endif							/* WEBHOOK_ROWJSON_H */
