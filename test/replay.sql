-- Replay end to end: delivered and failed events of a window reach the
-- receiver again with their original webhook-id; the window's bounds hold;
-- errors by SQLSTATE; only the owner replays.
SELECT plan(16);

CREATE TABLE wt_rp (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-rp', wt.url('/ok/rp'), 'wt_rp') > 0, 'registered');
SELECT wt.remember_secret('/ok/rp', webhook.secret('wt-rp'));
INSERT INTO wt_rp VALUES (1);
CREATE TABLE wt_rp_mark AS SELECT clock_timestamp() AS t;
INSERT INTO wt_rp VALUES (2);
INSERT INTO wt_rp VALUES (3);
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries WHERE webhook = 'wt-rp' AND status = 'delivered') = 3$$),
          'three events delivered');

-- the two after the mark go again
SELECT is(webhook.replay('wt-rp', (SELECT t FROM wt_rp_mark)), 2::bigint, 'replay counts the window''s events');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/rp') = 5
                        AND (SELECT count(*) FROM webhook.deliveries WHERE webhook = 'wt-rp' AND status = 'delivered') = 3$$),
          'the replayed events are delivered again');
SELECT is((SELECT array_agg(id ORDER BY id) FROM (SELECT DISTINCT (body::jsonb->'data'->'new'->>'id')::int AS id
             FROM (SELECT body FROM wt.received() WHERE path = '/ok/rp' ORDER BY n OFFSET 3) s) d),
          ARRAY[2, 3], 'exactly the events captured in the window');
SELECT is((SELECT count(DISTINCT headers->>'webhook-id') FROM wt.received() WHERE path = '/ok/rp'), 3::bigint,
          'each with its original webhook-id');
SELECT ok((SELECT bool_and(verified) FROM wt.received() WHERE path = '/ok/rp'), 'signed afresh');

-- until is exclusive; a failed delivery is brought back too
SELECT is(webhook.replay('wt-rp', now() - interval '1 hour', (SELECT t FROM wt_rp_mark)), 1::bigint,
          'until bounds the window');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/rp') = 6$$), 'delivered again');
CREATE TABLE wt_rp_fail (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-rp-fail', wt.url('/status/500/rp-fail'), 'wt_rp_fail', max_attempts => 1) > 0,
          'registered one that fails');
INSERT INTO wt_rp_fail VALUES (1);
SELECT ok(wt.wait_for($$(SELECT status FROM webhook.deliveries WHERE webhook = 'wt-rp-fail') = 'failed'$$), 'failed');
SELECT is(webhook.replay('wt-rp-fail', now() - interval '1 hour'), 1::bigint, 'a failed event is replayed');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/status/500/rp-fail') = 2$$),
          'and sent again');

SELECT throws_ok($$SELECT webhook.replay('wt-rp', now(), now() - interval '1 s')$$, '22023', NULL, 'since > until');
CREATE ROLE wt_rp_other;
GRANT EXECUTE ON FUNCTION webhook.replay(text, timestamptz, timestamptz) TO wt_rp_other;
SET ROLE wt_rp_other;
SELECT throws_ok($$SELECT webhook.replay('wt-rp', now() - interval '1 hour')$$, '42704', NULL,
                 'another role cannot replay the webhook');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION webhook.replay(text, timestamptz, timestamptz) FROM wt_rp_other;
DROP ROLE wt_rp_other;
SELECT ok(NOT has_function_privilege('public', 'webhook.replay(text, timestamptz, timestamptz)', 'EXECUTE'),
          'PUBLIC cannot execute it');
SELECT * FROM finish();

SELECT webhook.unregister('wt-rp');
SELECT webhook.unregister('wt-rp-fail');
DROP TABLE wt_rp, wt_rp_mark, wt_rp_fail;
