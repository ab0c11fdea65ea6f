-- Exact moments on Citus (make test-citus): mlops.linear_moments and
-- mlops.regression_metrics are pushed down to the workers (worker_partial_agg,
-- coord_combine_agg) and give the bytes and metrics of the local copy,
-- whatever the distribution column; a linear or ridge version trained with
-- mlops.pushdown_moments on a distributed table has the model bytes of one
-- trained on the local copy from the rows it read.
--
-- Not in a transaction (see scoring.sql); objects are named cm_* and
-- dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
SELECT plan(12);

-- y = 3 + 2 x1 - x2 + 0.5 b + noise, x2 around 1e6 and sometimes NULL
SELECT setseed(0.3);
CREATE TABLE cm_local AS
SELECT i AS id, x1, CASE WHEN i % 13 = 0 THEN NULL ELSE x2 END AS x2, b,
       3 + 2 * x1 - (x2 - 1e6) + CASE WHEN b THEN 0.5 ELSE 0 END + 0.05 * e AS y
  FROM (SELECT i, random() * 10 AS x1, 1e6 + random() AS x2, random() < 0.4 AS b, random() - 0.5 AS e
          FROM generate_series(1, 8000) i) s;
CREATE TABLE cm_by_id (LIKE cm_local);
SELECT create_distributed_table('cm_by_id', 'id');
INSERT INTO cm_by_id SELECT * FROM cm_local;
CREATE TABLE cm_by_b (LIKE cm_local);
SELECT create_distributed_table('cm_by_b', 'b');    -- another layout: two shards hold it all
INSERT INTO cm_by_b SELECT * FROM cm_local;

CREATE FUNCTION pg_temp.moments(rel text) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE r bytea;
BEGIN
    EXECUTE format('SELECT mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y]) FROM %I
                     WHERE mlops.split_side(0.25, 1, x1, x2, b, y) >= 0', rel) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text := ''; l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
    RETURN r;
END $$;

-- the aggregates run on the workers
SELECT ok(pg_temp.plan_of($$SELECT mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y]) FROM cm_by_id
                            WHERE mlops.split_side(0.25, 1, x1, x2, b, y) >= 0$$)
          ~ 'worker_partial_agg.*mlops\.linear_moments',
          'linear_moments is pushed down to the workers (worker_partial_agg)');
SELECT ok(pg_temp.plan_of($$SELECT mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y]) FROM cm_by_id
                            WHERE mlops.split_side(0.25, 1, x1, x2, b, y) >= 0$$)
          ~ 'coord_combine_agg',
          'and its states are combined on the coordinator (coord_combine_agg)');
SELECT ok(pg_temp.plan_of($$SELECT mlops.split_side(0.25, 3, x1, x2, b, y),
                                   mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y])
                              FROM cm_by_id GROUP BY 1$$)
          ~ 'worker_partial_agg',
          'grouped by fold too');

-- the same bytes, whatever the layout
SELECT is(pg_temp.moments('cm_by_id'), pg_temp.moments('cm_local'),
          'the moments of the distributed table are the bytes of the local copy''s');
SELECT is(pg_temp.moments('cm_by_b'), pg_temp.moments('cm_local'),
          'and of a table distributed by another column');
SELECT is((SELECT array_agg(m ORDER BY f) FROM (
             SELECT mlops.split_side(0.25, 3, x1, x2, b, y) AS f,
                    mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y]) AS m
               FROM cm_by_b GROUP BY 1) d),
          (SELECT array_agg(m ORDER BY f) FROM (
             SELECT mlops.split_side(0.25, 3, x1, x2, b, y) AS f,
                    mlops.linear_moments(ARRAY[x1, x2, b::int::float8, y]) AS m
               FROM cm_local GROUP BY 1) l),
          'the moments of each fold too');

-- training: the same model bytes and metrics
SELECT version FROM mlops.train('cm_loc', 'cm_local', 'y', algorithm => 'linear',
                                features => ARRAY['x1', 'x2', 'b']);
SELECT version FROM mlops.train('cm_loc_grid', 'cm_local', 'y', algorithm => 'ridge',
                                search => '{"grid": {"alpha": [0.1, 10]}, "folds": 3}',
                                features => ARRAY['x1', 'x2', 'b']);
SET mlops.pushdown_moments = on;
SELECT version FROM mlops.train('cm_dist', 'cm_by_b', 'y', algorithm => 'linear',
                                features => ARRAY['x1', 'x2', 'b']);
SELECT version FROM mlops.train('cm_dist_grid', 'cm_by_id', 'y', algorithm => 'ridge',
                                search => '{"grid": {"alpha": [0.1, 10]}, "folds": 3}',
                                features => ARRAY['x1', 'x2', 'b']);
RESET mlops.pushdown_moments;
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cm_dist'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cm_loc'),
          'linear trained from the moments summed on the workers is byte-identical to the local training');
SELECT is((SELECT metrics FROM mlops.model_versions WHERE project = 'cm_dist'),
          (SELECT metrics FROM mlops.model_versions WHERE project = 'cm_loc'),
          'with the same metrics, from regression_metrics on the workers');
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cm_dist_grid'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cm_loc_grid'),
          'a ridge search from the folds'' moments summed on the workers chooses and fits the same model');
SELECT ok(pg_temp.plan_of(format($$SELECT mlops.regression_metrics(%L::bytea, ARRAY[x1, x2, b::int::float8, y])
                                     FROM cm_by_id WHERE mlops.split_side(0.25, 1, x1, x2, b, y) < 0$$,
                                 (SELECT model FROM mlops.model_versions WHERE project = 'cm_loc')))
          ~ 'worker_partial_agg.*mlops\.regression_metrics',
          'regression_metrics is pushed down to the workers');
SELECT ok((SELECT abs(coefficient - 2) < 0.01 FROM mlops.explain('cm_dist', 1) WHERE term = 'x1')
          AND (SELECT abs(coefficient + 1) < 0.01 FROM mlops.explain('cm_dist', 1) WHERE term = 'x2'),
          'and it learnt the generating law');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('cm_dist', 1)),
          'reproduce of the distributed version is byte-identical');

SELECT * FROM finish();

DROP TABLE cm_local, cm_by_id, cm_by_b;
DELETE FROM mlops.trials WHERE project IN ('cm_loc', 'cm_loc_grid', 'cm_dist', 'cm_dist_grid');
DELETE FROM mlops.deployments WHERE project IN ('cm_loc', 'cm_loc_grid', 'cm_dist', 'cm_dist_grid');
DELETE FROM mlops.model_versions WHERE project IN ('cm_loc', 'cm_loc_grid', 'cm_dist', 'cm_dist_grid');
DELETE FROM mlops.projects WHERE name IN ('cm_loc', 'cm_loc_grid', 'cm_dist', 'cm_dist_grid');
