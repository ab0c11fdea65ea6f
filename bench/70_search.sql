-- bench/70_search.sql: a 3-candidate x 5-fold ridge grid search against one
-- ridge fit, both the whole mlops.train on bench_t's 1M rows (data already
-- versioned by bench/10_train.sql, so neither writes a snapshot).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

INSERT INTO bench_results (area, what, ms, reference, reference_ms, budget)
SELECT 'search', 'ridge, 3 x 5-fold grid search, 1M rows',
       bench_ms($$SELECT mlops.train('bench_grid', 'bench_t', 'y', algorithm => 'ridge',
                  features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
                  search => '{"grid": {"alpha": [0.1, 1, 10]}, "folds": 5}', deploy => 'never')$$),
       'one ridge fit, 1M rows',
       bench_ms($$SELECT mlops.train('bench_ridge', 'bench_t', 'y', algorithm => 'ridge',
                  features => ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10'],
                  hyperparams => '{"alpha": 1}', deploy => 'never')$$), 2;

SELECT area, what, round(ms::numeric, 1) AS ms, reference, round(reference_ms::numeric, 1) AS reference_ms,
       round(ratio::numeric, 2) AS ratio, budget,
       CASE WHEN budget IS NULL THEN '' WHEN ratio <= budget THEN 'ok' ELSE 'OVER' END AS verdict
  FROM bench_results WHERE area = 'search';

-- what the search chose, and its cross-validated r2 per candidate
SELECT candidate, (hyperparams ->> 'alpha')::float8 AS alpha, round(mean::numeric, 6) AS cv_r2_mean,
       round(std::numeric, 6) AS cv_r2_std, round(seconds::numeric, 3) AS seconds, chosen
  FROM mlops.trials WHERE project = 'bench_grid'
   AND version = (SELECT max(version) FROM mlops.model_versions WHERE project = 'bench_grid')
 ORDER BY candidate;
