-- Exact moments: mlops.linear_moments gives the same bytes for the same rows
-- in any order and split (serial, combined by hand, parallel workers); linear
-- and ridge training fit from those moments, so the model bytes are the same
-- whether training sums the rows it read or the aggregate queries do
-- (mlops.pushdown_moments), and in any physical order; mlops.regression_metrics
-- gives the stored metrics; the aggregates have the shape Citus pushes down;
-- crafted states are refused with an error.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(50);

-- x2 sits at 1e6 with NULLs (imputation, cancellation), x3 is tiny, b is a
-- boolean with NULLs; y has a few NULLs (no part in training)
SELECT setseed(0.5);
CREATE TABLE mo AS
SELECT i, x1, CASE WHEN i % 7 = 0 THEN NULL ELSE x2 END AS x2, x3, b,
       CASE WHEN i % 97 = 0 THEN NULL
            ELSE 2 + 1.5 * x1 - 0.5 * (x2 - 1e6) + 1e4 * x3 + CASE WHEN b THEN 0.7 ELSE 0 END + 0.01 * e END AS y
  FROM (SELECT i, random() * 10 - 5 AS x1, 1e6 + random() AS x2, (random() - 0.5) * 1e-4 AS x3,
               CASE WHEN i % 11 = 0 THEN NULL ELSE random() < 0.3 END AS b,
               random() - 0.5 AS e
          FROM generate_series(1, 6000) i) s;
-- the same rows, inserted in another order
CREATE TABLE mo_shuffled AS SELECT * FROM mo ORDER BY md5(i::text);

CREATE FUNCTION pg_temp.moments(q text) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE r bytea;
BEGIN
    EXECUTE 'SELECT mlops.linear_moments(ARRAY[x1, x2, x3, b::int::float8, y]' || q INTO r;
    RETURN r;
END $$;

-- ---------------------------------------------------------------------
-- The aggregate: exact, so the same bytes in any order and split
-- ---------------------------------------------------------------------
SELECT is(pg_temp.moments(' ORDER BY i) FROM mo'), pg_temp.moments(' ORDER BY i DESC) FROM mo'),
          'the moments of the rows in two orders are the same bytes');
SELECT is(pg_temp.moments(' ORDER BY md5(i::text)) FROM mo'), pg_temp.moments(') FROM mo'),
          'and in a third order');
SELECT is(mlops.linear_moments_combine(pg_temp.moments(') FROM mo WHERE i % 2 = 0'),
                                       pg_temp.moments(') FROM mo WHERE i % 2 = 1')),
          pg_temp.moments(') FROM mo'),
          'two halves combined by hand are the whole');
SELECT is(mlops.linear_moments_combine(pg_temp.moments(') FROM mo WHERE i > 5000'),
                                       pg_temp.moments(') FROM mo WHERE i <= 5000')),
          pg_temp.moments(') FROM mo'),
          'unequal parts, combined the other way round, too');
SELECT is(mlops.linear_moments_final(pg_temp.moments(') FROM mo')), pg_temp.moments(') FROM mo'),
          'the final function writes a valid state again unchanged');
SELECT isnt(pg_temp.moments(') FROM mo WHERE i <> 17'), pg_temp.moments(') FROM mo'),
          'one row fewer gives other bytes');
SELECT is(pg_temp.moments(') FROM mo WHERE false'), NULL, 'no row: NULL');

-- parallel workers: partial states combined, the same bytes
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; l text;
BEGIN
    r := '';
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
    RETURN r;
END $$;
SELECT ok(pg_temp.plan_of('SELECT mlops.linear_moments(ARRAY[x1, x2, x3, b::int::float8, y]) FROM mo')
          ~ 'Partial Aggregate', 'the aggregate runs in parallel workers when the planner wants');
SELECT is(pg_temp.moments(') FROM mo'), (SELECT pg_temp.moments(' ORDER BY i) FROM mo')),
          'the parallel aggregate gives the serial bytes');

-- ---------------------------------------------------------------------
-- split_side: the split mlops.train makes
-- ---------------------------------------------------------------------
SELECT lives_ok($$SELECT mlops.train('mo_lin', 'mo', 'y', algorithm => 'linear',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'linear trains on numeric and boolean features with NULLs');
SELECT is((SELECT count(*) FILTER (WHERE mlops.split_side(0.25, 1, x1, x2, x3, b, y) = -1)
             FROM mo WHERE y IS NOT NULL),
          (SELECT test_rows FROM mlops.model_versions WHERE project = 'mo_lin'),
          'split_side holds out as many rows as training did');
SELECT is((SELECT count(*) FILTER (WHERE mlops.split_side(0.25, 1, x1, x2, x3, b, y) >= 0)
             FROM mo WHERE y IS NOT NULL),
          (SELECT train_rows FROM mlops.model_versions WHERE project = 'mo_lin'),
          'and trains on as many');
SELECT is((SELECT array_agg(DISTINCT mlops.split_side(0.25, 3, x1, x2, x3, b, y) ORDER BY
                            mlops.split_side(0.25, 3, x1, x2, x3, b, y)) FROM mo),
          ARRAY[-1, 0, 1, 2], 'with folds, training rows fall in folds 0 .. folds - 1');

-- ---------------------------------------------------------------------
-- Training: the model depends only on the exact moments
-- ---------------------------------------------------------------------
SELECT ok((SELECT abs(coefficient - 1.5) < 0.01 FROM mlops.explain('mo_lin', 1) WHERE term = 'x1')
          AND (SELECT abs(coefficient + 0.5) < 0.02 FROM mlops.explain('mo_lin', 1) WHERE term = 'x2')
          AND (SELECT abs(coefficient - 1e4) < 1e2 FROM mlops.explain('mo_lin', 1) WHERE term = 'x3')
          AND (SELECT abs(coefficient - 0.7) < 0.03 FROM mlops.explain('mo_lin', 1) WHERE term = 'b'),
          'linear recovers the generating coefficients (x2 around 1e6, x3 around 1e-5)');
SELECT ok((SELECT abs((f ->> 'impute')::float8 / m - 1) < 1e-15
             FROM mlops.model_versions, jsonb_array_elements(features) f,
                  (SELECT avg(x2::numeric)::float8 AS m FROM mo
                    WHERE y IS NOT NULL AND mlops.split_side(0.25, 1, x1, x2, x3, b, y) >= 0) a
            WHERE project = 'mo_lin' AND f ->> 'name' = 'x2'),
          'the imputation value of x2 is the mean of its training values (to the last bits)');
SELECT lives_ok($$SELECT mlops.train('mo_lin_shuffled', 'mo_shuffled', 'y', algorithm => 'linear',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'linear trains on the same rows in another physical order');
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_lin_shuffled'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_lin'),
          'the same rows in another physical order give the same model bytes');

SET LOCAL mlops.pushdown_moments = on;
SELECT lives_ok($$SELECT mlops.train('mo_lin_agg', 'mo_shuffled', 'y', algorithm => 'linear',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'linear trains with the moments and metrics from aggregate queries (in parallel)');
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_lin_agg'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_lin'),
          'the aggregate queries give the same model bytes');
SELECT is((SELECT metrics FROM mlops.model_versions WHERE project = 'mo_lin_agg'),
          (SELECT metrics FROM mlops.model_versions WHERE project = 'mo_lin'),
          'and the same metrics');

SELECT lives_ok($$SELECT mlops.train('mo_ridge_agg', 'mo', 'y', algorithm => 'ridge',
                                     hyperparams => '{"alpha": 3}',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'ridge trains from the aggregate queries');
SELECT lives_ok($$SELECT mlops.train('mo_grid_agg', 'mo_shuffled', 'y', algorithm => 'ridge',
                                     search => '{"grid": {"alpha": [0.01, 10, 1000]}, "folds": 3}',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'a ridge search trains from the aggregate queries, grouped by fold');
SET LOCAL mlops.pushdown_moments = off;
SELECT lives_ok($$SELECT mlops.train('mo_ridge', 'mo_shuffled', 'y', algorithm => 'ridge',
                                     hyperparams => '{"alpha": 3}',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'ridge trains from the rows it read');
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_ridge'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_ridge_agg'),
          'ridge: the same model bytes either way');
SELECT lives_ok($$SELECT mlops.train('mo_grid', 'mo', 'y', algorithm => 'ridge',
                                     search => '{"grid": {"alpha": [0.01, 10, 1000]}, "folds": 3}',
                                     features => ARRAY['x1', 'x2', 'x3', 'b'], deploy => 'never')$$,
                'the ridge search trains from the rows it read');
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_grid'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'mo_grid_agg'),
          'the search chooses and fits the same model either way');
SELECT is((SELECT array_agg(mean ORDER BY candidate) FROM mlops.trials WHERE project = 'mo_grid'),
          (SELECT array_agg(mean ORDER BY candidate) FROM mlops.trials WHERE project = 'mo_grid_agg'),
          'with the same cross-validated scores');
SELECT is((SELECT (hyperparams ->> 'alpha')::float8 FROM mlops.model_versions WHERE project = 'mo_grid'),
          0.01::float8, 'the search prefers the smallest penalty on these data');

-- mlops.regression_metrics over the held-out rows: the stored metrics
SELECT is((SELECT mlops.regression_metrics((SELECT model FROM mlops.model_versions WHERE project = 'mo_ridge'),
                                           ARRAY[x1, x2, x3, b::int::float8, y])
             FROM mo WHERE mlops.split_side(0.25, 1, x1, x2, x3, b, y) = -1),
          (SELECT metrics FROM mlops.model_versions WHERE project = 'mo_ridge'),
          'regression_metrics on the held-out rows gives the stored metrics');
SELECT is((SELECT mlops.regression_metrics((SELECT model FROM mlops.model_versions WHERE project = 'mo_ridge'),
                                           ARRAY[x1, x2, x3, b::int::float8, y]) FROM mo WHERE false),
          NULL, 'regression_metrics of no row is NULL');
SELECT is((mlops.evaluate('mo_ridge', 'mo', 1) ->> 'rows')::int, 5939,
          'evaluate scores every row with a target');

-- reproduce: byte-identical, from the snapshot
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('mo_lin', 1)),
          'linear from moments: reproduce gives identical bytes and metrics');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('mo_grid', 1)),
          'ridge search from moments: identical too');
SET LOCAL mlops.pushdown_moments = on;
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('mo_grid', 1)),
          'and with the aggregate queries run over the snapshot');
SET LOCAL mlops.pushdown_moments = off;

-- ---------------------------------------------------------------------
-- The aggregates' shape: what Citus needs to push them down
-- ---------------------------------------------------------------------
SELECT is((SELECT array_agg(a.aggtranstype::regtype::text ORDER BY a.aggfnoid::text)
             FROM pg_aggregate a
            WHERE a.aggfnoid IN ('mlops.linear_moments(float8[])'::regprocedure,
                                 'mlops.regression_metrics(bytea, float8[])'::regprocedure)),
          ARRAY['bytea', 'bytea'], 'both aggregates have a bytea state');
SELECT ok((SELECT bool_and(a.aggcombinefn <> 0 AND a.aggfinalfn <> 0 AND a.aggserialfn = 0)
             FROM pg_aggregate a
            WHERE a.aggfnoid IN ('mlops.linear_moments(float8[])'::regprocedure,
                                 'mlops.regression_metrics(bytea, float8[])'::regprocedure)),
          'both have a combine and a final function');
SELECT ok((SELECT bool_and(p.provariadic = 0 AND p.proparallel = 's' AND
                           NOT (p.proargtypes::oid[] && ARRAY['"any"'::regtype, 'internal'::regtype,
                                                         'anyelement'::regtype, 'record'::regtype]::oid[]))
             FROM pg_proc p
            WHERE p.oid IN ('mlops.linear_moments(float8[])'::regprocedure,
                            'mlops.regression_metrics(bytea, float8[])'::regprocedure)),
          'their arguments are fixed types: no "any", internal or variadic; parallel safe');

-- ---------------------------------------------------------------------
-- Bad input: an error, never a crash
-- ---------------------------------------------------------------------
-- a valid state: p = 0, one row with y = 1
SELECT is(mlops.linear_moments_final('\x4d4c4d3100000000000000000000000000000001000000000000000100000001000000000000000100000001'::bytea),
          (SELECT mlops.linear_moments(ARRAY[1.0]::float8[])),
          'a hand-written state of one row reads back');
SELECT throws_ok($$SELECT mlops.linear_moments_final('\x00'::bytea)$$, '22P03',
                 'invalid mlops.linear_moments state', 'a short state is refused');
SELECT throws_ok($$SELECT mlops.linear_moments_final('\x4d4c4d3100000000000000000000000000000001000000000000000100000001000000000000000100000001ff'::bytea)$$,
                 '22P03', 'invalid mlops.linear_moments state', 'a byte after the end is refused');
SELECT throws_ok($$SELECT mlops.linear_moments_final('\x4d4c4d3100000000000000000000000000000001000000000000000100000000000000000000000100000001'::bytea)$$,
                 '22P03', 'invalid mlops.linear_moments state', 'a zero top digit (not canonical) is refused');
SELECT throws_ok($$SELECT mlops.linear_moments_final('\x4d4c4d3100000000000000000000000000000001000000ff0000000100000001000000000000000100000001'::bytea)$$,
                 '22P03', 'invalid mlops.linear_moments state', 'a sum beyond the range of sums of doubles is refused');
SELECT throws_ok($$SELECT mlops.linear_moments_combine(pg_temp.moments(') FROM mo'),
                                                       '\x4d4c4d310000ffff00000000'::bytea)$$,
                 '22P03', 'invalid mlops.linear_moments state', 'a huge column count is refused before anything is allocated');
SELECT throws_ok($$SELECT mlops.linear_moments_combine(pg_temp.moments(') FROM mo'),
                                                       substr(pg_temp.moments(') FROM mo'), 1, 200))$$,
                 '22P03', 'invalid mlops.linear_moments state', 'a truncated state is refused by combine');
SELECT throws_ok($$SELECT mlops.linear_moments_combine(pg_temp.moments(') FROM mo'),
                                                       mlops.linear_moments(ARRAY[1.0, 1.0]::float8[]))$$,
                 '22023', 'cannot combine linear moments of 4 and 1 x columns', 'states of different widths do not combine');
SELECT throws_ok($$SELECT mlops.regression_metrics_final('\x4d4c4531'::bytea)$$, '22P03',
                 'invalid mlops.regression_metrics state', 'a crafted metrics state is refused');
SELECT throws_ok($$SELECT mlops.linear_moments(CASE WHEN i = 5 THEN ARRAY[1.0] ELSE ARRAY[1.0, 2.0] END::float8[])
                     FROM generate_series(1, 10) i$$,
                 '2202E', 'mlops.linear_moments got arrays of 2 and 1 elements', 'rows of different widths are refused');
SELECT throws_ok($$SELECT mlops.linear_moments(ARRAY['NaN', 1]::float8[])$$, '22023',
                 'mlops.linear_moments input contains NaN', 'NaN is refused (NULL is the missing value)');
SELECT is((SELECT mlops.linear_moments(z) FROM (VALUES (ARRAY[1, 2]::float8[]), (ARRAY[3, NULL]::float8[]),
                                                      (NULL::float8[])) v(z)),
          (SELECT mlops.linear_moments(ARRAY[1, 2]::float8[])),
          'rows with a NULL array or a NULL y are skipped');
SELECT throws_ok($$SELECT mlops.linear_moments_trans(NULL, ARRAY[1.0]::float8[])$$, '0A000',
                 'mlops.linear_moments called in non-aggregate context', 'the transition function is for the aggregate only');

SELECT * FROM finish();
ROLLBACK;
