/*-------------------------------------------------------------------------
 *
 * txn.c
 *	  The bracket of each of the worker's steps: a short transaction with
 *	  SPI connected, what pg_stat_activity shows between them, and what
 *	  happens after an ERROR in one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "worker.h"

/*
 * Begin a worker transaction with SPI connected and a snapshot.  Returns the
 * extension's OID, or InvalidOid if it is not installed (the transaction is
 * still open).
 */
Oid
webhook_begin_work(const char *what)
{
	Oid			ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	ext = get_extension_oid("webhook", true);
	if (OidIsValid(ext))
	{
		/*
		 * Hold the extension for the transaction, as DROP EXTENSION does
		 * before it drops anything: a drop then waits for this short
		 * transaction (or this one for the drop) instead of the two
		 * deadlocking over the extension's tables.  It may be gone by the
		 * time the lock is granted.
		 */
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
		if (get_extension_oid("webhook", true) != ext)
			ext = InvalidOid;
	}
	return ext;
}

/* what pg_stat_activity last showed between transactions (-1: something else) */
static int	reported_sending = -1;

/*
 * Show in pg_stat_activity what the worker does between its transactions:
 * "idle", or "sending N" while N requests are in flight.  Transactions show
 * their own step ("claiming", "recording", "purging").
 */
void
webhook_report_doing(void)
{
	HASH_SEQ_STATUS seq;
	HookSlot   *slot;
	int			n = 0;
	char		buf[32];

	if (webhook_windows.sending_changed)
	{
		int64		shown[WEBHOOK_SENDING_SHOWN];
		int			nshown = 0;

		hash_seq_init(&seq, webhook_windows.slots);
		while ((slot = hash_seq_search(&seq)) != NULL)
			for (int i = 0; i < slot->nbusy && nshown < WEBHOOK_SENDING_SHOWN; i++)
				shown[nshown++] = slot->busy[i].id;
		webhook_worker_show_sending(shown, nshown);
		webhook_windows.sending_changed = false;
	}
	hash_seq_init(&seq, webhook_windows.slots);
	while ((slot = hash_seq_search(&seq)) != NULL)
		n += slot->sending;
	if (n == reported_sending)
		return;
	reported_sending = n;
	if (n == 0)
		pgstat_report_activity(STATE_IDLE, "idle");
	else
	{
		snprintf(buf, sizeof(buf), "sending %d", n);
		pgstat_report_activity(STATE_RUNNING, buf);
	}
}

void
webhook_end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);	/* so that autovacuum sees the churn */
	pgstat_report_activity(STATE_IDLE, NULL);
	reported_sending = -1;
	MemoryContextSwitchTo(webhook_windows.loop_cxt);
}

/* LOG each webhook a statement just disabled: it returned (name, reason, id). */
void
webhook_log_disabled(void)
{
	for (uint64 i = 0; i < SPI_processed; i++)
		ereport(LOG,
				(errmsg("webhook \"%s\" (id %s) disabled: %s",
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3),
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2))));
}

/*
 * Is this error probably not the event's fault (deadlock, resources, state,
 * I/O), so that the claim should fail and be tried again?
 */
bool
webhook_transient_error(ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * After an ERROR in one of the worker's transactions: report it, abort the
 * transaction and go on.  What the failed step would have written is redone
 * later (a claim rolls back; outcomes are kept and recorded again).
 */
void
webhook_recover_from_error(void)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	pgstat_report_activity(STATE_IDLE, NULL);
	reported_sending = -1;
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(webhook_windows.loop_cxt);
}
