/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  Declarations shared by the subsystems of the webhook extension.
 *
 * The extension has two paths.  The writer's path (capture.c) runs inside
 * the user's transaction: a row trigger queues an event in webhook.queue
 * and asks for the worker to be woken at commit (webhook.c).  The delivery
 * path (worker.c) is one background worker that claims due events, posts
 * them with libcurl (http.c), signs them (sign.c), checks where it connects
 * (guard.c) and records the outcome.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include "postgres.h"

#include <sys/socket.h>

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define WEBHOOK_VERSION "1.0"
#define WEBHOOK_USER_AGENT "pg-webhook/" WEBHOOK_VERSION

/*
 * Shared state: how backends find the worker's latch.  The worker publishes
 * its latch at start and clears it at exit; writers read it at commit.  A
 * committed GRANT, REVOKE, ALTER TABLE or role change sets check_owners, so
 * that the worker checks webhook owners' privileges before its next claim.
 */
typedef struct WebhookShared
{
	slock_t		mutex;
	Latch	   *worker_latch;	/* NULL while no worker runs */
	bool		check_owners;
	pg_atomic_uint64 hooks_generation;	/* bumped when a pause or resume commits */
} WebhookShared;

extern WebhookShared *webhook_shared;

/* GUCs (webhook.c) */
extern char *webhook_database_name;
extern char *webhook_allowed_networks;
extern char *webhook_retry_schedule;
extern int	webhook_retention_s;
extern int	webhook_log_rotation_ms;
extern int	webhook_max_connections_per_host;
extern int	webhook_max_connections_per_webhook;
extern int	webhook_max_in_flight;
extern int	webhook_response_body_limit;
extern int	webhook_disable_after_s;
extern int	webhook_max_payload_size;

/* webhook.c */
extern void webhook_request_wake(void);
extern void webhook_wake_worker(void);
extern bool webhook_take_check_owners(void);
extern void webhook_note_hooks_changed(void);
extern void webhook_note_inactive_event(void);
extern bool webhook_truncating(Oid relid);

/* eventlog.c: a statement ended; write what it captured */
extern void webhook_capture_release(void);

/* worker.c */
extern PGDLLEXPORT void webhook_worker_main(Datum main_arg);

/* guard.c: the outbound address guard */
typedef struct WebhookNetwork
{
	int			family;			/* AF_INET or AF_INET6 */
	uint8		addr[16];
	int			prefix;
} WebhookNetwork;

extern bool webhook_parse_networks(const char *value, WebhookNetwork **nets,
								   int *nnets, char **bad);
extern bool webhook_address_allowed(const struct sockaddr *sa,
									const WebhookNetwork *allowed, int nallowed);

/* sign.c */
#define WEBHOOK_MAX_KEY 64
/* the current secret and at most 5 old ones (webhook.rotate_secret) */
#define WEBHOOK_MAX_SECRETS 6
extern bool webhook_decode_secret(const char *secret, uint8 *key, int *keylen);
extern char *webhook_signature(const uint8 *key, int keylen, const char *msg_id,
							   int64 ts, const char *body, size_t bodylen);

/* retry schedule (worker.c) */
extern bool webhook_parse_schedule(const char *value, int **delays_ms, int *ndelays);

#endif							/* WEBHOOK_H */
