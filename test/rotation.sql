-- Secret rotation end to end: during the grace period every request carries
-- one v1 signature per live secret, the current one first; grace '0'
-- retires the old ones at once; other roles see none of them.
SELECT plan(22);

CREATE TABLE wt_rot (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-rot', wt.url('/ok/rot'), 'wt_rot',
                           secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') > 0, 'registered');
CREATE TABLE wt_rot_secrets AS SELECT 0 AS step, webhook.secret('wt-rot') AS secret;

-- rotate with the default grace: old and new both sign
INSERT INTO wt_rot_secrets SELECT 1, webhook.rotate_secret('wt-rot');
SELECT ok((SELECT secret FROM wt_rot_secrets WHERE step = 1) ~ '^whsec_[A-Za-z0-9+/]{43}=$',
          'rotate_secret returns a generated secret');
SELECT is(webhook.secret('wt-rot'), (SELECT secret FROM wt_rot_secrets WHERE step = 1),
          'secret() returns the new current secret');
INSERT INTO wt_rot VALUES (1);
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/rot') = 1$$),
          'delivered during the grace period');
SELECT is((SELECT array_length(string_to_array(headers->>'webhook-signature', ' '), 1)
             FROM wt.received() WHERE path = '/ok/rot'), 2, 'two signatures');
SELECT is((SELECT split_part(headers->>'webhook-signature', ' ', 1)
             FROM wt.received() WHERE path = '/ok/rot'),
          (SELECT wt.signature(s.secret, headers->>'webhook-id', headers->>'webhook-timestamp', body)
             FROM wt.received(), wt_rot_secrets s WHERE path = '/ok/rot' AND s.step = 1),
          'the first signature is the new secret''s');
SELECT is((SELECT split_part(headers->>'webhook-signature', ' ', 2)
             FROM wt.received() WHERE path = '/ok/rot'),
          (SELECT wt.signature(s.secret, headers->>'webhook-id', headers->>'webhook-timestamp', body)
             FROM wt.received(), wt_rot_secrets s WHERE path = '/ok/rot' AND s.step = 0),
          'the second is the old secret''s');

-- a given secret; more than five rotations keep five old ones
SELECT is(webhook.rotate_secret('wt-rot', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '1 hour'),
          'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'rotate_secret returns a given secret');
SET client_min_messages = warning;
SELECT is((SELECT count(webhook.rotate_secret('wt-rot')) FROM generate_series(1, 4)), 4::bigint,
          'four more rotations');
RESET client_min_messages;
SELECT is((SELECT cardinality(old_secrets) FROM webhook.hook WHERE name = 'wt-rot'), 5,
          'five old secrets live after six rotations');
INSERT INTO wt_rot VALUES (2);
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/rot') = 2$$),
          'delivered with six live secrets');
SELECT is((SELECT array_length(string_to_array(headers->>'webhook-signature', ' '), 1)
             FROM wt.received() WHERE path = '/ok/rot' ORDER BY n DESC LIMIT 1), 6,
          'six signatures: the current secret and five old ones');

-- grace '0': only the new secret signs
INSERT INTO wt_rot_secrets SELECT 2, webhook.rotate_secret('wt-rot', grace => '0');
SELECT is((SELECT cardinality(old_secrets) FROM webhook.hook WHERE name = 'wt-rot'), 0,
          'grace 0 retires every old secret');
INSERT INTO wt_rot VALUES (3);
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/rot') = 3$$),
          'delivered after the grace period');
SELECT is((SELECT headers->>'webhook-signature' FROM wt.received() WHERE path = '/ok/rot' ORDER BY n DESC LIMIT 1),
          (SELECT wt.signature(s.secret, headers->>'webhook-id', headers->>'webhook-timestamp', body)
             FROM wt.received(), wt_rot_secrets s WHERE path = '/ok/rot' AND s.step = 2
            ORDER BY n DESC LIMIT 1),
          'one signature, the new secret''s');

-- errors and privileges
SELECT throws_ok($$SELECT webhook.rotate_secret('wt-rot', grace => '-1 s')$$, '22023', NULL, 'negative grace');
SELECT throws_ok($$SELECT webhook.rotate_secret('wt-rot', 'whsec_!!')$$, '22023', NULL, 'malformed secret');

SELECT throws_ok($$SELECT webhook.rotate_secret('wt-rot', grace => NULL)$$, '22004', NULL, 'null grace');
SELECT throws_ok($$SELECT webhook.rotate_secret('nope')$$, '42704', NULL, 'unknown webhook');
SELECT ok(NOT has_column_privilege('public', 'webhook.hook', 'old_secrets', 'SELECT'),
          'old secrets are not readable by other roles');
SELECT hasnt_column('webhook', 'webhooks', 'old_secrets', 'the listing does not show old secrets');

SELECT ok(NOT has_function_privilege('public', 'webhook.rotate_secret(text, text, interval)', 'EXECUTE'),
          'PUBLIC cannot execute it');
SELECT * FROM finish();
SELECT webhook.unregister('wt-rot');
DROP TABLE wt_rot, wt_rot_secrets;
