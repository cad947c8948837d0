/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The extension's settings (GUCs): their variables, their definitions and
 *	  the checks of those that need parsing.
 *
 * Every part of the extension reads settings through settings.h; this file
 * depends on nothing but the parsers it calls (guard.c, retry.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "webhook.h"
#include "settings.h"

/* GUC variables */
int			webhook_max_workers = 8;
char	   *webhook_allowed_networks = NULL;
char	   *webhook_retry_schedule = NULL;
int			webhook_retention_s = 7 * 24 * 3600;
int			webhook_log_rotation_ms = 10000;
int			webhook_max_connections_per_host = 64;
int			webhook_max_connections_per_webhook = 8;
int			webhook_max_in_flight = 256;
int			webhook_response_body_limit = 1024;
int			webhook_disable_after_s = 5 * 24 * 3600;
int			webhook_max_payload_size = 1024 * 1024;
bool		webhook_row_order = true;

static bool
check_allowed_networks(char **newval, void **extra, GucSource source)
{
	WebhookNetwork *nets;
	int			nnets;
	char	   *bad;

	if (!webhook_parse_networks(*newval, &nets, &nnets, &bad))
	{
		GUC_check_errdetail("\"%s\" is not an IPv4 or IPv6 network in CIDR notation.", bad);
		free(bad);
		return false;
	}
	free(nets);
	return true;
}

static bool
check_retry_schedule(char **newval, void **extra, GucSource source)
{
	int		   *delays;
	int			ndelays;

	if (!webhook_parse_schedule(*newval, &delays, &ndelays))
	{
		GUC_check_errdetail("The retry schedule is a comma-separated list of delays such as \"5s,5min,30min,2h\".");
		return false;
	}
	free(delays);
	return true;
}

/*
 * Define the settings; from _PG_init.  Those that need the postmaster only
 * while the library is being preloaded.
 */
void
webhook_define_settings(void)
{
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("webhook.max_workers",
								"Most databases served at once, one delivery worker each.",
								"Each worker is a background worker process: max_worker_processes must leave room for them and the launcher.",
								&webhook_max_workers,
								8,
								1, WEBHOOK_MAX_WORKERS,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	DefineCustomStringVariable("webhook.allowed_networks",
							   "Comma-separated CIDR networks that webhooks may reach although they are loopback, private or link-local.",
							   NULL,
							   &webhook_allowed_networks,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_allowed_networks, NULL, NULL);

	DefineCustomStringVariable("webhook.retry_schedule",
							   "Comma-separated delays before each retry of a failed delivery.",
							   "The last delay repeats until max_attempts is reached.",
							   &webhook_retry_schedule,
							   "5s,5min,30min,2h,5h,10h,10h",
							   PGC_SIGHUP,
							   0,
							   check_retry_schedule, NULL, NULL);

	DefineCustomIntVariable("webhook.retention",
							"How long delivered and failed deliveries are kept.",
							NULL,
							&webhook_retention_s,
							7 * 24 * 3600,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.log_rotation",
							"How long writers append to one table of the event log before the next.",
							"A table every webhook has read past is emptied with TRUNCATE once older than webhook.retention.",
							&webhook_log_rotation_ms,
							10000,
							100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_connections_per_host",
							"Most connections the worker opens to one host and port, over all webhooks.",
							NULL,
							&webhook_max_connections_per_host,
							64,
							1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_connections_per_webhook",
							"Most requests of one webhook in flight at once.",
							"Each needs its own connection; webhooks with fifo = true send one at a time.",
							&webhook_max_connections_per_webhook,
							8,
							1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight",
							"Most deliveries of one webhook the worker holds at once.",
							"Requests beyond the connection limit wait in the worker, in event order.",
							&webhook_max_in_flight,
							256,
							1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.response_body_limit",
							"How much of a response body is kept in webhook.deliveries.",
							NULL,
							&webhook_response_body_limit,
							1024,
							0, 65536,
							PGC_SIGHUP,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.disable_after",
							"How long a webhook's deliveries may fail without a success before it is disabled.",
							NULL,
							&webhook_disable_after_s,
							5 * 24 * 3600,
							1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_payload_size",
							"Largest old and new row data sent in one event.",
							"Larger rows are sent as their key columns, with \"truncated\": true.",
							&webhook_max_payload_size,
							1024 * 1024,
							1024, 256 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	/*
	 * A developer option, as PostgreSQL's own are: off breaks SPEC's per-row
	 * order, and exists so that bench/run.sh can measure what that order
	 * costs a drain.
	 */
	DefineCustomBoolVariable("webhook.row_order",
							 "Sends each row's events one at a time, in commit order (developer option).",
							 "Off lets events of one row overtake each other: only for measuring what per-row order costs.",
							 &webhook_row_order,
							 true,
							 PGC_SIGHUP,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("webhook");
}
