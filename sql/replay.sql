-- Replay: what is sent again, and what is refused.  The webhook is paused,
-- so the states seen here are the ones replay leaves.
\set VERBOSITY terse
CREATE EXTENSION webhook;
CREATE TABLE rp (id int PRIMARY KEY);
SELECT webhook.register('rp', 'http://127.0.0.1:9/', 'rp') > 0 AS registered;
SELECT webhook.pause('rp');
INSERT INTO rp SELECT generate_series(1, 6);
-- history: two delivered, two failed, one retrying, one still pending
UPDATE webhook.queue SET status = 'd', attempts = 1, delivered_at = now() WHERE event_id IN (SELECT min(event_id) + i FROM webhook.queue, generate_series(0, 1) i GROUP BY i);
UPDATE webhook.queue SET status = 'f', attempts = 8 WHERE event_id IN (SELECT min(event_id) + i FROM webhook.queue, generate_series(2, 3) i GROUP BY i);
UPDATE webhook.queue SET status = 'r', attempts = 2, next_attempt_at = now() + interval '1 hour' WHERE event_id = (SELECT min(event_id) + 4 FROM webhook.queue);
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
