-- Regression algorithms through mlops.train / mlops.explain: ordinary least
-- squares against its closed form (regr_* aggregates), ridge shrinkage and
-- its closed form for one feature, lasso and elastic net against their
-- closed forms for one feature and the lasso's selection of features,
-- rank-deficient one-hot designs, and the algorithm lookup errors.
--
-- The data come from a seeded generator, so every run sees the same rows.
-- test_size => 1e-9 puts (with overwhelming probability, and asserted) every
-- row in the training split, so closed forms over the whole table apply.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
\ir lib/helpers.sql
BEGIN;
SELECT plan(33);

SELECT setseed(0.25);
CREATE TABLE alg_reg AS
SELECT i, x1, x2, x3, 3 + 2 * x1 - 1.5 * x2 + 0.5 * e AS y
  FROM (SELECT i, 5 + 2 * pg_temp.gauss() AS x1, 6 * random() - 3 AS x2, pg_temp.gauss() AS x3,
               pg_temp.gauss() AS e
          FROM generate_series(1, 2000) AS i) AS s;

-- Coefficients, standard errors... of version 1 of a project, by term
CREATE FUNCTION pg_temp.ex(project text, t text)
RETURNS TABLE (coefficient float8, std_error float8, statistic float8,
               p_value float8, importance float8)
LANGUAGE sql AS $$
    SELECT coefficient, std_error, statistic, p_value, importance
      FROM mlops.explain(project, 1) WHERE term = t
$$;

-- Relative difference, safe around zero
CREATE FUNCTION pg_temp.rel(a float8, b float8) RETURNS float8
LANGUAGE sql AS $$ SELECT abs(a - b) / greatest(abs(b), 1e-12) $$;

-- ---------------------------------------------------------------------
-- OLS, one feature: exactly the closed form
-- ---------------------------------------------------------------------
SELECT is((SELECT train_rows FROM mlops.train('ols1', 'alg_reg', 'y', algorithm => 'linear',
                                              features => ARRAY['x1'], test_size => 1e-9)),
          2000::bigint, 'every row is in the training split');

CREATE TEMP TABLE ols1 AS
SELECT regr_slope(y, x1) AS b1, regr_intercept(y, x1) AS b0,
       regr_count(y, x1) AS n, regr_sxx(y, x1) AS sxx, regr_avgx(y, x1) AS xbar,
       (regr_syy(y, x1) - regr_sxy(y, x1) ^ 2 / regr_sxx(y, x1)) / (regr_count(y, x1) - 2) AS s2
  FROM alg_reg;

SELECT ok((SELECT pg_temp.rel(coefficient, b1) < 1e-9 FROM pg_temp.ex('ols1', 'x1'), ols1),
          'OLS slope equals regr_slope');
SELECT ok((SELECT pg_temp.rel(coefficient, b0) < 1e-9 FROM pg_temp.ex('ols1', 'intercept'), ols1),
          'OLS intercept equals regr_intercept');
SELECT ok((SELECT pg_temp.rel(std_error, sqrt(s2 / sxx)) < 1e-8 FROM pg_temp.ex('ols1', 'x1'), ols1),
          'OLS slope standard error equals sqrt(s^2 / Sxx)');
SELECT ok((SELECT pg_temp.rel(std_error, sqrt(s2 * (1.0 / n + xbar ^ 2 / sxx))) < 1e-8
             FROM pg_temp.ex('ols1', 'intercept'), ols1),
          'OLS intercept standard error equals sqrt(s^2 (1/n + xbar^2 / Sxx))');
SELECT ok((SELECT pg_temp.rel(statistic, coefficient / std_error) < 1e-12 AND p_value < 1e-100
             FROM pg_temp.ex('ols1', 'x1')),
          'OLS t statistic is coefficient / std error, and a strong effect has a tiny p-value');

-- ---------------------------------------------------------------------
-- OLS, three features: recovers the generating coefficients
-- ---------------------------------------------------------------------
SELECT lives_ok($$SELECT mlops.train('ols3', 'alg_reg', 'y', algorithm => 'linear',
                                     features => ARRAY['x1', 'x2', 'x3'], test_size => 1e-9)$$,
                'OLS trains on three features');
SELECT ok((SELECT abs(coefficient - 2) < 0.03 FROM pg_temp.ex('ols3', 'x1')), 'OLS recovers 2 for x1');
SELECT ok((SELECT abs(coefficient + 1.5) < 0.03 FROM pg_temp.ex('ols3', 'x2')), 'OLS recovers -1.5 for x2');
SELECT ok((SELECT abs(coefficient - 3) < 0.15 FROM pg_temp.ex('ols3', 'intercept')), 'OLS recovers the intercept 3');
SELECT ok((SELECT abs(coefficient) < 3 * std_error AND p_value > 0.001 FROM pg_temp.ex('ols3', 'x3')),
          'OLS finds no effect of the irrelevant x3');
SELECT ok((SELECT abs(std_error / 0.5 * sqrt(2000 * (SELECT var_pop(x2) FROM alg_reg)) - 1) < 0.1
             FROM pg_temp.ex('ols3', 'x2')),
          'OLS standard error of x2 is close to sigma / sqrt(n var(x2))');

-- ---------------------------------------------------------------------
-- Ridge: equals OLS at alpha 0, shrinks monotonically, closed form
-- ---------------------------------------------------------------------
SELECT lives_ok($$SELECT mlops.train('ridge0', 'alg_reg', 'y', algorithm => 'ridge',
                                     hyperparams => '{"alpha": 0}',
                                     features => ARRAY['x1', 'x2', 'x3'], test_size => 1e-9)$$,
                'ridge trains with alpha 0');
SELECT ok((SELECT bool_and(pg_temp.rel(r.coefficient, o.coefficient) < 1e-8)
             FROM mlops.explain('ridge0', 1) r JOIN mlops.explain('ols3', 1) o USING (term)),
          'ridge with alpha 0 gives the OLS coefficients on the original scale');

CREATE TEMP TABLE ridge_path AS
SELECT * FROM pg_temp.alpha_path('ridge_', 'alg_reg', 'y', 'ridge', ARRAY['x1', 'x2', 'x3'],
                                 ARRAY[0.1, 10, 100, 1000, 10000], test_size => 1e-9);
SELECT ok((SELECT bool_and(norm < prev)
             FROM (SELECT norm, lag(norm) OVER (ORDER BY alpha) AS prev FROM ridge_path) s
            WHERE prev IS NOT NULL),
          'ridge shrinks the standardised coefficients monotonically as alpha grows');
SELECT ok((SELECT norm FROM ridge_path WHERE alpha = 10000) <
          0.5 * (SELECT norm FROM ridge_path WHERE alpha = 0.1),
          'a large alpha shrinks a lot');

-- one standardised feature: slope = OLS slope * n / (n + alpha)
SELECT lives_ok($$SELECT mlops.train('ridge1', 'alg_reg', 'y', algorithm => 'ridge',
                                     hyperparams => '{"alpha": 500}',
                                     features => ARRAY['x1'], test_size => 1e-9)$$,
                'ridge trains on one feature');
SELECT ok((SELECT pg_temp.rel(coefficient, b1 * n / (n + 500)) < 1e-9 FROM pg_temp.ex('ridge1', 'x1'), ols1),
          'ridge slope on one feature equals b_ols n / (n + alpha)');
SELECT ok((SELECT pg_temp.rel(coefficient, (SELECT avg(y) FROM alg_reg) - b1 * n / (n + 500) * xbar) < 1e-9
             FROM pg_temp.ex('ridge1', 'intercept'), ols1),
          'ridge intercept is unpenalised: mean(y) - slope mean(x)');

-- ---------------------------------------------------------------------
-- Lasso and elastic net
-- ---------------------------------------------------------------------
-- one standardised feature: b = S(c, alpha l1) / (1 + alpha (1 - l1)), c = cov(x, y) / sd(x)
CREATE TEMP TABLE cd1 AS
SELECT covar_pop(x1, y) / stddev_pop(x1) AS c, stddev_pop(x1) AS sd FROM alg_reg;
SELECT lives_ok($$SELECT mlops.train('lasso1', 'alg_reg', 'y', algorithm => 'lasso',
                                     hyperparams => '{"alpha": 0.7}',
                                     features => ARRAY['x1'], test_size => 1e-9)$$,
                'lasso trains on one feature');
SELECT ok((SELECT pg_temp.rel(coefficient, (c - 0.7) / sd) < 1e-9 FROM pg_temp.ex('lasso1', 'x1'), cd1),
          'lasso slope on one feature is the soft-thresholded covariance');
SELECT lives_ok($$SELECT mlops.train('enet1', 'alg_reg', 'y', algorithm => 'elastic_net',
                                     hyperparams => '{"alpha": 0.7, "l1_ratio": 0.3}',
                                     features => ARRAY['x1'], test_size => 1e-9)$$,
                'elastic net trains on one feature');
SELECT ok((SELECT pg_temp.rel(coefficient, (c - 0.7 * 0.3) / (1 + 0.7 * 0.7) / sd) < 1e-9
             FROM pg_temp.ex('enet1', 'x1'), cd1),
          'elastic net slope on one feature is S(c, alpha l1_ratio) / (1 + alpha (1 - l1_ratio))');

SELECT lives_ok($$SELECT mlops.train('lasso3', 'alg_reg', 'y', algorithm => 'lasso',
                                     hyperparams => '{"alpha": 0.1}',
                                     features => ARRAY['x1', 'x2', 'x3'], test_size => 1e-9)$$,
                'lasso trains on three features');
SELECT is((SELECT coefficient FROM pg_temp.ex('lasso3', 'x3')), 0::float8,
          'lasso sets the irrelevant x3 to exactly zero');
SELECT ok((SELECT bool_and(abs(coefficient - t) < 0.1)
             FROM mlops.explain('lasso3', 1)
             JOIN (VALUES ('x1', 2 - 0.1 / 2), ('x2', -1.5 + 0.1 / sqrt(3))) v(term, t) USING (term)),
          'lasso keeps x1 and x2, shrunk by about alpha / sd');
SELECT lives_ok($$SELECT mlops.train('lasso_all', 'alg_reg', 'y', algorithm => 'lasso',
                                     hyperparams => '{"alpha": 1000}', features => ARRAY['x1', 'x2'],
                                     test_size => 1e-9)$$,
                'lasso trains with a huge alpha');
SELECT ok((SELECT bool_and(coefficient = 0) FROM mlops.explain('lasso_all', 1) WHERE term <> 'intercept')
          AND (SELECT pg_temp.rel(coefficient, (SELECT avg(y) FROM alg_reg)) < 1e-12
                 FROM pg_temp.ex('lasso_all', 'intercept')),
          'a huge lasso alpha leaves only the intercept, the mean of y');

-- ---------------------------------------------------------------------
-- Rank deficiency: one-hot groups are collinear with the intercept
-- ---------------------------------------------------------------------
CREATE TABLE alg_cat AS
SELECT x1, x2, g, y + CASE g WHEN 'a' THEN 0.5 WHEN 'b' THEN -1 ELSE 2 END AS y
  FROM (SELECT x1, x2, y, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS g FROM alg_reg) s;
SELECT lives_ok($$SELECT mlops.train('olscat', 'alg_cat', 'y', algorithm => 'linear', test_size => 1e-9)$$,
                'OLS trains on a design with a one-hot group and an intercept');
SELECT is((SELECT count(*) FROM mlops.explain('olscat', 1)
            WHERE term LIKE 'g=%' AND coefficient IS NULL AND std_error IS NULL),
          2::bigint, 'one level and the <other> column are aliased (NULL), as in R');
SELECT ok((SELECT abs((coalesce(max(coefficient) FILTER (WHERE term = 'g=a'), 0)
                      - coalesce(max(coefficient) FILTER (WHERE term = 'g=b'), 0)) - 1.5) < 0.1
                  AND abs((coalesce(max(coefficient) FILTER (WHERE term = 'g=c'), 0)
                      - coalesce(max(coefficient) FILTER (WHERE term = 'g=b'), 0)) - 3) < 0.1
             FROM mlops.explain('olscat', 1)),
          'the estimable level differences are recovered');

-- ---------------------------------------------------------------------
-- Algorithm lookup
-- ---------------------------------------------------------------------
SELECT throws_ok($$SELECT mlops.train('bad', 'alg_reg', 'y', algorithm => 'nope')$$,
                 '22023', 'unknown algorithm "nope"', 'an unknown algorithm is an error');
SELECT throws_ok($$SELECT mlops.train('bad', 'alg_reg', 'y', algorithm => 'logistic')$$,
                 '22023', 'algorithm "logistic" does not support regression',
                 'an algorithm of another task is an error');

SELECT * FROM finish();
ROLLBACK;
