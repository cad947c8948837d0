/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The worker's HTTP client: libcurl's multi interface, driven by the
 *	  worker's WaitEventSet so that a latch, a signal or postmaster death is
 *	  seen at once however slow the receivers are.
 *
 * libcurl tells us which sockets it wants watched (socket callback) and when
 * it next needs a call (timer callback).  The sockets go into an epoll set
 * of our own, changed only when libcurl asks; the worker's WaitEventSet,
 * built once, watches that one descriptor next to its latch, and hands its
 * readiness back here.  (Rebuilding a WaitEventSet of every socket on each
 * turn of the loop cost about a tenth of the worker's time in a drain.)
 * Hence Linux only, as epoll is.  Connections live
 * in the multi handle's cache and are reused across requests, even across
 * webhooks that share a host; each host gets at most
 * webhook.max_connections_per_host of them.
 *
 * The callbacks run inside libcurl: they never palloc, ereport or check for
 * interrupts.  Response bodies are kept up to a cap allocated beforehand;
 * past RESPONSE_READ_LIMIT the transfer is aborted so that an endless body
 * cannot hold the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"

#include "webhook.h"
#include "settings.h"
#include "http.h"

PG_FUNCTION_INFO_V1(webhook_check_url);

/* read at most this much of a response body before giving up on it */
#define RESPONSE_READ_LIMIT (1024 * 1024)

/* connect timeout, unless the webhook's whole timeout is shorter */
#define CONNECT_TIMEOUT_MS 10000

static CURLM *multi = NULL;

/*
 * Easy handles of finished requests, reset and kept for the next ones:
 * creating a handle costs more than resetting one.  Connections live in
 * the multi handle either way.
 */
#define EASY_POOL_MAX 64
static CURL *easy_pool[EASY_POOL_MAX];
static int	easy_pooled = 0;
/* the epoll set of libcurl's sockets, and whether a socket is in it */
static int	poll_fd = -1;
static bool timer_set = false;
static int64 timer_deadline_ms = 0;
static WebhookNetwork *allowed = NULL;
static int	nallowed = 0;

static int64
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * libcurl socket callback: keep the epoll set up to date.  socketp is NULL
 * until a socket is first added (curl_multi_assign marks it then), so that
 * ADD and MOD are told apart without a search.
 */
static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct epoll_event ev = {0};

	if (what == CURL_POLL_REMOVE)
	{
		/* a socket already closed has left the set by itself */
		(void) epoll_ctl(poll_fd, EPOLL_CTL_DEL, fd, &ev);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	ev.data.fd = fd;
	if (socketp == NULL)
	{
		if (epoll_ctl(poll_fd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
			(errno != EEXIST || epoll_ctl(poll_fd, EPOLL_CTL_MOD, fd, &ev) != 0))
			return -1;
		curl_multi_assign(multi, fd, (void *) &poll_fd);
	}
	else if (epoll_ctl(poll_fd, EPOLL_CTL_MOD, fd, &ev) != 0 &&
			 (errno != ENOENT || epoll_ctl(poll_fd, EPOLL_CTL_ADD, fd, &ev) != 0))
		return -1;
	return 0;
}

/* libcurl timer callback: remember when curl wants to be called next */
static int
timer_callback(CURLM *m, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		timer_set = false;
	else
	{
		timer_set = true;
		timer_deadline_ms = monotonic_ms() + timeout_ms;
	}
	return 0;
}

/* keep the start of the body, count the rest, give up on endless bodies */
static size_t
write_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	WebhookRequest *req = (WebhookRequest *) userdata;
	size_t		n = size * nmemb;

	if (req->resp_len < req->resp_cap)
	{
		size_t		take = Min(n, req->resp_cap - req->resp_len);

		memcpy(req->resp + req->resp_len, ptr, take);
		req->resp_len += take;
	}
	req->resp_seen += n;
	if (req->resp_seen > RESPONSE_READ_LIMIT)
	{
		req->resp_aborted = true;
		return 0;				/* makes curl stop with CURLE_WRITE_ERROR */
	}
	return n;
}

/* the address guard: refuse to open a socket to a forbidden address */
static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	WebhookRequest *req = (WebhookRequest *) clientp;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (!webhook_address_allowed(&address->addr, allowed, nallowed))
	{
		if (address->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *) &address->addr)->sin_addr,
					  req->blocked_addr, sizeof(req->blocked_addr));
		else if (address->family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &address->addr)->sin6_addr,
					  req->blocked_addr, sizeof(req->blocked_addr));
		else
			strlcpy(req->blocked_addr, "a non-IP address", sizeof(req->blocked_addr));
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

static void
http_shutdown(int code, Datum arg)
{
	while (easy_pooled > 0)
		curl_easy_cleanup(easy_pool[--easy_pooled]);
	if (multi != NULL)
		curl_multi_cleanup(multi);
	multi = NULL;
	if (poll_fd >= 0)
		close(poll_fd);
	poll_fd = -1;
	curl_global_cleanup();
}

/* Initialise libcurl in the worker; cleaned up at process exit. */
void
webhook_http_start(void)
{
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	poll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (poll_fd < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create an epoll set for libcurl's sockets: %m")));
	on_proc_exit(http_shutdown, (Datum) 0);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	webhook_http_configure();
}

/* Apply the current settings (at start and after SIGHUP). */
void
webhook_http_configure(void)
{
	WebhookNetwork *nets;
	int			nnets;
	char	   *bad;

	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  (long) webhook_max_connections_per_host);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
					  (long) Max(64, webhook_max_connections_per_host * 2));

	if (webhook_parse_networks(webhook_allowed_networks, &nets, &nnets, &bad))
	{
		free(allowed);
		allowed = nets;
		nallowed = nnets;
	}
	else
		free(bad);				/* the GUC check hook already refused it */
}

/*
 * Create the easy handle for req.  The caller has set url, body, bodylen,
 * timeout_ms and resp/resp_cap; headers may be set until submit.  Returns
 * false with *error set if libcurl refuses.
 */
bool
webhook_http_prepare(WebhookRequest *req, char **error)
{
	CURL	   *easy = easy_pooled > 0 ? easy_pool[--easy_pooled] : curl_easy_init();

	req->code = CURLE_OK;
	req->status = 0;
	req->errbuf[0] = '\0';
	req->resp_len = 0;
	req->resp_seen = 0;
	req->resp_aborted = false;
	req->blocked_addr[0] = '\0';
	req->retry_after_s = -1;
	if (easy == NULL)
	{
		*error = "could not create a libcurl handle";
		return false;
	}
	req->easy = easy;

	if (curl_easy_setopt(easy, CURLOPT_URL, req->url) != CURLE_OK ||
		curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
		curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
	{
		*error = "URL rejected by libcurl";
		return false;
	}
	curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->bodylen);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, WEBHOOK_USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
					 Min(req->timeout_ms, (long) CONNECT_TIMEOUT_MS));
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, req);
	curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
	return true;
}

/* Replace the body of a prepared request (batch mode builds a new one). */
void
webhook_http_set_body(WebhookRequest *req, const char *body, size_t len)
{
	req->body = (char *) body;
	req->bodylen = len;
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
}

/* Start req (prepared, headers set). */
void
webhook_http_submit(WebhookRequest *req)
{
	CURLMcode	rc;

	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	rc = curl_multi_add_handle(multi, req->easy);
	if (rc != CURLM_OK)
		elog(ERROR, "curl_multi_add_handle failed: %s", curl_multi_strerror(rc));
}

/* The one descriptor that is readable when a socket of libcurl's is ready. */
pgsocket
webhook_http_poll_socket(void)
{
	return poll_fd;
}

/* The poll socket is readable: let libcurl make progress on what is ready. */
void
webhook_http_poll_ready(void)
{
	struct epoll_event ready[64];
	int			n;
	int			running;

	n = epoll_wait(poll_fd, ready, lengthof(ready), 0);
	for (int i = 0; i < n; i++)
	{
		int			mask = 0;

		if (ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			mask |= CURL_CSELECT_IN;
		if (ready[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			mask |= CURL_CSELECT_OUT;
		if (ready[i].events & EPOLLERR)
			mask |= CURL_CSELECT_ERR;
		curl_multi_socket_action(multi, ready[i].data.fd, mask, &running);
	}
}

/* Milliseconds until libcurl's timer fires, or -1 if none is set. */
long
webhook_http_timeout(void)
{
	int64		left;

	if (!timer_set)
		return -1;
	left = timer_deadline_ms - monotonic_ms();
	return left > 0 ? (long) left : 0;
}

/* Fire libcurl's timer if it is due. */
void
webhook_http_run_timers(void)
{
	int			running;

	if (timer_set && monotonic_ms() >= timer_deadline_ms)
	{
		timer_set = false;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
}

static int
parse_retry_after(const char *value)
{
	char	   *end;
	long		secs;
	time_t		when;

	while (*value == ' ')
		value++;
	secs = strtol(value, &end, 10);
	if (end != value && (*end == '\0' || *end == ' '))
		return secs < 0 ? -1 : (int) Min(secs, (long) PG_INT32_MAX);
	when = curl_getdate(value, NULL);
	if (when < 0)
		return -1;
	when -= time(NULL);
	return when < 0 ? 0 : (int) Min(when, (time_t) PG_INT32_MAX);
}

/*
 * A finished request with its result filled in, detached from libcurl, or
 * NULL when none has finished.
 */
WebhookRequest *
webhook_http_next_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		WebhookRequest *req;
		struct curl_header *h;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		req->code = msg->data.result;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
		if (curl_easy_header(req->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
			req->retry_after_s = parse_retry_after(h->value);
		curl_multi_remove_handle(multi, req->easy);
		return req;
	}
	return NULL;
}

/* Free what libcurl holds for req (not req itself). */
void
webhook_http_release(WebhookRequest *req)
{
	if (req->easy)
	{
		curl_multi_remove_handle(multi, req->easy);
		if (easy_pooled < EASY_POOL_MAX)
		{
			curl_easy_reset(req->easy);
			easy_pool[easy_pooled++] = req->easy;
		}
		else
			curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	if (req->headers)
		curl_slist_free_all(req->headers);
	req->headers = NULL;
}

/* A human-readable account of a failed transfer. */
void
webhook_http_error_text(WebhookRequest *req, char *buf, size_t len)
{
	if (req->blocked_addr[0] != '\0')
		snprintf(buf, len,
				 "connection to %s refused: address is loopback, private or reserved and not in webhook.allowed_networks",
				 req->blocked_addr);
	else if (req->never_sent)
		snprintf(buf, len, "%s", req->errbuf);
	else if (req->errbuf[0] != '\0')
		snprintf(buf, len, "%s: %s", curl_easy_strerror(req->code), req->errbuf);
	else
		snprintf(buf, len, "%s", curl_easy_strerror(req->code));
}

/*
 * webhook._check_url(url): ERROR unless url is an absolute http or https URL
 * with a host.
 */
Datum
webhook_check_url(PG_FUNCTION_ARGS)
{
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CURLU	   *h = curl_url();
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *port = NULL;
	bool		ok_scheme;
	bool		ok_host;
	bool		ok_port;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK)
	{
		curl_url_cleanup(h);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"url\" is not a valid URL: \"%s\"", url),
				 errdetail("%s.", curl_url_strerror(rc)),
				 errhint("Give an absolute URL such as https://example.com/hooks.")));
	}
	curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(h, CURLUPART_HOST, &host, 0);
	/* an explicit port must be 1 to 65535 (curl takes 0 as "the default") */
	ok_port = curl_url_get(h, CURLUPART_PORT, &port, 0) != CURLUE_OK ||
		(port != NULL && strtol(port, NULL, 10) > 0);
	curl_free(port);
	ok_scheme = scheme != NULL &&
		(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
	/* curl reads "http:///x" as host x; an empty authority is not a host */
	ok_host = host != NULL && host[0] != '\0' &&
		strstr(url, "://") != NULL && strstr(url, "://")[3] != '/';
	if (!ok_scheme)
	{
		char	   *s = pstrdup(scheme ? scheme : "");

		curl_free(scheme);
		curl_free(host);
		curl_url_cleanup(h);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"url\" has unsupported scheme \"%s\"", s),
				 errdetail("Webhooks are sent over http or https only.")));
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(h);
	if (!ok_host)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"url\" has no host: \"%s\"", url)));
	if (!ok_port)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"url\" has port 0: \"%s\"", url),
				 errdetail("A port is a number from 1 to 65535.")));
	PG_RETURN_VOID();
}
