-- Tree models (gbt, random_forest) trained by XGBoost: quality against bars
-- computed from the data (the noise-free function, the generator's own
-- probabilities), missing values, one-hot columns, explain(), early
-- stopping, reproduce, the thread count, and the training pipeline's other
-- paths (evaluate, if_better).  Native scoring against XGBoost's own is
-- test/gbt_native.sql; a cancelled training is test/gbt_cancel.sql.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(34);
SELECT setseed(0.25);

-- ---------------------------------------------------------------------
-- Regression: steps and an interaction, x3 missing in 10% of the rows
-- ---------------------------------------------------------------------
CREATE TABLE tr AS
SELECT i, x1, x2, CASE WHEN i % 10 = 3 THEN NULL ELSE x3 END AS x3, g, f, f + noise AS y
  FROM (SELECT i, x1, x2, x3, g, 0.5 * (random() - 0.5) AS noise,
               3 * (x1 > 0.5)::int + 2 * (x2 > 0.3 AND x3 < 0.6)::int
               + CASE g WHEN 'b' THEN 1.5 ELSE 0 END AS f
          FROM (SELECT i, random() AS x1, random() AS x2, random() AS x3,
                       (ARRAY['a', 'b', 'c'])[1 + (random() * 2.999)::int] AS g
                  FROM generate_series(1, 4000) i) s) t;
-- the best r2 any model can reach here: that of the noise-free function
-- (rows with x3 missing keep part of the interaction unexplained)
CREATE TEMP TABLE r2_bar AS
SELECT 1 - avg((y - f) ^ 2) / var_pop(y) AS r2 FROM tr;

CREATE TEMP TABLE gr AS
SELECT * FROM mlops.train('gbt_r', 'tr', 'y', algorithm => 'gbt',
                          features => ARRAY['x1', 'x2', 'x3', 'g'],
                          hyperparams => '{"n_estimators": 50, "learning_rate": 0.3}');
CREATE TEMP TABLE lr AS
SELECT * FROM mlops.train('lin_r', 'tr', 'y', features => ARRAY['x1', 'x2', 'x3', 'g']);

SELECT ok((SELECT (metrics->>'r2')::float8 FROM gr) > (SELECT r2 - 0.05 FROM r2_bar),
          'gbt r2 is within 0.05 of the noise-free function''s');
SELECT ok((SELECT (metrics->>'r2')::float8 FROM gr) > (SELECT (metrics->>'r2')::float8 + 0.1 FROM lr),
          'gbt beats linear regression by more than 0.1 of r2 on steps and interactions');
SELECT is((SELECT algorithm FROM gr), 'gbt', 'the version records the algorithm');
SELECT is((SELECT f->'impute' FROM gr, jsonb_array_elements(features) f WHERE f->>'name' = 'x3'),
          'null'::jsonb, 'trees impute nothing: a NULL goes to XGBoost as missing');
SELECT is((SELECT (hyperparams->>'nthread')::int FROM gr), 1,
          'the thread count used (mlops.training_threads, 1) is recorded');
SELECT is((SELECT (hyperparams->>'rounds_kept')::int FROM gr), 50,
          'without early stopping every round is kept');
-- a NULL in x3 takes the learned default direction, unlike any value
SELECT ok((SELECT count(DISTINCT mlops.predict('gbt_r', t)) > 1
             FROM (SELECT 0.7::float8 AS x1, 0.9::float8 AS x2, v AS x3, 'a'::text AS g
                     FROM (VALUES (NULL::float8), (0.1), (0.9)) v(v)) t),
          'a missing x3 is scored (default direction) and x3 matters');
SELECT ok((SELECT abs(mlops.predict('gbt_r', t) - 5) < 0.3
             FROM (SELECT 0.8::float8 AS x1, 0.9::float8 AS x2, 0.2::float8 AS x3, 'a'::text AS g) t),
          'a row of the x1 > 0.5 and interaction regions predicts about 3 + 2');
SELECT ok((SELECT abs(mlops.predict('gbt_r', t) - 1.5) < 0.3
             FROM (SELECT 0.2::float8 AS x1, 0.1::float8 AS x2, 0.9::float8 AS x3, 'b'::text AS g) t),
          'category b adds its 1.5');

-- explain: XGBoost's importances per design column, one-hot columns summed
SELECT is((SELECT array_agg(term ORDER BY term) FROM mlops.explain('gbt_r')),
          ARRAY['g', 'g=<other>', 'g=a', 'g=b', 'g=c', 'x1', 'x2', 'x3'],
          'explain has a row per design column and one per categorical feature');
SELECT ok((SELECT abs(sum(importance) - 1) < 1e-9 FROM mlops.explain('gbt_r') WHERE term <> 'g'),
          'importance is each column''s share of the total gain');
SELECT ok((SELECT s.weight = sum(e.weight) AND abs(s.importance - sum(e.importance)) < 1e-12
             FROM mlops.explain('gbt_r') e, mlops.explain('gbt_r') s
            WHERE e.term LIKE 'g=%' AND s.term = 'g' GROUP BY s.weight, s.importance),
          'a categorical feature''s row sums its one-hot columns');
SELECT is((SELECT term FROM mlops.explain('gbt_r') WHERE term <> 'g' ORDER BY importance DESC LIMIT 1),
          'x1', 'x1, the largest step, has the most gain');
SELECT ok((SELECT bool_and(gain > 0 AND cover > 0 AND weight >= 1 AND coefficient IS NULL)
             FROM mlops.explain('gbt_r') WHERE term IN ('x1', 'x2', 'x3')),
          'gain, cover and weight are reported; coefficients are not');

-- early stopping on a hash-chosen part of the training rows
CREATE TEMP TABLE ges AS
SELECT * FROM mlops.train('gbt_es', 'tr', 'y', algorithm => 'gbt',
                          features => ARRAY['x1', 'x2', 'x3', 'g'],
                          hyperparams => '{"n_estimators": 1000, "learning_rate": 0.5, "early_stopping_rounds": 3}');
SELECT ok((SELECT (hyperparams->>'rounds_kept')::int BETWEEN 2 AND 200 FROM ges),
          'early stopping keeps far fewer rounds than n_estimators');
SELECT ok((SELECT (metrics->>'r2')::float8 FROM ges) > (SELECT r2 - 0.05 FROM r2_bar),
          'the early-stopped model is as good');

-- ---------------------------------------------------------------------
-- Binary: an XOR of two thresholds, through the generator's probabilities
-- ---------------------------------------------------------------------
CREATE TABLE tb AS
SELECT i, x1, x2, g, p, random() < p AS label
  FROM (SELECT i, x1, x2, g,
               1 / (1 + exp(-(4 * ((x1 > 0.5) <> (x2 > 0.5))::int - 2 + (g = 'a')::int))) AS p
          FROM (SELECT i, random() AS x1, random() AS x2,
                       (ARRAY['a', 'b'])[1 + (random() * 1.999)::int] AS g
                  FROM generate_series(1, 4000) i) s) t;
-- the AUC of the generator's own probabilities (Mann-Whitney)
CREATE TEMP TABLE auc_bar AS
SELECT (sum(r) FILTER (WHERE label) - n1 * (n1 + 1) / 2.0) / (n1 * n0) AS auc
  FROM (SELECT label, rank() OVER (ORDER BY p) AS r,
               count(*) FILTER (WHERE label) OVER () AS n1,
               count(*) FILTER (WHERE NOT label) OVER () AS n0 FROM tb) s
 GROUP BY n1, n0;
CREATE TEMP TABLE gb AS
SELECT * FROM mlops.train('gbt_b', 'tb', 'label', algorithm => 'gbt',
                          features => ARRAY['x1', 'x2', 'g'], hyperparams => '{"n_estimators": 40}');
CREATE TEMP TABLE lb AS
SELECT * FROM mlops.train('log_b', 'tb', 'label', features => ARRAY['x1', 'x2', 'g']);
SELECT ok((SELECT (metrics->>'roc_auc')::float8 FROM gb) > (SELECT auc - 0.04 FROM auc_bar),
          'gbt AUC is within 0.04 of the generator''s own');
SELECT ok((SELECT (metrics->>'roc_auc')::float8 FROM gb) > (SELECT (metrics->>'roc_auc')::float8 + 0.2 FROM lb),
          'gbt beats logistic regression on an XOR by more than 0.2 of AUC');
SELECT is((SELECT classes FROM gb), ARRAY['false', 'true'], 'classes in model_versions order');
SELECT ok((SELECT bool_and(abs(pr[1] + pr[2] - 1) < 1e-12 AND (pr[2] > 0.5) = (mlops.predict_label('gbt_b', t) = 'true'))
             FROM (SELECT t, mlops.predict_proba('gbt_b', t) AS pr FROM tb t LIMIT 200) s),
          'predict_proba sums to 1 and predict_label takes the likelier class');

-- ---------------------------------------------------------------------
-- Multiclass: three regions, 10% of the labels moved to another class
-- ---------------------------------------------------------------------
CREATE TABLE tm AS
SELECT i, x1, x2, x3, truth,
       CASE WHEN random() < 0.9 THEN truth
            ELSE (ARRAY['hi', 'lo', 'mid'])[1 + (array_position(ARRAY['hi', 'lo', 'mid'], truth)
                                                 + (random() < 0.5)::int) % 3] END AS cls
  FROM (SELECT i, x1, x2, CASE WHEN i % 7 = 0 THEN NULL ELSE x3 END AS x3,
               CASE WHEN x1 < 0.4 THEN 'lo' WHEN x2 > 0.5 AND x3 > 0.2 THEN 'hi' ELSE 'mid' END AS truth
          FROM (SELECT i, random() AS x1, random() AS x2, random() AS x3
                  FROM generate_series(1, 4000) i) s) t;
CREATE TEMP TABLE gm AS
SELECT * FROM mlops.train('gbt_m', 'tm', 'cls', algorithm => 'gbt',
                          features => ARRAY['x1', 'x2', 'x3'], hyperparams => '{"n_estimators": 30}');
SELECT ok((SELECT (metrics->>'accuracy')::float8 FROM gm) >
          (SELECT avg((cls = truth)::int) - 0.04 FROM tm),
          'multiclass gbt accuracy is within 0.04 of the labels'' agreement with the truth');
SELECT is((SELECT count(*) FROM tm t WHERE abs((SELECT sum(v) FROM unnest(mlops.predict_proba('gbt_m', t)) v) - 1) > 1e-6),
          0::bigint, 'multiclass probabilities sum to 1');

-- ---------------------------------------------------------------------
-- Random forest
-- ---------------------------------------------------------------------
CREATE TEMP TABLE fr AS
SELECT * FROM mlops.train('rf_r', 'tr', 'y', algorithm => 'random_forest',
                          features => ARRAY['x1', 'x2', 'x3', 'g'],
                          hyperparams => '{"n_estimators": 30, "max_depth": 8}');
CREATE TEMP TABLE fm AS
SELECT * FROM mlops.train('rf_m', 'tm', 'cls', algorithm => 'random_forest',
                          features => ARRAY['x1', 'x2', 'x3'], hyperparams => '{"n_estimators": 30}');
SELECT ok((SELECT (metrics->>'r2')::float8 FROM fr) > (SELECT r2 - 0.1 FROM r2_bar),
          'random forest regression r2 is within 0.1 of the noise-free function''s');
SELECT ok((SELECT (metrics->>'accuracy')::float8 FROM fm) > (SELECT avg((cls = truth)::int) - 0.05 FROM tm),
          'random forest multiclass accuracy is within 0.05 of the labels'' agreement with the truth');
SELECT is((SELECT (hyperparams->>'subsample')::float8 || '/' || (hyperparams->>'colsample_bynode')::float8
                  || '/' || (hyperparams->>'learning_rate')::float8 FROM fr),
          '0.8/0.8/1', 'forest defaults: subsample and colsample_bynode 0.8, learning rate 1');

-- ---------------------------------------------------------------------
-- Reproduce, threads
-- ---------------------------------------------------------------------
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('gbt_r', 1)),
          'gbt: reproduce gives identical bytes');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('gbt_es', 1)),
          'gbt with early stopping: identical bytes');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('rf_m', 1)),
          'random forest (row and column sampling): identical bytes');
-- two threads grow the same trees: same importances, same predictions
SET LOCAL mlops.training_threads = 2;
SELECT version FROM mlops.train('rf_m', 'tm', 'cls', algorithm => 'random_forest',
                                features => ARRAY['x1', 'x2', 'x3'], hyperparams => '{"n_estimators": 30}');
RESET mlops.training_threads;
SELECT ok((SELECT (hyperparams->>'nthread')::int = 2 FROM mlops.model_versions WHERE project = 'rf_m' AND version = 2)
          AND NOT EXISTS (SELECT term, gain, cover, weight FROM mlops.explain('rf_m', 1)
                          EXCEPT SELECT term, gain, cover, weight FROM mlops.explain('rf_m', 2))
          AND NOT EXISTS (SELECT 1 FROM tm t WHERE mlops.predict_proba('rf_m', t, 1) <> mlops.predict_proba('rf_m', t, 2)),
          'two training threads give the same trees as one');

-- ---------------------------------------------------------------------
-- The pipeline's other paths: evaluate, champion comparison
-- ---------------------------------------------------------------------
SELECT is((mlops.evaluate('gbt_r', 'tr', 1))->>'rows', '4000', 'evaluate scores a gbt version on a relation');
SELECT ok((SELECT (metrics->'champion'->>'version')::int = 1
             FROM mlops.train('gbt_r', 'tr', 'y', algorithm => 'random_forest',
                              features => ARRAY['x1', 'x2', 'x3', 'g'],
                              hyperparams => '{"n_estimators": 10, "max_depth": 2}')),
          'a new version is compared with the gbt champion on the same held-out rows');

-- ---------------------------------------------------------------------
-- A forest against one tree of the same depth, on the same rows
-- ---------------------------------------------------------------------
CREATE TEMP TABLE one_tree AS
SELECT * FROM mlops.train('tree_one', 'tr', 'y', algorithm => 'gbt', features => ARRAY['x1', 'x2', 'x3', 'g'],
                          hyperparams => '{"n_estimators": 1, "learning_rate": 1, "max_depth": 3}');
CREATE TEMP TABLE forest AS
SELECT * FROM mlops.train('tree_forest', 'tr', 'y', algorithm => 'random_forest',
                          features => ARRAY['x1', 'x2', 'x3', 'g'], hyperparams => '{"max_depth": 3}');
SELECT ok((SELECT (metrics->>'r2')::float8 FROM forest) > (SELECT (metrics->>'r2')::float8 FROM one_tree),
          'a random forest beats a single tree of the same depth');

-- ---------------------------------------------------------------------
-- The closed loop with gbt: drift queues a retrain, which trains gbt again
-- with the production version's settings and compares on the same rows
-- ---------------------------------------------------------------------
CREATE TABLE tr_shifted AS SELECT i, x1 + 2 AS x1, x2 + 2 AS x2, x3 + 2 AS x3, g, f, y FROM tr;
SELECT is((SELECT verdict FROM mlops.check_drift('gbt_r', 'tr_shifted')), 'drift',
          'gbt project: shifted features are drift');
CREATE TEMP TABLE gbt_retrain AS SELECT * FROM mlops.retrain('gbt_r');
SELECT is((SELECT row(v.algorithm, v.hyperparams = p.hyperparams, q.status IN ('deployed', 'rejected'))::text
             FROM gbt_retrain q
             JOIN mlops.model_versions v ON v.project = 'gbt_r' AND v.version = q.challenger_version
             JOIN mlops.model_versions p ON p.project = 'gbt_r' AND p.version = q.champion_version),
          '(gbt,t,t)', 'the retrain trained gbt with the champion''s hyperparameters and decided');

SELECT * FROM finish();
ROLLBACK;
