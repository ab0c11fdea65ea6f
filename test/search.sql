-- Hyperparameter search with k-fold cross-validation: the best candidate
-- by mean key metric is kept, folds come from the row hash (any physical
-- order gives the same folds), every candidate is in mlops.trials and
-- mlops.experiments, reproduce re-runs the search, strangers see nothing;
-- tags are kept on the version.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(24);

-- few rows, many correlated features: least squares overfits, a huge
-- penalty predicts the mean, a middle one wins on cross-validation
CREATE FUNCTION pg_temp.u(i int, j int) RETURNS float8 IMMUTABLE LANGUAGE sql AS
$$ SELECT abs(sin(i * 12.9898 + j * 78.233) * 43758.5453) - floor(abs(sin(i * 12.9898 + j * 78.233) * 43758.5453)) $$;
CREATE TABLE sr AS
SELECT i,
       f + 0.5 * pg_temp.u(i, 1) AS x1,  f + 0.5 * pg_temp.u(i, 2) AS x2,
       f + 0.5 * pg_temp.u(i, 3) AS x3,  f + 0.5 * pg_temp.u(i, 4) AS x4,
       f + 0.5 * pg_temp.u(i, 5) AS x5,  f + 0.5 * pg_temp.u(i, 6) AS x6,
       f + 0.5 * pg_temp.u(i, 7) AS x7,  f + 0.5 * pg_temp.u(i, 8) AS x8,
       f + 0.5 * pg_temp.u(i, 9) AS x9,  f + 0.5 * pg_temp.u(i, 10) AS x10,
       f + 0.5 * pg_temp.u(i, 11) AS x11, f + 0.5 * pg_temp.u(i, 12) AS x12,
       3 * f + 2 * (pg_temp.u(i, 13) - 0.5) AS y
FROM (SELECT i, pg_temp.u(i, 0) AS f FROM generate_series(1, 40) i) s;
-- the same rows, inserted in the opposite order
CREATE TABLE sr_rev AS SELECT * FROM sr ORDER BY i DESC;
ALTER TABLE sr DROP COLUMN i;
ALTER TABLE sr_rev DROP COLUMN i;

SELECT version FROM mlops.train('sr', 'sr', 'y', algorithm => 'ridge', test_size => 0.2,
                                search => '{"grid": {"alpha": [0.0001, 1, 10, 1000000]}, "folds": 4}',
                                tags => '{"commit": "4f2a9c1", "ticket": "ML-14"}');
SELECT version FROM mlops.train('sr_rev', 'sr_rev', 'y', algorithm => 'ridge', test_size => 0.2,
                                search => '{"grid": {"alpha": [0.0001, 1, 10, 1000000]}, "folds": 4}');

SELECT is((SELECT count(*)::int FROM mlops.trials WHERE project = 'sr' AND version = 1), 4,
          'one trials row per grid candidate');
SELECT is((SELECT count(*)::int FROM mlops.trials WHERE project = 'sr' AND chosen), 1,
          'exactly one candidate is chosen');
SELECT is((SELECT candidate FROM mlops.trials WHERE project = 'sr' AND chosen),
          (SELECT candidate FROM mlops.trials WHERE project = 'sr' ORDER BY mean DESC NULLS LAST, candidate LIMIT 1),
          'the chosen candidate has the best mean r2');
SELECT ok((SELECT (hyperparams ->> 'alpha')::float8 NOT IN (0.0001, 1000000)
             FROM mlops.trials WHERE project = 'sr' AND chosen),
          'a middle penalty wins: neither the unpenalised nor the huge one');
SELECT ok((SELECT min(mean) < max(mean) - 0.05 FROM mlops.trials WHERE project = 'sr'),
          'the candidates differ on cross-validation');
SELECT is((SELECT (v.hyperparams ->> 'alpha')::float8 FROM mlops.model_versions v WHERE project = 'sr'),
          (SELECT (hyperparams ->> 'alpha')::float8 FROM mlops.trials WHERE project = 'sr' AND chosen),
          'the version has the chosen candidate''s hyperparameters');
SELECT is((SELECT array_agg((hyperparams ->> 'alpha')::float8 ORDER BY candidate) FROM mlops.trials WHERE project = 'sr'),
          ARRAY[0.0001, 1, 10, 1000000]::float8[], 'candidates in grid order');
SELECT ok((SELECT bool_and(cardinality(fold_metrics) = 4
                           AND abs(mean - (SELECT avg(m) FROM unnest(fold_metrics) m)) < 1e-12
                           AND std >= 0 AND seconds >= 0)
             FROM mlops.trials WHERE project = 'sr'),
          'each candidate has its four fold metrics, their mean, a std and seconds');
SELECT is((SELECT array_agg(fold_metrics ORDER BY candidate)::text FROM mlops.trials WHERE project = 'sr'),
          (SELECT array_agg(fold_metrics ORDER BY candidate)::text FROM mlops.trials WHERE project = 'sr_rev'),
          'the same rows in another physical order give identical fold metrics');
SELECT is((SELECT search FROM mlops.model_versions WHERE project = 'sr'),
          '{"grid": {"alpha": [0.0001, 1, 10, 1000000]}, "folds": 4}'::jsonb,
          'the search spec is stored with the version');

-- experiments: the version and each candidate, flat
SELECT is((SELECT count(*)::int FROM mlops.experiments WHERE project = 'sr'), 5,
          'experiments: one row for the version, one per candidate');
SELECT is((SELECT cv_mean FROM mlops.experiments WHERE project = 'sr' AND candidate IS NULL),
          (SELECT mean FROM mlops.trials WHERE project = 'sr' AND chosen),
          'experiments: the version row carries the chosen candidate''s cross-validated r2');
SELECT ok((SELECT key_metric = 'r2' AND key_metric_value = (metrics ->> 'r2')::float8
             FROM mlops.experiments e JOIN mlops.model_versions v USING (project, version)
            WHERE project = 'sr' AND candidate IS NULL),
          'experiments: the version row''s held-out key metric');
SELECT is((SELECT array_agg(alpha ORDER BY candidate) FROM mlops.experiments WHERE project = 'sr' AND candidate IS NOT NULL),
          ARRAY[0.0001, 1, 10, 1000000]::float8[], 'experiments: alpha as a number per candidate');

-- tags
SELECT is((SELECT tags FROM mlops.model_versions WHERE project = 'sr'),
          '{"commit": "4f2a9c1", "ticket": "ML-14"}'::jsonb, 'tags are kept on the version');
SELECT is((SELECT DISTINCT tags ->> 'ticket' FROM mlops.experiments WHERE project = 'sr'), 'ML-14',
          'experiments show the tags');

-- random search: reproducible draws within the ranges
SELECT version FROM mlops.train('sr_rand', 'sr', 'y', algorithm => 'elastic_net', test_size => 0.2,
                                search => '{"random": {"alpha": {"log": [0.001, 10]}, "l1_ratio": {"uniform": [0.1, 0.9]}}, "trials": 5, "seed": 7, "folds": 3}');
SELECT version FROM mlops.train('sr_rand', 'sr', 'y', algorithm => 'elastic_net', test_size => 0.2,
                                search => '{"random": {"alpha": {"log": [0.001, 10]}, "l1_ratio": {"uniform": [0.1, 0.9]}}, "trials": 5, "seed": 7, "folds": 3}');
SELECT ok((SELECT count(*) = 5 AND bool_and((hyperparams ->> 'alpha')::float8 BETWEEN 0.001 AND 10
                                            AND (hyperparams ->> 'l1_ratio')::float8 BETWEEN 0.1 AND 0.9)
                  AND count(DISTINCT hyperparams ->> 'alpha') = 5
             FROM mlops.trials WHERE project = 'sr_rand' AND version = 1),
          'random search: five distinct draws within the ranges');
SELECT is((SELECT array_agg(hyperparams::text ORDER BY candidate) FROM mlops.trials WHERE project = 'sr_rand' AND version = 2),
          (SELECT array_agg(hyperparams::text ORDER BY candidate) FROM mlops.trials WHERE project = 'sr_rand' AND version = 1),
          'random search: the same seed draws the same candidates');

-- a tree model with an integer range
SELECT version FROM mlops.train('sr_gbt', 'sr', 'y', algorithm => 'gbt',
                                test_size => 0.2,
                                search => '{"random": {"max_depth": {"int": [1, 3]}, "n_estimators": [5, 10]}, "trials": 3, "seed": 1, "folds": 2}');
SELECT ok((SELECT count(*) = 3 AND bool_and((hyperparams ->> 'max_depth')::float8 IN (1, 2, 3)
                                            AND (hyperparams ->> 'n_estimators')::float8 IN (5, 10))
             FROM mlops.trials WHERE project = 'sr_gbt'),
          'gbt: integer draws and value choices');

-- classification: scored by roc_auc on each fold
CREATE TABLE sr_cls AS SELECT x1, x2, x3, y > 1.5 AS hit FROM sr;
SELECT version FROM mlops.train('sr_log', 'sr_cls', 'hit', algorithm => 'logistic', test_size => 0.2,
                                search => '{"grid": {"alpha": [0.01, 100]}, "folds": 3}');
SELECT ok((SELECT count(*) = 2 AND bool_and(mean > 0.5 AND mean <= 1)
             FROM mlops.trials WHERE project = 'sr_log')
          AND (SELECT key_metric = 'roc_auc' FROM mlops.experiments WHERE project = 'sr_log' AND candidate = 1),
          'logistic: each candidate has a cross-validated roc_auc');

-- reproduce re-runs the search and refits the chosen candidate
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('sr', 1)),
          'reproduce of a searched ridge version is identical');

-- bad specs are 22023 (the messages are in sql/train_errors.sql)
SELECT throws_ok($$SELECT * FROM mlops.train('sr_bad', 'sr', 'y', search => '{"grid": {"alpha": [1]}, "k": 3}')$$,
                 '22023', 'unknown search key "k"', 'an unknown search key is refused');
SELECT throws_ok($$SELECT * FROM mlops.train('sr_bad', 'sr', 'y', algorithm => 'ridge',
                                             search => '{"grid": {"alpha": [1]}, "folds": 40}')$$,
                 '22023', NULL, 'more folds than training rows are refused');

-- a role without privileges on the projects sees none of it
CREATE ROLE srch_stranger;
SET ROLE srch_stranger;
SELECT is((SELECT count(*)::int FROM mlops.trials) + (SELECT count(*)::int FROM mlops.experiments), 0,
          'a stranger sees no trials and no experiments');
RESET ROLE;

SELECT diag(string_agg(format('%s %s %s', project, hyperparams ->> 'alpha', mean), '; '))
  FROM mlops.trials WHERE project IN ('sr', 'sr_log');
SELECT * FROM finish();
ROLLBACK;
