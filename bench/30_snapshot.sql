-- bench/30_snapshot.sql: dataset snapshots against CREATE TABLE AS.
--
-- On a copy of bench_t (1,000,000 rows, 13 columns), so that the 1% update
-- leaves bench_t as the other benchmarks expect it:
--   first snapshot              time, against CREATE TABLE AS of the same rows
--   re-snapshot, unchanged      time, and bytes added
--   re-snapshot after 1% of the rows were updated: time, and bytes added
--                               against the bytes of the first snapshot
-- Budgets (DESIGN section 8): first <= 1.5x CTAS; unchanged <= 1x CTAS;
-- after a 1% change <= 5% of the first snapshot's bytes.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP TABLE IF EXISTS bench_snap, bench_snap_ctas, bench_snap_restored;
CREATE TABLE bench_snap AS SELECT * FROM bench_t;
VACUUM ANALYZE bench_snap;

-- Bytes of everything snapshots store: the registry tables and the row
-- tables, with their TOAST tables and indexes.
CREATE OR REPLACE FUNCTION bench_snapshot_bytes() RETURNS bigint
LANGUAGE sql AS $$
    SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'mlops' AND c.relkind = 'r' AND c.relname LIKE 'snapshot\_%'
$$;

-- The first snapshot, best of two: the first run's snapshot is dropped
-- (untimed) so that the second is a first snapshot again.
CREATE OR REPLACE FUNCTION bench_first_snapshot(OUT ms float8, OUT id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    ms := 'Infinity';
    FOR k IN 1..2 LOOP
        IF id IS NOT NULL THEN
            PERFORM mlops.drop_snapshot(id);
        END IF;
        t0 := clock_timestamp();
        id := mlops.snapshot('bench_snap', 'bench first');
        ms := least(ms, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
END;
$$;

CREATE TEMP TABLE snap_bench (step text PRIMARY KEY, ms float8, bytes bigint, snapshot bigint);

-- reference: CREATE TABLE AS of the same rows
INSERT INTO snap_bench
SELECT 'ctas', bench_ms('DROP TABLE IF EXISTS bench_snap_ctas; CREATE TABLE bench_snap_ctas AS SELECT * FROM bench_snap');
UPDATE snap_bench SET bytes = pg_total_relation_size('bench_snap_ctas') WHERE step = 'ctas';
DROP TABLE bench_snap_ctas;

SELECT bench_snapshot_bytes() AS b0 \gset
INSERT INTO snap_bench SELECT 'first', f.ms, bench_snapshot_bytes() - :b0, f.id FROM bench_first_snapshot() f;

SELECT bench_snapshot_bytes() AS b1 \gset
INSERT INTO snap_bench
SELECT 'unchanged', bench_ms($$SELECT mlops.snapshot('bench_snap', 'bench unchanged')$$);
UPDATE snap_bench SET bytes = (bench_snapshot_bytes() - :b1) / 3,
                      snapshot = (SELECT max(id) FROM mlops.snapshot_catalog)
 WHERE step = 'unchanged';

-- change 1% of the rows
UPDATE bench_snap SET f1 = f1 + 1 WHERE id % 100 = 0;
VACUUM bench_snap;
SELECT bench_snapshot_bytes() AS b2 \gset
INSERT INTO snap_bench
SELECT '1% changed', bench_ms($$SELECT mlops.snapshot('bench_snap', 'bench 1% changed')$$, 1);
UPDATE snap_bench SET bytes = bench_snapshot_bytes() - :b2,
                      snapshot = (SELECT max(id) FROM mlops.snapshot_catalog)
 WHERE step = '1% changed';

-- informational: restoring the changed snapshot, and what diff finds
INSERT INTO snap_bench
SELECT 'restore', bench_ms(format($$SELECT mlops.snapshot_restore(%s, 'bench_snap_restored')$$, s.snapshot), 1),
       NULL, s.snapshot
  FROM snap_bench s WHERE s.step = '1% changed';
UPDATE snap_bench SET bytes = pg_total_relation_size('bench_snap_restored') WHERE step = 'restore';

INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'snapshot', 'first snapshot', f.ms, 'CREATE TABLE AS', c.ms, 1.5
  FROM snap_bench f, snap_bench c WHERE f.step = 'first' AND c.step = 'ctas';
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'snapshot', 're-snapshot of unchanged rows', u.ms, 'CREATE TABLE AS', c.ms, 1
  FROM snap_bench u, snap_bench c WHERE u.step = 'unchanged' AND c.step = 'ctas';
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'snapshot', 're-snapshot after a 1% update', u.ms, 'CREATE TABLE AS', c.ms, NULL
  FROM snap_bench u, snap_bench c WHERE u.step = '1% changed' AND c.step = 'ctas';
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'snapshot', 'restore of a snapshot', u.ms, 'CREATE TABLE AS', c.ms, NULL
  FROM snap_bench u, snap_bench c WHERE u.step = 'restore' AND c.step = 'ctas';
-- sizes, in the same table: the "ms" columns hold bytes on this row
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'snapshot', 'BYTES added by the snapshot after a 1% update', u.bytes,
       'BYTES of the first snapshot', f.bytes, 0.05
  FROM snap_bench u, snap_bench f WHERE u.step = '1% changed' AND f.step = 'first';

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 3) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'snapshot';

SELECT step, round(ms::numeric, 1) AS ms, pg_size_pretty(bytes) AS size, bytes,
       round(bytes::numeric / (SELECT bytes FROM snap_bench WHERE step = 'first'), 4) AS share_of_first
  FROM snap_bench ORDER BY ms DESC;
SELECT * FROM mlops.snapshot_diff((SELECT snapshot FROM snap_bench WHERE step = 'first'),
                                  (SELECT snapshot FROM snap_bench WHERE step = '1% changed'));

-- clean up: drop the snapshots (timed, for the record) and the tables
SELECT round(bench_ms($$SELECT mlops.drop_snapshot(id) FROM mlops.snapshot_catalog
                        WHERE relation = 'public.bench_snap' ORDER BY id DESC$$, 1)::numeric, 1)
       AS drop_all_ms;
DROP TABLE bench_snap, bench_snap_restored;
DROP FUNCTION bench_first_snapshot(), bench_snapshot_bytes();
