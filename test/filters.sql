-- Filters end to end: SQLSTATEs at registration, what reaches the
-- receiver, a condition failing at run time, the role it runs as.
SELECT plan(21);

CREATE TABLE wt_f (id int PRIMARY KEY, status text, qty int);
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', columns => '{nope}')$$, '42703', NULL, 'unknown column in columns');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'new.status =')$$, '42601', NULL, 'condition does not parse');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'true) FROM pg_class WHERE (true')$$, '42601', NULL, 'condition is not one expression');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'new.qty')$$, '42804', NULL, 'condition not boolean');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'old.nope')$$, '42703', NULL, 'unknown column in condition');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'EXISTS (SELECT 1)')$$, '0A000', NULL, 'subquery');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'max(new.qty) > 1')$$, '42803', NULL, 'aggregate');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'rank() OVER () > 1')$$, '42803', NULL, 'window function');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), schema => 'public', columns => '{status}')$$, '22023', NULL, 'columns with schema');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), schema => 'public', condition => 'true')$$, '22023', NULL, 'condition with schema');

SELECT ok(webhook.register('wt-f', wt.url('/ok/f'), 'wt_f', columns => '{status}',
                           condition => $$new.status = 'paid' AND (old.status IS NULL OR old.status <> 'paid')$$) > 0,
          'registered with both filters');
SELECT ok(webhook.register('wt-f-div', wt.url('/ok/fdiv'), 'wt_f', events => '{insert}',
                           condition => '10 / new.qty > 1') > 0, 'registered a condition that can fail');
INSERT INTO wt_f VALUES (1, 'open', 1), (2, 'paid', 0);
UPDATE wt_f SET qty = 5 WHERE id = 1;
UPDATE wt_f SET status = 'paid' WHERE id = 1;
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries WHERE webhook IN ('wt-f', 'wt-f-div')
                          AND status IN ('delivered', 'failed')) = 4$$), 'delivered or failed');
-- in event order: two rows' deliveries go out side by side, so they may arrive in either order
SELECT is((SELECT array_agg((body::jsonb->'data'->'new'->>'id')::int || ':' || (body::jsonb->>'type')
                            ORDER BY (body::jsonb->'data'->>'event_id')::bigint)
             FROM wt.received() WHERE path = '/ok/f'),
          ARRAY['2:row.inserted', '1:row.updated'], 'only the inserted paid row and the update to paid reach the receiver');
SELECT is((SELECT count(*) FROM wt.received() WHERE path = '/ok/fdiv'), 1::bigint, 'the row whose condition holds is sent');
SELECT is((SELECT last_error FROM webhook.deliveries WHERE webhook = 'wt-f-div' AND status = 'failed'),
          'the webhook''s condition failed: division by zero', 'the one whose condition failed ends failed, with the reason');
SELECT is((SELECT count(*) FROM wt_f), 2::bigint, 'and the writer''s statement succeeded');
SELECT is((SELECT columns::text || ' ' || condition FROM webhook.webhooks WHERE name = 'wt-f'),
          $${status} new.status = 'paid' AND (old.status IS NULL OR old.status <> 'paid')$$, 'the listing shows the filters');

-- the condition runs as the webhook's owner, not as the writer
CREATE ROLE wt_f_writer;
GRANT SELECT, INSERT ON wt_f TO wt_f_writer;
CREATE FUNCTION wt_f_who() RETURNS boolean LANGUAGE sql AS $$ SELECT current_user = 'postgres' $$;
REVOKE EXECUTE ON FUNCTION wt_f_who() FROM PUBLIC;
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_f', condition => 'wt_f_who()')$$, '42883', NULL,
                 'names outside pg_catalog must be qualified');
SELECT ok(webhook.register('wt-f-who', wt.url('/ok/fwho'), 'wt_f', condition => 'public.wt_f_who()') > 0, 'registered a condition calling a function');
SET ROLE wt_f_writer;
INSERT INTO wt_f VALUES (3, 'open', 1);
RESET ROLE;
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/fwho') = 1$$),
          'evaluated as the owner: the writer needs no EXECUTE and is not current_user');

SELECT * FROM finish();
SELECT webhook.unregister(name) FROM webhook.hook WHERE name LIKE 'wt-f%';
DROP TABLE wt_f;
DROP FUNCTION wt_f_who();
DROP ROLE wt_f_writer;
