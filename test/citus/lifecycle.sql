-- The rest of the lifecycle on a distributed table (make test-citus):
-- snapshots, training and reproduce, drift checks equal to the local ones,
-- and the scheduled drift check -> retrain -> deploy loop, whose jobs run on
-- the coordinator, with the new version then scored on the workers.
--
-- Not in a transaction (see scoring.sql); objects are named cl_* and
-- dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
\ir ../lib/helpers.sql
SELECT plan(16);

-- Seeded rows: y = a x1 + b x2 + noise, x1 shifted by shift
CREATE FUNCTION pg_temp.rows(n int, seed float8, a float8, b float8, shift float8 DEFAULT 0)
RETURNS TABLE (id int, x1 float8, x2 float8, y float8) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    RETURN QUERY
    SELECT s.i, s.u + shift, s.v, a * (s.u + shift) + b * s.v + 0.1 * s.e
      FROM (SELECT i, random() * 10 AS u, random() * 10 AS v, random() - 0.5 AS e
              FROM generate_series(1, n) i) s;
END $$;

SELECT pg_temp.create_role('cl_owner');
CREATE TABLE cl_local AS SELECT * FROM pg_temp.rows(4000, 0.1, 1, 2);
CREATE TABLE cl_hist (LIKE cl_local);
SELECT create_distributed_table('cl_hist', 'id');
INSERT INTO cl_hist SELECT * FROM cl_local;
CREATE TABLE cl_live (LIKE cl_local);
SELECT create_distributed_table('cl_live', 'x2');   -- distributed by a feature
GRANT SELECT ON cl_local, cl_hist, cl_live TO cl_owner;

SET ROLE cl_owner;
SELECT version AS vd FROM mlops.train('cl_dist', 'cl_hist', 'y', algorithm => 'ridge',
                                      hyperparams => '{"alpha": 0.5}') \gset
SELECT version AS vl FROM mlops.train('cl_loc', 'cl_local', 'y', algorithm => 'ridge',
                                      hyperparams => '{"alpha": 0.5}') \gset
RESET ROLE;

-- snapshots of a distributed table
SELECT is((SELECT content_hash FROM mlops.snapshots s JOIN mlops.model_versions v ON v.snapshot = s.id
            WHERE v.project = 'cl_dist'),
          (SELECT content_hash FROM mlops.snapshots s JOIN mlops.model_versions v ON v.snapshot = s.id
            WHERE v.project = 'cl_loc'),
          'the snapshot of the distributed table has the content hash of the local copy');
SELECT mlops.snapshot_restore((SELECT snapshot FROM mlops.model_versions WHERE project = 'cl_dist'),
                              'cl_restored');
SELECT is((SELECT count(*) FROM (SELECT * FROM cl_restored EXCEPT ALL SELECT * FROM cl_local
                                 UNION ALL
                                 SELECT * FROM cl_local EXCEPT ALL SELECT * FROM cl_restored) d),
          0::bigint, 'restoring that snapshot gives back exactly the rows');

-- training and reproduce
SELECT is((SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cl_dist'),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'cl_loc'),
          'a model trained on the distributed table is byte-identical to one trained on the local copy');
SELECT ok((SELECT identical FROM mlops.reproduce('cl_dist', :vd)),
          'reproduce of the distributed version is byte-identical');
SELECT ok((SELECT (metrics ->> 'r2')::float8 > 0.99 FROM mlops.model_versions WHERE project = 'cl_dist'),
          'and it learnt the generating law (r2 > 0.99)');

-- drift checks: the distributed check equals the local one
INSERT INTO cl_live SELECT * FROM pg_temp.rows(2000, 0.5, 3, -1, 5);
CREATE TABLE cl_live_local AS SELECT * FROM cl_live;
GRANT SELECT ON cl_live_local TO cl_owner;
SET ROLE cl_owner;
SELECT (mlops.check_drift('cl_dist', 'cl_live')).id AS rd \gset
SELECT (mlops.check_drift('cl_dist', 'cl_live_local')).id AS rl \gset
RESET ROLE;
-- everything but the mean and standard deviation is exact; those two are
-- sums of doubles, whose last digits depend on the order the rows arrive in
CREATE FUNCTION pg_temp.exact_part(report bigint) RETURNS text LANGUAGE sql AS $$
    SELECT (r.verdict, r.rows_checked, r.drift_share, r.concept_drift,
            (SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY f ->> 'name') FROM jsonb_array_elements(r.features) f))::text
      FROM mlops.drift_reports r WHERE r.id = report
$$;
SELECT is(pg_temp.exact_part(:rd), pg_temp.exact_part(:rl),
          'check_drift on the distributed table reports what it reports on the local copy: bins, PSI, KS, verdicts');
SELECT ok((SELECT bool_and(abs((d ->> k)::float8 - (l ->> k)::float8) <= 1e-12 * abs((l ->> k)::float8))
             FROM jsonb_array_elements((SELECT features FROM mlops.drift_reports WHERE id = :rd)) d
             JOIN jsonb_array_elements((SELECT features FROM mlops.drift_reports WHERE id = :rl)) l
               ON d ->> 'name' = l ->> 'name',
                  unnest(ARRAY['mean', 'std']) k),
          'and the same means and standard deviations to 12 digits');
-- a KS bound that is far too tight (the statistics claim a billion rows)
-- is noticed and the scan repeated without it: the same report again
UPDATE pg_class SET reltuples = 1e9 WHERE oid = 'cl_live_local'::regclass;
SET ROLE cl_owner;
SELECT (mlops.check_drift('cl_dist', 'cl_live_local')).id AS rt \gset
RESET ROLE;
SELECT is(pg_temp.exact_part(:rt), pg_temp.exact_part(:rl),
          'a KS bound that was too tight gives the same report (the scan ran again without it)');
SELECT is((SELECT (features -> 0 ->> 'ks_rows')::int FROM mlops.drift_reports WHERE id = :rt), 2000,
          'and its KS sample holds every row');
SELECT is((SELECT verdict FROM mlops.drift_reports WHERE id = :rd), 'drift',
          'and that report finds the shift');
DELETE FROM mlops.retrain_queue WHERE project = 'cl_dist';

-- the loop: the world changes; a scheduled check on the distributed live
-- table finds drift, the retrain reads the distributed history again, and
-- the better challenger is deployed, then scored on the workers
TRUNCATE cl_hist;
INSERT INTO cl_hist SELECT * FROM pg_temp.rows(4000, 0.4, 3, -1, 5);
SET ROLE cl_owner;
SELECT mlops.schedule_drift_check('cl_dist', 'cl_live', '1 hour') AS job \gset
RESET ROLE;
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :job), 60),
          'the scheduled check on the distributed table ends');
SELECT is(status, 'succeeded', 'it succeeded') FROM mlops.job_runs WHERE job = :job;
SELECT ok(pg_temp.wait_for($$EXISTS (SELECT 1 FROM mlops.retrain_queue
                                     WHERE project = 'cl_dist' AND status NOT IN ('queued', 'running'))$$, 60),
          'the retrain it queued finishes');
SELECT is((SELECT status FROM mlops.retrain_queue WHERE project = 'cl_dist' ORDER BY id DESC LIMIT 1),
          'deployed', 'the challenger trained on the distributed history was deployed');
SELECT is((SELECT version FROM mlops.model_versions WHERE project = 'cl_dist' AND status = 'production'),
          :vd + 1, 'the new version is in production');
SELECT ok((SELECT max(abs(mlops.predict('cl_dist', t) - (3 * x1 - x2))) FROM cl_live t) < 0.2,
          'the workers score with the retrained model (the new law)');

SELECT * FROM finish();

SELECT mlops.unschedule(:job);
DROP TABLE cl_local, cl_hist, cl_live, cl_live_local, cl_restored;
DELETE FROM mlops.job_runs WHERE job = :job;
DELETE FROM mlops.jobs WHERE id = :job;
DELETE FROM mlops.retrain_queue WHERE project IN ('cl_dist', 'cl_loc');
DELETE FROM mlops.drift_reports WHERE project IN ('cl_dist', 'cl_loc');
DELETE FROM mlops.deployments WHERE project IN ('cl_dist', 'cl_loc');
DELETE FROM mlops.model_versions WHERE project IN ('cl_dist', 'cl_loc');
DELETE FROM mlops.projects WHERE name IN ('cl_dist', 'cl_loc');
DROP OWNED BY cl_owner;
DROP ROLE cl_owner;
