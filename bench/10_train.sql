-- bench/10_train.sql: training against a plain scan and scikit-learn.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- scikit-learn in PL/Python, reading the columns as arrays (the fastest way
-- to hand a table to Python from inside the server)
CREATE OR REPLACE FUNCTION bench_sklearn(kind text) RETURNS float8
LANGUAGE plpython3u AS $$
import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
r = plpy.execute("SELECT array_agg(f1) a1, array_agg(f2) a2, array_agg(f3) a3, array_agg(f4) a4, "
                 "array_agg(f5) a5, array_agg(f6) a6, array_agg(f7) a7, array_agg(f8) a8, "
                 "array_agg(f9) a9, array_agg(f10) a10, array_agg(y) y, array_agg(label::int) l FROM bench_t")[0]
X = np.column_stack([np.asarray(r['a%d' % k], dtype=float) for k in range(1, 11)])
if kind == 'linear':
    m = LinearRegression().fit(X, np.asarray(r['y'], dtype=float))
    return float(m.intercept_)
m = LogisticRegression(C=1e4, max_iter=200).fit(X, np.asarray(r['l']))
return float(m.intercept_[0])
$$;

CREATE TEMP TABLE scan AS SELECT bench_ms(
  'SELECT sum(f1), sum(f2), sum(f3), sum(f4), sum(f5), sum(f6), sum(f7), sum(f8), sum(f9), sum(f10), sum(y) FROM bench_t') AS ms;

-- The first training snapshots the data; later ones reuse the snapshot.
-- Best of two first trainings: between them the project and its snapshot
-- are removed (untimed), so that the second is a first training again.
CREATE OR REPLACE FUNCTION bench_first_train() RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    best float8 := 'Infinity';
    snap bigint;
BEGIN
    FOR k IN 1..2 LOOP
        IF k > 1 THEN
            SELECT snapshot INTO snap FROM mlops.model_versions WHERE project = 'bench_lin';
            DELETE FROM mlops.deployments WHERE project = 'bench_lin';
            DELETE FROM mlops.model_versions WHERE project = 'bench_lin';
            DELETE FROM mlops.projects WHERE name = 'bench_lin';
            PERFORM mlops.drop_snapshot(snap);
        END IF;
        t0 := clock_timestamp();
        PERFORM mlops.train('bench_lin', 'bench_t', 'y', algorithm => 'linear',
                            features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
                            deploy => 'always');
        best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
    RETURN best;
END;
$$;
SELECT bench_first_train() AS first_train_ms \gset
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'train', 'linear, retrain on unchanged rows',
       bench_ms($$SELECT mlops.train('bench_lin', 'bench_t', 'y', algorithm => 'linear',
                  features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'], deploy => 'never')$$),
       'plain scan', ms, 3 FROM scan;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'train', 'logistic, retrain on unchanged rows',
       bench_ms($$SELECT mlops.train('bench_log', 'bench_t', 'label', algorithm => 'logistic',
                  features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'], deploy => 'always')$$),
       'plain scan', ms, 5 FROM scan;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'train', 'linear, first train (with snapshot)', :first_train_ms,
       'CREATE TABLE AS', bench_ms('DROP TABLE IF EXISTS bench_ctas; CREATE TABLE bench_ctas AS SELECT * FROM bench_t'), 1.5;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'train', 'linear', r.ms, 'PL/Python scikit-learn LinearRegression', bench_ms($$SELECT bench_sklearn('linear')$$, 1), NULL
  FROM bench_results r WHERE r.what = 'linear, retrain on unchanged rows';
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'train', 'logistic', r.ms, 'PL/Python scikit-learn LogisticRegression', bench_ms($$SELECT bench_sklearn('logistic')$$, 1), NULL
  FROM bench_results r WHERE r.what = 'logistic, retrain on unchanged rows';
DROP TABLE IF EXISTS bench_ctas;

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'train';
SELECT version, metrics->>'r2' AS r2 FROM mlops.model_versions WHERE project = 'bench_lin' ORDER BY version DESC LIMIT 1;
SELECT version, metrics->>'roc_auc' AS roc_auc FROM mlops.model_versions WHERE project = 'bench_log' ORDER BY version DESC LIMIT 1;
