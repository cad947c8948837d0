-- Replay: what is sent again, and what is refused.  No worker serves this
-- database: the history is written into webhook.queue directly, and a
-- change captured now stays in the event log (pending).
\set VERBOSITY terse
CREATE EXTENSION webhook;
CREATE TABLE rp (id int PRIMARY KEY);
SELECT webhook.register('rp', 'http://127.0.0.1:9/', 'rp') > 0 AS registered;
-- history: two delivered, two failed, one retrying
INSERT INTO webhook.queue (id, event_id, hook_id, op, schema_name, table_name, new_row,
                           status, attempts, next_attempt_at, delivered_at)
SELECT webhook._delivery_id(1000 + s.g, 0), 1000 + s.g, h.id, 'I', 'public', 'rp', json_build_object('id', s.g),
       s.status, s.attempts, now(), CASE WHEN s.status = 'd' THEN now() END
  FROM webhook.hook h,
       (VALUES (1, 'd', 1), (2, 'd', 1), (3, 'f', 8), (4, 'f', 8), (5, 'r', 2)) AS s(g, status, attempts)
 WHERE h.name = 'rp';
-- and one change just captured, still pending in the event log
INSERT INTO rp VALUES (6);
SELECT status, count(*) FROM webhook.deliveries GROUP BY 1 ORDER BY 1;
CREATE TABLE before AS SELECT id, event_id FROM webhook.queue;

-- every event of the window, whatever its state
SELECT webhook.replay('rp', now() - interval '1 hour');
SELECT status, attempts, count(*) FROM webhook.deliveries GROUP BY 1, 2 ORDER BY 1, 2;
SELECT count(*) AS same_event_ids FROM webhook.queue q JOIN before b USING (id) WHERE q.event_id = b.event_id;
-- an empty window, a window in the future
SELECT webhook.replay('rp', now() - interval '1 hour', now() - interval '30 minutes');
SELECT webhook.replay('rp', now() + interval '1 minute', now() + interval '1 hour');
-- part of the window is older than webhook.retention: a NOTICE
SELECT webhook.replay('rp', now() - interval '30 days');

-- refused
SELECT webhook.replay('rp', now() + interval '1 hour', now());
SELECT webhook.replay('rp', NULL);
SELECT webhook.replay('rp', now(), NULL);
SELECT webhook.replay(NULL, now());
SELECT webhook.replay('nope', now());

SELECT webhook.unregister('rp');
DROP TABLE rp, before;
DROP EXTENSION webhook;
