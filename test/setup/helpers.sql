-- Helpers for the pgTAP suite; tools/test.sh loads this once, before pg_prove.
-- The database has webhook_test.receiver (base URL of test/receiver.py),
-- webhook_test.log (its log of requests) and webhook_test.secrets set.
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS webhook;
CREATE SCHEMA IF NOT EXISTS wt;

-- a URL on the test receiver
CREATE OR REPLACE FUNCTION wt.url(path text) RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT current_setting('webhook_test.receiver') || path $$;

-- every request the receiver has logged, in arrival order
CREATE OR REPLACE FUNCTION wt.received()
    RETURNS TABLE (n bigint, path text, attempt int, headers jsonb, body text,
                   verified boolean, received_at double precision)
    LANGUAGE sql VOLATILE AS $$
    SELECT s.n, e->>'path', (e->>'attempt')::int, e->'headers', e->>'body',
           (e->>'verified')::boolean, (e->>'received_at')::float8
      FROM (SELECT l.line::jsonb AS e, l.n
              FROM regexp_split_to_table(
                       -- whole lines only: the receiver may be writing the last one
                       coalesce(substring(pg_read_file(current_setting('webhook_test.log'), 0, 1000000000, true)
                                          FROM '^.*\n'), ''),
                       E'\n') WITH ORDINALITY AS l(line, n)
             WHERE l.line <> '') s
$$;

-- poll a boolean query until it is true or the timeout passes; a bounded
-- wait for a condition, never a fixed sleep
CREATE OR REPLACE FUNCTION wt.wait_for(query text, timeout interval DEFAULT '20 s')
    RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
    deadline timestamptz := clock_timestamp() + timeout;
BEGIN
    LOOP
        EXECUTE 'SELECT (' || query || ')' INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE WARNING 'timed out after % waiting for: %', timeout, query;
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- Standard Webhooks signature computed with pgcrypto, independently of the
-- extension's own code
CREATE OR REPLACE FUNCTION wt.signature(secret text, msg_id text, ts text, body text)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'v1,' || encode(hmac(convert_to(msg_id || '.' || ts || '.' || body, 'UTF8'),
                                decode(substr(secret, 7), 'base64'), 'sha256'), 'base64')
$$;

-- tell the receiver which secret signs requests under a path prefix
CREATE TABLE IF NOT EXISTS wt.secrets (prefix text PRIMARY KEY, secret text);
CREATE OR REPLACE FUNCTION wt.remember_secret(p_prefix text, p_secret text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wt.secrets VALUES (p_prefix, p_secret)
        ON CONFLICT (prefix) DO UPDATE SET secret = excluded.secret;
    EXECUTE format('COPY (SELECT prefix || '' '' || secret FROM wt.secrets) TO %L',
                   current_setting('webhook_test.secrets'));
END
$$;
