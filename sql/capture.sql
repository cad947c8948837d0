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

-- every payload carries the names as of the change, after ALTER SCHEMA ...
-- RENAME too: in the session that renamed, in another that had written
-- before, and for a partitioned table written through parent or partition
CREATE SCHEMA sa;
CREATE TABLE sa.plain (id int PRIMARY KEY);
CREATE TABLE sa.pt (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE sa.pt_1 PARTITION OF sa.pt FOR VALUES FROM (0) TO (100);
SELECT webhook.register('plain', 'http://127.0.0.1:9/plain', 'sa.plain') AS plain_id \gset
SELECT webhook.register('pt', 'http://127.0.0.1:9/pt', 'sa.pt') AS pt_id \gset
SELECT webhook.pause('plain'), webhook.pause('pt');
INSERT INTO sa.plain VALUES (1);
INSERT INTO sa.pt VALUES (1);
INSERT INTO sa.pt_1 VALUES (2);
ALTER SCHEMA sa RENAME TO sb;
INSERT INTO sb.plain VALUES (2);
INSERT INTO sb.pt VALUES (3);
INSERT INTO sb.pt_1 VALUES (4);
ALTER TABLE sb.pt RENAME TO pt_renamed;
INSERT INTO sb.pt_1 VALUES (5);
-- another session renames the schema back; this one writes again
\! psql -X -q -d contrib_regression -c 'ALTER SCHEMA sb RENAME TO sc'
INSERT INTO sc.plain VALUES (3);
INSERT INTO sc.pt_renamed VALUES (6);
INSERT INTO sc.pt_1 VALUES (7);
SELECT hook_id = :plain_id AS plain, schema_name, table_name, new_row
  FROM webhook.queued WHERE hook_id IN (:plain_id, :pt_id) ORDER BY event_id;
SELECT webhook.unregister('plain'), webhook.unregister('pt');
DROP SCHEMA sc CASCADE;

-- a TRUNCATE of a partition of a watched table is an event of the watched
-- table naming the partition; a TRUNCATE of the watched table is one event,
-- not one per partition.  Partitions created or attached later are covered.
CREATE TABLE pt3 (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE pt_1 PARTITION OF pt3 FOR VALUES FROM (0) TO (10);
CREATE TABLE pt_2 PARTITION OF pt3 FOR VALUES FROM (10) TO (20) PARTITION BY RANGE (id);
CREATE TABLE pt_2a PARTITION OF pt_2 FOR VALUES FROM (10) TO (15);
SELECT webhook.register('pt3', 'http://127.0.0.1:9/pt3', 'pt3') AS pt3_id \gset
SELECT webhook.pause('pt3');
CREATE TABLE pt_3 (id int PRIMARY KEY);
ALTER TABLE pt3 ATTACH PARTITION pt_3 FOR VALUES FROM (20) TO (30);
CREATE TABLE pt_2b PARTITION OF pt_2 FOR VALUES FROM (15) TO (20);
SELECT tgrelid::regclass AS rel, replace(tgname, :'pt3_id', 'N') AS trigger, tgparentid <> 0 AS clone
  FROM pg_trigger WHERE tgname LIKE 'webhook\_' || :'pt3_id' || '\_%' ORDER BY 1, 2;
INSERT INTO pt3 VALUES (1), (11), (21);
TRUNCATE pt_1;
TRUNCATE pt_2;
TRUNCATE pt_3;
TRUNCATE pt_1, pt3;
TRUNCATE pt_2a;
SELECT op, schema_name, table_name, truncated_partition
  FROM webhook.queued WHERE hook_id = :pt3_id ORDER BY event_id;
SELECT (webhook._body(ROW(q.*)::webhook.queue, 'pt3')::jsonb -> 'data') - 'event_id' AS body
  FROM webhook.queued q WHERE hook_id = :pt3_id AND op = 'T' ORDER BY event_id LIMIT 1;
-- a webhook without truncate puts no trigger on the partitions
SELECT webhook.register('pt3-rows', 'http://127.0.0.1:9/pt3', 'pt3', events => '{insert}') AS rows_id \gset
SELECT count(*) AS partition_truncate_triggers FROM pg_trigger
 WHERE tgname = 'webhook_' || :'rows_id' || '_truncate';
SELECT webhook.unregister('pt3'), webhook.unregister('pt3-rows');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'webhook\_%' AND tgrelid::regclass::text LIKE 'pt%';
DROP TABLE pt3;

-- a table's webhooks share its triggers, one of each kind whatever their
-- number, and each webhook gets only the operations it asked for; a
-- partition watched directly and through its parent fires its own trigger
-- and its parent's clone; a watched table attached under a watched parent
-- keeps its own webhook; a webhook removed leaves the others capturing
CREATE TABLE sh (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE sh_1 PARTITION OF sh FOR VALUES FROM (0) TO (10);
CREATE TABLE sh_2 (id int PRIMARY KEY, v text);
SELECT webhook.register('sh-ins', 'http://127.0.0.1:9/sh', 'sh', events => '{insert}') > 0 AS registered;
SELECT webhook.register('sh-all', 'http://127.0.0.1:9/sh', 'sh') > 0 AS registered;
SELECT webhook.register('sh-1', 'http://127.0.0.1:9/sh', 'sh_1', events => '{update,truncate}') > 0 AS registered;
SELECT webhook.register('sh-2', 'http://127.0.0.1:9/sh', 'sh_2') > 0 AS registered;
SELECT webhook.pause(n) FROM unnest('{sh-ins,sh-all,sh-1,sh-2}'::text[]) n;
ALTER TABLE sh ATTACH PARTITION sh_2 FOR VALUES FROM (10) TO (20);
CREATE VIEW sh_triggers AS
SELECT t.tgrelid::regclass AS rel, t.tgparentid <> 0 AS clone,
       regexp_replace(pg_get_triggerdef(t.oid), '^CREATE TRIGGER \S+ (.*) ON \S+ (.*) EXECUTE FUNCTION .*$', '\1 \2') AS fires,
       ARRAY(SELECT h.name FROM webhook.hook h WHERE h.id = ANY (webhook._trigger_hooks(t.tgargs)) ORDER BY h.id) AS webhooks
  FROM pg_trigger t
 WHERE t.tgfoid = 'webhook.capture()'::regprocedure AND t.tgrelid::regclass::text LIKE 'sh%'
 ORDER BY 1, 2, 3;
SELECT * FROM sh_triggers;
INSERT INTO sh VALUES (1, 'a'), (11, 'b');
UPDATE sh SET v = 'c';
DELETE FROM sh WHERE id = 11;
TRUNCATE sh_1;
SELECT dense_rank() OVER (ORDER BY q.event_id) AS change, q.op, q.table_name, h.name AS webhook
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE h.name LIKE 'sh-%' ORDER BY q.event_id, h.name;
SELECT webhook.unregister('sh-ins');
SELECT * FROM sh_triggers;
INSERT INTO sh VALUES (2, 'd');
SELECT q.op, q.new_row, h.name AS webhook
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE q.new_row->>'id' = '2' ORDER BY h.name;
SELECT webhook.unregister(n) FROM unnest('{sh-all,sh-1,sh-2}'::text[]) n;
SELECT count(*) AS triggers_left FROM sh_triggers;
DROP VIEW sh_triggers;
DROP TABLE sh;

-- each row is sent byte for byte as row_to_json writes it, whatever the
-- types; a value repeated over rows (a default of now()) and a time zone
-- changed between statements included
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TYPE pair AS (x int, y text);
CREATE DOMAIN short_text AS varchar(20);
CREATE TABLE kinds (
    id int PRIMARY KEY, i2 int2, i8 int8, num numeric, f4 float4, f8 float8,
    t text, vc varchar(10), bp char(5), st short_text, b boolean, d date,
    ts timestamp, tz timestamptz DEFAULT now(), iv interval, j json, jb jsonb,
    arr int[], tarr text[], p pair, m mood, u uuid, by bytea, dropped int);
ALTER TABLE kinds DROP COLUMN dropped;
SELECT webhook.register('kinds', 'http://127.0.0.1:9/kinds', 'kinds') AS kinds_id \gset
SELECT webhook.pause('kinds');
INSERT INTO kinds (id, i2, i8, num, f4, f8, t, vc, bp, st, b, d, ts, iv, j, jb, arr, tarr, p, m, u, by)
VALUES (1, -32768, -9223372036854775808, -1.50, 'NaN', '-Infinity',
        E'tab\t nl\n cr\r bs\\ q" bell\x07 ff\f e\u00e9 \u2603', 'ab"c', 'x', E'dom\\ain', true,
        'infinity', '2026-12-01 10:11:12.5', '1 day 2 hours', '{"a": [1, "x"]}', '{"b": null}',
        '{1,NULL,3}', '{"a b","c,d",NULL}', ROW(1, 'y"z'), 'ok',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff'),
       (2, 32767, 9223372036854775807, 1e20, 1.5, 2.25, '', '', '', '', false,
        '2000-02-29', '-infinity', '-1 mon', 'null', '[]', '{}', '{}', ROW(NULL, NULL), 'sad',
        NULL, ''),
       (3, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL);
SET TimeZone = 'Asia/Kolkata';
INSERT INTO kinds (id, tz) SELECT g, '2026-06-01 12:00:00+00' FROM generate_series(4, 6) g;
SET TimeZone = 'America/St_Johns';
INSERT INTO kinds (id, tz) SELECT g, '2026-06-01 12:00:00+00' FROM generate_series(7, 9) g;
-- each row compared in the time zone it was written in
CREATE FUNCTION pg_temp.differing(hook int, lo int, hi int) RETURNS TABLE (id int, sent text, expected text)
    LANGUAGE sql AS $$
    SELECT k.id, q.new_row::text, row_to_json(k)::text
      FROM webhook.queued q JOIN kinds k ON k.id = (q.new_row->>'id')::int
     WHERE q.hook_id = hook AND k.id BETWEEN lo AND hi
       AND q.new_row::text IS DISTINCT FROM row_to_json(k)::text $$;
SELECT * FROM pg_temp.differing(:kinds_id, 7, 9);
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM pg_temp.differing(:kinds_id, 4, 6);
RESET TimeZone;
SELECT * FROM pg_temp.differing(:kinds_id, 1, 3);
SELECT count(*) AS rows_sent, count(DISTINCT q.new_row->>'tz') AS distinct_tz_texts
  FROM webhook.queued q WHERE q.hook_id = :kinds_id AND (q.new_row->>'id')::int BETWEEN 4 AND 9;
SELECT webhook.unregister('kinds');
DROP TABLE kinds;
DROP DOMAIN short_text;
DROP TYPE pair, mood;
