-- Our compiled trees score exactly as XGBoost does: on 10,000 rows with
-- missing values, one-hot columns and a categorical value never seen in
-- training, predict_proba / predict of gbt and random_forest versions
-- (multiclass, binary, regression) against XGBoost's own prediction
-- (mlops._xgboost_reference_predict, XGBoosterPredictFromDense on the same
-- encoded rows): the largest difference must be below 1e-6.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(6);
SELECT setseed(0.75);

CREATE TABLE tn AS
SELECT i, x1, CASE WHEN i % 9 = 0 THEN NULL ELSE x2 END AS x2,
       CASE WHEN i % 13 = 0 THEN NULL ELSE x3 END AS x3, g, flag,
       CASE WHEN x1 + 0.3 * random() < 0.4 THEN 'lo' WHEN x2 > 0.5 AND g <> 'c' THEN 'hi' ELSE 'mid' END AS cls,
       x1 * x2 + 0.2 * random() > 0.3 AS yes,
       10 * (x1 > 0.5)::int + 5 * x2 * (g = 'a')::int + 20 * random() AS y
  FROM (SELECT i, random() AS x1, random() AS x2, 100 * random() AS x3,
               (ARRAY['a', 'b', 'c', NULL])[1 + (random() * 3.999)::int] AS g,
               CASE WHEN random() < 0.1 THEN NULL ELSE random() < 0.5 END AS flag
          FROM generate_series(1, 10000) i) s;

SELECT version FROM mlops.train('nat_m', 'tn', 'cls', algorithm => 'gbt',
                                features => ARRAY['x1', 'x2', 'x3', 'g', 'flag'],
                                hyperparams => '{"n_estimators": 30}');
SELECT version FROM mlops.train('nat_b', 'tn', 'yes', algorithm => 'gbt',
                                features => ARRAY['x1', 'x2', 'x3', 'g', 'flag'],
                                hyperparams => '{"n_estimators": 30, "subsample": 0.7}');
SELECT version FROM mlops.train('nat_r', 'tn', 'y', algorithm => 'gbt',
                                features => ARRAY['x1', 'x2', 'x3', 'g', 'flag'],
                                hyperparams => '{"n_estimators": 30, "max_depth": 8}');
SELECT version FROM mlops.train('nat_f', 'tn', 'cls', algorithm => 'random_forest',
                                features => ARRAY['x1', 'x2', 'x3', 'g', 'flag'],
                                hyperparams => '{"n_estimators": 20}');
-- scoring rows carry a category the models never saw
UPDATE tn SET g = 'z' WHERE i % 101 = 0;

CREATE TEMP TABLE diffs AS
SELECT 'multiclass' AS model, max(abs(a - b)) AS maxdiff, count(*) AS n
  FROM tn t, LATERAL unnest(mlops.predict_proba('nat_m', t), mlops._xgboost_reference_predict('nat_m', t, 1)) u(a, b)
UNION ALL
SELECT 'binary', max(abs(a - b)), count(*)
  FROM tn t, LATERAL unnest(mlops.predict_proba('nat_b', t), mlops._xgboost_reference_predict('nat_b', t, 1)) u(a, b)
UNION ALL
SELECT 'regression', max(abs(mlops.predict('nat_r', t) - (mlops._xgboost_reference_predict('nat_r', t, 1))[1])), count(*)
  FROM tn t
UNION ALL
SELECT 'random_forest', max(abs(a - b)), count(*)
  FROM tn t, LATERAL unnest(mlops.predict_proba('nat_f', t), mlops._xgboost_reference_predict('nat_f', t, 1)) u(a, b);
SELECT diag(format('%s: largest difference from XGBoost %s over %s values', model, maxdiff, n)) FROM diffs;

SELECT ok((SELECT maxdiff < 1e-6 AND n = 30000 FROM diffs WHERE model = 'multiclass'),
          'multiclass probabilities equal XGBoost''s to 1e-6 on 10,000 rows');
SELECT ok((SELECT maxdiff < 1e-6 AND n = 20000 FROM diffs WHERE model = 'binary'),
          'binary probabilities equal XGBoost''s to 1e-6');
SELECT ok((SELECT maxdiff < 1e-6 AND n = 10000 FROM diffs WHERE model = 'regression'),
          'regression predictions equal XGBoost''s to 1e-6');
SELECT ok((SELECT maxdiff < 1e-6 AND n = 30000 FROM diffs WHERE model = 'random_forest'),
          'random forest probabilities equal XGBoost''s to 1e-6');
SELECT is((SELECT count(*) FROM tn t
            WHERE mlops.predict('nat_m', t) <> array_position(mlops.predict_proba('nat_m', t),
                                   (SELECT max(v) FROM unnest(mlops.predict_proba('nat_m', t)) v)) - 1),
          0::bigint, 'predict is the index of the likeliest class');

-- the array form passes a NULL element on as missing, as the row form does
SELECT version FROM mlops.train('nat_a', 'tn', 'y', algorithm => 'gbt',
                                features => ARRAY['x1', 'x2', 'x3'], hyperparams => '{"n_estimators": 20}');
SELECT ok((SELECT bool_and(mlops.predict('nat_a', ARRAY[x1, x2, x3]) = mlops.predict('nat_a', t)
                           AND mlops.predict('nat_a', ARRAY[x1, x2, x3]) =
                               (mlops._xgboost_reference_predict('nat_a', t, 1))[1])
             FROM tn t WHERE i <= 500),
          'the float8[] form scores NULLs as missing, as the row form and XGBoost do');

SELECT * FROM finish();
ROLLBACK;
