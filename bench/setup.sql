-- Objects the scenarios share; run.sh runs this once, as superuser, in the
-- database the webhook worker serves (postgres).  psql variable: sink_url.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

CREATE EXTENSION webhook;
CREATE EXTENSION pgq;
SELECT pgq.create_queue('q') \gset

-- The benchmark's table t(id bigserial primary key, a int, b text,
-- c timestamptz default now()), one copy per variant so that no trigger is
-- ever swapped between runs:
--   t_none     no trigger                     (writer baseline)
--   t_plpgsql  plpgsql queue trigger          (writer comparison)
--   t_pgq      pgq.logutriga('q')             (writer comparison)
--   t_webhook  webhook 'writer', paused       (writer cost of the extension)
--   t_webhook3 webhooks 'writer3a/b/c', paused (writer cost with a fan-out of 3)
--   t_sink     webhook 'sink' -> nginx        (delivery, scenarios 4, 6, 7, 8)
--   t_lat      webhook 'lat' -> latency probe (scenario 5)
DO $$
DECLARE n text;
BEGIN
    FOREACH n IN ARRAY ARRAY['t_none', 't_plpgsql', 't_pgq', 't_webhook', 't_webhook3', 't_sink', 't_lat'] LOOP
        EXECUTE format('CREATE TABLE %I (id bigserial PRIMARY KEY, a int, b text,'
                       ' c timestamptz DEFAULT now())', n);
    END LOOP;
END
$$;

-- the do-it-yourself outbox: a plpgsql AFTER ROW trigger into a logged table
CREATE TABLE bench_queue (
    id          bigserial PRIMARY KEY,
    tbl         text NOT NULL,
    op          text NOT NULL,
    payload     jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION bench_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_queue (tbl, op, payload) VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(NEW));
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_capture AFTER INSERT ON t_plpgsql
    FOR EACH ROW EXECUTE FUNCTION bench_capture();

-- pgq's C trigger
CREATE TRIGGER bench_pgq AFTER INSERT ON t_pgq
    FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('q');

-- the extension: registered, then paused where only the writer is measured
SELECT webhook.register('writer', :'sink_url', 'public.t_webhook') \gset
SELECT webhook.pause('writer') \gset
SELECT webhook.register('writer3' || n, :'sink_url', 'public.t_webhook3') FROM unnest('{a,b,c}'::text[]) n;
SELECT webhook.pause('writer3' || n) FROM unnest('{a,b,c}'::text[]) n;
SELECT webhook.register('sink', :'sink_url', 'public.t_sink') \gset
SELECT webhook.pause('sink') \gset
