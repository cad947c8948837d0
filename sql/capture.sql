-- Capture: what each change queues, read while paused (this database has
-- no worker: the changes stay in the event log, which webhook.queued shows).
\set VERBOSITY terse
CREATE TABLE items (
    id     int PRIMARY KEY,
    name   text,
    done   boolean DEFAULT false,
    price  numeric,
    blob   bytea,
    tags   text[],
    temp   float8
);
SELECT webhook.register('items', 'http://127.0.0.1:9/items', 'items') AS items_id \gset
SELECT webhook.pause('items');

INSERT INTO items VALUES (1, 'milk', false, 1.50, '\xdead', '{a,b}', 'Infinity');
UPDATE items SET done = true WHERE id = 1;      -- tick a checkbox
UPDATE items SET done = true WHERE id = 1;      -- changes nothing: no event
UPDATE items SET name = name, tags = '{a,b}';   -- changes nothing: no event
UPDATE items SET price = 'NaN', name = E'tab\there "quoted" \u00e9' WHERE id = 1;
DELETE FROM items WHERE id = 1;
BEGIN;
INSERT INTO items (id, name) VALUES (2, 'rolled back');
ROLLBACK;
BEGIN;
INSERT INTO items (id, name) VALUES (3, 'kept');
SAVEPOINT s;
INSERT INTO items (id, name) VALUES (4, 'undone by rollback to savepoint');
UPDATE items SET name = 'also undone' WHERE id = 3;
ROLLBACK TO SAVEPOINT s;
COMMIT;
TRUNCATE items;

SELECT op, schema_name, table_name, old_row, new_row, changed, status, attempts
  FROM webhook.queued WHERE hook_id = :items_id ORDER BY event_id;

-- the bodies the worker will send (timestamp and ids vary run to run)
SELECT (webhook._body(ROW(q.*)::webhook.queue, 'items')::jsonb - 'timestamp') #- '{data,event_id}' AS body
  FROM webhook.queued q WHERE hook_id = :items_id ORDER BY event_id;
SELECT bool_and(webhook._body(ROW(q.*)::webhook.queue, 'items')::json->>'timestamp'
                ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$') AS timestamps_ok,
       bool_and((webhook._body(ROW(q.*)::webhook.queue, 'items')::json->'data'->>'event_id')::bigint = q.event_id) AS ids_ok
  FROM webhook.queued q WHERE hook_id = :items_id;
SELECT event_type, schema, "table", status, attempts
  FROM webhook.deliveries WHERE webhook = 'items' ORDER BY event_id;
SELECT name, state, pending FROM webhook.webhooks WHERE name = 'items';

-- a webhook hears only its events; two webhooks each get their own event
SELECT webhook.register('items-inserts', 'http://127.0.0.1:9/ins', 'items',
                        events => '{insert}') > 0 AS registered;
INSERT INTO items (id, name) VALUES (10, 'ten');
UPDATE items SET name = 'TEN';
SELECT h.name, q.op, q.new_row->>'name' AS name
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE h.name LIKE 'items%' AND q.new_row->>'id' = '10' ORDER BY h.name, q.event_id;

-- a writer with no privilege on the extension's tables still queues
CREATE ROLE webhook_writer;
GRANT ALL ON items TO webhook_writer;
SET ROLE webhook_writer;
INSERT INTO items (id, name) VALUES (11, 'from an unprivileged writer');
SELECT count(*) FROM webhook.queue;
SELECT count(*) FROM webhook.log_0;
RESET ROLE;
SELECT count(*) AS queued FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE q.new_row->>'id' = '11';

-- rows too large to send go thin: the key columns and "truncated": true
SET webhook.max_payload_size = '1kB';
INSERT INTO items (id, name) VALUES (12, repeat('x', 5000));
UPDATE items SET name = repeat('y', 5000) WHERE id = 12;
CREATE TABLE keyless (note text);
SELECT webhook.register('keyless', 'http://127.0.0.1:9/keyless', 'keyless') > 0 AS registered;
INSERT INTO keyless VALUES (repeat('z', 5000));
RESET webhook.max_payload_size;
SELECT q.op, q.truncated, q.old_row, q.new_row, q.changed,
       (webhook._body(ROW(q.*)::webhook.queue, 'items')::jsonb->'data'->'truncated') AS body_says
  FROM webhook.queued q WHERE q.truncated ORDER BY q.event_id, q.hook_id;

-- ping queues a test event; redeliver only takes finished deliveries
SELECT webhook.ping('items') > 0 AS pinged;
SELECT (webhook._body(q, 'items')::jsonb - 'timestamp') #- '{data,event_id}' AS ping_body
  FROM webhook.queue q WHERE op = 'P';
DO $$
BEGIN
    PERFORM webhook.redeliver(id) FROM webhook.queue WHERE op = 'P';
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'redeliver refused: %', regexp_replace(SQLERRM, '\d+', 'N');
END
$$;

-- resume wakes the worker; this database has none, so all stays queued
SELECT webhook.resume('items');
SELECT name, state FROM webhook.webhooks WHERE name = 'items';
