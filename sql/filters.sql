-- Filters: what registration refuses, and what each filter lets through.
-- No worker serves this database: webhook.queued shows what was captured.
\set VERBOSITY terse
CREATE EXTENSION webhook;
CREATE TABLE f_orders (id int PRIMARY KEY, status text, paid_at timestamptz, qty int, note text);

-- refused, each naming the argument
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', columns => '{status,nope}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', columns => '{}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', columns => '{status,NULL}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', columns => '{ctid}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'new.status =');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => '');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'true) FROM pg_class WHERE (true');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'true; DROP TABLE f_orders');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'new.qty + 1');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'new.nope = 1');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'other.id = 1');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'new.id IN (SELECT 1)');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'count(*) > 0');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', condition => 'row_number() OVER () > 0');
SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'public', columns => '{status}');
SELECT webhook.register('x', 'http://127.0.0.1:9/', schema => 'public', condition => 'true');
SELECT webhook.register('x', 'http://127.0.0.1:9/', 'f_orders', format => 'yaml');
SELECT count(*) AS nothing_registered FROM webhook.hook;

-- the README's examples
SELECT webhook.register('paid', 'http://127.0.0.1:9/paid', 'public.f_orders',
         events => '{update}', columns => '{status}',
         condition => $$new.status = 'paid'$$) > 0 AS registered;
SELECT webhook.register('cols', 'http://127.0.0.1:9/cols', 'f_orders', columns => '{status,paid_at}') > 0 AS registered;
SELECT webhook.register('newly-paid', 'http://127.0.0.1:9/np', 'f_orders',
         condition => $$new.status = 'paid' AND old.status <> 'paid'$$) > 0 AS registered;
-- old is NULL for inserts, new for deletes; a condition that fails at run time
SELECT webhook.register('big', 'http://127.0.0.1:9/big', 'f_orders', condition => 'coalesce(new.qty, old.qty) > 10') > 0 AS registered;
SELECT webhook.register('ratio', 'http://127.0.0.1:9/ratio', 'f_orders', events => '{insert}',
         condition => '100 / new.qty > 1') > 0 AS registered;
SELECT name, columns, condition, format FROM webhook.webhooks ORDER BY id;
SELECT webhook.pause(name) FROM webhook.hook;

INSERT INTO f_orders VALUES (1, 'open', NULL, 5, 'a'), (2, 'open', NULL, 20, 'b'), (3, 'open', NULL, 0, 'c');
UPDATE f_orders SET note = 'only a note' WHERE id = 1;
UPDATE f_orders SET status = 'paid', paid_at = '2026-11-27 16:00Z' WHERE id = 1;
UPDATE f_orders SET paid_at = '2026-11-28 16:00Z' WHERE id = 1;
UPDATE f_orders SET status = 'paid' WHERE id = 1;
UPDATE f_orders SET status = NULL WHERE id = 2;
DELETE FROM f_orders WHERE id = 2;
SELECT h.name, q.op, coalesce(q.new_row, q.old_row)->>'id' AS id, q.changed,
       webhook._status(q.status) AS status, q.last_error
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 ORDER BY h.id, q.event_id;

-- the writer's statement never fails because of a condition
BEGIN;
INSERT INTO f_orders VALUES (4, 'open', NULL, 0, 'd');
SELECT count(*) AS failed_in_transaction FROM webhook.queued WHERE status = 'f' AND new_row->>'id' = '4';
ROLLBACK;
SELECT count(*) AS nothing_left_of_a_rollback FROM webhook.queued WHERE new_row->>'id' = '4';

-- a partition created later is filtered too, with its own column order
CREATE TABLE events (kind text, id int, payload text) PARTITION BY LIST (kind);
CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');
SELECT webhook.register('ev', 'http://127.0.0.1:9/ev', 'events', condition => $$new.payload LIKE 'keep%'$$) > 0 AS registered;
SELECT webhook.pause('ev');
CREATE TABLE events_b (payload text, id int, kind text);
ALTER TABLE events ATTACH PARTITION events_b FOR VALUES IN ('b');
INSERT INTO events VALUES ('a', 1, 'keep a'), ('a', 2, 'drop a'), ('b', 3, 'keep b'), ('b', 4, 'drop b');
SELECT q.new_row->>'id' AS id, q.table_name FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE h.name = 'ev' ORDER BY q.event_id;

-- the table changes: the condition is prepared again
ALTER TABLE f_orders RENAME COLUMN qty TO quantity;
INSERT INTO f_orders VALUES (5, 'open', NULL, 50, 'e');
SELECT h.name, webhook._status(q.status) AS status, q.last_error
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE q.new_row->>'id' = '5' ORDER BY h.id;

SELECT webhook.unregister(name) FROM webhook.hook;
DROP TABLE f_orders, events;
DROP EXTENSION webhook;
