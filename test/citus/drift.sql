-- The drift aggregate on distributed tables (make test-citus): Citus pushes
-- it down, running it as worker_partial_agg on the shards and combining the
-- shards' states with coord_combine_agg on the coordinator, and the
-- combined state is that of a local scan of the same rows, byte for byte.
-- test/citus/lifecycle.sql compares whole drift reports.
--
-- Every object is named cd_* and dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
SELECT plan(4);

-- 30,000 rows (more than the KS sample's 20,000) of whole numbers, so that
-- the moments' sums are exact whatever order the shards' rows come in
CREATE TABLE cd_local AS
SELECT g AS id, (g * 7919 % 50)::float8 AS x, g % 3 = 0 AS b,
       CASE WHEN g % 17 = 0 THEN NULL ELSE 'c' || (g % 7) END AS c,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g % 13 END::int AS z,
       (g % 5)::numeric AS p
  FROM generate_series(1, 30000) g;
CREATE TABLE cd_dist (LIKE cd_local);
SELECT create_distributed_table('cd_dist', 'id');
INSERT INTO cd_dist SELECT * FROM cd_local;
CREATE TABLE cd_by_cat (LIKE cd_local);
SELECT create_distributed_table('cd_by_cat', 'x');   -- distributed by a compared column
INSERT INTO cd_by_cat SELECT * FROM cd_local;

-- the spec, as check_drift builds it (test/drift_aggregate.sql)
SELECT '\x4d524632'::bytea || int4send(5)
       || int4send(1) || int4send(11) || float8send(20)
       || (SELECT string_agg(float8send(e), ''::bytea ORDER BY e)
             FROM unnest('{0, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49}'::float8[]) e)
       || int4send(2) || int4send(0) || float8send(0)
       || int4send(3) || int4send(0) || float8send(0)
       || int4send(1) || int4send(0) || float8send(6)
       || int4send(1) || int4send(0) || float8send(0) AS spec \gset

CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END $$;

-- the query check_drift runs, on a distributed table
SELECT matches(pg_temp.plan_of(format(
                   $$SELECT mlops.drift_accumulate(%L::bytea, mlops._drift_numbers(x, b, z, p),
                                                   mlops._drift_categories(c)) FROM cd_dist$$,
                   :'spec')),
               'coord_combine_agg\(.*worker_partial_agg\(''mlops\.drift_accumulate\(bytea,double precision\[\],text\[\]\)',
               'Citus pushes the drift aggregate down: worker_partial_agg on the shards, coord_combine_agg on the coordinator');

SELECT mlops.drift_accumulate(:'spec'::bytea, mlops._drift_numbers(x, b, z, p),
                              mlops._drift_categories(c)) AS local_state FROM cd_local \gset
SELECT is((SELECT mlops.drift_accumulate(:'spec'::bytea, mlops._drift_numbers(x, b, z, p),
                                         mlops._drift_categories(c)) FROM cd_dist),
          :'local_state'::bytea,
          'the state combined from the shards is the state of a local scan, byte for byte');
SELECT is((SELECT mlops.drift_accumulate(:'spec'::bytea, mlops._drift_numbers(x, b, z, p),
                                         mlops._drift_categories(c)) FROM cd_by_cat),
          :'local_state'::bytea,
          'so is that of a table distributed by a compared column');

-- check_drift itself on the distributed table and on its local copy
SELECT version FROM mlops.train('cd_proj', 'cd_local', 'x', algorithm => 'linear',
                                features => ARRAY['b', 'c', 'z', 'p']) \gset
SELECT (mlops.check_drift('cd_proj', 'cd_dist')).id AS rd \gset
SELECT (mlops.check_drift('cd_proj', 'cd_local')).id AS rl \gset
-- everything but the means and standard deviations is exact: those are sums
-- of differences from the baseline mean, whose last digits follow the order
-- the rows arrive in (as is the concept metric, from the loader's read)
CREATE FUNCTION pg_temp.exact_part(report bigint) RETURNS text LANGUAGE sql AS $$
    SELECT (r.rows_checked, r.verdict, r.drift_share,
            (SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY f ->> 'name')
               FROM jsonb_array_elements(r.features || (r.summary -> 'target')) f))::text
      FROM mlops.drift_reports r WHERE r.id = report
$$;
SELECT is(pg_temp.exact_part(:rd), pg_temp.exact_part(:rl),
          'check_drift reports the same on the distributed table as on the local copy');

SELECT * FROM finish();

DROP TABLE cd_local, cd_dist, cd_by_cat;
DELETE FROM mlops.drift_reports WHERE project = 'cd_proj';
DELETE FROM mlops.retrain_queue WHERE project = 'cd_proj';
DELETE FROM mlops.deployments WHERE project = 'cd_proj';
DELETE FROM mlops.model_versions WHERE project = 'cd_proj';
DELETE FROM mlops.projects WHERE name = 'cd_proj';
