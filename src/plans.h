/*-------------------------------------------------------------------------
 *
 * plans.h
 *	  Helpers for the worker's SQL statements: plans kept for the worker's
 *	  life, and arrays passed as their parameters (plans.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PLANS_H
#define WEBHOOK_PLANS_H

#include "postgres.h"

#include "executor/spi.h"

extern SPIPlanPtr webhook_keep_plan(const char *sql, int nargs, Oid *argtypes);
extern Datum webhook_make_array(Datum *values, bool *nulls, int n, Oid elemtype);

#endif							/* WEBHOOK_PLANS_H */
