-- Trigger lifecycle: schema webhooks follow new tables; nothing is left behind.
\set VERBOSITY terse
CREATE SCHEMA app;
CREATE TABLE app.a (id int);
CREATE VIEW app.not_a_table AS SELECT 1 AS id;
SELECT webhook.register('app', 'http://127.0.0.1:9/app', schema => 'app',
                        events => '{insert,truncate}') > 0 AS registered;
CREATE TABLE app.b (id int);
CREATE TABLE app.c AS SELECT 1 AS id;
-- (a table moved in with SET SCHEMA is not picked up: pg_restore's ALTER
-- TABLEs must not attach triggers that the dump restores itself)
CREATE TABLE public.moved (id int);
ALTER TABLE public.moved SET SCHEMA app;
CREATE TABLE app.parted (id int) PARTITION BY RANGE (id);
CREATE TABLE app.parted_1 PARTITION OF app.parted FOR VALUES FROM (0) TO (10);
CREATE TABLE elsewhere (id int);

SELECT t.tgrelid::regclass AS "table", regexp_replace(t.tgname, '[0-9]+', 'N') AS trigger
  FROM pg_trigger t
 WHERE t.tgfoid = 'webhook.capture()'::regprocedure
   AND t.tgrelid::regclass::text NOT IN ('orders', 'items', 'keyless')
 ORDER BY 1, 2;

INSERT INTO app.b VALUES (1);
INSERT INTO app.parted VALUES (1);
TRUNCATE app.c;
SELECT q.op, q.schema_name, q.table_name
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE h.name = 'app' ORDER BY q.event_id;

-- a table moved out of the watched schema is no longer captured
ALTER TABLE app.a SET SCHEMA public;
INSERT INTO public.a VALUES (1);
SELECT count(*) AS events_from_moved_table FROM webhook.queued WHERE table_name = 'a';
ALTER TABLE public.a SET SCHEMA app;

-- dropping a watched table takes its triggers with it
DROP TABLE app.b;
SELECT count(*) AS triggers_on_app_b FROM pg_trigger WHERE tgname LIKE 'webhook%' AND tgrelid::regclass::text = 'app.b';

-- unregister removes every trigger and queued event of the webhook
SELECT webhook.unregister('app');
SELECT count(*) AS triggers_left FROM pg_trigger t
 WHERE t.tgfoid = 'webhook.capture()'::regprocedure
   AND t.tgrelid::regclass::text LIKE 'app.%';
SELECT count(*) AS events_left FROM webhook.queued q WHERE q.schema_name = 'app';
CREATE TABLE app.after_unregister (id int);
SELECT count(*) AS triggers_on_new_table FROM pg_trigger
 WHERE tgrelid = 'app.after_unregister'::regclass;

-- a table webhook whose table is dropped keeps its history, watches nothing
CREATE TABLE doomed (id int);
SELECT webhook.register('doomed', 'http://127.0.0.1:9/doomed', 'doomed') > 0 AS registered;
INSERT INTO doomed VALUES (1);
DROP TABLE doomed;
SELECT name, relation, watches, pending FROM webhook.webhooks WHERE name = 'doomed';
SELECT webhook.unregister('doomed');

-- a transaction that captured events may still drop the extension
BEGIN;
INSERT INTO orders VALUES (2, 'captured, then dropped');
DROP EXTENSION webhook CASCADE;
ROLLBACK;

-- DROP EXTENSION needs CASCADE while tables are watched, and then leaves nothing
DROP EXTENSION webhook;
DROP EXTENSION webhook CASCADE;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'webhook\_%';
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname = 'webhook';
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'webhook%';
INSERT INTO orders VALUES (1, 'still writable');

-- and it can come back
CREATE EXTENSION webhook;
SELECT webhook.register('again', 'http://127.0.0.1:9/again', 'orders') > 0 AS registered;
DROP EXTENSION webhook CASCADE;

-- a schema planted under the extension's name makes CREATE EXTENSION fail
-- rather than run with someone else's objects
CREATE SCHEMA webhook;
CREATE FUNCTION webhook.capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE EXTENSION webhook;
DROP SCHEMA webhook CASCADE;
