-- API surface, SQLSTATEs and privileges.  Runs in one transaction, rolled back.
BEGIN;
SELECT plan(99);

-- the SQL surface the README documents
SELECT has_function('webhook', 'register',
    ARRAY['text', 'text', 'regclass', 'name', 'text[]', 'text', 'jsonb', 'interval', 'integer', 'boolean', 'integer',
          'text[]', 'text', 'text']);
SELECT has_function('webhook', 'unregister', ARRAY['text']);
SELECT has_function('webhook', 'pause', ARRAY['text']);
SELECT has_function('webhook', 'resume', ARRAY['text']);
SELECT has_function('webhook', 'ping', ARRAY['text']);
SELECT has_function('webhook', 'secret', ARRAY['text']);
SELECT has_function('webhook', 'redeliver', ARRAY['bigint']);
SELECT has_view('webhook', 'webhooks', 'view webhook.webhooks');
SELECT has_view('webhook', 'deliveries', 'view webhook.deliveries');
SELECT ok((SELECT count(*) = 0 FROM information_schema.columns c
            WHERE c.table_schema = 'webhook' AND c.table_name IN ('webhooks', 'deliveries')
              AND col_description(format('webhook.%I', c.table_name)::regclass, c.ordinal_position) IS NULL),
          'every column of the views has a comment');
SELECT ok((SELECT count(*) = 0 FROM pg_proc p
            WHERE p.pronamespace = 'webhook'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL),
          'every function has a comment');
SELECT is((SELECT array_agg(p.proname ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'webhook'::regnamespace
              AND p.proname NOT IN ('capture', '_event_type', '_status', '_delivery_id',
                                    '_trigger_name')
              AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)),
          NULL, 'every function but the trigger and four inlined ones pins search_path');
SELECT columns_are('webhook', 'deliveries', ARRAY[
    'id', 'webhook', 'event_id', 'event_type', 'schema', 'table', 'created_at', 'status',
    'attempts', 'next_attempt_at', 'last_attempt_at', 'response_status', 'last_error',
    'response_body', 'delivered_at', 'latency']);

-- bad arguments: specific SQLSTATEs
CREATE TABLE wt_api (id int PRIMARY KEY, v text);
CREATE VIEW wt_api_view AS SELECT * FROM wt_api;
SELECT lives_ok($$SELECT webhook.register('wt-api', 'http://127.0.0.1:9/', 'wt_api')$$, 'register');
SELECT throws_ok($$SELECT webhook.register('wt-api', 'http://127.0.0.1:9/', 'wt_api')$$,
                 '42710', 'webhook "wt-api" already exists', 'duplicate name');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'public.no_such')$$,
                 '42P01', NULL, 'unknown table');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api_view')$$,
                 '42809', NULL, 'not a table');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'no_such')$$,
                 '3F000', NULL, 'unknown schema');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/')$$,
                 '22023', NULL, 'neither relation nor schema');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', schema => 'public')$$,
                 '22023', NULL, 'both relation and schema');
SELECT throws_ok($$SELECT webhook.register('x', 'http//nope', 'wt_api')$$,
                 '22023', NULL, 'malformed URL');
SELECT throws_ok($$SELECT webhook.register('x', 'file:///etc/passwd', 'wt_api')$$,
                 '22023', 'argument "url" has unsupported scheme "file"', 'file scheme');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', events => '{upsert}')$$,
                 '22023', 'argument "events": unknown event "upsert"', 'unknown event');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', timeout => '-1 s')$$,
                 '22023', NULL, 'negative timeout');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', max_attempts => -3)$$,
                 '22023', NULL, 'negative max_attempts');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"a b": "c"}')$$,
                 '22023', NULL, 'bad header name');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"a": "c\r\nInjected: 1"}')$$,
                 '22023', NULL, 'header value with CR LF');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', secret => 'whsec_!!')$$,
                 '22023', NULL, 'malformed secret');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', fifo => NULL)$$,
                 '22004', NULL, 'null fifo');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', timeout => '1 microsecond')$$,
                 '22023', NULL, 'timeout below 100 ms');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', timeout => '99 milliseconds')$$,
                 '22023', NULL, 'timeout of 99 ms');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => jsonb_build_object('x-a', repeat('v', 8193)))$$,
                 '22023', NULL, 'header value over 8 KiB');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"TE": "trailers"}')$$,
                 '22023', NULL, 'hop-by-hop header TE');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"upgrade": "h2c"}')$$,
                 '22023', NULL, 'hop-by-hop header Upgrade');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"Keep-Alive": "5"}')$$,
                 '22023', NULL, 'hop-by-hop header Keep-Alive');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"trailer": "x"}')$$,
                 '22023', NULL, 'header Trailer');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"Proxy-Authorization": "x"}')$$,
                 '22023', NULL, 'header Proxy-Authorization');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"Content-Encoding": "gzip"}')$$,
                 '22023', NULL, 'header Content-Encoding');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"Transfer-Encoding": "chunked"}')$$,
                 '22023', NULL, 'header Transfer-Encoding');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"X-Key": "a", "x-key": "b"}')$$,
                 '22023', NULL, 'two header names differing in case');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"": "v"}')$$,
                 '22023', NULL, 'blank header name');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => '{"x\\u0007y": "v"}')$$,
                 '22023', NULL, 'control character in a header name');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => jsonb_build_object(repeat('n', 64), 'v'))$$,
                 '22023', NULL, 'header name over NAMEDATALEN - 1');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', events => '{{insert},{update}}')$$,
                 '22023', NULL, 'multi-dimensional events');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:0/', 'wt_api')$$,
                 '22023', NULL, 'port 0');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1/' || repeat('a', 8192), 'wt_api')$$,
                 '22023', NULL, 'URL over 8 KiB');
SELECT throws_ok($$SELECT webhook.register(NULL, 'http://127.0.0.1:9/', 'wt_api')$$, '22004', NULL, 'null name');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', events => NULL)$$, '22004', NULL, 'null events');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', headers => NULL)$$, '22004', NULL, 'null headers');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', timeout => NULL)$$, '22004', NULL, 'null timeout');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', max_attempts => NULL)$$, '22004', NULL, 'null max_attempts');
SELECT throws_ok($$SELECT webhook.register('x', 'http://127.0.0.1:9/', 'wt_api', batch_size => NULL)$$, '22004', NULL, 'null batch_size');
SELECT throws_ok($$SELECT webhook.redeliver(NULL)$$, '22004', NULL, 'redeliver(NULL)');
SELECT throws_ok($$SELECT webhook.ping(NULL)$$, '22004', NULL, 'ping(NULL)');
SELECT throws_ok($$SELECT webhook.pause('nope')$$, '42704', 'webhook "nope" does not exist', 'pause unknown');
SELECT throws_ok($$SELECT webhook.resume('nope')$$, '42704', NULL, 'resume unknown');
SELECT throws_ok($$SELECT webhook.ping('nope')$$, '42704', NULL, 'ping unknown');
SELECT throws_ok($$SELECT webhook.secret('nope')$$, '42704', NULL, 'secret unknown');
SELECT throws_ok($$SELECT webhook.unregister('nope')$$, '42704', NULL, 'unregister unknown');
SELECT throws_ok($$SELECT webhook.redeliver(-1)$$, '42704', NULL, 'redeliver unknown');
SELECT throws_ok($$SELECT webhook.redeliver(webhook.ping('wt-api'))$$, '55000', NULL,
                 'redeliver of a pending delivery');
SELECT throws_ok($$SELECT webhook.capture()$$, '39P01', NULL, 'capture outside a trigger');
SELECT throws_ok($$SELECT webhook.register('b0', 'http://127.0.0.1:9/', 'wt_api', batch_size => 0)$$,
                 '22023', NULL, 'batch_size below 1');
SELECT throws_ok($$SELECT webhook.register('b1', 'http://127.0.0.1:9/', 'wt_api', batch_size => 1001)$$,
                 '22023', NULL, 'batch_size above 1000');

-- privileges: nothing for PUBLIC but the views
CREATE ROLE wt_nobody;
SELECT ok(NOT has_function_privilege('wt_nobody', p.oid, 'EXECUTE'),
          format('PUBLIC cannot execute webhook.%s', p.proname))
  FROM pg_proc p
 WHERE p.pronamespace = 'webhook'::regnamespace
   AND p.proname IN ('register', 'unregister', 'pause', 'resume', 'ping', 'secret', 'redeliver')
 ORDER BY p.proname;
SELECT ok(NOT has_table_privilege('wt_nobody', 'webhook.queue', 'SELECT, INSERT, UPDATE, DELETE, TRIGGER, TRUNCATE'),
          'PUBLIC has no privilege on webhook.queue');
SELECT ok(NOT has_table_privilege('wt_nobody', 'webhook.hook', 'SELECT, INSERT, UPDATE, DELETE, TRIGGER, TRUNCATE'),
          'PUBLIC has no privilege on webhook.hook');
SELECT ok(has_table_privilege('wt_nobody', 'webhook.deliveries', 'SELECT'), 'PUBLIC reads webhook.deliveries');

-- an ordinary role granted the API owns its webhooks and sees only those
CREATE ROLE wt_alice;
CREATE ROLE wt_bob;
GRANT EXECUTE ON FUNCTION
    webhook.register(text, text, regclass, name, text[], text, jsonb, interval, integer, boolean, integer, text[], text, text),
    webhook.secret(text), webhook.pause(text), webhook.unregister(text)
    TO wt_alice, wt_bob;
GRANT SELECT ON wt_api TO wt_alice;
SET ROLE wt_bob;
SELECT throws_ok($$SELECT webhook.register('bob', 'http://127.0.0.1:9/', 'wt_api')$$,
                 '42501', NULL, 'registering needs SELECT on the table');
SELECT throws_ok($$SELECT * FROM webhook.queue$$, '42501', NULL, 'ordinary role cannot read the queue');
RESET ROLE;
SET ROLE wt_alice;
SELECT lives_ok($$SELECT webhook.register('alice', 'https://a:secret@example.com/', 'wt_api')$$,
                'a role with SELECT registers');
SELECT is((SELECT array_agg(name) FROM webhook.webhooks), '{alice}', 'alice sees only her webhook');
SELECT is((SELECT url FROM webhook.webhooks), 'https://***@example.com/', 'credentials are masked');
SELECT throws_ok($$SELECT webhook.secret('wt-api')$$, '42704', NULL, 'another owner''s secret is hidden');
SELECT throws_ok($$SELECT webhook.pause('wt-api')$$, '42704', NULL, 'another owner''s webhook cannot be paused');
SELECT ok(webhook.secret('alice') LIKE 'whsec_%', 'alice reads her own secret');
RESET ROLE;
SELECT is((SELECT owner::text FROM webhook.webhooks WHERE name = 'alice'), 'wt_alice', 'the owner is recorded');
SET ROLE wt_bob;
SELECT is((SELECT count(*) FROM webhook.webhooks), 0::bigint, 'bob sees none');
SELECT throws_ok($$SELECT webhook.unregister('alice')$$, '42704', NULL, 'bob cannot unregister alice''s');
RESET ROLE;

-- inside a SECURITY DEFINER function the API acts as the function's owner
CREATE SCHEMA wt_dep;
GRANT USAGE, CREATE ON SCHEMA wt_dep TO wt_alice, wt_bob;
SET ROLE wt_alice;
CREATE FUNCTION wt_dep.register_for(n text) RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT webhook.register(n, 'https://example.com/', 'public.wt_api') $$;
GRANT EXECUTE ON FUNCTION wt_dep.register_for(text) TO wt_bob;
RESET ROLE;
SET ROLE wt_bob;
CREATE FUNCTION wt_dep.drop_any(n text) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT webhook.unregister(n) $$;
SELECT lives_ok($$SELECT wt_dep.register_for('alice-deputy')$$,
                'bob registers through alice''s SECURITY DEFINER function');
RESET ROLE;
SELECT is((SELECT owner::text FROM webhook.webhooks WHERE name = 'alice-deputy'), 'wt_alice',
          'that webhook belongs to the function''s owner, not the caller');
SELECT throws_ok($$SELECT wt_dep.drop_any('alice')$$, '42704', NULL,
                 'a superuser calling bob''s SECURITY DEFINER function lends it no rights');

-- a webhook never watches what its owner cannot read
CREATE SCHEMA wt_sch;
CREATE TABLE wt_sch.readable (id int);
CREATE TABLE wt_sch.unreadable (id int);
CREATE TABLE wt_rls (id int);
ALTER TABLE wt_rls ENABLE ROW LEVEL SECURITY;
GRANT USAGE ON SCHEMA wt_sch TO wt_alice;
GRANT SELECT ON wt_sch.readable, wt_rls TO wt_alice;
SET ROLE wt_alice;
SELECT lives_ok($$SELECT webhook.register('alice-schema', 'https://example.com/', schema => 'wt_sch')$$,
                'a schema webhook registers');
SELECT throws_ok($$SELECT webhook.register('alice-rls', 'https://example.com/', 'wt_rls')$$,
                 '42501', NULL, 'a table with row security is refused');
RESET ROLE;
CREATE TABLE wt_sch.later_unreadable (id int);
SELECT is((SELECT array_agg(t.tgrelid::regclass::text ORDER BY t.tgrelid::regclass::text)
             FROM pg_trigger t JOIN webhook.hook h ON t.tgname = 'webhook_' || h.id || '_row'
            WHERE h.name = 'alice-schema'),
          '{wt_sch.readable}', 'only the tables its owner can read are watched');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'wt_sch.later_unreadable'::regclass),
          0::bigint, 'a new table its owner cannot read is not watched');
ALTER SCHEMA wt_sch RENAME TO wt_sch_renamed;
SELECT is((SELECT schema::text FROM webhook.webhooks WHERE name = 'alice-schema'), 'wt_sch_renamed',
          'a schema webhook follows its schema''s rename');
INSERT INTO wt_sch_renamed.readable VALUES (1);
SELECT is((SELECT schema FROM webhook.deliveries WHERE webhook = 'alice-schema'), 'wt_sch_renamed',
          'and its events name the schema by its new name');

-- a hostile search_path does not reach the API or the trigger
CREATE SCHEMA wt_evil;
CREATE FUNCTION wt_evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'insert' $$;
CREATE FUNCTION wt_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
SET search_path = wt_evil, public;
SELECT throws_ok($$SELECT webhook.register('evil', 'http://127.0.0.1:9/', 'wt_api', events => '{nonsense}')$$,
                 '22023', NULL, 'a planted lower() is not used');
SELECT lives_ok($$INSERT INTO wt_api VALUES (1, 'x')$$, 'the trigger fires under a hostile search_path');
RESET search_path;
SELECT is((SELECT count(*) FROM webhook.deliveries WHERE webhook = 'wt-api' AND event_type = 'row.inserted'),
          1::bigint, 'and queues its event');

-- events of alice's webhook wait in the event log: she reads them through
-- the views, whose helpers run as her
SET ROLE wt_alice;
SELECT webhook.pause('alice');
RESET ROLE;
INSERT INTO wt_api VALUES (900, 'for alice'), (901, 'for alice');
SET ROLE wt_alice;
SELECT ok((SELECT pending >= 2 FROM webhook.webhooks WHERE name = 'alice'),
          'alice counts her pending events in the log');
SELECT is((SELECT count(*) FROM webhook.deliveries WHERE webhook = 'alice' AND status = 'pending'),
          (SELECT pending FROM webhook.webhooks WHERE name = 'alice'),
          'alice lists as many pending deliveries as she counts');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
