-- bench/20_predict.sql: scoring inside a query against the hand-written SQL
-- expression of the same linear model, and per-row scikit-learn in PL/Python.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- the production model of bench_lin, written out as a SQL expression
SELECT string_agg(CASE WHEN term = 'intercept' THEN format('%s', coefficient)
                       ELSE format('%s * %I', coefficient, term) END, ' + ') AS expr
  FROM mlops.explain('bench_lin') \gset

INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'predict', 'predict(project, row), 1M rows',
       bench_ms($$SELECT sum(mlops.predict('bench_lin', t)) FROM bench_t t$$),
       'hand-written SQL expression', bench_ms(format('SELECT sum(%s) FROM bench_t', :'expr')), 1.5;
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'predict', 'predict(project, float8[]), 1M rows',
       bench_ms($$SELECT sum(mlops.predict('bench_lin', ARRAY[f1, f2, f3, f4, f5, f6, f7, f8, f9, f10])) FROM bench_t$$),
       'hand-written SQL expression', r.reference_ms, 1.5
  FROM bench_results r WHERE r.what = 'predict(project, row), 1M rows';

-- scikit-learn per row (model fitted once per session and cached in SD)
CREATE OR REPLACE FUNCTION bench_sklearn_predict(f float8[]) RETURNS float8
LANGUAGE plpython3u AS $$
if 'm' not in SD:
    import numpy as np
    from sklearn.linear_model import LinearRegression
    r = plpy.execute("SELECT array_agg(ARRAY[f1,f2,f3,f4,f5,f6,f7,f8,f9,f10]) x, array_agg(y) y FROM bench_t WHERE id <= 100000")[0]
    SD['np'] = np
    SD['m'] = LinearRegression().fit(np.asarray(r['x'], dtype=float), np.asarray(r['y'], dtype=float))
return float(SD['m'].predict(SD['np'].asarray([f], dtype=float))[0])
$$;
SELECT bench_sklearn_predict(ARRAY[0,0,0,0,0,0,0,0,0,0]::float8[]);
INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'predict', 'predict(project, row), 100k rows',
       bench_ms($$SELECT sum(mlops.predict('bench_lin', t)) FROM bench_t t WHERE id <= 100000$$),
       'PL/Python scikit-learn per row, 100k rows',
       bench_ms($$SELECT sum(bench_sklearn_predict(ARRAY[f1, f2, f3, f4, f5, f6, f7, f8, f9, f10])) FROM bench_t WHERE id <= 100000$$, 1),
       NULL;

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'predict';
