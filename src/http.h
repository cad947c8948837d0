/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The worker's HTTP client: libcurl's multi interface driven from a
 *	  PostgreSQL WaitEventSet.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_HTTP_H
#define WEBHOOK_HTTP_H

#include <curl/curl.h>

#include "lib/ilist.h"
#include "storage/latch.h"

/*
 * One POST.  The worker fills the request part, http.c the result part.
 * Everything is allocated (outside curl callbacks) in the memory context
 * given to webhook_http_prepare and lives until the worker frees it.
 */
typedef struct WebhookRequest
{
	dlist_node	node;			/* in the worker's per-webhook list */
	int64		delivery_id;
	int32		hook_id;
	int32		attempts;		/* including this one */
	int32		max_attempts;
	Oid			extension;		/* the extension the row belongs to */

	CURL	   *easy;
	struct curl_slist *headers;
	char	   *url;
	char	   *body;
	size_t		bodylen;
	long		timeout_ms;

	/* result */
	CURLcode	code;
	long		status;			/* HTTP status, 0 if no response */
	char		errbuf[CURL_ERROR_SIZE];
	char	   *resp;			/* first resp_cap bytes of the body */
	size_t		resp_cap;
	size_t		resp_len;
	size_t		resp_seen;		/* all body bytes read */
	bool		resp_aborted;	/* stopped reading an oversized body */
	char		blocked_addr[64];	/* address refused by the guard, if any */
	bool		never_sent;		/* errbuf says why it cannot be sent at all */
	int			retry_after_s;	/* -1 if absent */
} WebhookRequest;

extern void webhook_http_start(void);
extern void webhook_http_configure(void);
extern bool webhook_http_prepare(WebhookRequest *req, char **error);
extern void webhook_http_submit(WebhookRequest *req);
extern void webhook_http_set_body(WebhookRequest *req, const char *body, size_t len);
extern pgsocket webhook_http_poll_socket(void);
extern void webhook_http_poll_ready(void);
extern long webhook_http_timeout(void);
extern void webhook_http_run_timers(void);
extern WebhookRequest *webhook_http_next_done(void);
extern void webhook_http_release(WebhookRequest *req);
extern void webhook_http_error_text(WebhookRequest *req, char *buf, size_t len);

#endif							/* WEBHOOK_HTTP_H */
