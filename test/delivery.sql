-- End to end: committed changes reach a real receiver on 127.0.0.1, signed,
-- retried, in order when asked.  Not in a transaction: the worker only sees
-- what commits.  Waits poll a condition with a deadline (wt.wait_for).
SELECT plan(64);

CREATE TABLE wt_orders (id int PRIMARY KEY, status text, paid boolean DEFAULT false);
SELECT ok(webhook.register('wt-orders', wt.url('/ok/orders'), 'wt_orders') > 0, 'registered');
SELECT wt.remember_secret('/ok/orders', webhook.secret('wt-orders'));

INSERT INTO wt_orders VALUES (1, 'open');
UPDATE wt_orders SET paid = true WHERE id = 1;
BEGIN;
INSERT INTO wt_orders VALUES (2, 'rolled back');
ROLLBACK;
DELETE FROM wt_orders WHERE id = 1;
TRUNCATE wt_orders;

SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries
                          WHERE webhook = 'wt-orders' AND status = 'delivered') = 4$$),
          'insert, update, delete and truncate are delivered');
SELECT is((SELECT count(*) FROM wt.received() WHERE path = '/ok/orders'), 4::bigint,
          'the receiver got four requests, none for the rolled-back insert');
SELECT set_eq($$SELECT body::jsonb->>'type' FROM wt.received() WHERE path = '/ok/orders'$$,
              ARRAY['row.inserted', 'row.updated', 'row.deleted', 'table.truncated'],
              'one of each type');

-- the bodies
SELECT is((SELECT (body::jsonb->'data') - 'event_id' FROM wt.received()
            WHERE path = '/ok/orders' AND body::jsonb->>'type' = 'row.inserted'),
          '{"webhook": "wt-orders", "schema": "public", "table": "wt_orders", "operation": "INSERT",
            "new": {"id": 1, "status": "open", "paid": false}, "old": null}'::jsonb,
          'insert body');
SELECT is((SELECT (body::jsonb->'data') - 'event_id' FROM wt.received()
            WHERE path = '/ok/orders' AND body::jsonb->>'type' = 'row.updated'),
          '{"webhook": "wt-orders", "schema": "public", "table": "wt_orders", "operation": "UPDATE",
            "new": {"id": 1, "status": "open", "paid": true},
            "old": {"id": 1, "status": "open", "paid": false}, "changed": ["paid"]}'::jsonb,
          'update body, with the changed column');
SELECT is((SELECT (body::jsonb->'data') - 'event_id' FROM wt.received()
            WHERE path = '/ok/orders' AND body::jsonb->>'type' = 'row.deleted'),
          '{"webhook": "wt-orders", "schema": "public", "table": "wt_orders", "operation": "DELETE",
            "new": null, "old": {"id": 1, "status": "open", "paid": true}}'::jsonb,
          'delete body');
SELECT is((SELECT (body::jsonb->'data') - 'event_id' FROM wt.received()
            WHERE path = '/ok/orders' AND body::jsonb->>'type' = 'table.truncated'),
          '{"webhook": "wt-orders", "schema": "public", "table": "wt_orders", "operation": "TRUNCATE",
            "new": null, "old": null}'::jsonb,
          'truncate body');
SELECT set_eq($$SELECT (body::jsonb->'data'->>'event_id')::bigint FROM wt.received() WHERE path = '/ok/orders'$$,
              $$SELECT event_id FROM webhook.deliveries WHERE webhook = 'wt-orders'$$,
              'data.event_id is the delivery''s event id');
SELECT ok(bool_and(body::jsonb->>'timestamp' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$'),
          'timestamps are RFC 3339 UTC with microseconds')
  FROM wt.received() WHERE path = '/ok/orders';

-- the headers
SELECT ok(bool_and(headers->>'content-type' = 'application/json'), 'content-type: application/json')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT ok(bool_and(headers->>'user-agent' = 'pg-webhook/1.0'), 'user-agent: pg-webhook/1.0')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT ok(bool_and(headers->>'webhook-id' ~ '^msg_[0-9a-f]+_[0-9]+$'), 'webhook-id is msg_...')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT is(count(DISTINCT headers->>'webhook-id'), 4::bigint, 'one webhook-id per event')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT ok(bool_and(abs((headers->>'webhook-timestamp')::bigint - received_at) < 60),
          'webhook-timestamp is the time of the attempt')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT ok(bool_and(headers->>'webhook-signature'
                   = wt.signature(webhook.secret('wt-orders'), headers->>'webhook-id',
                                  headers->>'webhook-timestamp', body)),
          'signatures verify with pgcrypto''s HMAC')
  FROM wt.received() WHERE path = '/ok/orders';
SELECT ok(bool_and(verified), 'signatures verify with Python''s hmac in the receiver')
  FROM wt.received() WHERE path = '/ok/orders';

-- the views
SELECT ok(bool_and(attempts = 1 AND response_status = 200 AND delivered_at IS NOT NULL
                   AND latency IS NOT NULL AND last_error IS NULL),
          'deliveries show one attempt, status 200, a latency')
  FROM webhook.deliveries WHERE webhook = 'wt-orders';
SELECT ok((SELECT delivered = 4 AND pending = 0 AND failed = 0 AND last_success_at IS NOT NULL
                  AND consecutive_failures = 0 AND state = 'active'
             FROM webhook.webhooks WHERE name = 'wt-orders'),
          'webhooks shows the counts and the last success');

-- 500 twice, then 200: three attempts, one webhook-id
CREATE TABLE wt_flaky (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-flaky', wt.url('/fail/2/flaky'), 'wt_flaky') > 0, 'registered flaky');
INSERT INTO wt_flaky VALUES (1);
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE webhook = 'wt-flaky') = 'delivered'$$),
          'delivered after failures');
SELECT is((SELECT attempts FROM webhook.deliveries WHERE webhook = 'wt-flaky'), 3, 'in three attempts');
SELECT is((SELECT count(*) FROM wt.received() WHERE path = '/fail/2/flaky'), 3::bigint,
          'the receiver saw three requests');
SELECT is((SELECT count(DISTINCT headers->>'webhook-id') FROM wt.received() WHERE path = '/fail/2/flaky'),
          1::bigint, 'all with the same webhook-id');
SELECT ok((SELECT bool_and(headers->>'webhook-signature'
                           = wt.signature(webhook.secret('wt-flaky'), headers->>'webhook-id',
                                          headers->>'webhook-timestamp', body))
             FROM wt.received() WHERE path = '/fail/2/flaky'),
          'each attempt is signed afresh');
SELECT is((SELECT consecutive_failures FROM webhook.webhooks WHERE name = 'wt-flaky'), 0,
          'a success resets consecutive failures');
SELECT ok((SELECT last_failure_at IS NOT NULL AND last_error = 'HTTP 500'
             FROM webhook.webhooks WHERE name = 'wt-flaky'),
          'the last failure is remembered');

-- 503 with Retry-After: the retry waits as long as the receiver asked
CREATE TABLE wt_later (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-later', wt.url('/retry-after/2/later'), 'wt_later') > 0, 'registered later');
INSERT INTO wt_later VALUES (1);
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE webhook = 'wt-later') = 'delivered'$$),
          'delivered after a Retry-After');
SELECT cmp_ok((SELECT max(received_at) - min(received_at) FROM wt.received() WHERE path = '/retry-after/2/later'),
              '>=', 1.9::float8, 'the second attempt came after Retry-After: 2, not the 100 ms schedule');

-- out of attempts: failed, then redeliver brings it back with the same id
CREATE TABLE wt_doomed (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-doomed', wt.url('/status/503/doomed'), 'wt_doomed', max_attempts => 2) > 0,
          'registered doomed');
INSERT INTO wt_doomed VALUES (1);
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE webhook = 'wt-doomed') = 'failed'$$),
          'fails after max_attempts');
SELECT is((SELECT attempts || ' ' || response_status || ' ' || last_error
             FROM webhook.deliveries WHERE webhook = 'wt-doomed'),
          '2 503 HTTP 503', 'with its attempts and last error');
SELECT webhook.redeliver(id) FROM webhook.deliveries WHERE webhook = 'wt-doomed';
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/status/503/doomed') = 4$$),
          'redeliver sends it again');
SELECT is((SELECT count(DISTINCT headers->>'webhook-id') FROM wt.received() WHERE path = '/status/503/doomed'),
          1::bigint, 'with the same webhook-id');

-- 410 Gone disables the webhook; it keeps capturing
CREATE TABLE wt_gone (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-gone', wt.url('/status/410/gone'), 'wt_gone') > 0, 'registered gone');
INSERT INTO wt_gone VALUES (1);
SELECT ok(wt.wait_for($$(SELECT state FROM webhook.webhooks WHERE name = 'wt-gone') = 'disabled'$$),
          '410 disables the webhook');
SELECT matches((SELECT disabled_reason FROM webhook.webhooks WHERE name = 'wt-gone'), '410 Gone',
               'and says why');
SELECT is((SELECT status FROM webhook.deliveries WHERE webhook = 'wt-gone'), 'failed', 'the delivery failed');
INSERT INTO wt_gone VALUES (2);
SELECT is((SELECT pending FROM webhook.webhooks WHERE name = 'wt-gone'), 1::bigint,
          'a disabled webhook still captures');

-- a hanging endpoint does not delay another webhook
CREATE TABLE wt_shared (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-hang', wt.url('/hang/x'), 'wt_shared', timeout => '20 s') > 0, 'registered hang');
SELECT ok(webhook.register('wt-fast', wt.url('/ok/fast'), 'wt_shared') > 0, 'registered fast');
INSERT INTO wt_shared SELECT g FROM generate_series(1, 20) g;
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries
                          WHERE webhook = 'wt-fast' AND status = 'delivered') = 20$$, '5 s'),
          'the fast webhook gets all 20 while the other hangs');
SELECT is((SELECT count(*) FROM webhook.deliveries WHERE webhook = 'wt-hang' AND status = 'delivered'),
          0::bigint, 'the hanging one has delivered nothing yet');
SELECT webhook.pause('wt-hang');

-- pause holds, resume delivers what was held, in order (fifo)
CREATE TABLE wt_seq (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-seq', wt.url('/ok/seq'), 'wt_seq', fifo => true) > 0, 'registered seq');
SELECT webhook.pause('wt-seq');
INSERT INTO wt_seq VALUES (1);
INSERT INTO wt_seq VALUES (2);
INSERT INTO wt_seq VALUES (3);
INSERT INTO wt_seq SELECT g FROM generate_series(4, 10) g;
-- a ping to another webhook, delivered after those commits, shows the worker
-- has been through them
SELECT webhook.ping('wt-fast') AS barrier \gset
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE id = $$ || :barrier || $$) = 'delivered'$$),
          'the worker has run since the inserts');
SELECT is((SELECT count(*) FROM wt.received() WHERE path = '/ok/seq'), 0::bigint, 'pause holds delivery');
SELECT webhook.resume('wt-seq');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/seq') = 10$$),
          'resume delivers all ten');
SELECT is((SELECT array_agg((body::jsonb->'data'->'new'->>'id')::int ORDER BY n)
             FROM wt.received() WHERE path = '/ok/seq'),
          '{1,2,3,4,5,6,7,8,9,10}'::int[], 'in commit order');

-- batch mode: up to batch_size events per POST, a JSON array in event
-- order, signed as a whole
CREATE TABLE wt_batch (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-batch', wt.url('/ok/batch'), 'wt_batch', batch_size => 10) > 0,
          'registered a batch webhook');
SELECT wt.remember_secret('/ok/batch', webhook.secret('wt-batch'));
SELECT webhook.pause('wt-batch');
INSERT INTO wt_batch SELECT g FROM generate_series(1, 25) g;
SELECT webhook.resume('wt-batch');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries
                          WHERE webhook = 'wt-batch' AND status = 'delivered') = 25$$),
          'a batch webhook delivers all 25 events');
SELECT is((SELECT array_agg(id ORDER BY id)
             FROM (SELECT (e->'data'->'new'->>'id')::int AS id
                     FROM wt.received() r, jsonb_array_elements(r.body::jsonb) e
                    WHERE r.path = '/ok/batch') s),
          (SELECT array_agg(g) FROM generate_series(1, 25) g),
          'each once, in JSON arrays of events');
SELECT ok((SELECT bool_and(jsonb_array_length(body::jsonb) BETWEEN 1 AND 10)
             FROM wt.received() WHERE path = '/ok/batch'),
          'of at most batch_size events');
SELECT ok((SELECT count(*) FROM wt.received() WHERE path = '/ok/batch') < 25,
          'in fewer requests than events');
SELECT ok((SELECT bool_and(ids = sorted)
             FROM (SELECT array_agg((e->'data'->'new'->>'id')::int ORDER BY o) AS ids,
                          array_agg((e->'data'->'new'->>'id')::int ORDER BY (e->'data'->'new'->>'id')::int) AS sorted
                     FROM wt.received() r, jsonb_array_elements(r.body::jsonb) WITH ORDINALITY x(e, o)
                    WHERE r.path = '/ok/batch' GROUP BY r.n) s),
          'each array in event order');
SELECT ok((SELECT bool_and(verified) FROM wt.received() WHERE path = '/ok/batch'),
          'each signed over the whole array');
SELECT ok((SELECT bool_and(headers->>'webhook-id' ~ '^msg_[0-9a-f]+_[0-9]+(-[0-9]+)?$')
             FROM wt.received() WHERE path = '/ok/batch'),
          'webhook-id names the first and last event');

-- batch mode with fifo: one batch in flight at a time, so arrivals are in
-- event order across requests too
CREATE TABLE wt_batchseq (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-batchseq', wt.url('/ok/batchseq'), 'wt_batchseq',
                           fifo => true, batch_size => 4) > 0, 'registered a fifo batch webhook');
SELECT webhook.pause('wt-batchseq');
INSERT INTO wt_batchseq SELECT g FROM generate_series(1, 10) g;
SELECT webhook.resume('wt-batchseq');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries
                          WHERE webhook = 'wt-batchseq' AND status = 'delivered') = 10$$),
          'a fifo batch webhook delivers all 10');
SELECT is((SELECT array_agg((e->'data'->'new'->>'id')::int ORDER BY r.n, x.o)
             FROM wt.received() r, jsonb_array_elements(r.body::jsonb) WITH ORDINALITY x(e, o)
            WHERE r.path = '/ok/batchseq'),
          '{1,2,3,4,5,6,7,8,9,10}'::int[], 'in event order across its batches');

-- ... and while a batch waits on a retry, nothing behind it goes first
CREATE TABLE wt_batchretry (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-batchretry', wt.url('/retry-after/1/batchretry'), 'wt_batchretry',
                           fifo => true, batch_size => 3) > 0, 'registered a fifo batch webhook that gets a 503');
INSERT INTO wt_batchretry VALUES (1);
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE webhook = 'wt-batchretry') = 'retrying'$$),
          'its first event waits on Retry-After');
INSERT INTO wt_batchretry VALUES (2), (3), (4);
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries
                          WHERE webhook = 'wt-batchretry' AND status = 'delivered') = 4$$),
          'all four are delivered');
SELECT is((SELECT array_agg((body::jsonb->0->'data'->'new'->>'id')::int ORDER BY n)
             FROM (SELECT * FROM wt.received() WHERE path = '/retry-after/1/batchretry' ORDER BY n LIMIT 2) r),
          '{1,1}'::int[], 'the next request starts with the retried event, not the ones behind it');

SELECT * FROM finish();
