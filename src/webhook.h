/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  Declarations shared by the subsystems of the webhook extension.
 *
 * The extension has two paths.  The writer's path (capture.c, eventlog.c)
 * runs inside the user's transaction: a row trigger appends the change to
 * the event log and asks for its database's worker to be woken at commit
 * (wake.c).  The delivery path (worker.c and the files worker.h lists) is
 * one background worker per database with the extension, started by a
 * launcher (launcher.c); it reads the log through each webhook's cursor
 * (cursor.c), posts with libcurl (http.c), signs (sign.c), checks where it
 * connects (guard.c) and records the outcome.  Settings are in settings.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include "postgres.h"

#include <sys/socket.h>

#include "nodes/nodes.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define WEBHOOK_VERSION "1.0"
#define WEBHOOK_USER_AGENT "pg-webhook/" WEBHOOK_VERSION

/*
 * Shared state (slots.c explains who touches what).  One slot per
 * running worker, webhook.max_workers of them: a writer finds the worker of
 * its database there (dboid) to set its latch at commit.  check_owners is
 * set when a GRANT, REVOKE, ALTER TABLE or role change commits, so that the
 * worker checks webhook owners' privileges before its next claim.  A hold
 * keeps the launcher from starting a worker in a database that a DROP
 * DATABASE, a rename or a CREATE DATABASE ... TEMPLATE is busy with.
 */
/* most in-flight deliveries a worker shows (webhook._sending) */
#define WEBHOOK_SENDING_SHOWN 512

typedef struct WebhookWorkerSlot
{
	Oid			dboid;			/* InvalidOid: the slot is free */
	pid_t		pid;			/* 0 until the worker attaches, and after it exits */
	Latch	   *latch;			/* NULL likewise */
	bool		exited;			/* the worker has detached (or failed to start) */
	bool		stop;			/* asked to exit: its database is held */
	bool		no_extension;	/* it exited because the extension is absent */
	bool		check_owners;
	int			nsending;		/* ids of deliveries in flight, as the worker last showed */
	int64		sending[WEBHOOK_SENDING_SHOWN];
} WebhookWorkerSlot;

#define WEBHOOK_MAX_WORKERS 128	/* the most webhook.max_workers may be */
#define WEBHOOK_MAX_HOLDS 16
#define WEBHOOK_MAX_NOTIFY 16

typedef struct WebhookHold
{
	Oid			dboid;			/* InvalidOid: unused */
	int			pid;			/* the backend whose command holds it */
} WebhookHold;

typedef struct WebhookShared
{
	slock_t		mutex;			/* protects everything but hooks_generation */
	pg_atomic_uint64 hooks_generation;	/* bumped when a pause or resume commits */
	Latch	   *launcher_latch; /* NULL while no launcher runs */
	uint64		hold_releases;	/* bumped whenever a hold ends */
	bool		notify_all;		/* notify overflowed: every database is news */
	int			nnotify;
	Oid			notify[WEBHOOK_MAX_NOTIFY]; /* databases whose extension changed */
	WebhookHold holds[WEBHOOK_MAX_HOLDS];
	int			nslots;			/* webhook.max_workers */
	WebhookWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} WebhookShared;

extern WebhookShared *webhook_shared;

/* webhook.c: is relid named by the TRUNCATE statement now running? */
extern bool webhook_truncating(Oid relid);

/* eventlog.c: a statement ended; write what it captured */
extern void webhook_capture_release(void);

/* What a turn of the launcher reads from shared memory (slots.c). */
typedef struct WebhookLauncherNews
{
	bool		all;			/* every absent database is news */
	int			n;
	Oid			dbs[WEBHOOK_MAX_NOTIFY];	/* databases whose extension changed */
	uint64		hold_releases;	/* webhook_shared->hold_releases then */
	int			nheld;
	Oid			held[WEBHOOK_MAX_HOLDS];	/* databases held then */
} WebhookLauncherNews;

/* slots.c: the worker slots, holds and notifications in shared memory */
extern Size webhook_shared_size(void);
extern void webhook_shared_init(WebhookShared *shared);
extern void webhook_wake_worker(void);
extern const char *webhook_worker_missing_reason(void);
extern void webhook_flag_owners(void);
extern void webhook_launcher_utility(Node *parsetree);
extern void webhook_launcher_xact_end(bool commit);
extern void webhook_worker_attach(int slot);
extern bool webhook_worker_stop_requested(void);
extern void webhook_worker_show_sending(const int64 *ids, int n);
extern void webhook_worker_exit_no_extension(void);
extern bool webhook_take_check_owners(void);
extern void webhook_slots_attach_launcher(void);
extern void webhook_slots_clear_orphans(void);
extern void webhook_slots_take_news(WebhookLauncherNews *news);
extern void webhook_slot_ask_to_stop(int slot);
extern int	webhook_slot_reserve(Oid db, uint64 hold_releases);
extern void webhook_slot_release(int slot, bool *no_extension, bool *stopped);

/* launcher.c */
extern PGDLLEXPORT void webhook_launcher_main(Datum main_arg);

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

#endif							/* WEBHOOK_H */
