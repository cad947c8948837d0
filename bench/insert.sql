-- pgbench script for scenarios 2 and 3: one single-row INSERT transaction
-- (run.sh replaces @TABLE@ with t_none, t_plpgsql, t_pgq or t_webhook)
\set a random(1, 1000000)
INSERT INTO @TABLE@ (a, b) VALUES (:a, 'payload text of a typical row');
