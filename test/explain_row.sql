-- mlops.explain_row: each feature's contribution to one prediction, for
-- every algorithm, adds up to the prediction in margin space: the value
-- (regression), the log-odds of the last class (binary), or per class a
-- score whose softmax is predict_proba (multiclass).  Trees use XGBoost's
-- TreeSHAP; linear models coefficient times the centred value.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(13);
SELECT setseed(0.5);

CREATE TABLE te AS
SELECT i, x1, CASE WHEN i % 11 = 0 THEN NULL ELSE x2 END AS x2, g,
       2 * x1 - x2 + (g = 'a')::int + 0.3 * random() AS y,
       x1 + 0.5 * random() > 0.7 AS yes,
       CASE WHEN x1 < 0.3 THEN 'k' WHEN x2 > 0.5 THEN 'l' ELSE 'm' END AS cls
  FROM (SELECT i, random() AS x1, random() AS x2, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS g
          FROM generate_series(1, 2000) i) s;
CREATE TEMP TABLE sample AS SELECT * FROM te WHERE i % 97 = 0;

SELECT (SELECT version FROM mlops.train('xr_' || a, 'te', 'y', algorithm => a,
                                        features => ARRAY['x1', 'x2', 'g'], hyperparams => h::jsonb))
  FROM (VALUES ('gbt', '{"n_estimators": 20}'), ('random_forest', '{"n_estimators": 10}'),
               ('linear', '{}'), ('ridge', '{}'), ('lasso', '{"alpha": 0.01}')) v(a, h);
SELECT (SELECT version FROM mlops.train('xb_' || a, 'te', 'yes', algorithm => a,
                                        features => ARRAY['x1', 'x2', 'g'], hyperparams => h::jsonb))
  FROM (VALUES ('gbt', '{"n_estimators": 20}'), ('logistic', '{}'), ('naive_bayes', '{}')) v(a, h);
SELECT (SELECT version FROM mlops.train('xm_' || a, 'te', 'cls', algorithm => a,
                                        features => ARRAY['x1', 'x2', 'g'], hyperparams => h::jsonb))
  FROM (VALUES ('gbt', '{"n_estimators": 20}'), ('logistic', '{}'), ('naive_bayes', '{}')) v(a, h);

-- regression: the contributions and the bias add up to predict
SELECT ok((SELECT bool_and(abs((SELECT sum(contribution) FROM mlops.explain_row(p, s)) - mlops.predict(p, s)) < 1e-5)
             FROM sample s),
          p || ': contributions add up to the prediction')
  FROM unnest(ARRAY['xr_gbt', 'xr_random_forest', 'xr_linear', 'xr_ridge', 'xr_lasso']) p;
SELECT is((SELECT array_agg(term ORDER BY term) FROM mlops.explain_row('xr_gbt', s)),
          ARRAY['<bias>', 'g', 'x1', 'x2'], 'a row per feature (one-hot columns summed) and the bias')
  FROM sample s LIMIT 1;

-- binary: they add up to the log-odds of the last class
SELECT ok((SELECT bool_and(abs((SELECT sum(contribution) FROM mlops.explain_row(p, s) WHERE class = 'true')
                              - ln(pr[2] / pr[1])) < 1e-4)
             FROM (SELECT s, mlops.predict_proba(p, s) AS pr FROM sample s) q),
          p || ': contributions add up to the log-odds of true')
  FROM unnest(ARRAY['xb_gbt', 'xb_logistic']) p;

-- multiclass: per class a score whose softmax is predict_proba
SELECT ok((SELECT bool_and(ok) FROM (
             SELECT abs(exp(sc.score) / sum(exp(sc.score)) OVER (PARTITION BY sc.i)
                        - (mlops.predict_proba(p, s))[array_position(c.classes, sc.class)]) < 1e-5 AS ok
               FROM sample s
               JOIN LATERAL (SELECT s.i, e.class, sum(e.contribution) AS score
                               FROM mlops.explain_row(p, s) e GROUP BY e.class) sc ON true,
                    mlops.model_versions c
              WHERE c.project = p) z),
          p || ': the softmax of the class scores is predict_proba')
  FROM unnest(ARRAY['xm_gbt', 'xb_naive_bayes', 'xm_naive_bayes']) p;
-- multinomial logistic scores the classes against the first (score 0)
SELECT ok((SELECT bool_and(ok) FROM (
             SELECT abs(exp(sc.score) / (1 + sum(exp(sc.score)) OVER (PARTITION BY sc.i))
                        - (mlops.predict_proba('xm_logistic', s))[array_position(ARRAY['k', 'l', 'm'], sc.class)]) < 1e-9 AS ok
               FROM sample s
               JOIN LATERAL (SELECT s.i, e.class, sum(e.contribution) AS score
                               FROM mlops.explain_row('xm_logistic', s) e GROUP BY e.class) sc ON true) z),
          'multinomial logistic: the classes but the first, against it');
SELECT throws_ok($$SELECT * FROM mlops.explain_row('nope', (SELECT s FROM sample s LIMIT 1))$$, '42704', NULL,
                 'an unknown project is an error');

SELECT * FROM finish();
ROLLBACK;
