-- The closed loop with no human step: a scheduled drift check on a live
-- table, then (on drift) a retrain with the production settings, a
-- champion/challenger comparison on the same held-out rows, and a
-- deployment only when the challenger is better.  After the schedule no
-- SQL call of ours does anything but read and wait; the launcher (preloaded,
-- mlops.naptime = 1) and its workers do the rest.
--
-- Everything runs as an ordinary role that owns the projects: the workers
-- connect as that role, never as a superuser.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(39);

-- Seeded rows: y = a x1 + b x2 + noise; x1 is shifted by shift.
CREATE FUNCTION pg_temp.rows(n int, seed float8, a float8, b float8, shift float8 DEFAULT 0)
RETURNS TABLE (x1 float8, x2 float8, y float8) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    RETURN QUERY
    SELECT s.u + shift, s.v, a * (s.u + shift) + b * s.v + 0.1 * s.e
      FROM (SELECT random() * 10 AS u, random() * 10 AS v, random() - 0.5 AS e
              FROM generate_series(1, n)) s;
END $$;

SELECT pg_temp.create_role('loop_owner');
CREATE TABLE loop_hist (x1 float8, x2 float8, y float8);     -- what models train on
CREATE TABLE loop_live (x1 float8, x2 float8, y float8);     -- what production sees
CREATE TABLE same_hist (x1 float8, x2 float8, y float8);
CREATE TABLE same_live (x1 float8, x2 float8, y float8);
CREATE TABLE stable_hist (x1 float8, x2 float8, y float8);
INSERT INTO loop_hist SELECT * FROM pg_temp.rows(1000, 0.1, 1, 2);
INSERT INTO same_hist SELECT * FROM pg_temp.rows(1000, 0.2, 1, 2);
INSERT INTO stable_hist SELECT * FROM pg_temp.rows(1000, 0.3, 1, 2);
GRANT SELECT ON loop_hist, loop_live, same_hist, same_live, stable_hist TO loop_owner;

-- version 1 of each project, trained by the owner
SET ROLE loop_owner;
SELECT is((SELECT version FROM mlops.train('loop_p', 'loop_hist', 'y', algorithm => 'ridge',
                                           hyperparams => '{"alpha": 0.5}', test_size => 0.3)),
          1, 'loop_p: version 1 trained (ridge, alpha 0.5, test_size 0.3)');
SELECT is((SELECT version FROM mlops.train('same_p', 'same_hist', 'y', algorithm => 'linear')),
          1, 'same_p: version 1 trained');
SELECT is((SELECT version FROM mlops.train('stable_p', 'stable_hist', 'y', algorithm => 'linear')),
          1, 'stable_p: version 1 trained');
RESET ROLE;

-- The world changes: the history the models learn from now follows another
-- law (and x1 moved), and so do the live rows.  same_p's live rows move
-- too, but its history does not: a retrain there learns nothing better.
TRUNCATE loop_hist;
INSERT INTO loop_hist SELECT * FROM pg_temp.rows(1000, 0.4, 3, -1, 5);
INSERT INTO loop_live SELECT * FROM pg_temp.rows(500, 0.5, 3, -1, 5);
INSERT INTO same_live SELECT * FROM pg_temp.rows(500, 0.6, 1, 2, 5);

-- The schedules: the last statements that change anything.
SET ROLE loop_owner;
SELECT mlops.schedule_drift_check('loop_p', 'loop_live', '1 hour') AS loop_job \gset
SELECT mlops.schedule_drift_check('same_p', 'same_live', '1 hour') AS same_job \gset
SELECT mlops.schedule_drift_check('stable_p', 'stable_hist', '1 hour') AS stable_job \gset
RESET ROLE;

-- ---------------------------------------------------------------------------
-- drifted, and better data to learn from: report, queue, version 2, deploy
-- ---------------------------------------------------------------------------
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :loop_job)),
          'loop_p: the scheduled run ends within 30 s');
SELECT is(status, 'succeeded', 'loop_p: the run succeeded') FROM mlops.job_runs WHERE job = :loop_job;
SELECT is(r.verdict, 'drift', 'loop_p: its drift report says drift')
  FROM mlops.job_runs j JOIN mlops.drift_reports r ON r.id = j.drift_report WHERE j.job = :loop_job;
SELECT is(r.checked_by::text, 'loop_owner', 'loop_p: the check ran as the job owner')
  FROM mlops.job_runs j JOIN mlops.drift_reports r ON r.id = j.drift_report WHERE j.job = :loop_job;
SELECT is((q.status, q.report_id = j.drift_report, q.champion_version, q.challenger_version),
          ('deployed'::text, true, 1, 2),
          'loop_p: the retrain queued by that report deployed version 2 over version 1')
  FROM mlops.job_runs j JOIN mlops.retrain_queue q ON q.id = j.retrain_request WHERE j.job = :loop_job;
SELECT ok(q.challenger_score > q.champion_score + 0.1,
          'loop_p: the challenger scored clearly better than the champion')
  FROM mlops.job_runs j JOIN mlops.retrain_queue q ON q.id = j.retrain_request WHERE j.job = :loop_job;
SELECT is((q.challenger_score, q.champion_score),
          ((v.metrics ->> 'r2')::float8, (v.metrics -> 'champion' ->> 'r2')::float8),
          'loop_p: both scores are the r2 of the same held-out rows, as train measured them')
  FROM mlops.job_runs j JOIN mlops.retrain_queue q ON q.id = j.retrain_request
  JOIN mlops.model_versions v ON v.project = q.project AND v.version = q.challenger_version
 WHERE j.job = :loop_job;
SELECT is((SELECT (v2.algorithm, v2.hyperparams = v1.hyperparams,
                   jsonb_path_query_array(v2.features, '$[*].name') = jsonb_path_query_array(v1.features, '$[*].name'),
                   v2.test_size, v2.relation = v1.relation, v2.trained_by = 'loop_owner')
             FROM mlops.model_versions v1, mlops.model_versions v2
            WHERE v1.project = 'loop_p' AND v1.version = 1
              AND v2.project = 'loop_p' AND v2.version = 2),
          ('ridge'::text, true, true, 0.3::float8, true, true),
          'loop_p: version 2 was trained with version 1''s settings, as the owner');
SELECT is((SELECT v.train_rows + v.test_rows FROM mlops.model_versions v
            WHERE v.project = 'loop_p' AND v.version = 2),
          1000::bigint, 'loop_p: on the refreshed training relation');
SELECT is((SELECT version FROM mlops.model_versions WHERE project = 'loop_p' AND status = 'production'),
          2, 'loop_p: version 2 is in production');
SELECT is((SELECT format('%s %s %s %s', d.version, d.previous_version, d.strategy, d.deployed_by)
             FROM mlops.deployments d WHERE d.project = 'loop_p' ORDER BY d.id DESC LIMIT 1),
          '2 1 retrain loop_owner',
          'loop_p: the deployment history records the retrain');
SELECT alike((SELECT reason FROM mlops.deployments WHERE project = 'loop_p' ORDER BY id DESC LIMIT 1),
             'retrain request % r2 % beats version 1''s % on the same held-out rows',
             'loop_p: with the comparison as its reason');
SELECT ok(abs(mlops.predict('loop_p', ARRAY[15, 5]::float8[]) - (3 * 15 - 5)) < 0.5,
          'loop_p: predictions now follow the new law');
SELECT is((SELECT format('%s %s', owner, outcome LIKE 'drift check: drift%retrain%deployed%')
             FROM mlops.job_runs WHERE job = :loop_job),
          'loop_owner t', 'loop_p: the run says what it did, as whom');

-- ---------------------------------------------------------------------------
-- drifted, but nothing better to learn: the challenger is rejected
-- ---------------------------------------------------------------------------
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :same_job)),
          'same_p: the scheduled run ends within 30 s');
SELECT is((q.status, q.champion_version, q.challenger_version),
          ('rejected'::text, 1, 2), 'same_p: the drift queued a retrain whose challenger was rejected')
  FROM mlops.job_runs j JOIN mlops.retrain_queue q ON q.id = j.retrain_request WHERE j.job = :same_job;
SELECT ok(NOT (q.challenger_score > q.champion_score), 'same_p: it did not score better')
  FROM mlops.job_runs j JOIN mlops.retrain_queue q ON q.id = j.retrain_request WHERE j.job = :same_job;
SELECT is((SELECT version FROM mlops.model_versions WHERE project = 'same_p' AND status = 'production'),
          1, 'same_p: version 1 stays in production');
SELECT is((SELECT count(*) FROM mlops.deployments WHERE project = 'same_p'), 1::bigint,
          'same_p: no deployment besides the first');

-- ---------------------------------------------------------------------------
-- a stable table: a report, no retrain
-- ---------------------------------------------------------------------------
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :stable_job)),
          'stable_p: the scheduled run ends within 30 s');
SELECT is((j.status, r.verdict, j.retrain_request),
          ('succeeded'::text, 'no_drift'::text, NULL::bigint),
          'stable_p: no drift, so no retrain')
  FROM mlops.job_runs j JOIN mlops.drift_reports r ON r.id = j.drift_report WHERE j.job = :stable_job;
SELECT is((SELECT count(*) FROM mlops.retrain_queue WHERE project = 'stable_p'), 0::bigint,
          'stable_p: nothing was queued');
SELECT is((SELECT max(version) FROM mlops.model_versions WHERE project = 'stable_p'), 1,
          'stable_p: no new version');

-- ---------------------------------------------------------------------------
-- one retrain in flight per project; each run checked once an hour
-- ---------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM mlops.retrain_queue WHERE status = 'running'), 0::bigint,
          'no retrain is left running');
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE job IN (:loop_job, :same_job, :stable_job)),
          3::bigint, 'each job ran once');

-- ---------------------------------------------------------------------------
-- a long retrain: claimed and visible as running, one at a time per
-- project, and canceled by mlops.cancel_run.  The training relation is
-- locked from a second connection, so training waits as a long one would.
-- ---------------------------------------------------------------------------
CREATE TABLE stable_live AS SELECT * FROM pg_temp.rows(500, 0.7, 1, 2, 5);
GRANT SELECT ON stable_live TO loop_owner;
SELECT pg_temp.hold_lock('loop_locker', 'public.stable_hist');
SET ROLE loop_owner;
SELECT mlops.schedule_drift_check('stable_p', 'stable_live', '1 hour') AS long_job \gset
RESET ROLE;
SELECT ok(pg_temp.wait_for($$EXISTS (SELECT 1 FROM mlops.retrain_queue
                                     WHERE project = 'stable_p' AND status = 'running')$$),
          'drift on stable_p queued a retrain that a worker claimed (running)');
SELECT id AS long_run, retrain_request AS long_request FROM mlops.job_runs WHERE job = :long_job \gset
SELECT is(:long_request::bigint, (SELECT id FROM mlops.retrain_queue WHERE project = 'stable_p' AND status = 'running'),
          'the run records the retrain it claimed');

SET ROLE loop_owner;
SELECT mlops.schedule_drift_check('stable_p', 'stable_live', '1 hour') AS second_job \gset
RESET ROLE;
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :second_job)),
          'a second job on the project runs its check meanwhile');
SELECT is((SELECT format('%s %s %s', status, retrain_request IS NULL,
                         outcome LIKE '%no retrain to run (none queued, or one already running)')
             FROM mlops.job_runs WHERE job = :second_job),
          'succeeded t t', 'and does not start a second retrain of the project');
SELECT is((SELECT array_agg(status ORDER BY id) FROM mlops.retrain_queue WHERE project = 'stable_p'),
          ARRAY['running', 'queued'], 'its drift queued the next retrain, which waits');

-- at most one retrain in flight per project, also against a manual
-- mlops.retrain: a queued request must wait while another one runs
-- (lock_timeout: a wrong claim would wait for the locked relation)
SELECT id AS queued_request FROM mlops.retrain_queue WHERE project = 'stable_p' AND status = 'queued' \gset
BEGIN;
SET LOCAL ROLE loop_owner;
SET LOCAL lock_timeout = '2s';
SELECT throws_ok(format('SELECT mlops.retrain(%L, %s)', 'stable_p', :queued_request),
                 '55000', 'a retrain of project "stable_p" is already running',
                 'a manual retrain does not start a second retrain of the project');
COMMIT;
-- and a request already running is taken over only by the scheduled run
-- that claimed it (here one claimed by no run at all)
BEGIN;
INSERT INTO mlops.retrain_queue (project, reason, status, started_at)
VALUES ('loop_p', 'test', 'running', now()) RETURNING id AS orphan_request \gset
SET LOCAL ROLE loop_owner;
SELECT throws_ok(format('SELECT mlops.retrain(%L, %s)', 'loop_p', :orphan_request),
                 '55000', format('retrain request %s is already running', :orphan_request),
                 'a manual retrain cannot take over a running request');
ROLLBACK;

SELECT ok(mlops.cancel_run(:long_run), 'cancel_run of the run that is training');
SELECT ok(pg_temp.wait_for(format($$(SELECT status FROM mlops.job_runs WHERE id = %s) = 'canceled'$$, :long_run), 5),
          'the training stops and the run records canceled within 5 s');
SELECT is((SELECT status FROM mlops.retrain_queue WHERE id = :long_request), 'canceled',
          'the retrain it had claimed records canceled');
SELECT is((SELECT max(version) FROM mlops.model_versions WHERE project = 'stable_p'), 1,
          'and no version was made');
SELECT pg_temp.release_lock('loop_locker');

-- clean up (the registry keeps history; these rows are only this test's)
SELECT mlops.unschedule(j) FROM unnest(ARRAY[:loop_job, :same_job, :stable_job, :long_job, :second_job]::bigint[]) j;
SELECT pg_temp.drop_projects('loop\_p', 'same\_p', 'stable\_p');
DROP TABLE loop_hist, loop_live, same_hist, same_live, stable_hist, stable_live;
SELECT pg_temp.drop_role('loop_owner');
SELECT * FROM finish();
