-- bench/50_trees.sql: boosted trees (100 rounds, depth 6, learning rate 0.1)
-- on a nonlinear binary label, against scikit-learn's
-- HistGradientBoostingClassifier and XGBoost's own Python fit, each fit alone
-- on the same rows with the same two threads; the AUC of each on the same
-- held-out rows; and scoring 1M rows against the linear model.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- bench_t's features with a label no linear model captures well: an
-- interaction, a threshold and a wave, through a logistic link; the noise
-- is a hash of the id, so the table is the same in every run
DROP TABLE IF EXISTS bench_trees CASCADE;
CREATE TABLE bench_trees AS
SELECT id, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10,
       (hashint8(id)::bigint & 65535) / 65536.0 <
         1 / (1 + exp(-(2 * sign(f1 * f2) + 1.5 * (f3 > 0.5)::int - 0.75 + sin(2 * f4)))) AS label
  FROM bench_t;
VACUUM ANALYZE bench_trees;
-- three quarters of the rows to train on, the rest to compare AUCs on
CREATE VIEW bench_trees_fit AS SELECT * FROM bench_trees WHERE id % 4 <> 0;
CREATE VIEW bench_trees_holdout AS SELECT * FROM bench_trees WHERE id % 4 = 0;

-- everyone uses the machine's two cores
SET mlops.training_threads = 2;

-- scikit-learn and XGBoost in PL/Python: the fit alone is timed (reading the
-- rows is not); the AUC of the probabilities on the held-out rows is kept
CREATE OR REPLACE FUNCTION bench_python_trees(lib text) RETURNS float8
LANGUAGE plpython3u AS $$
import time
import numpy as np
from sklearn.metrics import roc_auc_score
def load(rel):
    r = plpy.execute("SELECT array_agg(f1) a1, array_agg(f2) a2, array_agg(f3) a3, array_agg(f4) a4, "
                     "array_agg(f5) a5, array_agg(f6) a6, array_agg(f7) a7, array_agg(f8) a8, "
                     "array_agg(f9) a9, array_agg(f10) a10, array_agg(label::int) l FROM " + rel)[0]
    X = np.column_stack([np.asarray(r['a%d' % k], dtype=float) for k in range(1, 11)])
    return X, np.asarray(r['l'])
X, y = load('bench_trees_fit')
if lib == 'sklearn':
    from sklearn.ensemble import HistGradientBoostingClassifier
    m = HistGradientBoostingClassifier(max_iter=100, max_depth=6, learning_rate=0.1,
                                       max_bins=255, early_stopping=False, random_state=0)
else:
    import xgboost as xgb
    m = xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, max_bin=256,
                          tree_method='hist', n_jobs=2, random_state=0)
t0 = time.perf_counter()
m.fit(X, y)
ms = (time.perf_counter() - t0) * 1000
Xh, yh = load('bench_trees_holdout')
GD['auc_' + lib] = float(roc_auc_score(yh, m.predict_proba(Xh)[:, 1]))
# the library's own scoring of every row, in memory, best of three
Xa, _ = load('bench_trees')
best = float('inf')
for _ in range(3):
    t0 = time.perf_counter()
    m.predict_proba(Xa)
    best = min(best, (time.perf_counter() - t0) * 1000)
GD['predict_ms_' + lib] = best
return ms
$$;
CREATE OR REPLACE FUNCTION bench_python_predict_ms(lib text) RETURNS float8
LANGUAGE plpython3u AS $$ return GD['predict_ms_' + lib] $$;
CREATE OR REPLACE FUNCTION bench_python_auc(lib text) RETURNS float8
LANGUAGE plpython3u AS $$ return GD['auc_' + lib] $$;

SELECT bench_python_trees('sklearn') AS sklearn_ms \gset
SELECT bench_python_trees('xgboost') AS xgboost_ms \gset

-- mlops: the whole mlops.train (read, snapshot, fit, metrics, registry),
-- best of two; test_size 0.01 (the smallest share worth a metric): the AUCs
-- are compared below on the held-out quarter, so mlops fits on 1% fewer rows
CREATE TEMP TABLE gbt_train AS SELECT bench_ms(
    $$SELECT mlops.train('bench_gbt', 'bench_trees_fit', 'label', algorithm => 'gbt',
      features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
      hyperparams => '{"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1}',
      test_size => 0.01, deploy => 'always')$$, 2) AS ms;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'trees', 'gbt train, 750k rows, 100 rounds depth 6, 2 threads', ms,
       'scikit-learn HistGradientBoosting fit alone', :sklearn_ms, 1.25 FROM gbt_train;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'trees', 'gbt train, 750k rows, 100 rounds depth 6, 2 threads', ms,
       'XGBoost Python fit alone', :xgboost_ms, NULL FROM gbt_train;

-- scoring every row: trees against the linear model of bench/10_train.sql
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'trees', 'predict_proba(gbt), 1M rows',
       bench_ms($$SELECT sum((mlops.predict_proba('bench_gbt', t))[2]) FROM bench_trees t$$),
       'predict(linear), 1M rows',
       bench_ms($$SELECT sum(mlops.predict('bench_lin', t)) FROM bench_t t$$), 3;

INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'trees', 'predict_proba(gbt), 1M rows', r.ms,
       format('%s predict_proba in memory, 1M rows, 2 threads', lib), bench_python_predict_ms(lib), NULL
  FROM bench_results r, (VALUES ('xgboost'), ('sklearn')) AS l(lib)
 WHERE r.area = 'trees' AND r.what = 'predict_proba(gbt), 1M rows';

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'trees';

-- the same held-out rows for every model (budget: mlops within 0.002 of scikit-learn)
SELECT round((mlops.evaluate('bench_gbt', 'bench_trees_holdout') ->> 'roc_auc')::numeric, 4) AS mlops_auc,
       round(bench_python_auc('sklearn')::numeric, 4) AS sklearn_auc,
       round(bench_python_auc('xgboost')::numeric, 4) AS xgboost_auc,
       round(abs((mlops.evaluate('bench_gbt', 'bench_trees_holdout') ->> 'roc_auc')::float8
                 - bench_python_auc('sklearn'))::numeric, 4) AS gap_to_sklearn;
