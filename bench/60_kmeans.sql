-- bench/60_kmeans.sql: k-means, k = 8, on bench_t's 1M x 10 features
-- against scikit-learn's KMeans (k-means++, Lloyd, one start) fit alone on
-- the same rows with its two OpenMP threads (mlops fits on one core; the
-- budget is set against scikit-learn as it runs by default), and the
-- inertia of both on all the rows, raw (unstandardised) columns for both.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- scikit-learn: the fit alone is timed (reading the rows is not); its
-- inertia (on all the rows it fitted) is kept in GD
CREATE OR REPLACE FUNCTION bench_sklearn_kmeans() RETURNS float8
LANGUAGE plpython3u AS $$
import time
import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
r = plpy.execute("SELECT array_agg(f1) a1, array_agg(f2) a2, array_agg(f3) a3, array_agg(f4) a4, "
                 "array_agg(f5) a5, array_agg(f6) a6, array_agg(f7) a7, array_agg(f8) a8, "
                 "array_agg(f9) a9, array_agg(f10) a10 FROM bench_t")[0]
X = np.column_stack([np.asarray(r['a%d' % k], dtype=float) for k in range(1, 11)])
m = KMeans(n_clusters=8, n_init=1, init='k-means++', algorithm='lloyd', random_state=0)
with threadpool_limits(limits=2):
    t0 = time.perf_counter()
    m.fit(X)
    ms = (time.perf_counter() - t0) * 1000
GD['km_inertia'] = float(m.inertia_)
GD['km_iter'] = int(m.n_iter_)
return ms
$$;
CREATE OR REPLACE FUNCTION bench_sklearn_kmeans_inertia() RETURNS float8
LANGUAGE plpython3u AS $$ return GD['km_inertia'] $$;
CREATE OR REPLACE FUNCTION bench_sklearn_kmeans_iter() RETURNS int
LANGUAGE plpython3u AS $$ return GD['km_iter'] $$;

SELECT bench_sklearn_kmeans() AS sklearn_ms \gset

-- mlops: the whole mlops.train (read, snapshot, fit, metrics with the
-- silhouette, registry); test_size 0.01, so mlops fits on 1% fewer rows
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'kmeans', 'kmeans train, 1M x 10, k 8, n_init 1, raw columns',
       bench_ms($$SELECT mlops.train('bench_km', 'bench_t', task => 'clustering', algorithm => 'kmeans',
                  features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
                  hyperparams => '{"k": 8, "n_init": 1, "standardize": 0}',
                  test_size => 0.01, deploy => 'always')$$, 2),
       'scikit-learn KMeans fit alone (2 threads)', :sklearn_ms, 1.0;

-- scoring every row: the cluster of each of 1M rows
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'kmeans', 'predict(kmeans), 1M rows',
       bench_ms($$SELECT sum(mlops.predict('bench_km', t)) FROM bench_t t$$),
       'predict(linear), 1M rows',
       bench_ms($$SELECT sum(mlops.predict('bench_lin', t)) FROM bench_t t$$), NULL;

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'kmeans';

-- the inertia of both on all the rows (target: mlops within 1% of
-- scikit-learn; k-means finds local optima, so either may be lower)
SELECT round(mi::numeric, 1) AS mlops_inertia, round(si::numeric, 1) AS sklearn_inertia,
       round((mi / si - 1)::numeric * 100, 3) AS gap_percent,
       CASE WHEN mi <= si * 1.01 THEN 'ok' ELSE 'OVER' END AS verdict,
       bench_sklearn_kmeans_iter() AS sklearn_iterations
  FROM (SELECT (mlops.evaluate('bench_km', 'bench_t') ->> 'inertia')::float8 AS mi,
               bench_sklearn_kmeans_inertia() AS si) s;
