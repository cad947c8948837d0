-- XML bodies end to end: the document shape of the README, parsed by a real XML
-- parser (xml.etree in the receiver, and PostgreSQL's libxml2 here), the
-- content type, signatures over the exact bytes, batches as <events>.
SELECT plan(21);

CREATE TABLE wt_xml (id int PRIMARY KEY, status text, "odd name" text, b bytea, tags text[]);
SELECT ok(webhook.register('wt-xml', wt.url('/ok/xml'), 'wt_xml', format => 'xml') > 0, 'registered');
SELECT wt.remember_secret('/ok/xml', webhook.secret('wt-xml'));
INSERT INTO wt_xml VALUES (7, 'open', E'a < b & c\x01', '\x00ff', '{x,NULL}');
UPDATE wt_xml SET status = 'paid' WHERE id = 7;
DELETE FROM wt_xml;
SELECT ok(wt.wait_for($$(SELECT count(*) FROM wt.received() WHERE path = '/ok/xml') = 3$$), 'three events delivered');
CREATE TABLE wt_xml_got AS
    SELECT body, headers, verified, (SELECT l.line::jsonb->'xml' FROM regexp_split_to_table(
               pg_read_file(current_setting('webhook_test.log')), E'\n') WITH ORDINALITY l(line, k)
             WHERE k = r.n) AS parsed
      FROM wt.received() r WHERE path = '/ok/xml';

SELECT ok(bool_and(headers->>'content-type' = 'application/xml; charset=utf-8'), 'content-type') FROM wt_xml_got;
SELECT ok(bool_and(parsed ? 'doc' AND parsed->>'root' = 'event'), 'every body parses (xml.etree), as one <event>') FROM wt_xml_got;
SELECT ok(bool_and(xml_is_well_formed_document(body)), 'every body parses (libxml2)') FROM wt_xml_got;
SELECT ok(bool_and(body LIKE '<?xml version="1.0" encoding="UTF-8"?>%'), 'with the XML declaration') FROM wt_xml_got;
SELECT ok(bool_and(verified), 'signatures cover the exact bytes') FROM wt_xml_got;
SELECT ok(bool_and(headers->>'webhook-signature'
                   = wt.signature(webhook.secret('wt-xml'), headers->>'webhook-id', headers->>'webhook-timestamp', body)),
          'and verify with pgcrypto') FROM wt_xml_got;

SELECT is((SELECT (parsed->'doc') - '@timestamp'::text - 'event_id'::text FROM wt_xml_got WHERE parsed->'doc'->>'@type' = 'row.inserted'),
          '{"@type": "row.inserted", "webhook": "wt-xml", "schema": "public", "table": "wt_xml", "operation": "INSERT",
            "new": {"id": "7", "status": "open", "odd_x0020_name": "a < b & c\ufffd", "b": "AP8=", "tags": ["x", null]},
            "old": null}'::jsonb,
          'insert: names escaped as map_sql_identifier_to_xml_name, bytea in base64, arrays as <element>, a control character replaced');
SELECT is((SELECT parsed->'doc'->'changed' FROM wt_xml_got WHERE parsed->'doc'->>'@type' = 'row.updated'),
          '["status"]'::jsonb, 'update: <changed> lists the changed column');
SELECT is((SELECT parsed->'doc'->'old'->>'status' FROM wt_xml_got WHERE parsed->'doc'->>'@type' = 'row.updated'),
          'open', 'update: <old> is the row before');
SELECT is((SELECT parsed->'doc'->'new' FROM wt_xml_got WHERE parsed->'doc'->>'@type' = 'row.deleted'),
          'null'::jsonb, 'delete: <new xsi:nil="true"/>');
SELECT ok((SELECT (xpath('/event/@timestamp', body::xml))[1]::text ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$'
             FROM wt_xml_got LIMIT 1), 'timestamp attribute in RFC 3339 UTC');
SELECT is((SELECT (xpath('/event/event_id/text()', body::xml))[1]::text::bigint FROM wt_xml_got
            WHERE parsed->'doc'->>'@type' = 'row.inserted'),
          (SELECT event_id FROM webhook.deliveries WHERE webhook = 'wt-xml' AND event_type = 'row.inserted'),
          '<event_id> is the event id');

-- a batch is one <events> element
CREATE TABLE wt_xml_batch (id int PRIMARY KEY);
SELECT ok(webhook.register('wt-xml-batch', wt.url('/ok/events-xml'), 'wt_xml_batch', format => 'xml', batch_size => 10) > 0,
          'registered a batch webhook');
SELECT wt.remember_secret('/ok/events-xml', webhook.secret('wt-xml-batch'));
SELECT webhook.pause('wt-xml-batch');
INSERT INTO wt_xml_batch SELECT generate_series(1, 5);
SELECT webhook.resume('wt-xml-batch');
SELECT ok(wt.wait_for($$(SELECT count(*) FROM webhook.deliveries WHERE webhook = 'wt-xml-batch' AND status = 'delivered') = 5$$),
          'the batch is delivered');
SELECT is((SELECT count(*) FROM wt.received() WHERE path = '/ok/events-xml'), 1::bigint, 'in one POST');
SELECT is((SELECT array_length(xpath('/events/event', body::xml), 1) FROM wt.received() WHERE path = '/ok/events-xml'),
          5, 'an <events> element holding five <event>s');
SELECT ok((SELECT xml_is_well_formed_document(body) AND verified FROM wt.received() WHERE path = '/ok/events-xml'),
          'well-formed and signed');

SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_xml', format => 'yaml')$$, '22023', NULL, 'unknown format');
SELECT throws_ok($$SELECT webhook.register('x', wt.url('/x'), 'wt_xml', format => NULL)$$, '22004', NULL, 'null format');

SELECT * FROM finish();
SELECT webhook.unregister('wt-xml');
SELECT webhook.unregister('wt-xml-batch');
DROP TABLE wt_xml, wt_xml_got, wt_xml_batch;
