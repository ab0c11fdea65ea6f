-- bench/40_drift.sql: mlops.check_drift over 1,000,000 live rows against a
-- plain scan of the same columns (budget: 2x the scan).
--
-- The live relation is bench_t itself, checked against the baseline of the
-- linear project trained on it (10 float8 features, target y): every
-- feature is compared (PSI, KS), and the model is scored on the labelled
-- rows for concept drift.  A second run on a shifted copy shows the cost
-- does not depend on the verdict.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- the project from bench/10_train.sql, or a fresh one when run alone
SELECT NOT EXISTS (SELECT 1 FROM mlops.projects WHERE name = 'bench_lin') AS need_train \gset
\if :need_train
SELECT version FROM mlops.train('bench_lin', 'bench_t', 'y', algorithm => 'linear',
                                features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
                                deploy => 'always');
\endif

CREATE TEMP TABLE drift_scan AS SELECT bench_ms(
  'SELECT sum(f1), sum(f2), sum(f3), sum(f4), sum(f5), sum(f6), sum(f7), sum(f8), sum(f9), sum(f10), sum(y) FROM bench_t') AS ms;

INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'drift', 'check_drift, 1M rows x 10 features + target', 
       bench_ms($$SELECT mlops.check_drift('bench_lin', 'bench_t')$$),
       'plain scan', ms, 2 FROM drift_scan;

-- the same rows with two features shifted by half a standard deviation
DROP TABLE IF EXISTS bench_drift_shifted;
CREATE TABLE bench_drift_shifted AS
SELECT id, f1 + 0.5 AS f1, f2 + 0.5 AS f2, f3, f4, f5, f6, f7, f8, f9, f10, y FROM bench_t;
VACUUM ANALYZE bench_drift_shifted;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'drift', 'check_drift, 1M shifted rows (drift found)',
       bench_ms($$SELECT mlops.check_drift('bench_lin', 'bench_drift_shifted')$$),
       'plain scan', ms, 2 FROM drift_scan;

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'drift';

-- where the time of the last checks went, and what they found
SELECT relation, rows_checked, verdict, round(duration_ms::numeric, 1) AS duration_ms,
       summary -> 'timing_ms' AS timing_ms, summary -> 'drifted_features' AS drifted
  FROM mlops.drift_reports WHERE project = 'bench_lin' ORDER BY id DESC LIMIT 2;

DROP TABLE bench_drift_shifted;
DELETE FROM mlops.retrain_queue WHERE project = 'bench_lin';
