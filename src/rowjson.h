/*-------------------------------------------------------------------------
 *
 * rowjson.h
 *	  A row as JSON, as row_to_json writes it, with per-relation caching,
 *	  and the thin form of a row too large to send (rowjson.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ROWJSON_H
#define WEBHOOK_ROWJSON_H

#include "access/attnum.h"
#include "access/htup.h"
#include "utils/relcache.h"

extern Datum webhook_row_json(Relation rel, HeapTuple tuple);
extern Datum webhook_row_key_json(Relation rel, HeapTuple tuple, const AttrNumber *keys,
								  int n);

#endif							/* WEBHOOK_ROWJSON_H */
