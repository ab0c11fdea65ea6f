-- Scoring on Citus workers (make test-citus; tools/citus.sh has already run
-- mlops.citus_setup() on the coordinator).  The same rows, local and
-- distributed, must score the same in the workers' tasks; a deploy or
-- rollback committed on the coordinator is what the next query uses on
-- every node; privileges hold on the workers too.
--
-- Not in a transaction: Citus commits reference-table writes (the serving
-- table) on the workers with two-phase commit at the end of each statement.
-- Every object is named cs_* and dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
SELECT plan(27);

CREATE ROLE cs_owner LOGIN;
CREATE ROLE cs_scorer LOGIN;
CREATE ROLE cs_stranger LOGIN;
GRANT CREATE ON SCHEMA public TO cs_stranger;

-- y = 3 + 2 x1 - x2 + a region offset, with NULLs to impute; label from y
CREATE TABLE cs_t AS
SELECT i AS id, (i % 53) / 5.0 AS x1,
       CASE WHEN i % 97 = 0 THEN NULL ELSE ((i * 7) % 41) / 4.0 END AS x2,
       (ARRAY['north', 'south', 'east'])[1 + i % 3] AS region,
       0.0::float8 AS y, ''::text AS label
  FROM generate_series(1, 6000) i;
UPDATE cs_t SET y = 3 + 2 * x1 - coalesce(x2, 5) + CASE region WHEN 'north' THEN 1 ELSE 0 END
                    + 0.01 * sin(id);
UPDATE cs_t SET label = CASE WHEN y > 8 THEN 'high' WHEN y > 3 THEN 'mid' ELSE 'low' END;
CREATE TABLE cs_dist (LIKE cs_t);
SELECT create_distributed_table('cs_dist', 'id');
INSERT INTO cs_dist SELECT * FROM cs_t;
-- the hidden case: a table distributed by one of the model's features
CREATE TABLE cs_by_region (LIKE cs_t);
SELECT create_distributed_table('cs_by_region', 'region');
INSERT INTO cs_by_region SELECT * FROM cs_t;
GRANT SELECT ON cs_t, cs_dist, cs_by_region TO cs_owner, cs_scorer, cs_stranger;

SET ROLE cs_owner;
SELECT version AS v1 FROM mlops.train('cs_reg', 'cs_t', 'y', features => ARRAY['x1', 'x2', 'region']) \gset
SELECT version AS v2 FROM mlops.train('cs_reg', 'cs_t', 'y', features => ARRAY['x1', 'x2', 'region'],
                                      algorithm => 'ridge', hyperparams => '{"alpha": 5000}',
                                      deploy => 'never') \gset
SELECT version AS c1 FROM mlops.train('cs_cls', 'cs_t', 'label', features => ARRAY['x1', 'x2', 'region'],
                                      algorithm => 'logistic') \gset
SELECT mlops.grant('cs_reg', 'cs_scorer', 'score');
RESET ROLE;

-- the serving table follows the registry
SELECT is((SELECT array_agg(version || ':' || status ORDER BY version) FROM mlops.serving_models
            WHERE project = 'cs_reg'),
          ARRAY[:v1 || ':production', :v2 || ':staging'],
          'serving_models holds every version of the project with its status');
SELECT is((SELECT scorers FROM mlops.serving_models WHERE project = 'cs_reg' AND version = :v1),
          ARRAY['cs_owner', 'cs_scorer'], 'serving_models names the owner and the grantees of score');

-- pushed down: the workers' task queries carry the resolved version
CREATE FUNCTION pg_temp.plan_text(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP t := t || r || E'\n'; END LOOP;
    RETURN t;
END $$;
SELECT matches(pg_temp.plan_text($$SELECT sum(mlops.predict('cs_reg', t)) FROM cs_dist t$$),
               'Task.*Query: SELECT .*mlops\._predict_columns\(''cs_reg@' || :v1 || ':[0-9a-f]{64}''',
               'predict over a distributed table runs in the worker tasks, with a ticket for the production version');
SELECT matches(pg_temp.plan_text($$SELECT mlops.predict_proba('cs_cls', t) FROM cs_dist t$$),
               'Query: SELECT mlops\.predict_proba\(''cs_cls@' || :c1 || ':',
               'predict_proba is pushed down too');

-- the same values as the local table, row by row, in every form
CREATE TEMP TABLE cs_local AS
SELECT id, mlops.predict('cs_reg', t) AS p, mlops.predict('cs_reg', t, :v2) AS p2,
       mlops.predict_proba('cs_cls', t) AS proba, mlops.predict_label('cs_cls', t) AS lab
  FROM cs_t t;
CREATE TEMP TABLE cs_remote AS
SELECT id, mlops.predict('cs_reg', t) AS p, mlops.predict('cs_reg', t, :v2) AS p2,
       mlops.predict_proba('cs_cls', t) AS proba, mlops.predict_label('cs_cls', t) AS lab
  FROM cs_dist t;
CREATE TEMP TABLE cs_remote_region AS
SELECT id, mlops.predict('cs_reg', t) AS p FROM cs_by_region t;
SELECT is((SELECT count(*) FROM cs_remote), 6000::bigint, 'every distributed row was scored');
SELECT is((SELECT count(*) FROM cs_local l JOIN cs_remote r USING (id) WHERE l.p = r.p), 6000::bigint,
          'predict on the workers equals predict on the local table, bit for bit');
SELECT is((SELECT count(*) FROM cs_local l JOIN cs_remote r USING (id) WHERE l.p2 = r.p2), 6000::bigint,
          'a pinned version scores the same on the workers');
SELECT ok((SELECT count(*) FROM cs_local l JOIN cs_remote r USING (id) WHERE l.p <> l.p2) > 5000,
          'the pinned staging version is another model (the comparison above means something)');
SELECT is((SELECT count(*) FROM cs_local l JOIN cs_remote r USING (id)
            WHERE l.proba = r.proba AND l.lab = r.lab), 6000::bigint,
          'predict_proba and predict_label on the workers equal the local ones');
SELECT is((SELECT count(*) FROM cs_local l JOIN cs_remote_region r USING (id) WHERE l.p = r.p), 6000::bigint,
          'a table distributed by a feature column scores the same');
SELECT ok((SELECT max(abs(p - (3 + 2 * x1 - coalesce(x2, 5) + CASE region WHEN 'north' THEN 1 ELSE 0 END)))
             FROM cs_remote JOIN cs_t USING (id) WHERE x2 IS NOT NULL) < 0.05,
          'the distributed predictions are the generating function (within the noise)');
SELECT throws_ok($$SELECT sum(mlops.predict('cs_reg', ARRAY[x1, x2, x1])) FROM cs_dist$$, '42804',
                 NULL, 'the array form reports its errors from the workers (categorical feature region)');

-- a deploy (and a rollback) is what the next execution of a prepared
-- statement uses on every node
PREPARE cs_q AS SELECT sum(mlops.predict('cs_reg', t)) FROM cs_dist t;
SELECT sum(p) AS sum_v1, sum(p2) AS sum_v2 FROM cs_local \gset
CREATE FUNCTION pg_temp.run_q() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r float8; BEGIN EXECUTE 'EXECUTE cs_q' INTO r; RETURN r; END $$;
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared: production version 1');
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared again (a cached plan now)');
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared, third run');
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared, fourth run');
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared, fifth run');
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'prepared, sixth run (generic plan)');
SET ROLE cs_owner;
SELECT mlops.deploy('cs_reg', :v2);
RESET ROLE;
SELECT ok(abs(pg_temp.run_q() - :sum_v2) < 1e-6, 'after deploy: the cached plan scores with the new version');
SET ROLE cs_owner;
SELECT mlops.rollback('cs_reg');
RESET ROLE;
SELECT ok(abs(pg_temp.run_q() - :sum_v1) < 1e-6, 'after rollback: the old version again');

-- privileges on the workers
SET ROLE cs_scorer;
SELECT ok((SELECT count(*) FROM cs_dist t WHERE mlops.predict('cs_reg', t) IS NOT NULL) = 6000,
          'a role granted score scores on the workers');
RESET ROLE;
SET ROLE cs_stranger;
SELECT throws_ok($$SELECT sum(mlops.predict('cs_reg', t)) FROM cs_dist t$$, '42501', NULL,
                 'a stranger is refused (the workers check too)');
SELECT throws_ok($$SELECT * FROM mlops.serving_models$$, '42501', NULL,
                 'a stranger cannot read the serving table');
RESET ROLE;
-- calls made on a worker itself (dblink to its own port)
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT format('host=%s port=%s dbname=%s', current_setting('mlops_test.socket_dir'),
              current_setting('mlops_test.worker1_port'), current_database()) AS w1 \gset
SELECT throws_ok(format($$SELECT * FROM dblink(%L, 'SELECT mlops.predict(''cs_reg@%s:%s'', ARRAY[1, 2, 3]::float8[])') AS r(p float8)$$,
                        :'w1' || ' user=cs_stranger', :v1, repeat('00', 32)),
                 '42501', NULL, 'on a worker, a stranger with a forged ticket is refused');
SELECT throws_ok(format($$SELECT * FROM dblink(%L, 'SELECT mlops.predict(''cs_reg'', ARRAY[1, 2, 3]::float8[])') AS r(p float8)$$,
                        :'w1' || ' user=cs_stranger'),
                 '42501', NULL, 'on a worker, a stranger is refused by the serving table''s scorers');
SELECT throws_like(format($$SELECT * FROM dblink(%L, 'SELECT mlops.predict(''cs_reg@%s:%s'', ARRAY[1, 2, 3]::float8[])') AS r(p float8)$$,
                          :'w1' || ' user=cs_owner', :v1, repeat('00', 32)),
                   '%not the model the query was planned with%',
                   'on a worker, a ticket whose sha256 differs is refused rather than scored');
SET ROLE cs_owner;
SELECT mlops.revoke('cs_reg', 'cs_scorer', 'score');
RESET ROLE;
SET ROLE cs_scorer;
SELECT throws_ok($$SELECT sum(mlops.predict('cs_reg', t)) FROM cs_dist t$$, '42501', NULL,
                 'after revoke, the next query is refused');
RESET ROLE;

SELECT * FROM finish();

DROP TABLE cs_t, cs_dist, cs_by_region;
DELETE FROM mlops.deployments WHERE project IN ('cs_reg', 'cs_cls');
DELETE FROM mlops.project_grants WHERE project IN ('cs_reg', 'cs_cls');
DELETE FROM mlops.model_versions WHERE project IN ('cs_reg', 'cs_cls');
DELETE FROM mlops.projects WHERE name IN ('cs_reg', 'cs_cls');
DROP OWNED BY cs_owner, cs_scorer, cs_stranger;
DROP ROLE cs_owner, cs_scorer, cs_stranger;
