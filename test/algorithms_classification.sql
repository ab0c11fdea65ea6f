-- Classification algorithms through mlops.train / mlops.explain /
-- mlops.predict_proba: logistic regression (binary against the Bayes
-- accuracy of the generator and the likelihood equations, regularisation,
-- aliasing, multinomial on separated classes) and naive Bayes (against the
-- Bayes accuracy of its own generative model and its closed form).
--
-- Data come from a seeded generator; test_size => 1e-9 (asserted) puts
-- every row in the training split where a closed form needs all rows.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
\ir lib/helpers.sql
BEGIN;
SELECT plan(29);

-- ---------------------------------------------------------------------
-- Binary logistic regression
-- ---------------------------------------------------------------------
SELECT setseed(0.5);
CREATE TABLE alg_bin AS
SELECT i, x1, x2, x3, g, p, random() < p AS label
  FROM (SELECT i, x1, x2, x3, g, 1 / (1 + exp(-(0.5 + 2 * x1 - x2))) AS p
          FROM (SELECT i, pg_temp.gauss() AS x1, pg_temp.gauss() AS x2, pg_temp.gauss() AS x3,
                       (ARRAY['a', 'b', 'c'])[1 + i % 3] AS g
                  FROM generate_series(1, 3000) AS i) s) t;

CREATE TEMP TABLE lg AS
SELECT * FROM mlops.train('lg', 'alg_bin', 'label', algorithm => 'logistic',
                          features => ARRAY['x1', 'x2', 'x3']);
SELECT ok((SELECT (metrics->>'accuracy')::float8 FROM lg) >=
          (SELECT avg(greatest(p, 1 - p)) FROM alg_bin) - 0.04,
          'logistic held-out accuracy is within 0.04 of the Bayes accuracy of the generator');
SELECT is((SELECT array_agg(term || '/' || class ORDER BY term) FROM mlops.explain('lg', 1)),
          ARRAY['intercept/true', 'x1/true', 'x2/true', 'x3/true'],
          'binary explain has one block, the log-odds of the second class');
SELECT ok((SELECT bool_and(abs(coefficient - t) < 4 * std_error AND std_error < 0.15)
             FROM mlops.explain('lg', 1)
             JOIN (VALUES ('intercept', 0.5), ('x1', 2.0), ('x2', -1.0), ('x3', 0.0)) v(term, t) USING (term)),
          'logistic coefficients are within 4 standard errors of the generating ones');
SELECT ok((SELECT bool_and(abs(statistic - coefficient / std_error) < 1e-9
                           AND p_value BETWEEN 0 AND 1)
             FROM mlops.explain('lg', 1)),
          'z statistics are coefficient / std error with p-values in [0, 1]');
SELECT ok((SELECT p_value < 1e-30 FROM mlops.explain('lg', 1) WHERE term = 'x1'),
          'the strong effect of x1 is highly significant');

-- maximum likelihood (alpha 0) on every row: the score equations hold
SELECT is((SELECT train_rows FROM mlops.train('lg0', 'alg_bin', 'label', algorithm => 'logistic',
                                              hyperparams => '{"alpha": 0}',
                                              features => ARRAY['x1', 'x2', 'x3'], test_size => 1e-9)),
          3000::bigint, 'every row is in the training split');
SELECT ok((SELECT abs(sum(r)) / count(*) < 1e-8 AND abs(sum(r * x1)) / count(*) < 1e-8
                  AND abs(sum(r * x2)) / count(*) < 1e-8 AND abs(sum(r * x3)) / count(*) < 1e-8
             FROM (SELECT x1, x2, x3, (mlops.predict_proba('lg0', t))[2] - label::int AS r
                     FROM alg_bin t) s),
          'at alpha 0 the fitted probabilities satisfy X^T (p - y) = 0');

-- From 100,000 training rows Newton's method starts from the solution on
-- an eighth of them; it must still end at the optimum of all of them.
CREATE TABLE alg_big AS
SELECT x1, x2, random() < 1 / (1 + exp(-(0.3 + x1 - 0.5 * x2))) AS label
  FROM (SELECT pg_temp.gauss() AS x1, pg_temp.gauss() AS x2
          FROM generate_series(1, 120000)) s;
CREATE TEMP TABLE lgbig AS
SELECT * FROM mlops.train('lgbig', 'alg_big', 'label', algorithm => 'logistic',
                          hyperparams => '{"alpha": 0}', features => ARRAY['x1', 'x2'],
                          test_size => 1e-9);
SELECT ok((SELECT abs(sum(r)) / count(*) < 1e-8 AND abs(sum(r * x1)) / count(*) < 1e-8
                  AND abs(sum(r * x2)) / count(*) < 1e-8 AND count(*) = 120000
             FROM (SELECT x1, x2, (mlops.predict_proba('lgbig', t))[2] - label::int AS r
                     FROM alg_big t) s),
          'warm-started on a sample, the fit still solves the score equations of every row');

-- one feature at alpha 0: standard errors are those of the inverse Fisher
-- information [sum w, sum w x; sum w x, sum w x^2]^-1, w = p (1 - p), up to
-- the last (tiny) Newton step taken after the Hessian was formed
SELECT lives_ok($$SELECT mlops.train('lg1', 'alg_bin', 'label', algorithm => 'logistic',
                                     hyperparams => '{"alpha": 0}',
                                     features => ARRAY['x1'], test_size => 1e-9)$$,
                'maximum-likelihood logistic regression trains on one feature');
SELECT ok((SELECT abs(se1 / sqrt(a / (a * c - b * b)) - 1) < 1e-4
                  AND abs(se0 / sqrt(c / (a * c - b * b)) - 1) < 1e-4
             FROM (SELECT sum(w) AS a, sum(w * x1) AS b, sum(w * x1 * x1) AS c
                     FROM (SELECT x1, pp * (1 - pp) AS w
                             FROM (SELECT x1, (mlops.predict_proba('lg1', t))[2] AS pp FROM alg_bin t) s) s2) f,
                  (SELECT max(std_error) FILTER (WHERE term = 'x1') AS se1,
                          max(std_error) FILTER (WHERE term = 'intercept') AS se0
                     FROM mlops.explain('lg1', 1)) e),
          'logistic standard errors equal the inverse Fisher information');

-- regularisation shrinks
CREATE TEMP TABLE lg_path AS
SELECT * FROM pg_temp.alpha_path('lg_', 'alg_bin', 'label', 'logistic', ARRAY['x1', 'x2', 'x3'],
                                 ARRAY[0, 0.01, 0.1, 1]);
SELECT ok((SELECT bool_and(norm < prev)
             FROM (SELECT norm, lag(norm) OVER (ORDER BY alpha) AS prev FROM lg_path) s
            WHERE prev IS NOT NULL),
          'a larger alpha gives smaller standardised coefficients');

-- a one-hot group plus the intercept is rank deficient at alpha 0
SELECT lives_ok($$SELECT mlops.train('lgcat', 'alg_bin', 'label', algorithm => 'logistic',
                                     hyperparams => '{"alpha": 0}',
                                     features => ARRAY['x1', 'x2', 'g'])$$,
                'unpenalised logistic regression trains with a one-hot group');
SELECT is((SELECT count(*) FROM mlops.explain('lgcat', 1) WHERE term LIKE 'g=%' AND coefficient IS NULL),
          2::bigint, 'one level and the <other> column are aliased');
SELECT ok((SELECT bool_and(abs(coefficient - t) < 4 * std_error)
             FROM mlops.explain('lgcat', 1)
             JOIN (VALUES ('x1', 2.0), ('x2', -1.0)) v(term, t) USING (term)),
          'the other coefficients are still estimated');

-- ---------------------------------------------------------------------
-- Multinomial logistic regression
-- ---------------------------------------------------------------------
CREATE TABLE alg_multi AS
SELECT c, cx + pg_temp.gauss() AS x1, cy + pg_temp.gauss() AS x2
  FROM (SELECT i, (ARRAY['red', 'green', 'blue'])[1 + i % 3] AS c,
               (ARRAY[0, 5, 0])[1 + i % 3] AS cx, (ARRAY[0, 0, 5])[1 + i % 3] AS cy
          FROM generate_series(1, 1500) AS i) s;
CREATE TEMP TABLE mn AS
SELECT * FROM mlops.train('mn', 'alg_multi', 'c', algorithm => 'logistic');
SELECT ok((SELECT (metrics->>'accuracy')::float8 FROM mn) >= 0.95,
          'multinomial accuracy on three separated classes is at least 0.95');
SELECT ok((SELECT avg((mlops.predict_label('mn', t) = c)::int) FROM alg_multi t) >= 0.95,
          'predict_label agrees with the class on at least 95% of the rows');
SELECT is((SELECT array_agg(class || ':' || term ORDER BY class, term) FROM mlops.explain('mn', 1)),
          ARRAY['green:intercept', 'green:x1', 'green:x2', 'red:intercept', 'red:x1', 'red:x2'],
          'multinomial explain has a block per class but the first (blue, the reference)');
SELECT ok((SELECT bool_and(CASE term WHEN 'x1' THEN coefficient > 0 ELSE coefficient < 0 END
                           AND p_value < 1e-6)
             FROM mlops.explain('mn', 1) WHERE (class, term) IN (('green', 'x1'), ('red', 'x2'))),
          'against blue (high x2), green rises with x1 and red falls with x2');
SELECT ok((SELECT bool_and(abs(s - 1) < 1e-12 AND lo >= 0)
             FROM (SELECT (SELECT sum(v) FROM unnest(pp) v) AS s, (SELECT min(v) FROM unnest(pp) v) AS lo
                     FROM (SELECT mlops.predict_proba('mn', t) AS pp FROM alg_multi t) a) b),
          'multinomial probabilities are non-negative and sum to 1');

-- a class of 6 rows in 120,000 is likely absent from the warm start's
-- sample; the fit must still reach the optimum: with unpenalised
-- intercepts, each class's fitted probabilities sum to its count
CREATE TABLE alg_rare AS
SELECT x1, x2, CASE WHEN i % 20000 = 0 THEN 'rare' WHEN x1 + random() > 0.5 THEN 'b' ELSE 'a' END AS cls
  FROM (SELECT i, random() AS x1, random() AS x2 FROM generate_series(1, 120000) AS i) s;
CREATE TEMP TABLE rare AS
SELECT * FROM mlops.train('rare', 'alg_rare', 'cls', algorithm => 'logistic',
                          features => ARRAY['x1', 'x2'], test_size => 1e-9);
SELECT ok((SELECT max(score) < 1e-8
             FROM (SELECT k, abs(sum(p[k] - (cls = (ARRAY['a', 'b', 'rare'])[k])::int)) / count(*) AS score
                     FROM (SELECT mlops.predict_proba('rare', t) AS p, cls FROM alg_rare t) s,
                          generate_series(1, 3) AS k
                    GROUP BY k) g),
          'with a class missing from the warm start''s sample, the intercept score equations still hold');

-- ---------------------------------------------------------------------
-- Naive Bayes
-- ---------------------------------------------------------------------
-- A: x1 ~ N(0, 1), x2 ~ N(0, 1), c ~ (u .6, v .3, w .1); B: x1 ~ N(2, 1),
-- x2 ~ N(0, 3^2), c ~ (u .2, v .3, w .5); x3 ~ N(0, 1) for both; P(B) = .6
CREATE TABLE alg_nb AS
SELECT i, k,
       CASE k WHEN 'A' THEN pg_temp.gauss() ELSE 2 + pg_temp.gauss() END AS x1,
       CASE k WHEN 'A' THEN pg_temp.gauss() ELSE 3 * pg_temp.gauss() END AS x2,
       pg_temp.gauss() AS x3,
       CASE WHEN u < CASE k WHEN 'A' THEN 0.6 ELSE 0.2 END THEN 'u'
            WHEN u < CASE k WHEN 'A' THEN 0.9 ELSE 0.5 END THEN 'v' ELSE 'w' END AS c
  FROM (SELECT i, CASE WHEN random() < 0.6 THEN 'B' ELSE 'A' END AS k, random() AS u
          FROM generate_series(1, 3000) AS i) s;

-- the true posterior P(B | x1, x2, c), for the Bayes accuracy
CREATE FUNCTION pg_temp.post_b(x1 float8, x2 float8, c text) RETURNS float8 LANGUAGE sql AS $$
    SELECT lb / (la + lb)
      FROM (SELECT 0.4 * exp(-(x1 ^ 2) / 2) * exp(-(x2 ^ 2) / 2)
                       * CASE c WHEN 'u' THEN 0.6 WHEN 'v' THEN 0.3 ELSE 0.1 END AS la,
                   0.6 * exp(-((x1 - 2) ^ 2) / 2) * exp(-(x2 ^ 2) / 18) / 3
                       * CASE c WHEN 'u' THEN 0.2 WHEN 'v' THEN 0.3 ELSE 0.5 END AS lb) s
$$;

CREATE TEMP TABLE nb AS
SELECT * FROM mlops.train('nb', 'alg_nb', 'k', algorithm => 'naive_bayes',
                          features => ARRAY['x1', 'x2', 'x3', 'c']);
SELECT ok((SELECT (metrics->>'accuracy')::float8 FROM nb) >=
          (SELECT avg(greatest(p, 1 - p)) FROM (SELECT pg_temp.post_b(x1, x2, c) AS p FROM alg_nb) s) - 0.04,
          'naive Bayes held-out accuracy is within 0.04 of the Bayes accuracy');
SELECT is((SELECT array_agg(term ORDER BY term) FROM mlops.explain('nb', 1)
            WHERE coefficient IS NULL AND std_error IS NULL AND importance BETWEEN 0 AND 1),
          ARRAY['c', 'x1', 'x2', 'x3'],
          'naive Bayes explains one row per feature, an importance in [0, 1] and no coefficients');
SELECT ok((SELECT max(importance) FILTER (WHERE term = 'x3') < 0.01
                  AND max(importance) FILTER (WHERE term = 'x1') > 0.3
                  AND max(importance) FILTER (WHERE term = 'x2') > 0.1
                  AND max(importance) FILTER (WHERE term = 'c') > 0.1
             FROM mlops.explain('nb', 1)),
          'features informative by their mean (x1), spread (x2) or frequencies (c) rank above the irrelevant x3');
SELECT ok((SELECT avg(abs((mlops.predict_proba('nb', t))[2] - pg_temp.post_b(x1, x2, c))) < 0.03
             FROM alg_nb t),
          'naive Bayes probabilities are close to the true posterior');

-- closed form on every row: Gaussian class densities with population
-- variances, Laplace-smoothed categories (width 4: u, v, w and <other>)
SELECT is((SELECT train_rows FROM mlops.train('nb1', 'alg_nb', 'k', algorithm => 'naive_bayes',
                                              hyperparams => '{"var_smoothing": 0, "alpha": 2}',
                                              features => ARRAY['x1', 'c'], test_size => 1e-9)),
          3000::bigint, 'every row is in the training split');
CREATE TEMP TABLE nbstat AS
SELECT k, count(*)::float8 / 3000 AS prior, avg(x1) AS mu, var_pop(x1) AS var,
       (count(*) FILTER (WHERE c = 'w') + 2.0) / (count(*) + 2.0 * 4) AS pw,
       2.0 / (count(*) + 2.0 * 4) AS pother
  FROM alg_nb GROUP BY k;
CREATE TEMP TABLE nbq (x1 float8, c text);
INSERT INTO nbq VALUES (0.7, 'w'), (0.7, 'never seen');
SELECT ok((SELECT abs((SELECT (mlops.predict_proba('nb1', q))[2] FROM nbq q WHERE c = 'w') -
                      b / (a + b)) < 1e-12
             FROM (SELECT max(l) FILTER (WHERE k = 'A') AS a, max(l) FILTER (WHERE k = 'B') AS b
                     FROM (SELECT k, prior * exp(-((0.7 - mu) ^ 2) / (2 * var)) / sqrt(2 * pi() * var) * pw AS l
                             FROM nbstat) s) t),
          'naive Bayes probability equals the closed form');
SELECT ok((SELECT abs((SELECT (mlops.predict_proba('nb1', q))[2] FROM nbq q WHERE c = 'never seen') -
                      b / (a + b)) < 1e-12
             FROM (SELECT max(l) FILTER (WHERE k = 'A') AS a, max(l) FILTER (WHERE k = 'B') AS b
                     FROM (SELECT k, prior * exp(-((0.7 - mu) ^ 2) / (2 * var)) / sqrt(2 * pi() * var) * pother AS l
                             FROM nbstat) s) t),
          'an unseen category gets the smoothed probability of <other>');

-- ---------------------------------------------------------------------
-- Algorithm lookup
-- ---------------------------------------------------------------------
SELECT throws_ok($$SELECT mlops.train('bad', 'alg_bin', 'label', algorithm => 'linear')$$,
                 '22023', 'algorithm "linear" does not support classification',
                 'a regression algorithm for classification is an error');
SELECT throws_ok($$SELECT mlops.train('bad', 'alg_bin', 'label', algorithm => 'kmeans')$$,
                 '22023', 'algorithm "kmeans" does not support classification',
                 'a clustering algorithm for classification is an error');

SELECT * FROM finish();
ROLLBACK;
