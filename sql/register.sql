-- Registration: what is accepted, what is refused, and what gets installed.
\set VERBOSITY terse
CREATE EXTENSION webhook;
CREATE TABLE orders (id int PRIMARY KEY, status text, note text);
CREATE VIEW orders_view AS SELECT * FROM orders;
CREATE SEQUENCE a_sequence;

SELECT webhook.register('crm', 'http://127.0.0.1:9/hooks', 'public.orders') > 0 AS registered;

-- every bad argument is refused, naming the argument
SELECT webhook.register('crm', 'http://127.0.0.1:9/hooks', 'public.orders');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'public.no_such_table');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders_view');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'a_sequence');
SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'no_such_schema');
SELECT webhook.register('x', 'http://127.0.0.1:9/');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', schema => 'public');
SELECT webhook.register('x', 'not a url', 'orders');
SELECT webhook.register('x', 'ftp://example.com/in', 'orders');
SELECT webhook.register('x', 'gopher://example.com/in', 'orders');
SELECT webhook.register('x', 'http:///no-host', 'orders');
SELECT webhook.register('x', 'http://:80/no-host', 'orders');
SELECT webhook.register('x', 'https://exa mple.com/', 'orders');
SELECT webhook.register('x', NULL, 'orders');
SELECT webhook.register('', 'http://127.0.0.1:9/', 'orders');
SELECT webhook.register(NULL, 'http://127.0.0.1:9/', 'orders');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', events => '{insert,upsert}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', events => '{}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', timeout => '0 s');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', timeout => '2 hours');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', max_attempts => 0);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"bad name": "v"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"x-a": "line\nbreak"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"x-a": "cr\rhere"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"x-a": 1}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '["x-a"]');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Webhook-Signature": "v1,forged"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', secret => 'not-a-secret');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', secret => 'whsec_c2hvcnQ=');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', secret => 'whsec_***');
SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'webhook');
SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'pg_catalog');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'webhook.queue');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'pg_class');

-- input that could never work is refused too
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', timeout => '1 microsecond');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', timeout => '99 ms');
SELECT webhook.register('x', 'http://127.0.0.1:0/', 'orders');
SELECT webhook.register('x', 'http://127.0.0.1:00/', 'orders');
SELECT webhook.register('x', 'http://127.0.0.1/' || repeat('a', 8192), 'orders');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders',
         headers => jsonb_build_object('x-big', repeat('v', 8193)));
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"TE": "trailers"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Upgrade": "h2c"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"keep-alive": "5"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Trailer": "x"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Proxy-Authorization": "x"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Content-Encoding": "gzip"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"Transfer-Encoding": "chunked"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"X-Key": "a", "x-key": "b"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"": "v"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => '{"x\u0001y": "v"}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders',
         headers => jsonb_build_object('x-' || repeat('n', 62), 'v'));
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', events => '{{insert},{update}}');

-- a NULL where a value is needed is 22004, whichever argument
\set VERBOSITY sqlstate
SELECT webhook.register(NULL, 'http://127.0.0.1:9/', 'orders');
SELECT webhook.register('x', NULL, 'orders');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', events => NULL);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', headers => NULL);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', timeout => NULL);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', max_attempts => NULL);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', fifo => NULL);
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'orders', batch_size => NULL);
SELECT webhook.redeliver(NULL);
SELECT webhook.pause(NULL);
SELECT webhook.resume(NULL);
SELECT webhook.ping(NULL);
SELECT webhook.secret(NULL);
SELECT webhook.unregister(NULL);
\set VERBOSITY terse

-- functions that take a name refuse unknown ones
SELECT webhook.pause('nope');
SELECT webhook.resume('nope');
SELECT webhook.ping('nope');
SELECT webhook.secret('nope');
SELECT webhook.unregister('nope');
SELECT webhook.unregister(NULL);
SELECT webhook.redeliver(123456789);

-- nothing was half-registered by the failures
SELECT name FROM webhook.webhooks ORDER BY name;

-- a fully specified one; events are normalised, credentials masked
SELECT webhook.register('given', 'https://user:pw@example.com/in?k=v', 'orders',
         events => '{Insert,insert,delete}',
         secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
         headers => '{"x-api-key": "k", "X-Tenant": "7"}',
         timeout => '5 s', max_attempts => 3) > 0 AS registered;
SELECT webhook.secret('given');
SELECT webhook.secret('crm') ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS generated_secret_ok;
SELECT webhook.secret('crm') <> webhook.secret('given') AS distinct_secrets;
SELECT name, url, watches, events, state, pending, delivered, failed, timeout, max_attempts,
       headers, consecutive_failures
  FROM webhook.webhooks ORDER BY name;

-- the triggers of a table, one of each kind for all its webhooks: row events and truncate apart
SELECT regexp_replace(pg_get_triggerdef(t.oid), '[0-9]+', 'N', 'g') AS definition
  FROM pg_trigger t WHERE t.tgrelid = 'orders'::regclass ORDER BY t.tgname;

-- the Standard Webhooks reference vector
SELECT webhook.sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
                    1614265330, '{"test": 2432232314}');
SELECT webhook.sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
                    1614265330, '{"test": 2432232314}')
     = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' AS matches_reference;

-- the trigger function refuses to be misused
SELECT webhook.capture();
CREATE TABLE misuse (id int);
CREATE TRIGGER misuse BEFORE INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION webhook.capture('1');
INSERT INTO misuse VALUES (1);
DROP TRIGGER misuse ON misuse;
CREATE TRIGGER misuse AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION webhook.capture('x');
INSERT INTO misuse VALUES (1);
DROP TRIGGER misuse ON misuse;
CREATE TRIGGER misuse AFTER INSERT ON misuse FOR EACH STATEMENT EXECUTE FUNCTION webhook.capture('1');
INSERT INTO misuse VALUES (1);
DROP TRIGGER misuse ON misuse;
-- a trigger forged to post as webhook 1 (which watches orders) queues nothing
CREATE TRIGGER webhook_1_row AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION webhook.capture('1');
INSERT INTO misuse VALUES (1);
CREATE TEMP TABLE temp_misuse (id int);
CREATE TRIGGER forged AFTER INSERT ON temp_misuse FOR EACH ROW EXECUTE FUNCTION webhook.capture('1');
INSERT INTO temp_misuse VALUES (1);
CREATE TRIGGER forged AFTER INSERT ON misuse FOR EACH ROW EXECUTE FUNCTION webhook.capture('999');
INSERT INTO misuse VALUES (2);
SELECT count(*) AS forged_events FROM webhook.queued;
DROP TABLE misuse;

-- the extension's schema cannot be renamed: one plain error, no context dump
\set VERBOSITY default
\set SHOW_CONTEXT always
ALTER SCHEMA webhook RENAME TO webhook_renamed;
\set SHOW_CONTEXT errors
\set VERBOSITY terse
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'webhook%';
-- other schemas still can
CREATE SCHEMA sa;
ALTER SCHEMA sa RENAME TO sb;
DROP SCHEMA sb;
