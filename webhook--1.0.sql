\echo Use "CREATE EXTENSION webhook" to load this file. \quit

/*
 * webhook 1.0: turn committed row changes into signed HTTP POSTs.
 *
 * Catalog:  webhook.hook     one row per registered webhook (dumped by pg_dump)
 * Log:      webhook.log_0-2  the captured changes, each stored once (see below)
 * Progress: webhook.cursor   per webhook, how far through the log delivery is
 *           webhook.progress per batch of outcomes, the events delivered
 * Queue:    webhook.queue    the deliveries that need a row of their own:
 *                            retrying, failed, pings, redelivered, replayed
 *
 * Every function pins search_path; every object is schema-qualified.  The
 * API functions are revoked from PUBLIC: a superuser grants them to the
 * roles that may register webhooks.  Each runs as its caller and hands the
 * work to a SECURITY DEFINER twin (webhook._register for webhook.register).
 */

CREATE SCHEMA webhook;
COMMENT ON SCHEMA webhook IS 'webhook extension: HTTP POST for every committed row change';
GRANT USAGE ON SCHEMA webhook TO PUBLIC;

CREATE TABLE webhook.hook (
    id                  serial PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    url                 text NOT NULL,
    relation            regclass,
    schema_name         name,
    events              text[] NOT NULL,
    secret              text NOT NULL,
    headers             jsonb NOT NULL DEFAULT '{}',
    timeout             interval NOT NULL,
    max_attempts        integer NOT NULL,
    fifo                boolean NOT NULL DEFAULT false,
    batch_size          integer NOT NULL DEFAULT 1,
    owner               regrole NOT NULL,
    token               text NOT NULL,
    state               text NOT NULL DEFAULT 'active'
                        CHECK (state IN ('active', 'paused', 'disabled')),
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_success_at     timestamptz,
    last_failure_at     timestamptz,
    last_error          text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since       timestamptz,
    -- secrets replaced by rotate_secret that still sign until their expiry,
    -- newest first (parallel arrays; at most 5)
    old_secrets         text[] NOT NULL DEFAULT '{}',
    old_secrets_until   timestamptz[] NOT NULL DEFAULT '{}',
    columns             text[],         -- filters (see webhook._check_filter)
    condition           text,
    format              text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'xml'))
);
COMMENT ON TABLE webhook.hook IS 'Internal catalog of registered webhooks; read webhook.webhooks instead';
COMMENT ON COLUMN webhook.hook.old_secrets IS 'Secrets replaced by rotate_secret that still sign, newest first (never shown by the views)';
COMMENT ON COLUMN webhook.hook.old_secrets_until IS 'Until when each of old_secrets signs';
COMMENT ON COLUMN webhook.hook.columns IS 'Filter: an UPDATE is sent only when one of these columns changed (NULL: any)';
COMMENT ON COLUMN webhook.hook.condition IS 'Filter: boolean expression over new and old, as registered (NULL: always)';
COMMENT ON COLUMN webhook.hook.format IS 'Body format: json or xml';

/*
 * Deliveries with a row of their own.  A change is delivered from the log
 * (webhook.cursor) and gets a row here only when it needs one: its attempt
 * failed (it waits here to be retried, or has failed), an earlier delivery
 * of its row still waits here (it queues behind it), its webhook was paused
 * long enough to hold back the log's rotation, or redeliver or replay sent
 * it again.  Pings and events a filter could not judge come here directly.
 * A delivery's id is the same wherever it is: its event id times 32 plus
 * its webhook's bit in the event's chunk (webhook._delivery_id).
 *
 * status: p pending, s sending (claimed by the worker, request in flight),
 * r retrying (waiting for next_attempt_at), d delivered, f failed.
 *
 * next_attempt_at orders the work index: -infinity while pending (so pending
 * rows come in id order), the retry time while retrying, and the time of the
 * last attempt once sending, delivered or failed (what retention purges by).
 *
 * The capture trigger writes this table directly (heap and index inserts,
 * see src/capture.c): it must keep only plain indexes.
 */
CREATE TABLE webhook.queue (
    id                  bigint PRIMARY KEY,
    event_id            bigint NOT NULL,
    hook_id             integer NOT NULL,
    op                  "char" NOT NULL,
    schema_name         text NOT NULL,
    table_name          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    old_row             json,
    new_row             json,
    changed             text[],
    truncated           boolean NOT NULL DEFAULT false,
    truncated_partition json,
    status              "char" NOT NULL DEFAULT 'p' CHECK (status IN ('p', 's', 'r', 'd', 'f')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT '-infinity',
    last_attempt_at     timestamptz,
    last_status         integer,
    last_error          text,
    response_body       text,
    delivered_at        timestamptz,
    lane                bigint NOT NULL DEFAULT 0
);
COMMENT ON COLUMN webhook.queue.lane IS
    'Internal: a hash of the table and the row''s replica identity (the table alone for a table without one, and for TRUNCATE): a delivery waits while an earlier one of its lane is in flight or retrying';
COMMENT ON TABLE webhook.queue IS 'Internal: deliveries that need a row of their own (retrying, failed, pinged, redelivered); read webhook.deliveries instead';

/*
 * The worker's one index: per status and webhook, in next_attempt_at order.
 * Claims read (p, hook) in id order and (r, hook) up to now; the next retry
 * is the first (r, hook) entry; retention reads (d, hook) and (f, hook) up
 * to its cutoff; the health counts are range counts.
 */
CREATE INDEX queue_work ON webhook.queue (status, hook_id, next_attempt_at, id);

/*
 * The event log: what the capture trigger writes.  Each row is a chunk of
 * one transaction's changes to one watched table, each change written once
 * whatever the number of webhooks it is for: `hooks` lists the webhooks
 * whose triggers fired for the chunk's changes, and each change's `mask`
 * has bit i set when it is for hooks[i + 1].  Change i (from 1) of a chunk
 * has event id first_id + i - 1: the sequence steps by 256, the most
 * changes a chunk holds.  Rows are never updated or deleted.
 *
 * Each webhook reads the log through its cursor (webhook.cursor), in
 * commit order, batch by batch: a batch is the chunks whose transactions
 * committed between two snapshots (visible in the later, not in the
 * earlier), so a transaction that took its ids early and committed late is
 * never skipped nor overtaken; within a batch, events go in id order.  The
 * log is three tables in rotation; the writer appends to the one
 * log_state.current names.  The worker switches to the next one (when
 * empty) every few seconds, and empties a table with TRUNCATE once no
 * writer holds it, every webhook's cursor is past every chunk in it, and
 * it has been out of use for webhook.retention: its space goes back to the
 * operating system without VACUUM.  The only index is on txid, which is
 * all a cursor reads by.
 */
CREATE TYPE webhook.change AS (
    op          "char",
    at          timestamptz,
    mask        integer,
    truncated   boolean,
    old_row     json,
    new_row     json,
    changed     text[],
    partition   json,           -- the TRUNCATE of a partition: which one
    lane        bigint          -- the row's lane (see webhook.queue.lane)
);
COMMENT ON TYPE webhook.change IS 'Internal: one captured change, as the event log stores it';

CREATE SEQUENCE webhook.event_id_seq INCREMENT BY 256;
COMMENT ON SEQUENCE webhook.event_id_seq IS
    'Internal: the first event id of each chunk of the event log (a chunk holds at most 256 changes)';

CREATE TABLE webhook.log_0 (
    txid        xid8 NOT NULL,
    first_id    bigint NOT NULL,
    relid       oid NOT NULL,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    hooks       integer[] NOT NULL,
    changes     webhook.change[] NOT NULL,
    last_id     bigint NOT NULL     -- the id of the last change: first_id + its number - 1
) WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE INDEX log_0_txid ON webhook.log_0 (txid);
CREATE TABLE webhook.log_1 (LIKE webhook.log_0)
    WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE INDEX log_1_txid ON webhook.log_1 (txid);
CREATE TABLE webhook.log_2 (LIKE webhook.log_0)
    WITH (fillfactor = 100, autovacuum_enabled = false, toast.autovacuum_enabled = false);
CREATE INDEX log_2_txid ON webhook.log_2 (txid);
/* lz4 where the server has it: pglz would be most of the writer's cost */
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['log_0', 'log_1', 'log_2'] LOOP
        EXECUTE pg_catalog.format('ALTER TABLE webhook.%I ALTER COLUMN changes SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
COMMENT ON TABLE webhook.log_0 IS 'Internal event log, one of three tables in rotation; read webhook.deliveries instead';
COMMENT ON TABLE webhook.log_1 IS 'Internal event log, one of three tables in rotation; read webhook.deliveries instead';
COMMENT ON TABLE webhook.log_2 IS 'Internal event log, one of three tables in rotation; read webhook.deliveries instead';

/* one row: where writers append, and since when each table is out of use */
CREATE TABLE webhook.log_state (
    current     integer NOT NULL CHECK (current BETWEEN 0 AND 2),
    switched_at timestamptz NOT NULL,
    left_at     timestamptz[] NOT NULL
);
INSERT INTO webhook.log_state VALUES (0, pg_catalog.now(), '{-infinity,-infinity,-infinity}');
COMMENT ON TABLE webhook.log_state IS
    'Internal: the log table writers append to, when it became current, and when each table stopped being current';

/*
 * Ticks: the snapshots that cut the log into batches, as PgQ's ticks do.
 * The worker takes one whenever it finds chunks committed since the last
 * (at most once per claim): a batch is what committed between two ticks,
 * so batches are as fine as the worker's wake-ups, for a webhook delivered
 * at once as for one paused for a day.  Ticks no cursor needs are deleted.
 */
CREATE TABLE webhook.tick (
    id          bigint PRIMARY KEY,
    snap        pg_snapshot NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE webhook.tick IS 'Internal: the snapshots that cut the event log into batches';

/*
 * Per webhook, how far delivery has gone through the log.  The batch being
 * delivered is the chunks visible in upto (the snapshot of tick `tick`)
 * and not in done; every event of the chunks visible in done is settled
 * (delivered, or given a row of its own in webhook.queue), and so is every
 * event of the batch with an id up to pos.  When the batch is done, done
 * becomes upto and upto the first later tick that brings events for the
 * webhook.  Written once per batch of outcomes, never per event.
 */
CREATE TABLE webhook.cursor (
    hook_id     integer PRIMARY KEY,
    done        pg_snapshot NOT NULL,
    upto        pg_snapshot NOT NULL,
    tick        bigint NOT NULL DEFAULT 0,
    pos         bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE webhook.cursor IS 'Internal: per webhook, how far delivery has gone through the event log';

/*
 * The events a batch of outcomes delivered from the log, one row per
 * (record transaction, webhook): their delivery ids, the HTTP status they
 * got and when.  What webhook.deliveries shows of them; purged after
 * webhook.retention.
 */
CREATE TABLE webhook.progress (
    hook_id     integer NOT NULL,
    ids         int8multirange NOT NULL,
    n           integer NOT NULL,
    status      integer NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX progress_ids ON webhook.progress USING gist (ids);
CREATE INDEX progress_at ON webhook.progress (at);
/* webhook.webhooks sums a webhook's delivered events from its progress rows */
CREATE INDEX progress_hook ON webhook.progress (hook_id);
COMMENT ON TABLE webhook.progress IS 'Internal: which events each batch of outcomes delivered from the event log, and when';

/* webhooks survive pg_dump; history does not, but ids keep counting */
SELECT pg_catalog.pg_extension_config_dump('webhook.hook', '');
SELECT pg_catalog.pg_extension_config_dump('webhook.hook_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('webhook.event_id_seq', '');

REVOKE ALL ON webhook.hook, webhook.queue, webhook.log_0, webhook.log_1, webhook.log_2,
    webhook.log_state, webhook.tick, webhook.cursor, webhook.progress FROM PUBLIC;
REVOKE ALL ON SEQUENCE webhook.hook_id_seq, webhook.event_id_seq FROM PUBLIC;

/* a delivery's id: its event's id times 32, plus its webhook's bit in the chunk */
CREATE FUNCTION webhook._delivery_id(event_id bigint, hook_bit integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT event_id OPERATOR(pg_catalog.*) 32 OPERATOR(pg_catalog.+) hook_bit $$;
COMMENT ON FUNCTION webhook._delivery_id(bigint, integer) IS
    'Internal: the id of the delivery of an event to the webhook of the given bit of its chunk';

/*
 * The name of a table's capture trigger of a kind, the one place that
 * spells it (the SQL below calls it): one row trigger (webhook_<id>_row) and
 * one truncate trigger (webhook_<id>_truncate) per table serve every webhook
 * watching it, and are named after the smallest of their ids, as the
 * triggers of two tables of one partition tree must not share a name (a
 * partition's clone of its parent's trigger bears the parent's); NULL for
 * another kind.  The id is cast to text explicitly: integer || text is
 * only STABLE, and an IMMUTABLE function over it would not be inlined.
 */
CREATE FUNCTION webhook._trigger_name(hook_id integer, kind text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN kind IN ('row', 'truncate')
                THEN 'webhook_' OPERATOR(pg_catalog.||) hook_id::pg_catalog.text
                     OPERATOR(pg_catalog.||) ('_' OPERATOR(pg_catalog.||) kind) END
$$;
COMMENT ON FUNCTION webhook._trigger_name(integer, text) IS
    'Internal: the name of a table''s capture trigger of the given kind (row or truncate), after the smallest id of the webhooks it serves';

/*
 * The webhook ids a capture trigger serves: its arguments (pg_trigger.tgargs,
 * NUL-terminated strings), those that are ids, in order.
 */
CREATE FUNCTION webhook._trigger_hooks(args bytea) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.array_agg(a::pg_catalog.int4 ORDER BY n), '{}')
      FROM pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.encode(args, 'escape'), '\000'))
           WITH ORDINALITY AS u(a, n)
     WHERE a OPERATOR(pg_catalog.~) '^[1-9][0-9]{0,8}$'
$$;
COMMENT ON FUNCTION webhook._trigger_hooks(bytea) IS
    'Internal: the ids of the webhooks a capture trigger serves, from its arguments';

/* ---------------------------------------------------------------------
 * C helpers
 * --------------------------------------------------------------------- */

CREATE FUNCTION webhook.capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'webhook_capture';
COMMENT ON FUNCTION webhook.capture() IS
    'Trigger function installed by webhook.register on watched tables, given the ids of the webhooks watching the table; queues each change once for all of them';

/*
 * The extension's capture triggers, the one place that tells them: a
 * table's own (not a partition's clone of its parent's) triggers calling
 * webhook.capture, named as _trigger_name names them for the first webhook
 * they serve, with the webhooks each serves.  A trigger someone else made to call webhook.capture is not one.
 */
CREATE VIEW webhook._capture_trigger AS
SELECT t.oid, t.rel, t.name, t.kind, t.hooks
  FROM (SELECT tg.oid, tg.tgrelid AS rel, tg.tgname AS name,
               CASE WHEN (tg.tgtype OPERATOR(pg_catalog.&) 1::pg_catalog.int2) OPERATOR(pg_catalog.=) 1
                    THEN 'row' ELSE 'truncate' END AS kind,
               webhook._trigger_hooks(tg.tgargs) AS hooks
          FROM pg_catalog.pg_trigger tg
         WHERE tg.tgfoid OPERATOR(pg_catalog.=) 'webhook.capture()'::pg_catalog.regprocedure
           AND tg.tgparentid OPERATOR(pg_catalog.=) 0
           AND NOT tg.tgisinternal) t
 WHERE t.name OPERATOR(pg_catalog.=) webhook._trigger_name(t.hooks[1], t.kind);
COMMENT ON VIEW webhook._capture_trigger IS
    'Internal: each table''s own capture triggers (row, truncate) and the ids of the webhooks they serve';
REVOKE ALL ON webhook._capture_trigger FROM PUBLIC;

CREATE FUNCTION webhook._wake() RETURNS void
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_wake';
COMMENT ON FUNCTION webhook._wake() IS
    'Internal: wake the delivery worker when the current transaction commits';

CREATE FUNCTION webhook._hooks_changed() RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_hooks_changed';
COMMENT ON FUNCTION webhook._hooks_changed() IS
    'Internal: at commit, have every backend re-read which webhooks are active (the capture trigger wakes the worker only for those)';

CREATE FUNCTION webhook._check_url(url text) RETURNS void
    LANGUAGE c IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_check_url';
COMMENT ON FUNCTION webhook._check_url(text) IS
    'Internal: raise an error unless url is an absolute http or https URL';

CREATE FUNCTION webhook._new_secret() RETURNS text
    LANGUAGE c VOLATILE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_new_secret';
COMMENT ON FUNCTION webhook._new_secret() IS
    'Internal: a new random signing secret, whsec_ followed by base64 of 32 bytes';

CREATE FUNCTION webhook._check_secret(secret text) RETURNS void
    LANGUAGE c IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_check_secret';
COMMENT ON FUNCTION webhook._check_secret(text) IS
    'Internal: raise an error unless secret is whsec_ followed by base64 of 24 to 64 bytes';

CREATE FUNCTION webhook._caller() RETURNS regrole
    LANGUAGE c STABLE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_caller';
COMMENT ON FUNCTION webhook._caller() IS
    'Internal: the role that called the API function now running (its current role at the call)';

CREATE FUNCTION webhook._check_filter(relation regclass, columns text[], condition text) RETURNS void
    LANGUAGE c STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_check_filter';
COMMENT ON FUNCTION webhook._check_filter(regclass, text[], text) IS
    'Internal: raise an error unless columns name columns of relation and condition is a boolean expression over its new and old rows';

CREATE FUNCTION webhook._worker() RETURNS text
    LANGUAGE c STABLE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_worker_state';
COMMENT ON FUNCTION webhook._worker() IS
    'Internal: "running" while a delivery worker serves this database, else "not running: " and why';

CREATE FUNCTION webhook._warn_not_preloaded() RETURNS void
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_warn_not_preloaded';
COMMENT ON FUNCTION webhook._warn_not_preloaded() IS
    'Internal: a WARNING when the library is not in shared_preload_libraries (nothing would be delivered)';

CREATE FUNCTION webhook.sign(secret text, msg_id text, ts bigint, body text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_sign';
COMMENT ON FUNCTION webhook.sign(text, text, bigint, text) IS
    'Standard Webhooks signature v1,base64(HMAC-SHA256(key, msg_id.ts.body)) for a whsec_ secret, as sent in webhook-signature';

/* ---------------------------------------------------------------------
 * Internal SQL helpers (run as the extension owner, from the API)
 * --------------------------------------------------------------------- */

/* the hook named name, owned by the caller (or any, for a superuser) */
CREATE FUNCTION webhook._lookup(p_name text) RETURNS webhook.hook
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook;
BEGIN
    IF p_name IS NULL THEN
        RAISE EXCEPTION 'webhook name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO h FROM webhook.hook WHERE hook.name OPERATOR(pg_catalog.=) p_name;
    IF NOT FOUND OR NOT pg_catalog.pg_has_role(webhook._caller(), h.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'webhook "%" does not exist', p_name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN h;
END
$$;
COMMENT ON FUNCTION webhook._lookup(text) IS 'Internal: the webhook of that name visible to the caller';

/*
 * The same, locked for a change (pause, resume, unregister): concurrent
 * calls on one webhook take their turns, and one that waited for an
 * unregister finds the webhook gone (42704), not half of it.
 */
CREATE FUNCTION webhook._lookup_for_update(p_name text) RETURNS webhook.hook
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook := webhook._lookup(p_name);
BEGIN
    SELECT * INTO h FROM webhook.hook WHERE hook.id OPERATOR(pg_catalog.=) h.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook "%" does not exist', p_name
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN h;
END
$$;
COMMENT ON FUNCTION webhook._lookup_for_update(text) IS
    'Internal: the webhook of that name visible to the caller, locked until the end of the transaction';

/*
 * May role owner read every row of table rel: SELECT on it, and, if it has
 * row security, superuser or BYPASSRLS (a webhook sends every row, so row
 * security it is subject to would be bypassed).  A webhook never sends what
 * its owner could not read; register, _attach and the worker ask here.
 * NULL if rel does not exist.  A dropped owner is judged as a role with no
 * privilege of its own and no attribute: true only for a table PUBLIC may
 * read that has no row security (callers that care check the owner exists,
 * as the worker does).  The EXISTS sublinks keep it from being inlined, so
 * it pins search_path like any other function.
 */
CREATE FUNCTION webhook._owner_can_read(owner oid, rel oid) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.has_table_privilege(_owner_can_read.owner, _owner_can_read.rel, 'SELECT')
       AND (NOT EXISTS (SELECT FROM pg_catalog.pg_class c
                         WHERE c.oid OPERATOR(pg_catalog.=) _owner_can_read.rel AND c.relrowsecurity)
            OR EXISTS (SELECT FROM pg_catalog.pg_roles r
                        WHERE r.oid OPERATOR(pg_catalog.=) _owner_can_read.owner
                          AND (r.rolsuper OR r.rolbypassrls)))
$$;
COMMENT ON FUNCTION webhook._owner_can_read(oid, oid) IS
    'Internal: whether a role may read every row of a table (SELECT, and no row security it is subject to)';

CREATE FUNCTION webhook._capture_trigger_oids(rel oid) RETURNS oid[]
    LANGUAGE c STRICT SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_capture_trigger_oids';
COMMENT ON FUNCTION webhook._capture_trigger_oids(oid) IS
    'Internal: the oids of a table''s own triggers calling webhook.capture, as the catalog is now, whatever the snapshot';

/*
 * Before a table's capture triggers are remade from what the view shows:
 * lock the table against a concurrent remaking (the lock CREATE TRIGGER
 * takes, which conflicts with itself), so that a read-committed
 * transaction reads them after the other's commit; a transaction whose
 * snapshot is older than a change to them (repeatable read, serializable)
 * fails instead of undoing it.
 */
CREATE FUNCTION webhook._lock_triggers(rel regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', rel);
    IF (SELECT pg_catalog.array_agg(tg.oid ORDER BY tg.oid) FROM pg_catalog.pg_trigger tg
         WHERE tg.tgrelid OPERATOR(pg_catalog.=) rel::pg_catalog.oid
           AND tg.tgfoid OPERATOR(pg_catalog.=) 'webhook.capture()'::pg_catalog.regprocedure
           AND tg.tgparentid OPERATOR(pg_catalog.=) 0 AND NOT tg.tgisinternal)
       IS DISTINCT FROM webhook._capture_trigger_oids(rel) THEN
        RAISE EXCEPTION 'could not serialize access due to a concurrent change of the webhooks of table %', rel
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Retry the transaction.';
    END IF;
END
$$;
COMMENT ON FUNCTION webhook._lock_triggers(regclass) IS
    'Internal: lock a table against concurrent changes of its capture triggers, and check the snapshot sees them as they are';

/*
 * Make table rel's capture trigger of a kind ('row' or 'truncate') serve the
 * webhooks of ids that exist and want that kind of event, or drop it when
 * none does: it is made anew (a partitioned table's row trigger with its
 * clones), named after the smallest id, firing on the row events any of
 * them wants.
 */
CREATE FUNCTION webhook._set_trigger(rel regclass, kind text, ids integer[]) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    served integer[];
    row_events text[];
BEGIN
    SELECT pg_catalog.array_agg(h.id ORDER BY h.id) INTO served
      FROM webhook.hook h
     WHERE h.id OPERATOR(pg_catalog.=) ANY (ids)
       AND EXISTS (SELECT FROM pg_catalog.unnest(h.events) e
                    WHERE (e OPERATOR(pg_catalog.=) 'truncate') OPERATOR(pg_catalog.=)
                          (kind OPERATOR(pg_catalog.=) 'truncate'));
    FOR t IN
        SELECT c.name FROM webhook._capture_trigger c
         WHERE c.rel OPERATOR(pg_catalog.=) _set_trigger.rel::pg_catalog.oid
           AND c.kind OPERATOR(pg_catalog.=) _set_trigger.kind
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.name, rel);
    END LOOP;
    IF served IS NULL THEN
        RETURN;
    END IF;
    IF kind OPERATOR(pg_catalog.=) 'row' THEN
        SELECT pg_catalog.array_agg(DISTINCT pg_catalog.upper(e)) INTO row_events
          FROM webhook.hook h, pg_catalog.unnest(h.events) AS e
         WHERE h.id OPERATOR(pg_catalog.=) ANY (served) AND e OPERATOR(pg_catalog.<>) 'truncate';
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION webhook.capture(%s)',
            webhook._trigger_name(served[1], 'row'),
            pg_catalog.array_to_string(row_events, ' OR '), rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(i), ', ') FROM pg_catalog.unnest(served) i));
    ELSE
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION webhook.capture(%s)',
            webhook._trigger_name(served[1], 'truncate'), rel,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(i), ', ') FROM pg_catalog.unnest(served) i));
    END IF;
END
$$;
COMMENT ON FUNCTION webhook._set_trigger(regclass, text, integer[]) IS
    'Internal: make a table''s capture trigger of a kind serve exactly the given webhooks (none: drop it)';

/* add webhook hook_id to table rel's capture trigger of a kind, if not there yet */
CREATE FUNCTION webhook._trigger_add(rel regclass, kind text, hook_id integer) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids integer[];
BEGIN
    PERFORM webhook._lock_triggers(rel);
    SELECT COALESCE(pg_catalog.array_agg(i), '{}') INTO ids
      FROM webhook._capture_trigger c, pg_catalog.unnest(c.hooks) AS i
     WHERE c.rel OPERATOR(pg_catalog.=) _trigger_add.rel::pg_catalog.oid
       AND c.kind OPERATOR(pg_catalog.=) _trigger_add.kind;
    IF NOT hook_id OPERATOR(pg_catalog.=) ANY (ids) THEN
        PERFORM webhook._set_trigger(rel, kind, ids OPERATOR(pg_catalog.||) hook_id);
    END IF;
END
$$;
COMMENT ON FUNCTION webhook._trigger_add(regclass, text, integer) IS
    'Internal: make a table''s capture trigger of a kind serve one more webhook';

/*
 * Install the capture triggers of hook h on table rel, if its owner may read
 * every row of rel (_owner_can_read); returns whether it did.
 */
CREATE FUNCTION webhook._attach(h webhook.hook, rel regclass) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT webhook._owner_can_read(h.owner, rel) THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(h.events) AS e WHERE e OPERATOR(pg_catalog.<>) 'truncate') THEN
        PERFORM webhook._trigger_add(rel, 'row', h.id);
    END IF;
    IF 'truncate' OPERATOR(pg_catalog.=) ANY (h.events) THEN
        PERFORM webhook._trigger_add(rel, 'truncate', h.id);
        PERFORM webhook._attach_partitions(h, rel);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION webhook._attach(webhook.hook, regclass) IS 'Internal: make a table''s capture triggers serve a webhook';

/*
 * Add hook h to the truncate trigger of every partition of rel (at every
 * level) that lacks it, locking only those: statement triggers are not
 * cloned to partitions, and a TRUNCATE of a partition fires only the
 * partition's own.
 */
CREATE FUNCTION webhook._attach_partitions(h webhook.hook, rel regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p regclass;
BEGIN
    FOR p IN
        SELECT t.relid FROM pg_catalog.pg_partition_tree(rel) t
         WHERE t.relid OPERATOR(pg_catalog.<>) rel
           AND NOT EXISTS (SELECT FROM webhook._capture_trigger c
                            WHERE c.rel OPERATOR(pg_catalog.=) t.relid
                              AND c.kind OPERATOR(pg_catalog.=) 'truncate'
                              AND h.id OPERATOR(pg_catalog.=) ANY (c.hooks))
         ORDER BY t.level, t.relid
    LOOP
        PERFORM webhook._trigger_add(p, 'truncate', h.id);
    END LOOP;
END
$$;
COMMENT ON FUNCTION webhook._attach_partitions(webhook.hook, regclass) IS
    'Internal: make the truncate trigger of every partition of a watched partitioned table serve a webhook';

/* take webhook p_id out of every capture trigger (dropping those left serving none) */
CREATE FUNCTION webhook._detach(p_id integer) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r regclass;
    t record;
BEGIN
    FOR r IN
        SELECT DISTINCT c.rel::regclass FROM webhook._capture_trigger c
         WHERE p_id OPERATOR(pg_catalog.=) ANY (c.hooks)
         ORDER BY 1
    LOOP
        PERFORM webhook._lock_triggers(r);
        FOR t IN
            SELECT c.kind, c.hooks FROM webhook._capture_trigger c
             WHERE c.rel OPERATOR(pg_catalog.=) r::pg_catalog.oid
               AND p_id OPERATOR(pg_catalog.=) ANY (c.hooks)
             ORDER BY c.kind
        LOOP
            PERFORM webhook._set_trigger(r, t.kind, pg_catalog.array_remove(t.hooks, p_id));
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION webhook._detach(integer) IS 'Internal: make no capture trigger serve a webhook any more';

/* may table rel be watched by a schema webhook (plain or partitioned, not a partition) */
CREATE FUNCTION webhook._watchable(rel oid) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.relkind IN ('r', 'p') AND NOT c.relispartition
      FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) rel
$$;
COMMENT ON FUNCTION webhook._watchable(oid) IS 'Internal: whether a schema webhook watches this relation';

/* reject schemas that must never be watched */
CREATE FUNCTION webhook._check_schema(s name) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF s IN ('webhook', 'pg_catalog', 'information_schema', 'pg_toast')
       OR s::text LIKE 'pg\_temp\_%' OR s::text LIKE 'pg\_toast\_temp\_%' THEN
        RAISE EXCEPTION 'cannot watch system schema "%"', s
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION webhook._check_schema(name) IS 'Internal: reject system schemas and the extension''s own';

/* validate custom headers: a JSON object of string values, HTTP-legal names and values */
CREATE FUNCTION webhook._check_headers(headers jsonb) RETURNS void
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF headers IS NULL THEN
        RAISE EXCEPTION 'argument "headers" must not be null' USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass headers => ''{}'' for no custom headers.';
    END IF;
    IF pg_catalog.jsonb_typeof(headers) OPERATOR(pg_catalog.<>) 'object' THEN
        RAISE EXCEPTION 'argument "headers" must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass headers => ''{"x-api-key": "..."}''.';
    END IF;
    FOR k, v IN SELECT * FROM pg_catalog.jsonb_each(headers) LOOP
        IF k OPERATOR(pg_catalog.!~) '^[!#$%&''*+.^_`|~0-9A-Za-z-]+$' THEN
            RAISE EXCEPTION 'argument "headers" has an invalid header name "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A header name is one or more of the token characters of RFC 9110.';
        END IF;
        IF pg_catalog.octet_length(k) OPERATOR(pg_catalog.>) 63 THEN
            RAISE EXCEPTION 'argument "headers" has a header name longer than 63 bytes: "%"', k
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF pg_catalog.lower(k) IN ('content-type', 'content-length', 'transfer-encoding', 'host',
                                    'user-agent', 'webhook-id', 'webhook-timestamp',
                                    'webhook-signature', 'connection', 'expect',
                                    'te', 'upgrade', 'keep-alive', 'trailer', 'proxy-connection',
                                    'proxy-authorization', 'content-encoding') THEN
            RAISE EXCEPTION 'argument "headers" cannot set reserved header "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The extension sets this header itself, or it governs the connection or the framing of the request.';
        END IF;
        IF (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(headers) AS o(k2)
             WHERE pg_catalog.lower(o.k2) OPERATOR(pg_catalog.=) pg_catalog.lower(k)) OPERATOR(pg_catalog.>) 1 THEN
            RAISE EXCEPTION 'argument "headers" sets header "%" twice', pg_catalog.lower(k)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Header names are case-insensitive.';
        END IF;
        IF pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.<>) 'string' THEN
            RAISE EXCEPTION 'argument "headers" has a non-string value for header "%"', k
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF (headers OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.~) '[\x01-\x08\x0a-\x1f\x7f]' THEN
            RAISE EXCEPTION 'argument "headers" has a control character in the value of header "%"', k
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Header values cannot contain CR, LF or other control characters.';
        END IF;
        IF pg_catalog.octet_length(headers OPERATOR(pg_catalog.->>) k) OPERATOR(pg_catalog.>) 8192 THEN
            RAISE EXCEPTION 'argument "headers" has a value longer than 8192 bytes for header "%"', k
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION webhook._check_headers(jsonb) IS 'Internal: validate the custom headers of a webhook';

/* ---------------------------------------------------------------------
 * API
 * --------------------------------------------------------------------- */

CREATE FUNCTION webhook._register(
    name text, url text, relation regclass, schema name, events text[], secret text,
    headers jsonb, timeout interval, max_attempts integer, fifo boolean, batch_size integer,
    columns text[], condition text, format text)
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p_name      ALIAS FOR name;
    p_url       ALIAS FOR url;
    p_relation  ALIAS FOR relation;
    p_schema    ALIAS FOR schema;
    p_events    ALIAS FOR events;
    p_secret    ALIAS FOR secret;
    p_headers   ALIAS FOR headers;
    p_timeout   ALIAS FOR timeout;
    p_attempts  ALIAS FOR max_attempts;
    p_fifo      ALIAS FOR fifo;
    p_batch     ALIAS FOR batch_size;
    p_columns   ALIAS FOR columns;
    p_condition ALIAS FOR condition;
    p_format    ALIAS FOR format;
    v_owner     regrole := webhook._caller();
    v_events    text[];
    v_kind      "char";
    v_nsp       name;
    h           webhook.hook;
    t           record;
BEGIN
    IF p_name IS NULL THEN
        RAISE EXCEPTION 'argument "name" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'argument "name" must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_url IS NULL THEN
        RAISE EXCEPTION 'argument "url" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.octet_length(p_url) OPERATOR(pg_catalog.>) 8192 THEN
        RAISE EXCEPTION 'argument "url" is longer than 8192 bytes'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Common HTTP servers refuse request lines longer than 8 kB.';
    END IF;
    PERFORM webhook._check_url(p_url);

    IF (p_relation IS NULL) OPERATOR(pg_catalog.=) (p_schema IS NULL) THEN
        RAISE EXCEPTION 'exactly one of arguments "relation" and "schema" must be given'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Watch one table with relation => ''public.orders'', or every table of a schema with schema => ''public''.';
    END IF;

    IF p_relation IS NOT NULL THEN
        SELECT c.relkind, n.nspname INTO v_kind, v_nsp
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE c.oid OPERATOR(pg_catalog.=) p_relation;
        IF v_kind IS NULL THEN
            RAISE EXCEPTION 'argument "relation": relation with OID % does not exist', p_relation::oid
                USING ERRCODE = 'undefined_table';
        END IF;
        IF v_kind NOT IN ('r', 'p') THEN
            RAISE EXCEPTION 'argument "relation": "%" is not a table', p_relation
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'Only ordinary and partitioned tables can be watched.';
        END IF;
        PERFORM webhook._check_schema(v_nsp);
        IF NOT webhook._owner_can_read(v_owner, p_relation) THEN
            RAISE EXCEPTION 'permission denied for table %', p_relation
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A webhook sends whole rows: its owner needs SELECT on the table it watches and, if the table has row-level security, BYPASSRLS.';
        END IF;
    ELSE
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) p_schema) THEN
            RAISE EXCEPTION 'argument "schema": schema "%" does not exist', p_schema
                USING ERRCODE = 'invalid_schema_name';
        END IF;
        PERFORM webhook._check_schema(p_schema);
        IF NOT pg_catalog.has_schema_privilege(v_owner, p_schema, 'USAGE') THEN
            RAISE EXCEPTION 'permission denied for schema %', p_schema
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;

    IF p_events IS NULL THEN
        RAISE EXCEPTION 'argument "events" must not be null' USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Events are insert, update, delete and truncate.';
    END IF;
    IF pg_catalog.array_ndims(p_events) OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'argument "events" must be a one-dimensional array'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass events => ''{insert,update}''.';
    END IF;
    IF pg_catalog.cardinality(p_events) OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION 'argument "events" must list at least one event'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Events are insert, update, delete and truncate.';
    END IF;
    FOR t IN SELECT e FROM pg_catalog.unnest(p_events) AS e LOOP
        IF t.e IS NULL OR pg_catalog.lower(t.e) NOT IN ('insert', 'update', 'delete', 'truncate') THEN
            RAISE EXCEPTION 'argument "events": unknown event "%"', t.e
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Events are insert, update, delete and truncate.';
        END IF;
    END LOOP;
    SELECT pg_catalog.array_agg(e ORDER BY pg_catalog.array_position(
               '{insert,update,delete,truncate}'::text[], e))
      INTO v_events
      FROM (SELECT DISTINCT pg_catalog.lower(e) AS e FROM pg_catalog.unnest(p_events) AS e) s;

    IF p_secret IS NULL THEN
        p_secret := webhook._new_secret();
    ELSE
        PERFORM webhook._check_secret(p_secret);
    END IF;
    PERFORM webhook._check_headers(p_headers);
    IF p_timeout IS NULL THEN
        RAISE EXCEPTION 'argument "timeout" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_timeout OPERATOR(pg_catalog.<) '100 milliseconds'::interval
       OR p_timeout OPERATOR(pg_catalog.>) '1 hour'::interval THEN
        RAISE EXCEPTION 'argument "timeout" must be between 100 milliseconds and 1 hour'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_attempts IS NULL THEN
        RAISE EXCEPTION 'argument "max_attempts" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_attempts OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'argument "max_attempts" must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF EXISTS (SELECT FROM webhook.hook WHERE hook.name OPERATOR(pg_catalog.=) p_name) THEN
        RAISE EXCEPTION 'webhook "%" already exists', p_name
            USING ERRCODE = 'duplicate_object';
    END IF;

    IF p_fifo IS NULL THEN
        RAISE EXCEPTION 'argument "fifo" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_batch IS NULL THEN
        RAISE EXCEPTION 'argument "batch_size" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_batch OPERATOR(pg_catalog.<) 1 OR p_batch OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'argument "batch_size" must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'With batch_size > 1 each POST carries a JSON array of up to that many events.';
    END IF;

    IF p_format IS NULL OR p_format NOT IN ('json', 'xml') THEN
        RAISE EXCEPTION 'argument "format" must be json or xml'
            USING ERRCODE = CASE WHEN p_format IS NULL THEN 'null_value_not_allowed'
                                 ELSE 'invalid_parameter_value' END;
    END IF;
    IF (p_columns IS NOT NULL OR p_condition IS NOT NULL) AND p_relation IS NULL THEN
        RAISE EXCEPTION 'arguments "columns" and "condition" need argument "relation"'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A schema webhook watches tables of different shapes.';
    END IF;
    PERFORM webhook._check_filter(p_relation, p_columns, p_condition);

    PERFORM webhook._warn_not_preloaded();
    BEGIN
        INSERT INTO webhook.hook (name, url, relation, schema_name, events, secret, headers,
                                  timeout, max_attempts, fifo, batch_size, owner, token,
                                  columns, condition, format)
        VALUES (p_name, p_url, p_relation, p_schema, v_events, p_secret, p_headers,
                p_timeout, p_attempts, p_fifo, p_batch, v_owner,
                pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::text), 1, 12),
                p_columns, p_condition, p_format)
        RETURNING * INTO h;
        -- no chunk of the log can name a webhook before it exists
        INSERT INTO webhook.cursor (hook_id, done, upto) VALUES (h.id, '3:3:', '3:3:');
    EXCEPTION WHEN unique_violation THEN
        -- registered by a concurrent transaction since the check above
        RAISE EXCEPTION 'webhook "%" already exists', p_name
            USING ERRCODE = 'duplicate_object';
    END;
    PERFORM webhook._wake();    -- a worker idling without the extension looks again

    IF p_relation IS NOT NULL THEN
        -- refused only if the table changed since the check above
        IF NOT webhook._attach(h, p_relation) THEN
            RAISE EXCEPTION 'webhook owner % cannot read every row of table %', v_owner, p_relation
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'The table has row-level security, which a webhook would bypass.',
                      HINT = 'Register as a role with BYPASSRLS, or watch a table without row security.';
        END IF;
    ELSE
        FOR t IN
            SELECT c.oid::regclass AS rel
              FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE n.nspname OPERATOR(pg_catalog.=) p_schema AND webhook._watchable(c.oid)
             ORDER BY c.oid
        LOOP
            IF NOT webhook._attach(h, t.rel) THEN
                RAISE NOTICE 'webhook "%" does not watch table %: its owner % cannot read every row of it',
                    h.name, t.rel, v_owner;
            END IF;
        END LOOP;
    END IF;
    RETURN h.id;
END
$$;
COMMENT ON FUNCTION webhook._register(text, text, regclass, name, text[], text, jsonb, interval, integer, boolean, integer, text[], text, text) IS
    'Internal: webhook.register, run as the extension''s owner';

CREATE FUNCTION webhook._unregister(name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook := webhook._lookup_for_update(name);
BEGIN
    PERFORM webhook._detach(h.id);
    /*
     * Rows the worker holds locked (claiming or recording them) are skipped
     * rather than waited for, so that this never deadlocks with it; they,
     * and events committed after this by transactions that queued them
     * before, have no webhook any more: the views never show them, the
     * worker never sends them, and its retention pass removes them.
     */
    DELETE FROM webhook.queue
     WHERE queue.id IN (SELECT q.id FROM webhook.queue q
                         WHERE q.hook_id OPERATOR(pg_catalog.=) h.id
                           FOR UPDATE SKIP LOCKED);
    DELETE FROM webhook.cursor WHERE cursor.hook_id OPERATOR(pg_catalog.=) h.id;
    DELETE FROM webhook.progress WHERE progress.hook_id OPERATOR(pg_catalog.=) h.id;
    DELETE FROM webhook.hook WHERE hook.id OPERATOR(pg_catalog.=) h.id;
END
$$;
COMMENT ON FUNCTION webhook._unregister(text) IS
    'Internal: webhook.unregister, run as the extension''s owner';

CREATE FUNCTION webhook._pause(name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook := webhook._lookup_for_update(name);
BEGIN
    UPDATE webhook.hook SET state = 'paused', disabled_reason = NULL
     WHERE hook.id OPERATOR(pg_catalog.=) h.id;
    PERFORM webhook._hooks_changed();
END
$$;
COMMENT ON FUNCTION webhook._pause(text) IS
    'Internal: webhook.pause, run as the extension''s owner';

CREATE FUNCTION webhook._resume(name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook := webhook._lookup_for_update(name);
BEGIN
    UPDATE webhook.hook
       SET state = 'active', disabled_reason = NULL, failing_since = NULL
     WHERE hook.id OPERATOR(pg_catalog.=) h.id;
    PERFORM webhook._hooks_changed();
    PERFORM webhook._wake();
END
$$;
COMMENT ON FUNCTION webhook._resume(text) IS
    'Internal: webhook.resume, run as the extension''s owner';

CREATE FUNCTION webhook._ping(name text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h webhook.hook := webhook._lookup(name);
    v_id bigint;
BEGIN
    -- an unregister waits for this transaction, and then removes its event
    PERFORM FROM webhook.hook WHERE hook.id OPERATOR(pg_catalog.=) h.id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook "%" does not exist', name
            USING ERRCODE = 'undefined_object';
    END IF;
    v_id := pg_catalog.nextval('webhook.event_id_seq');
    INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name)
    VALUES (webhook._delivery_id(v_id, 0), v_id, h.id, 'P', '', '');
    v_id := webhook._delivery_id(v_id, 0);
    PERFORM webhook._wake();
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION webhook._ping(text) IS
    'Internal: webhook.ping, run as the extension''s owner';

CREATE FUNCTION webhook._secret(name text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (webhook._lookup(name)).secret;
END
$$;
COMMENT ON FUNCTION webhook._secret(text) IS
    'Internal: webhook.secret, run as the extension''s owner';

/*
 * The current secret becomes an old one, live for grace, ahead of the old
 * ones still live; beyond 5 old secrets the oldest are retired (with a
 * NOTICE), and grace '0' retires every old one at once.
 */
CREATE FUNCTION webhook._rotate_secret(name text, secret text, grace interval) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p_secret    ALIAS FOR secret;
    h           webhook.hook := webhook._lookup(name);
    v_secrets   text[];
    v_until     timestamptz[];
    v_live      integer;
BEGIN
    IF grace IS NULL THEN
        RAISE EXCEPTION 'argument "grace" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF grace OPERATOR(pg_catalog.<) '0'::interval THEN
        RAISE EXCEPTION 'argument "grace" must not be negative'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_secret IS NULL THEN
        p_secret := webhook._new_secret();
    ELSE
        PERFORM webhook._check_secret(p_secret);
    END IF;

    IF grace OPERATOR(pg_catalog.>) '0'::interval THEN
        SELECT pg_catalog.array_agg(o.s ORDER BY o.n), pg_catalog.array_agg(o.u ORDER BY o.n),
               pg_catalog.count(*)
          INTO v_secrets, v_until, v_live
          FROM ROWS FROM (pg_catalog.unnest(ARRAY[h.secret] OPERATOR(pg_catalog.||) h.old_secrets),
                          pg_catalog.unnest(ARRAY[pg_catalog.now() OPERATOR(pg_catalog.+) grace]
                                                OPERATOR(pg_catalog.||) h.old_secrets_until))
               WITH ORDINALITY AS o(s, u, n)
         WHERE o.u OPERATOR(pg_catalog.>) pg_catalog.now()
           AND o.s OPERATOR(pg_catalog.<>) p_secret;
        IF v_live OPERATOR(pg_catalog.>) 5 THEN
            RAISE NOTICE 'webhook "%": % old secrets retired before their grace period ended', h.name, v_live OPERATOR(pg_catalog.-) 5
                USING DETAIL = 'At most 5 old secrets keep signing; the oldest go first.';
            v_secrets := v_secrets[1:5];
            v_until := v_until[1:5];
        END IF;
    END IF;

    UPDATE webhook.hook
       SET secret = p_secret,
           old_secrets = COALESCE(v_secrets, '{}'),
           old_secrets_until = COALESCE(v_until, '{}')
     WHERE hook.id OPERATOR(pg_catalog.=) h.id;
    RETURN p_secret;
END
$$;
COMMENT ON FUNCTION webhook._rotate_secret(text, text, interval) IS
    'Internal: webhook.rotate_secret, run as the extension''s owner';

/*
 * Every event of the webhook captured in [since, until) and still kept is
 * sent again, with its original event id (so its webhook-id): delivered,
 * failed and retrying ones become pending, due now (a delivered one that
 * came from the event log gets a row of its own in webhook.queue); pending
 * and sending ones are on their way already.  Writers, which only append to
 * the log, never wait on it, and the worker claims the rows in its usual
 * bounded windows.
 */
CREATE FUNCTION webhook._replay(name text, since timestamptz, until timestamptz) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h           webhook.hook := webhook._lookup(name);
    v_kept      interval := pg_catalog.current_setting('webhook.retention')::interval;
    v_changed   bigint;
    v_on_way    bigint;
BEGIN
    IF since IS NULL THEN
        RAISE EXCEPTION 'argument "since" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF until IS NULL THEN
        RAISE EXCEPTION 'argument "until" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF since OPERATOR(pg_catalog.>) until THEN
        RAISE EXCEPTION 'argument "since" must not be later than "until"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF since OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) v_kept) THEN
        RAISE NOTICE 'part of the window is older than what is kept: delivered and failed events older than webhook.retention (%) may be gone',
            pg_catalog.current_setting('webhook.retention');
    END IF;

    UPDATE webhook.queue
       SET status = 'p', attempts = 0, next_attempt_at = '-infinity', delivered_at = NULL
     WHERE queue.status IN ('d', 'f', 'r')
       AND queue.hook_id OPERATOR(pg_catalog.=) h.id
       AND queue.created_at OPERATOR(pg_catalog.>=) since
       AND queue.created_at OPERATOR(pg_catalog.<) until;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    -- delivered ones that have no row of their own get one, pending
    INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at,
                               old_row, new_row, changed, truncated, truncated_partition, lane)
    SELECT q.id, q.event_id, q.hook_id, q.op, q.schema_name, q.table_name, q.created_at,
           q.old_row, q.new_row, q.changed, q.truncated, q.truncated_partition, q.lane
      FROM webhook.queued q
     WHERE q.status OPERATOR(pg_catalog.=) 'd'
       AND q.hook_id OPERATOR(pg_catalog.=) h.id
       AND q.created_at OPERATOR(pg_catalog.>=) since
       AND q.created_at OPERATOR(pg_catalog.<) until
    ON CONFLICT (id) DO NOTHING;
    -- pending ones include changes on their way from the event log
    SELECT pg_catalog.count(*) INTO v_on_way
      FROM webhook.queued q
     WHERE q.status IN ('p', 's')
       AND q.hook_id OPERATOR(pg_catalog.=) h.id
       AND q.created_at OPERATOR(pg_catalog.>=) since
       AND q.created_at OPERATOR(pg_catalog.<) until;
    PERFORM webhook._wake();
    -- the rows just made pending are among those counted as on their way
    RETURN v_on_way;
END
$$;
COMMENT ON FUNCTION webhook._replay(text, timestamptz, timestamptz) IS
    'Internal: webhook.replay, run as the extension''s owner';

CREATE FUNCTION webhook._redeliver(delivery_id bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q record;
BEGIN
    IF delivery_id IS NULL THEN
        RAISE EXCEPTION 'argument "delivery_id" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT queue.status, hook.owner, true AS own INTO q
      FROM webhook.queue JOIN webhook.hook ON hook.id OPERATOR(pg_catalog.=) queue.hook_id
     WHERE queue.id OPERATOR(pg_catalog.=) delivery_id
       FOR UPDATE OF queue;
    IF NOT FOUND THEN
        -- a delivery from the event log, without a row of its own (yet)
        SELECT l.status, hook.owner, false AS own INTO q
          FROM webhook.queued l JOIN webhook.hook ON hook.id OPERATOR(pg_catalog.=) l.hook_id
         WHERE l.id OPERATOR(pg_catalog.=) delivery_id;
    END IF;
    IF NOT FOUND OR NOT pg_catalog.pg_has_role(webhook._caller(), q.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'delivery % does not exist', delivery_id
            USING ERRCODE = 'undefined_object';
    END IF;
    IF q.status NOT IN ('d', 'f') THEN
        RAISE EXCEPTION 'delivery % is still pending', delivery_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only delivered or failed deliveries can be redelivered.';
    END IF;
    IF q.own THEN
        UPDATE webhook.queue
           SET status = 'p', attempts = 0, next_attempt_at = '-infinity', delivered_at = NULL
         WHERE queue.id OPERATOR(pg_catalog.=) delivery_id;
    ELSE
        INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, created_at,
                                   old_row, new_row, changed, truncated, truncated_partition, lane)
        SELECT l.id, l.event_id, l.hook_id, l.op, l.schema_name, l.table_name, l.created_at,
               l.old_row, l.new_row, l.changed, l.truncated, l.truncated_partition, l.lane
          FROM webhook.queued l
         WHERE l.id OPERATOR(pg_catalog.=) delivery_id
        ON CONFLICT (id) DO NOTHING;
    END IF;
    PERFORM webhook._wake();
END
$$;
COMMENT ON FUNCTION webhook._redeliver(bigint) IS
    'Internal: webhook.redeliver, run as the extension''s owner';

/*
 * The API's entry points.  Each is a C function running as its caller: it
 * notes the current role (so a SECURITY DEFINER function calling the API
 * acts as its owner, as it would for any other SQL), then calls the
 * SECURITY DEFINER function of the same name with a leading underscore,
 * which does the work.  webhook._caller() there returns the noted role.
 */
CREATE FUNCTION webhook.register(
    name         text,
    url          text,
    relation     regclass DEFAULT NULL,
    schema       name DEFAULT NULL,
    events       text[] DEFAULT '{insert,update,delete,truncate}',
    secret       text DEFAULT NULL,
    headers      jsonb DEFAULT '{}',
    timeout      interval DEFAULT '15 s',
    max_attempts integer DEFAULT 8,
    fifo         boolean DEFAULT false,
    batch_size   integer DEFAULT 1,
    columns      text[] DEFAULT NULL,
    condition    text DEFAULT NULL,
    format       text DEFAULT 'json')
    RETURNS integer
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.unregister(name text) RETURNS void
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.pause(name text) RETURNS void
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.resume(name text) RETURNS void
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.ping(name text) RETURNS bigint
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.secret(name text) RETURNS text
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.redeliver(delivery_id bigint) RETURNS void
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.rotate_secret(name text, secret text DEFAULT NULL,
                                      grace interval DEFAULT '24 hours') RETURNS text
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
CREATE FUNCTION webhook.replay(name text, since timestamptz,
                               until timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
    LANGUAGE c SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_api';
COMMENT ON FUNCTION webhook.replay(text, timestamptz, timestamptz) IS
    'Send again every event of a webhook captured in [since, until) and still kept, whatever its state, with its original webhook-id; returns how many';
COMMENT ON FUNCTION webhook.rotate_secret(text, text, interval) IS
    'Give a webhook a new signing secret (generated when NULL) and return it; for grace the old one keeps signing too (at most 5 old secrets; grace ''0'' retires them now)';
COMMENT ON FUNCTION webhook.register(text, text, regclass, name, text[], text, jsonb, interval, integer, boolean, integer, text[], text, text) IS
    'Register a webhook: POST every committed change of a table (relation) or of every table of a schema to url, optionally filtered (columns, condition), as JSON or XML (format); returns its id';
COMMENT ON FUNCTION webhook.unregister(text) IS
    'Remove a webhook, its triggers and its undelivered events';
COMMENT ON FUNCTION webhook.pause(text) IS
    'Hold delivery for a webhook; changes are still captured and wait in the queue';
COMMENT ON FUNCTION webhook.resume(text) IS
    'Deliver again for a paused or disabled webhook, starting with what was held, in order';
COMMENT ON FUNCTION webhook.ping(text) IS
    'Queue a webhook.ping test event for a webhook; returns the delivery id';
COMMENT ON FUNCTION webhook.secret(text) IS
    'The signing secret (whsec_...) a receiver uses to verify webhook-signature';
COMMENT ON FUNCTION webhook.redeliver(bigint) IS
    'Send a delivered or failed delivery again, with the same webhook-id';

REVOKE ALL ON FUNCTION
    webhook.register(text, text, regclass, name, text[], text, jsonb, interval, integer, boolean, integer, text[], text, text),
    webhook.unregister(text), webhook.pause(text), webhook.resume(text),
    webhook.ping(text), webhook.secret(text), webhook.redeliver(bigint),
    webhook._register(text, text, regclass, name, text[], text, jsonb, interval, integer, boolean, integer, text[], text, text),
    webhook._unregister(text), webhook._pause(text), webhook._resume(text),
    webhook._ping(text), webhook._secret(text), webhook._redeliver(bigint),
    webhook.rotate_secret(text, text, interval), webhook._rotate_secret(text, text, interval),
    webhook.replay(text, timestamptz, timestamptz), webhook._replay(text, timestamptz, timestamptz),
    webhook._lookup(text), webhook._lookup_for_update(text), webhook._attach(webhook.hook, regclass), webhook._detach(integer),
    webhook._attach_partitions(webhook.hook, regclass),
    webhook._wake(), webhook._hooks_changed(), webhook._new_secret(), webhook._caller(),
    webhook._check_url(text), webhook._check_secret(text), webhook._check_schema(name),
    webhook._check_headers(jsonb), webhook._watchable(oid),
    webhook._check_filter(regclass, text[], text),
    webhook._trigger_name(integer, text), webhook._trigger_hooks(bytea),
    webhook._set_trigger(regclass, text, integer[]), webhook._trigger_add(regclass, text, integer),
    webhook._capture_trigger_oids(oid), webhook._lock_triggers(regclass),
    webhook._owner_can_read(oid, oid)
FROM PUBLIC;

/* ---------------------------------------------------------------------
 * Event triggers: schema webhooks watch new tables, dropped tables let go
 * --------------------------------------------------------------------- */

CREATE FUNCTION webhook._on_ddl_end() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    h webhook.hook;
BEGIN
    -- a partition created or attached under a table watched for TRUNCATE
    -- gets that webhook's truncate trigger (they are not cloned)
    IF TG_TAG IN ('CREATE TABLE', 'ALTER TABLE')
       AND EXISTS (SELECT FROM webhook.hook WHERE 'truncate' OPERATOR(pg_catalog.=) ANY (hook.events)) THEN
        FOR c IN
            SELECT DISTINCT a.relid AS rel
              FROM pg_catalog.pg_event_trigger_ddl_commands() d
              JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.objid
             CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(d.objid) a
             WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
               AND d.objsubid OPERATOR(pg_catalog.=) 0
               AND (r.relispartition OR r.relkind OPERATOR(pg_catalog.=) 'p')
        LOOP
            FOR h IN
                SELECT hook.* FROM webhook.hook
                  JOIN webhook._capture_trigger tg
                    ON hook.id OPERATOR(pg_catalog.=) ANY (tg.hooks)
                 WHERE tg.rel OPERATOR(pg_catalog.=) c.rel
                   AND tg.kind OPERATOR(pg_catalog.=) 'truncate'
                   AND 'truncate' OPERATOR(pg_catalog.=) ANY (hook.events)
                   AND (hook.relation OPERATOR(pg_catalog.=) c.rel
                        OR (hook.schema_name IS NOT NULL AND webhook._watchable(c.rel)
                            AND hook.schema_name OPERATOR(pg_catalog.=)
                                (SELECT n.nspname FROM pg_catalog.pg_class k
                                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace
                                  WHERE k.oid OPERATOR(pg_catalog.=) c.rel)))
            LOOP
                PERFORM webhook._attach_partitions(h, c.rel::regclass);
            END LOOP;
        END LOOP;
    END IF;

    IF NOT EXISTS (SELECT FROM webhook.hook WHERE hook.schema_name IS NOT NULL) THEN
        RETURN;
    END IF;

    -- a watched schema renamed: follow it (its webhooks' triggers tell which)
    IF TG_TAG OPERATOR(pg_catalog.=) 'ALTER SCHEMA' THEN
        UPDATE webhook.hook SET schema_name = n.nspname
          FROM pg_catalog.pg_event_trigger_ddl_commands() d
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::regclass
           AND hook.schema_name IS NOT NULL
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_namespace o
                            WHERE o.nspname OPERATOR(pg_catalog.=) hook.schema_name)
           AND EXISTS (SELECT FROM webhook._capture_trigger tg
                         JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) tg.rel
                        WHERE r.relnamespace OPERATOR(pg_catalog.=) n.oid
                          AND hook.id OPERATOR(pg_catalog.=) ANY (tg.hooks));
        IF FOUND THEN
            PERFORM webhook._hooks_changed();   -- capture caches hold the old name
        END IF;
        RETURN;
    END IF;

    FOR c IN
        SELECT DISTINCT d.objid, d.schema_name
          FROM pg_catalog.pg_event_trigger_ddl_commands() d
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
           AND d.objsubid OPERATOR(pg_catalog.=) 0
           AND d.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
           AND webhook._watchable(d.objid)
    LOOP
        FOR h IN
            SELECT * FROM webhook.hook
             WHERE hook.schema_name OPERATOR(pg_catalog.=) c.schema_name
               AND NOT EXISTS (SELECT FROM webhook._capture_trigger tg
                                WHERE tg.rel OPERATOR(pg_catalog.=) c.objid
                                  AND hook.id OPERATOR(pg_catalog.=) ANY (tg.hooks))
        LOOP
            IF NOT webhook._attach(h, c.objid::regclass) THEN
                RAISE NOTICE 'webhook "%" does not watch table %: its owner % cannot read every row of it',
                    h.name, c.objid::regclass, h.owner;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION webhook._on_ddl_end() IS
    'Internal: install capture triggers on tables created in a watched schema and on partitions created or attached under a watched table; follow a watched schema''s rename';

CREATE FUNCTION webhook._on_sql_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE webhook.hook SET relation = NULL
     WHERE hook.relation::oid IN (SELECT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d
                                   WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                                     AND d.objsubid OPERATOR(pg_catalog.=) 0);
END
$$;
COMMENT ON FUNCTION webhook._on_sql_drop() IS
    'Internal: forget the table of a table webhook when that table is dropped';

REVOKE ALL ON FUNCTION webhook._on_ddl_end(), webhook._on_sql_drop() FROM PUBLIC;

CREATE FUNCTION webhook._on_ddl_start() RETURNS event_trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_on_ddl_start';
COMMENT ON FUNCTION webhook._on_ddl_start() IS
    'Internal: refuse to rename the extension''s schema, with one clear error';
REVOKE ALL ON FUNCTION webhook._on_ddl_start() FROM PUBLIC;

CREATE EVENT TRIGGER webhook_ddl_start ON ddl_command_start
    WHEN TAG IN ('ALTER SCHEMA')
    EXECUTE FUNCTION webhook._on_ddl_start();
CREATE EVENT TRIGGER webhook_ddl_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER SCHEMA', 'ALTER TABLE')
    EXECUTE FUNCTION webhook._on_ddl_end();
CREATE EVENT TRIGGER webhook_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION webhook._on_sql_drop();

/* ---------------------------------------------------------------------
 * Views
 * --------------------------------------------------------------------- */

CREATE FUNCTION webhook._event_type(op "char") RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE op WHEN 'I' THEN 'row.inserted' WHEN 'U' THEN 'row.updated'
                   WHEN 'D' THEN 'row.deleted' WHEN 'T' THEN 'table.truncated'
                   WHEN 'P' THEN 'webhook.ping' END
$$;
COMMENT ON FUNCTION webhook._event_type("char") IS 'Internal: the payload type of a queued operation';

CREATE FUNCTION webhook._status(s "char") RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE s WHEN 'p' THEN 'pending' WHEN 's' THEN 'sending' WHEN 'r' THEN 'retrying'
                  WHEN 'd' THEN 'delivered' WHEN 'f' THEN 'failed' END
$$;
COMMENT ON FUNCTION webhook._status("char") IS 'Internal: the name of a delivery status';

/*
 * _event_type, _status, _delivery_id and _trigger_name are the only
 * functions without a pinned search_path: a SET clause would stop
 * PostgreSQL from inlining them into the views, the worker's claim and the
 * SQL that makes the capture triggers, where they run for every
 * row (for the same reason none is STRICT: a CASE is not, and a strict
 * function is inlined only into a strict expression).  Their bodies name
 * every function and operator with its schema, so no path can redirect them.
 */

/*
 * The body of an event as the worker POSTs it (src/body.c builds every
 * body, in one place; these show what it builds): compact JSON in the
 * README's order: type, timestamp, data (event_id, webhook, schema, table,
 * operation, new, old, changed for updates, truncated when the rows were
 * too large to send, partition for the TRUNCATE of a partition).  NULL when
 * the stored event is damaged.
 */
CREATE FUNCTION webhook._body(q webhook.queue, webhook_name text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_body_json';
COMMENT ON FUNCTION webhook._body(webhook.queue, text) IS
    'Internal: the JSON body POSTed for a queued event';
REVOKE ALL ON FUNCTION webhook._body(webhook.queue, text) FROM PUBLIC;

/*
 * The XML body of format => 'xml' (src/body.c): the same fields as
 * webhook._body, one <event> element (the worker adds the XML declaration,
 * or the <events> element around a batch).
 */
CREATE FUNCTION webhook._body_xml(q webhook.queue, webhook_name text) RETURNS text
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_body_xml';
COMMENT ON FUNCTION webhook._body_xml(webhook.queue, text) IS
    'Internal: the XML <event> element POSTed for a queued event of a format => ''xml'' webhook';
REVOKE ALL ON FUNCTION webhook._body_xml(webhook.queue, text) FROM PUBLIC;

/*
 * What the worker is sending now, from its memory (src/slots.c): the ids
 * of the deliveries from the log whose requests are in flight.
 *
 * _sending, _sending_events and _chunk_pending stay executable by PUBLIC:
 * the views call them, and a view's functions run as the role reading it.
 * They read no table (_sending shows delivery ids, nothing of an event).
 */
CREATE FUNCTION webhook._sending() RETURNS bigint[]
    LANGUAGE c STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'webhook_sending';
COMMENT ON FUNCTION webhook._sending() IS
    'Internal: the ids of the deliveries from the event log that this database''s worker has in flight';

/*
 * How many of a chunk's changes after an event id are for one webhook, and
 * the oldest of them (src/views.c): the views count pending events per
 * chunk, not per event.
 */
CREATE FUNCTION webhook._chunk_pending(changes webhook.change[], first_id bigint, hook_bit integer,
                                       after bigint, OUT n bigint, OUT oldest timestamptz)
    LANGUAGE c STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'webhook_chunk_pending';
COMMENT ON FUNCTION webhook._chunk_pending(webhook.change[], bigint, integer, bigint) IS
    'Internal: of a chunk''s changes after an event id, how many are for the webhook at a position of its hooks, and when the oldest was captured';

/* The events of what the worker is sending now (webhook._sending), as ranges. */
CREATE FUNCTION webhook._sending_events() RETURNS int8multirange
    LANGUAGE sql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.range_agg(pg_catalog.int8range(x OPERATOR(pg_catalog./) 32,
                                                              x OPERATOR(pg_catalog./) 32, '[]')),
                    '{}'::pg_catalog.int8multirange)
      FROM pg_catalog.unnest(webhook._sending()) x
$$;
COMMENT ON FUNCTION webhook._sending_events() IS
    'Internal: the event ids of the deliveries from the event log the worker has in flight';

/*
 * The deliveries from the event log that their webhook's cursor has not
 * passed yet, found by the log's index on txid from the oldest transaction
 * the cursor's done snapshot did not see, and whether the worker has each
 * in flight.  Internal: webhook.queued reads it.
 */
CREATE VIEW webhook._unsettled AS
SELECT webhook._delivery_id(l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1,
                            k.bit OPERATOR(pg_catalog.-) 1) AS id,
       l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1 AS event_id,
       h.id AS hook_id, c.op, l.schema_name, l.table_name, c.at, c.old_row, c.new_row,
       c.changed, c.truncated, c.partition, c.lane,
       webhook._delivery_id(l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1,
                            k.bit OPERATOR(pg_catalog.-) 1)
         OPERATOR(pg_catalog.=) ANY ((SELECT webhook._sending())::pg_catalog.int8[]) AS sending,
       pg_catalog.int8range(l.first_id, l.last_id, '[]') AS chunk
  FROM webhook.hook h
  LEFT JOIN webhook.cursor cu ON cu.hook_id OPERATOR(pg_catalog.=) h.id
 CROSS JOIN LATERAL (
       SELECT * FROM webhook.log_0
        WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)
       UNION ALL
       SELECT * FROM webhook.log_1
        WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)
       UNION ALL
       SELECT * FROM webhook.log_2
        WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)) l
 CROSS JOIN LATERAL (SELECT pg_catalog.array_position(l.hooks, h.id) AS bit) k
 CROSS JOIN LATERAL pg_catalog.unnest(l.changes) WITH ORDINALITY
       AS c(op, at, mask, truncated, old_row, new_row, changed, partition, lane, n)
 WHERE k.bit IS NOT NULL
   AND (c.mask OPERATOR(pg_catalog.&) (1 OPERATOR(pg_catalog.<<) (k.bit OPERATOR(pg_catalog.-) 1)))
       OPERATOR(pg_catalog.<>) 0
   AND NOT COALESCE(pg_catalog.pg_visible_in_snapshot(l.txid, cu.done)
                    OR (pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)
                        AND l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1
                            OPERATOR(pg_catalog.<=) cu.pos), false)
   -- past the cursor's position, a delivery may have a row of its own already
   -- (a retry, or one queued behind a retry, while an earlier one is in flight)
   AND NOT EXISTS (SELECT FROM webhook.queue q
                    WHERE q.id OPERATOR(pg_catalog.=)
                          webhook._delivery_id(l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1,
                                               k.bit OPERATOR(pg_catalog.-) 1));
COMMENT ON VIEW webhook._unsettled IS
    'Internal: the deliveries from the event log not yet settled, and whether each is in flight';
REVOKE ALL ON webhook._unsettled FROM PUBLIC;

/*
 * Every delivery: those with a row in webhook.queue, and one per (change,
 * webhook whose bit is set) of the event log that has none (a delivery
 * gets its row in the same transaction that records its outcome, so one
 * snapshot sees each exactly once).  A delivery from the log is settled
 * once its webhook's cursor is past it: then it is delivered
 * (webhook.progress says when, and the HTTP status, while it keeps the
 * batch).  An unsettled one is sending while the worker has its request in
 * flight, else pending.
 *
 * Each branch has one status from the log (the planner drops a branch
 * whose status a query rules out): a settled delivery is always 'd', an
 * unsettled one (webhook._unsettled, read by index) 's' or 'p'.  So
 * counting what is pending or failed never reads the delivered part of
 * the log.  Internal: the views below read it.
 */
CREATE VIEW webhook.queued AS
SELECT q.id, q.event_id, q.hook_id, q.op, q.schema_name, q.table_name, q.created_at,
       q.old_row, q.new_row, q.changed, q.truncated, q.truncated_partition, q.status, q.attempts,
       q.next_attempt_at, q.last_attempt_at, q.last_status, q.last_error,
       q.response_body, q.delivered_at, q.lane
  FROM webhook.queue q
UNION ALL
SELECT e.id, e.event_id, e.hook_id, e.op, e.schema_name, e.table_name, e.at,
       e.old_row, e.new_row, e.changed, e.truncated, e.partition,
       'd'::"char", 1, '-infinity'::timestamptz, p.at, p.status, NULL::text, NULL::text, p.at, e.lane
  FROM (SELECT webhook._delivery_id(l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1,
                                    k.bit::pg_catalog.int4 OPERATOR(pg_catalog.-) 1) AS id,
               l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1 AS event_id,
               k.hook_id, c.op, l.schema_name, l.table_name, c.at, c.old_row, c.new_row,
               c.changed, c.truncated, c.partition, c.lane
          FROM (SELECT * FROM webhook.log_0 UNION ALL SELECT * FROM webhook.log_1
                UNION ALL SELECT * FROM webhook.log_2) l
         CROSS JOIN LATERAL pg_catalog.unnest(l.changes) WITH ORDINALITY
               AS c(op, at, mask, truncated, old_row, new_row, changed, partition, lane, n)
         CROSS JOIN LATERAL pg_catalog.unnest(l.hooks) WITH ORDINALITY AS k(hook_id, bit)
          JOIN webhook.cursor cu ON cu.hook_id OPERATOR(pg_catalog.=) k.hook_id
         WHERE (c.mask OPERATOR(pg_catalog.&)
                (1 OPERATOR(pg_catalog.<<) (k.bit::pg_catalog.int4 OPERATOR(pg_catalog.-) 1)))
               OPERATOR(pg_catalog.<>) 0
           AND (pg_catalog.pg_visible_in_snapshot(l.txid, cu.done)
                OR (pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)
                    AND l.first_id OPERATOR(pg_catalog.+) c.n OPERATOR(pg_catalog.-) 1
                        OPERATOR(pg_catalog.<=) cu.pos))
           AND EXISTS (SELECT FROM webhook.hook h WHERE h.id OPERATOR(pg_catalog.=) k.hook_id)
       ) e
  LEFT JOIN LATERAL (SELECT p.at, p.status FROM webhook.progress p
                      WHERE p.ids OPERATOR(pg_catalog.@>) e.id
                        -- + 0: by the range's index, never the webhook's rows one by one
                        AND p.hook_id OPERATOR(pg_catalog.+) 0 OPERATOR(pg_catalog.=) e.hook_id
                      LIMIT 1) p ON true
 WHERE NOT EXISTS (SELECT FROM webhook.queue q WHERE q.id OPERATOR(pg_catalog.=) e.id)
UNION ALL
SELECT e.id, e.event_id, e.hook_id, e.op, e.schema_name, e.table_name, e.at,
       e.old_row, e.new_row, e.changed, e.truncated, e.partition, 's'::"char", 1,
       '-infinity'::timestamptz, NULL::timestamptz, NULL::integer, NULL::text, NULL::text,
       NULL::timestamptz, e.lane
  FROM webhook._unsettled e
 -- only the chunks of what is in flight are unpacked
 WHERE e.chunk OPERATOR(pg_catalog.&&) (SELECT webhook._sending_events()) AND e.sending
UNION ALL
SELECT e.id, e.event_id, e.hook_id, e.op, e.schema_name, e.table_name, e.at,
       e.old_row, e.new_row, e.changed, e.truncated, e.partition, 'p'::"char", 0,
       '-infinity'::timestamptz, NULL::timestamptz, NULL::integer, NULL::text, NULL::text,
       NULL::timestamptz, e.lane
  FROM webhook._unsettled e WHERE NOT e.sending;
COMMENT ON VIEW webhook.queued IS
    'Internal: every delivery, from webhook.queue and from the event log';
REVOKE ALL ON webhook.queued FROM PUBLIC;

CREATE VIEW webhook.webhooks WITH (security_barrier) AS
SELECT h.id,
       h.name,
       pg_catalog.regexp_replace(h.url, '^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@]*@', '\1***@') AS url,
       h.relation,
       h.schema_name AS schema,
       CASE WHEN h.relation IS NOT NULL THEN 'table ' OPERATOR(pg_catalog.||) h.relation::text
            WHEN h.schema_name IS NOT NULL THEN 'schema ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(h.schema_name)
            ELSE 'dropped table' END AS watches,
       h.events,
       h.state,
       h.disabled_reason,
       webhook._worker() AS worker,
       coalesce(c.pending, 0) AS pending,
       coalesce(c.delivered, 0) AS delivered,
       coalesce(c.failed, 0) AS failed,
       pg_catalog.now() OPERATOR(pg_catalog.-) c.oldest_pending AS lag,
       h.last_success_at,
       h.last_failure_at,
       h.last_error,
       h.consecutive_failures,
       h.timeout,
       h.max_attempts,
       h.fifo,
       h.batch_size,
       h.format,
       h.columns,
       h.condition,
       h.headers,
       h.owner,
       h.created_at
  FROM webhook.hook h
  LEFT JOIN LATERAL (
        -- per webhook: the queue's rows by status, the log's pending events
        -- counted per chunk (webhook._chunk_pending), delivered events from
        -- the progress rows (less those that have a row in the queue since,
        -- replayed or redelivered); no read of every event of the log
        SELECT (SELECT pg_catalog.count(*) FROM webhook.queue q
                 WHERE q.status IN ('p', 's', 'r') AND q.hook_id OPERATOR(pg_catalog.=) h.id)
               OPERATOR(pg_catalog.+)
               (COALESCE(pg_catalog.sum(lp.n), 0) OPERATOR(pg_catalog.-) COALESCE(pg_catalog.sum(lq.n), 0))::bigint
               AS pending,
               (SELECT pg_catalog.count(*) FROM webhook.queue q
                 WHERE q.status OPERATOR(pg_catalog.=) 'd' AND q.hook_id OPERATOR(pg_catalog.=) h.id)
               OPERATOR(pg_catalog.+)
               (SELECT COALESCE(pg_catalog.sum(p.n), 0) FROM webhook.progress p
                 WHERE p.hook_id OPERATOR(pg_catalog.=) h.id)
               OPERATOR(pg_catalog.-)
               (SELECT pg_catalog.count(*) FROM webhook.queue q
                 WHERE q.hook_id OPERATOR(pg_catalog.=) h.id
                   AND EXISTS (SELECT FROM webhook.progress p
                                WHERE p.ids OPERATOR(pg_catalog.@>) q.id
                                  AND p.hook_id OPERATOR(pg_catalog.+) 0 OPERATOR(pg_catalog.=) h.id)) AS delivered,
               (SELECT pg_catalog.count(*) FROM webhook.queue q
                 WHERE q.status OPERATOR(pg_catalog.=) 'f' AND q.hook_id OPERATOR(pg_catalog.=) h.id) AS failed,
               LEAST((SELECT pg_catalog.min(q.created_at) FROM webhook.queue q
                       WHERE q.status IN ('p', 's', 'r') AND q.hook_id OPERATOR(pg_catalog.=) h.id),
                     pg_catalog.min(lp.oldest)) AS oldest_pending
          FROM (SELECT cu.done, cu.upto, cu.pos
                  FROM (SELECT) one LEFT JOIN webhook.cursor cu ON cu.hook_id OPERATOR(pg_catalog.=) h.id) cu
          LEFT JOIN LATERAL (
                SELECT * FROM webhook.log_0
                 WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)
                UNION ALL
                SELECT * FROM webhook.log_1
                 WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)
                UNION ALL
                SELECT * FROM webhook.log_2
                 WHERE txid OPERATOR(pg_catalog.>=) COALESCE(pg_catalog.pg_snapshot_xmin(cu.done), '0'::pg_catalog.xid8)) l
            ON h.id OPERATOR(pg_catalog.=) ANY (l.hooks)
           AND NOT COALESCE(pg_catalog.pg_visible_in_snapshot(l.txid, cu.done)
                            OR (pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)
                                AND l.last_id OPERATOR(pg_catalog.<=) cu.pos), false)
          LEFT JOIN LATERAL (
                SELECT pg_catalog.array_position(l.hooks, h.id) AS bit,
                       CASE WHEN pg_catalog.pg_visible_in_snapshot(l.txid, cu.upto)
                            THEN cu.pos END AS after) k ON true
          LEFT JOIN LATERAL webhook._chunk_pending(l.changes, l.first_id, k.bit, k.after) lp ON true
          -- those past the cursor's position that have a row of their own already
          -- (a retry, or one queued behind a retry) are counted with the queue's
          LEFT JOIN LATERAL (
                SELECT pg_catalog.count(*) AS n FROM webhook.queue q
                 WHERE q.id OPERATOR(pg_catalog.>=) webhook._delivery_id(
                           GREATEST(l.first_id, k.after OPERATOR(pg_catalog.+) 1), k.bit OPERATOR(pg_catalog.-) 1)
                   AND q.id OPERATOR(pg_catalog.<=) webhook._delivery_id(l.last_id, k.bit OPERATOR(pg_catalog.-) 1)
                   AND (q.id OPERATOR(pg_catalog.%) 32) OPERATOR(pg_catalog.=) (k.bit OPERATOR(pg_catalog.-) 1)
                   AND q.hook_id OPERATOR(pg_catalog.=) h.id) lq ON l.first_id IS NOT NULL
        ) c ON true
 WHERE pg_catalog.pg_has_role(h.owner, 'MEMBER');

COMMENT ON VIEW webhook.webhooks IS 'One row per webhook you own, with its health';
COMMENT ON COLUMN webhook.webhooks.id IS 'Webhook id, as returned by register';
COMMENT ON COLUMN webhook.webhooks.name IS 'Unique name given to register';
COMMENT ON COLUMN webhook.webhooks.url IS 'Target URL, with any user:password masked';
COMMENT ON COLUMN webhook.webhooks.relation IS 'The table watched by a table webhook (NULL for a schema webhook or after the table was dropped)';
COMMENT ON COLUMN webhook.webhooks.schema IS 'The schema watched by a schema webhook';
COMMENT ON COLUMN webhook.webhooks.watches IS 'What the webhook watches, in words';
COMMENT ON COLUMN webhook.webhooks.events IS 'Operations that produce events: insert, update, delete, truncate';
COMMENT ON COLUMN webhook.webhooks.state IS 'active, paused (capturing, delivery held) or disabled (capturing, delivery stopped; see disabled_reason)';
COMMENT ON COLUMN webhook.webhooks.disabled_reason IS 'Why the webhook was disabled';
COMMENT ON COLUMN webhook.webhooks.worker IS 'Whether anything delivers: "running" while a delivery worker serves this database, else "not running: " and why (events are still captured and wait in the queue)';
COMMENT ON COLUMN webhook.webhooks.pending IS 'Deliveries not yet delivered or failed';
COMMENT ON COLUMN webhook.webhooks.delivered IS 'Delivered deliveries still kept (see webhook.retention)';
COMMENT ON COLUMN webhook.webhooks.failed IS 'Deliveries that used up max_attempts, still kept';
COMMENT ON COLUMN webhook.webhooks.lag IS 'Age of the oldest event not yet delivered or failed (NULL when there is none)';
COMMENT ON COLUMN webhook.webhooks.last_success_at IS 'When a delivery last succeeded';
COMMENT ON COLUMN webhook.webhooks.last_failure_at IS 'When an attempt last failed';
COMMENT ON COLUMN webhook.webhooks.last_error IS 'The error of the last failed attempt';
COMMENT ON COLUMN webhook.webhooks.consecutive_failures IS 'Attempts failed since the last success';
COMMENT ON COLUMN webhook.webhooks.timeout IS 'Per-attempt timeout';
COMMENT ON COLUMN webhook.webhooks.max_attempts IS 'Attempts before a delivery is failed';
COMMENT ON COLUMN webhook.webhooks.fifo IS 'Strict order: each delivery waits until the previous one is delivered or failed';
COMMENT ON COLUMN webhook.webhooks.batch_size IS 'Events per POST at most; above 1 each POST carries a JSON array of events';
COMMENT ON COLUMN webhook.webhooks.format IS 'Body format: json, or xml (application/xml; a batch is an <events> element)';
COMMENT ON COLUMN webhook.webhooks.columns IS 'Filter: an UPDATE is sent only when one of these columns changed (NULL: any)';
COMMENT ON COLUMN webhook.webhooks.condition IS 'Filter: a boolean expression over new and old; the change is sent only when it is true (NULL: always)';
COMMENT ON COLUMN webhook.webhooks.headers IS 'Custom headers sent with every request';
COMMENT ON COLUMN webhook.webhooks.owner IS 'Role that registered the webhook';
COMMENT ON COLUMN webhook.webhooks.created_at IS 'When the webhook was registered';

CREATE VIEW webhook.deliveries WITH (security_barrier) AS
SELECT q.id,
       h.name AS webhook,
       q.event_id,
       webhook._event_type(q.op) AS event_type,
       NULLIF(q.schema_name, '') AS schema,
       NULLIF(q.table_name, '') AS "table",
       q.created_at,
       webhook._status(q.status) AS status,
       q.attempts,
       CASE WHEN q.status OPERATOR(pg_catalog.=) 'r' THEN q.next_attempt_at END AS next_attempt_at,
       q.last_attempt_at,
       q.last_status AS response_status,
       q.last_error,
       q.response_body,
       q.delivered_at,
       q.delivered_at OPERATOR(pg_catalog.-) q.created_at AS latency
  FROM webhook.queued q
  JOIN webhook.hook h ON h.id OPERATOR(pg_catalog.=) q.hook_id
 WHERE pg_catalog.pg_has_role(h.owner, 'MEMBER');

COMMENT ON VIEW webhook.deliveries IS 'One row per (event, webhook) you own: what was sent, and how it went';
COMMENT ON COLUMN webhook.deliveries.id IS 'Delivery id, for webhook.redeliver: the event id times 32, plus the webhook''s place among those of the event''s chunk';
COMMENT ON COLUMN webhook.deliveries.webhook IS 'Webhook name';
COMMENT ON COLUMN webhook.deliveries.event_id IS 'Event id, also data.event_id in the payload';
COMMENT ON COLUMN webhook.deliveries.event_type IS 'row.inserted, row.updated, row.deleted, table.truncated or webhook.ping';
COMMENT ON COLUMN webhook.deliveries.schema IS 'Schema of the changed table';
COMMENT ON COLUMN webhook.deliveries."table" IS 'Name of the changed table';
COMMENT ON COLUMN webhook.deliveries.created_at IS 'When the change was captured (inside the writing transaction)';
COMMENT ON COLUMN webhook.deliveries.status IS 'pending, sending, retrying, delivered or failed';
COMMENT ON COLUMN webhook.deliveries.attempts IS 'Attempts made so far';
COMMENT ON COLUMN webhook.deliveries.next_attempt_at IS 'When the next attempt is due (retrying only; pending ones go as soon as they can)';
COMMENT ON COLUMN webhook.deliveries.last_attempt_at IS 'When the last attempt started';
COMMENT ON COLUMN webhook.deliveries.response_status IS 'HTTP status of the last response (NULL if none arrived)';
COMMENT ON COLUMN webhook.deliveries.last_error IS 'Why the last attempt failed: HTTP status or transport error';
COMMENT ON COLUMN webhook.deliveries.response_body IS 'Start of the last response body (truncated)';
COMMENT ON COLUMN webhook.deliveries.delivered_at IS 'When a 2xx response arrived';
COMMENT ON COLUMN webhook.deliveries.latency IS 'From capture to delivery';

GRANT SELECT ON webhook.webhooks, webhook.deliveries TO PUBLIC;

/* without the preload nothing is delivered: say so now (capture still works) */
SELECT webhook._warn_not_preloaded();
