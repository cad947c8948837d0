-- The README's examples for filters, XML, replay and secret rotation, run as
-- written (the URLs are never reached: the webhooks stay paused).
\set VERBOSITY terse
CREATE EXTENSION webhook;
SET client_min_messages = warning;
DROP TABLE IF EXISTS orders CASCADE;  -- left by register.sql
RESET client_min_messages;
CREATE TABLE orders (id int PRIMARY KEY, status text);
SELECT webhook.register('crm', 'https://crm.example.com/hooks', 'public.orders') > 0 AS registered;
SELECT webhook.register('paid', 'https://billing.example.com/paid', 'public.orders',
         events => '{update}', columns => '{status}',
         condition => $$new.status = 'paid'$$) > 0 AS registered;
SELECT webhook.register('crm-xml', 'https://crm.example.com/hooks', 'public.orders', format => 'xml') > 0 AS registered;
SELECT webhook.pause(name) FROM webhook.hook;
INSERT INTO orders VALUES (7, 'open');
UPDATE orders SET status = 'paid' WHERE id = 7;

-- the XML body of the update, as the README shows it (timestamp aside)
SELECT regexp_replace(regexp_replace(webhook._body_xml(ROW(q.*)::webhook.queue, h.name), 'timestamp="[^"]*"', 'timestamp="..."'),
                      '<event_id>[0-9]+<', '<event_id>...<') AS xml
  FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id
 WHERE h.name = 'crm-xml' AND q.op = 'U';
SELECT h.name, count(*) FROM webhook.queued q JOIN webhook.hook h ON h.id = q.hook_id GROUP BY 1 ORDER BY 1;

SELECT webhook.replay('crm', since => now() - interval '1 hour');
SELECT webhook.secret('crm') <> webhook.rotate_secret('crm') AS rotated;
SELECT cardinality(old_secrets) AS old_secrets_live FROM webhook.hook WHERE name = 'crm';
SELECT webhook.rotate_secret('crm', grace => '0') = webhook.secret('crm') AS current;
SELECT cardinality(old_secrets) AS old_secrets_live FROM webhook.hook WHERE name = 'crm';

SELECT webhook.unregister(name) FROM webhook.hook;
DROP TABLE orders;
DROP EXTENSION webhook;
