-- bench/citus/10_citus.sql (make bench-citus): the same operations on
-- 1,000,000 rows, once on a local table and once on the same rows
-- distributed by id over two workers (32 shards), in one run.
--
-- References, measured in the same run: a plain sum() scan of each table
-- (11 sums), and 78 sums (count, sums and cross products of 11 columns:
-- what a linear fit reads).  Budgets (DESIGN §6): on the distributed table
-- the drift check and linear training at most 2x its plain sum() scan;
-- scoring runs on the workers.  All machines are one 2-core box here, so a
-- distributed scan is slower than a local one: the ratios to the scan of
-- the same table are what the budgets are about.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

\ir ../00_data.sql
DROP TABLE IF EXISTS bench_dist;
CREATE TABLE bench_dist (LIKE bench_t);
SELECT create_distributed_table('bench_dist', 'id');
INSERT INTO bench_dist SELECT * FROM bench_t;
VACUUM ANALYZE bench_dist;

CREATE TEMP TABLE refs AS
SELECT t AS tbl,
       bench_ms(format('SELECT sum(f1), sum(f2), sum(f3), sum(f4), sum(f5), sum(f6), sum(f7), sum(f8), sum(f9), sum(f10), sum(y) FROM %s', t)) AS scan_ms
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;

-- 78 sums: count, the 11 column sums and the 66 cross products
SELECT 'SELECT count(*), ' || string_agg(e, ', ' ORDER BY o) || ' FROM %s' AS sums78
  FROM (SELECT i * 100 AS o, format('sum(%s)', c[i]) AS e
          FROM (SELECT ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','y'] AS c) a,
               generate_series(1, 11) i
        UNION ALL
        SELECT i * 100 + j, format('sum(%s * %s)', c[i], c[j])
          FROM (SELECT ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','y'] AS c) a,
               generate_series(1, 11) i, generate_series(1, 11) j
         WHERE j >= i) s \gset
ALTER TABLE refs ADD COLUMN sums78_ms float8;
UPDATE refs SET sums78_ms = bench_ms(format(:'sums78', tbl));

CREATE TEMP TABLE citus_results (what text, tbl text, ms float8);
-- the first train on a table takes its first snapshot; a second project on
-- the same unchanged rows reuses it (a retrain, as the closed loop runs it).
-- On bench_dist linear training takes its moments and metrics from the
-- pushed-down aggregates (mlops.linear_moments), as on any Citus table.
-- bench_cit_bench_t, deployed, is the model the other operations use.
INSERT INTO citus_results
SELECT 'train linear, first (takes the first snapshot)', t,
       bench_ms(format($$SELECT mlops.train('bench_cit_%s', '%s', 'y', algorithm => 'linear',
                         features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'], deploy => 'always')$$, t, t), 1)
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'train linear, retrain on unchanged rows', t,
       bench_ms(format($$SELECT mlops.train('bench_cpd_%s', '%s', 'y', algorithm => 'linear',
                         features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'], deploy => 'never')$$, t, t), 1)
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'predict, row form (sum over all rows)', t,
       bench_ms(format($$SELECT sum(mlops.predict('bench_cit_bench_t', r)) FROM %s r$$, t))
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'predict, array form', t,
       bench_ms(format($$SELECT sum(mlops.predict('bench_cit_bench_t', ARRAY[f1,f2,f3,f4,f5,f6,f7,f8,f9,f10])) FROM %s$$, t))
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'check_drift', t, bench_ms(format($$SELECT mlops.check_drift('bench_cit_bench_t', '%s')$$, t))
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'snapshot (unchanged rows)', t, bench_ms(format($$SELECT mlops.snapshot('%s')$$, t), 1)
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;
INSERT INTO citus_results
SELECT 'reproduce (from the snapshot)', t,
       bench_ms(format($$SELECT mlops.reproduce('bench_cit_%s', 1)$$, t), 1)
  FROM unnest(ARRAY['bench_t', 'bench_dist']) t;

-- is the distributed version the same model as the local one?
SELECT (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'bench_cit_bench_t')
     = (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'bench_cit_bench_dist')
       AS distributed_model_identical_to_local,
       (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'bench_cit_bench_t')
     = (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'bench_cpd_bench_dist')
       AS retrained_model_identical_to_local;

SELECT tbl, round(scan_ms::numeric, 1) AS sum_scan_ms, round(sums78_ms::numeric, 1) AS sums78_ms FROM refs;
SELECT r.what,
       round(l.ms::numeric, 1) AS local_ms,
       round(r.ms::numeric, 1) AS distributed_ms,
       round((l.ms / lr.scan_ms)::numeric, 2) AS local_vs_scan,
       round((r.ms / dr.scan_ms)::numeric, 2) AS distributed_vs_scan,
       round((r.ms / dr.sums78_ms)::numeric, 2) AS distributed_vs_78_sums,
       CASE WHEN r.what IN ('check_drift', 'train linear, first (takes the first snapshot)',
                            'train linear, retrain on unchanged rows')
            THEN CASE WHEN r.ms <= 2 * dr.scan_ms THEN 'ok' ELSE 'OVER (budget 2x scan)' END
            ELSE '' END AS verdict
  FROM citus_results r
  JOIN citus_results l ON l.what = r.what AND l.tbl = 'bench_t'
  JOIN refs lr ON lr.tbl = 'bench_t'
  JOIN refs dr ON dr.tbl = 'bench_dist'
 WHERE r.tbl = 'bench_dist'
 ORDER BY r.what;
