-- pgbench script for scenario 5: one single-row INSERT transaction whose
-- column b carries "<phase>:<clock_timestamp() in Unix microseconds>", taken
-- while the statement runs, just before the (autocommit) COMMIT.
-- run.sh replaces @PHASE@ and, for the idle phase, appends "\sleep 100 ms".
INSERT INTO t_lat (a, b)
VALUES (1, '@PHASE@:' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
