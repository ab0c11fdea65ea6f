-- Scoring: exact agreement with the model's own coefficients, probabilities,
-- labels, parallel workers, and a cache that follows deployments across
-- sessions while a running query keeps its model.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(15);

CREATE TABLE pr AS
SELECT i AS id, x1, x2, col,
       2 + 1.5 * x1 - 0.5 * x2 + CASE col WHEN 'r' THEN 1 WHEN 'g' THEN -1 ELSE 0 END
         + 0.2 * sin(i * 78.233) AS y,
       CASE WHEN x1 - x2 + 0.5 * sin(i * 3.7) > 1 THEN 'high'
            WHEN x1 - x2 + 0.5 * sin(i * 3.7) > -1 THEN 'mid' ELSE 'low' END AS band
FROM (SELECT i, (i % 97) / 10.0 - 4.8 AS x1, ((i * 31) % 89) / 9.0 - 4.9 AS x2,
             (ARRAY['r', 'g', 'b'])[1 + i % 3] AS col
      FROM generate_series(1, 60000) i) s;
ANALYZE pr;

SELECT version FROM mlops.train('pr_lin', 'pr', 'y', features => ARRAY['x1', 'x2', 'col']) \gset
SELECT version FROM mlops.train('pr_ridge', 'pr', 'y', algorithm => 'ridge',
                                hyperparams => '{"alpha": 50}', features => ARRAY['x1', 'x2', 'col']) \gset
SELECT version FROM mlops.train('pr_cls', 'pr', 'band', features => ARRAY['x1', 'x2']) \gset

-- the prediction is the closed form of the reported coefficients
CREATE FUNCTION pg_temp.closed_form(project text, t pr) RETURNS float8 LANGUAGE sql AS $$
    SELECT sum(coalesce(e.coefficient, 0) *
               CASE e.term WHEN 'intercept' THEN 1 WHEN 'x1' THEN t.x1 WHEN 'x2' THEN t.x2
                           WHEN 'col=' || t.col THEN 1 ELSE 0 END)
      FROM mlops.explain(project) e
$$;
SELECT cmp_ok((SELECT max(abs(mlops.predict('pr_lin', t) - pg_temp.closed_form('pr_lin', t))) FROM pr t WHERE id <= 2000),
              '<', 1e-9::float8, 'linear: predict equals the closed form of its coefficients');
SELECT cmp_ok((SELECT max(abs(mlops.predict('pr_ridge', t) - pg_temp.closed_form('pr_ridge', t))) FROM pr t WHERE id <= 2000),
              '<', 1e-9::float8, 'ridge (standardised inside): predict equals the closed form on the original scale');
SELECT ok((SELECT bool_and(mlops.predict('pr_cls', ARRAY[x1, x2]::float8[]) = mlops.predict('pr_cls', t)) FROM pr t),
          'the array form agrees with the row form');

-- classification outputs
SELECT cmp_ok((SELECT max(abs((SELECT sum(p) FROM unnest(mlops.predict_proba('pr_cls', t)) p) - 1)) FROM pr t),
              '<', 1e-12::float8, 'class probabilities sum to 1 on every row');
SELECT is((SELECT array_agg(DISTINCT mlops.predict_label('pr_cls', t) ORDER BY mlops.predict_label('pr_cls', t)) FROM pr t),
          ARRAY['high', 'low', 'mid'], 'labels are the original text classes');
SELECT ok((SELECT bool_and(mlops.predict_label('pr_cls', t) =
                           (SELECT classes FROM mlops.model_versions WHERE project = 'pr_cls')[1 + mlops.predict('pr_cls', t)::int])
             FROM pr t WHERE id <= 3000),
          'predict gives the index of predict_label in model_versions.classes');
SELECT cmp_ok((SELECT avg((mlops.predict_label('pr_cls', t) = band)::int)::float8 FROM pr t),
              '>', 0.85::float8, 'three-class accuracy is above 0.85');

-- parallel workers score their share, with the same result
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END $$;
SELECT matches(pg_temp.plan_of($$SELECT sum(mlops.predict('pr_lin', t)) FROM pr t$$),
               'Workers Launched: [1-9]', 'the scoring query runs in parallel workers');
SELECT sum(mlops.predict('pr_lin', t)) AS par_sum FROM pr t \gset
SET max_parallel_workers_per_gather = 0;
SELECT cmp_ok(abs(:par_sum - (SELECT sum(mlops.predict('pr_lin', t)) FROM pr t)), '<', 1e-6::float8,
              'parallel and serial sums agree');
RESET max_parallel_workers_per_gather;

-- another session deploys a new version: the next query here uses it
SELECT mlops.predict('pr_lin', t) AS before_v1 FROM pr t WHERE id = 7 \gset
SELECT pg_temp.other_session($$SELECT version FROM mlops.train('pr_lin', 'pr', 'y', features => ARRAY['x1'], deploy => 'always')$$);
SELECT is((SELECT mlops.predict('pr_lin', t) FROM pr t WHERE id = 7),
          (SELECT mlops.predict('pr_lin', t, 2) FROM pr t WHERE id = 7),
          'after another session deploys version 2, the next query scores with it');

-- a query in progress keeps the model it started with
BEGIN;
DECLARE c CURSOR FOR SELECT id, mlops.predict('pr_lin', t) AS p FROM pr t WHERE id IN (7, 8) ORDER BY id;
FETCH 1 FROM c;
SELECT pg_temp.other_session($$SELECT version FROM mlops.rollback('pr_lin')$$);
CREATE TEMP TABLE fetched AS SELECT 0 AS id, 0::float8 AS p WITH NO DATA;
DO $$ DECLARE r record; cur refcursor := 'c'; BEGIN FETCH cur INTO r; INSERT INTO fetched VALUES (r.id, r.p); END $$;
SELECT is((SELECT p FROM fetched),
          (SELECT mlops.predict('pr_lin', t, 2) FROM pr t WHERE id = 8),
          'a cursor opened before the rollback keeps scoring with version 2');
COMMIT;
SELECT is((SELECT mlops.predict('pr_lin', t) FROM pr t WHERE id = 7), :before_v1::float8,
          'after the rollback, new queries score with version 1 again');

-- a PL/pgSQL loop keeps its expression state across statements; each new
-- statement must still score with the version deployed as of its snapshot
CREATE TEMP TABLE loop_scores (step int, score float8);
DO $$
DECLARE
    r pr;
BEGIN
    SELECT * INTO r FROM pr WHERE id = 7;
    FOR step IN 1..2 LOOP
        INSERT INTO loop_scores VALUES (step, mlops.predict('pr_lin', r));
        PERFORM mlops.deploy('pr_lin', 2);
    END LOOP;
END $$;
SELECT is((SELECT score FROM loop_scores WHERE step = 2),
          (SELECT mlops.predict('pr_lin', t, 2) FROM pr t WHERE id = 7),
          'a PL/pgSQL loop scores with the version deployed by its previous statement');

-- the planner's internal form is safe to call directly
SELECT is(mlops._predict_columns(NULL, ARRAY['x1'], 1.0::float8), NULL,
          '_predict_columns with a NULL project is NULL');
SELECT throws_ok($$SELECT mlops._predict_columns('pr_lin', ARRAY[NULL, 'x2']::text[], 1.0::float8, 2.0::float8)$$,
                 '22004', 'column names must not be NULL', '_predict_columns refuses NULL names');

SELECT * FROM finish();
SELECT pg_temp.drop_projects('pr\_%');
DROP TABLE pr CASCADE;
