-- Scheduled jobs, with the library really preloaded: the launcher runs in
-- this database (mlops.database) with mlops.naptime = 1.
--
-- Runs happen in other processes, so everything here is committed, and
-- every wait is a bounded poll (pg_temp.wait_for).  Long runs are made by
-- locking their relation from a second connection (pg_temp.hold_lock): the
-- worker locks the relation it checks, so it waits on that lock, as a long
-- check or training would run, until it is canceled or terminated.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(47);

CREATE TABLE jobs_live (x float8, y float8);
INSERT INTO jobs_live SELECT g, 2 * g FROM generate_series(1, 200) g;
CREATE TABLE jobs_secret (x float8);
CREATE TABLE jobs_locked (x float8);
SELECT pg_temp.create_role('jobs_alice', 'jobs_live');
SELECT pg_temp.create_role('jobs_bob', 'jobs_live');
SELECT pg_temp.create_role('jobs_carol');
-- jobs never run as a superuser: the jobs of this test run as jobs_ops
SELECT pg_temp.create_role('jobs_ops', 'jobs_live', 'jobs_locked');

-- ---------------------------------------------------------------------------
-- the launcher is up in this database
-- ---------------------------------------------------------------------------
SELECT ok(pg_temp.wait_for('EXISTS (SELECT 1 FROM pg_temp.mlops_launchers)'),
          'the launcher runs in mlops.database');
SELECT pid AS launcher_pid FROM pg_temp.mlops_launchers \gset
SELECT ok(mlops.scheduler_preloaded(), 'the library was preloaded');

-- ---------------------------------------------------------------------------
-- the reaper does not take a process that reused a run's pid for its worker:
-- runs "running" in this very backend, but started before the server, or
-- recorded as another role's, or started before this backend, are failed
-- ---------------------------------------------------------------------------
INSERT INTO mlops.job_runs (project, relation, retrain, owner, status, pid, started_at)
SELECT 'jobs_reaped_' || k, 'public.jobs_live', false, o::text::regrole, 'running', pg_backend_pid(), t
  FROM (VALUES (1, current_user, pg_postmaster_start_time() - interval '1 minute'),
               (2, 'jobs_alice'::name, now()),
               (3, current_user, (SELECT backend_start FROM pg_stat_activity
                                   WHERE pid = pg_backend_pid()) - interval '1 millisecond'))
       AS v(k, o, t);
SELECT ok(pg_temp.wait_for($$(SELECT status FROM mlops.job_runs WHERE project = 'jobs_reaped_1') = 'failed'$$, 10),
          'a run that started before the server is failed, though its pid is in use');
SELECT ok(pg_temp.wait_for($$(SELECT status FROM mlops.job_runs WHERE project = 'jobs_reaped_2') = 'failed'$$, 10),
          'a run whose pid is now a backend of another role is failed');
SELECT ok(pg_temp.wait_for($$(SELECT status FROM mlops.job_runs WHERE project = 'jobs_reaped_3') = 'failed'$$, 10),
          'a run that started before the backend now using its pid is failed');
SELECT pg_temp.drop_projects('jobs\_reaped\_%');

-- ---------------------------------------------------------------------------
-- jobs never run as a superuser
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT mlops.schedule_drift_check('jobs_p', 'jobs_live', '1 hour', false)$$,
                 '42501', 'a job cannot run as superuser "postgres"',
                 'scheduling a job that would run as a superuser is refused');
SELECT pg_temp.create_role('jobs_dave', 'jobs_live');
BEGIN;
SELECT mlops.schedule_drift_check('jobs_p', 'jobs_live', '1 hour', false, 'jobs_dave') AS dave_job \gset
ALTER ROLE jobs_dave SUPERUSER;
COMMIT;
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND status = 'failed')$$, :dave_job)),
          'the run of a role that became a superuser after scheduling fails');
SELECT is(error, 'role "jobs_dave" is a superuser, and jobs never run as a superuser',
          'saying why')
  FROM mlops.job_runs WHERE job = :dave_job;
SELECT is(pid, NULL, 'without starting a worker') FROM mlops.job_runs WHERE job = :dave_job;
ALTER ROLE jobs_dave NOSUPERUSER;
SELECT mlops.unschedule(:dave_job);
SELECT pg_temp.drop_role('jobs_dave');

-- ---------------------------------------------------------------------------
-- a failing job records failed with its error, and the launcher carries on
-- ---------------------------------------------------------------------------
SELECT mlops.schedule_drift_check('jobs_no_such_project', 'jobs_live', '1 hour', false, 'jobs_ops') AS failing_job \gset
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND status = 'failed')$$, :failing_job)),
          'a run of a project that does not exist fails');
SELECT ok(error IS NOT NULL AND error <> '' AND finished_at >= started_at AND pid IS NOT NULL
          AND owner = 'jobs_ops'::regrole AND relation = 'public.jobs_live',
          'the failed run records its error, times, worker pid and role')
  FROM mlops.job_runs WHERE job = :failing_job;
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE job = :failing_job), 1::bigint,
          'a job every hour ran once');
SELECT ok(next_run_at > now() + interval '50 minutes' AND last_run_at IS NOT NULL,
          'the next run is an interval later')
  FROM mlops.jobs WHERE id = :failing_job;

-- ---------------------------------------------------------------------------
-- runs execute as the job owner: a role that cannot read the relation gets
-- "permission denied" (the grant is revoked after scheduling, in the same
-- transaction, so the launcher never sees the job with the grant)
-- ---------------------------------------------------------------------------
GRANT SELECT ON jobs_secret TO jobs_alice;
BEGIN;
SET LOCAL ROLE jobs_alice;
SELECT mlops.schedule_drift_check('jobs_p', 'jobs_secret', '1 hour', false) AS alice_job \gset
RESET ROLE;
REVOKE SELECT ON jobs_secret FROM jobs_alice;
COMMIT;
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND status = 'failed')$$, :alice_job)),
          'the run of an unprivileged role fails');
SELECT is(error, 'permission denied for table jobs_secret',
          'it could not read a table its role cannot read')
  FROM mlops.job_runs WHERE job = :alice_job;
SELECT is(owner::text, 'jobs_alice', 'the run is recorded as the owner''s') FROM mlops.job_runs WHERE job = :alice_job;

-- scheduling checks the role can read the relation, and who it runs as
SET ROLE jobs_alice;
SELECT throws_ok($$SELECT mlops.schedule_drift_check('jobs_p', 'jobs_secret', '1 hour')$$,
                 '42501', 'role "jobs_alice" cannot read relation public.jobs_secret',
                 'scheduling a check of an unreadable relation is refused');
SELECT throws_ok($$SELECT mlops.schedule_drift_check('jobs_p', 'jobs_live', '1 hour', true, 'jobs_bob')$$,
                 '42501', 'permission denied to schedule a job for role "jobs_bob"',
                 'scheduling for another role needs superuser');
SELECT throws_ok($$INSERT INTO mlops.jobs (project, relation, every, owner, created_by)
                   VALUES ('x', 'public.jobs_live', '1 hour', 'jobs_bob', 'jobs_bob')$$,
                 '42501', NULL, 'jobs are not written directly');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- row-level security: each role sees its own jobs and runs
-- ---------------------------------------------------------------------------
SELECT id AS alice_run FROM mlops.job_runs WHERE job = :alice_job \gset
SET ROLE jobs_bob;
SELECT is((SELECT count(*) FROM mlops.jobs WHERE id = :alice_job), 0::bigint,
          'another role does not see the job');
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE job = :alice_job), 0::bigint,
          'nor its runs');
SELECT throws_ok(format('SELECT mlops.unschedule(%s)', :alice_job), '42704', NULL,
                 'nor unschedule it');
SELECT throws_ok(format('SELECT mlops.cancel_run(%s)', :alice_run), '42704', NULL,
                 'nor cancel its runs');
RESET ROLE;
SET ROLE jobs_alice;
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE job = :alice_job), 1::bigint,
          'the owner sees its runs');
SELECT ok(mlops.unschedule(:alice_job), 'the owner unschedules its job');
RESET ROLE;
SELECT is((SELECT count(*) FROM mlops.job_runs r WHERE r.owner = 'jobs_alice'::regrole AND r.job IS NULL), 1::bigint,
          'the history stays after unschedule, and superusers see it');

-- ---------------------------------------------------------------------------
-- a job whose role was dropped fails that run, not the launcher
-- ---------------------------------------------------------------------------
GRANT SELECT ON jobs_live TO jobs_carol;
BEGIN;
SELECT mlops.schedule_drift_check('jobs_p', 'jobs_live', '1 hour', false, 'jobs_carol') AS carol_job \gset
SELECT pg_temp.drop_role('jobs_carol');
COMMIT;
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND status = 'failed')$$, :carol_job)),
          'the run of a dropped role fails');
SELECT matches(error, '^role with OID [0-9]+ does not exist$', 'saying the role is gone')
  FROM mlops.job_runs WHERE job = :carol_job;

-- a role without LOGIN cannot run a background worker before PostgreSQL 17
CREATE ROLE jobs_nologin NOLOGIN;
GRANT SELECT ON jobs_live TO jobs_nologin;
SELECT mlops.schedule_drift_check('jobs_p', 'jobs_live', '1 hour', false, 'jobs_nologin') AS nologin_job \gset
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND status = 'failed')$$, :nologin_job)),
          'the run of a NOLOGIN role fails');
SELECT is(error, CASE WHEN current_setting('server_version_num')::int < 170000
                      THEN 'role "jobs_nologin" is not permitted to log in, which a job worker needs'
                      ELSE error END,
          'saying why')
  FROM mlops.job_runs WHERE job = :nologin_job;
SELECT mlops.unschedule(:nologin_job);
SELECT pg_temp.drop_role('jobs_nologin');

-- ---------------------------------------------------------------------------
-- long runs: at most mlops.max_workers (2) at once, a tick is skipped while
-- the previous run of the job is going, cancel_run and SIGTERM stop them
-- ---------------------------------------------------------------------------
SELECT pg_temp.hold_lock('jobs_locker', 'public.jobs_locked');
SELECT mlops.schedule_drift_check('jobs_a', 'jobs_locked', '1 second', false, 'jobs_ops') AS job_a \gset
SELECT mlops.schedule_drift_check('jobs_b', 'jobs_locked', '1 second', false, 'jobs_ops') AS job_b \gset
SELECT mlops.schedule_drift_check('jobs_c', 'jobs_locked', '1 second', false, 'jobs_ops') AS job_c \gset
SELECT ok(pg_temp.wait_for($$(SELECT count(*) FROM mlops.job_runs WHERE status = 'running') = 2$$),
          'two runs start');
SELECT ok(pg_temp.wait_for($$(SELECT count(*) FROM mlops.job_runs r JOIN pg_stat_activity a ON a.pid = r.pid
                               WHERE r.status = 'running' AND a.backend_type = 'mlops job worker'
                                 AND a.wait_event_type = 'Lock') = 2$$, 10),
          'both workers are at work (waiting for the relation)');
SELECT ok(pg_temp.holds_for(format($$(SELECT count(*) FROM mlops.job_runs
                                       WHERE status IN ('starting', 'running')) = 2
                                    AND (SELECT count(*) FROM mlops.job_runs
                                          WHERE job IN (%s, %s, %s)) = 2$$, :job_a, :job_b, :job_c), 3),
          'for 3 s: never more than max_workers, no second run of a busy job every second, the third job waits');
SELECT r.id AS run_1, r.job AS run_1_job FROM mlops.job_runs r
 WHERE r.job IN (:job_a, :job_b, :job_c) AND r.status = 'running' ORDER BY r.id LIMIT 1 \gset
SELECT r.id AS run_2, r.pid AS run_2_pid FROM mlops.job_runs r
 WHERE r.job IN (:job_a, :job_b, :job_c) AND r.status = 'running' ORDER BY r.id DESC LIMIT 1 \gset

SELECT ok(mlops.cancel_run(:run_1), 'cancel_run signals a running run');
SELECT ok(pg_temp.wait_for(format($$(SELECT status FROM mlops.job_runs WHERE id = %s) = 'canceled'$$, :run_1), 5),
          'the run records canceled within 5 s');
SELECT alike(error, 'canceled%', 'with the cancel as its error') FROM mlops.job_runs WHERE id = :run_1;

SELECT ok(pg_terminate_backend(:run_2_pid), 'SIGTERM a worker');
SELECT ok(pg_temp.wait_for(format('NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)', :run_2_pid), 3),
          'the worker exits within 3 s');
SELECT ok(pg_temp.wait_for(format($$(SELECT status FROM mlops.job_runs WHERE id = %s) = 'failed'$$, :run_2), 5),
          'the launcher records the terminated run as failed');

SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs WHERE job = %s)$$, :job_c), 10),
          'the waiting job runs once a worker is free');

SELECT mlops.unschedule(j) FROM unnest(ARRAY[:job_a, :job_b, :job_c]::bigint[]) j;
SELECT mlops.cancel_run(id) FROM mlops.job_runs WHERE status IN ('starting', 'running');
SELECT pg_temp.release_lock('jobs_locker');
SELECT ok(pg_temp.wait_for($$NOT EXISTS (SELECT 1 FROM mlops.job_runs WHERE status IN ('starting', 'running'))$$, 10),
          'no run left in flight');

-- ---------------------------------------------------------------------------
-- history older than mlops.history_days (30) is pruned
-- ---------------------------------------------------------------------------
INSERT INTO mlops.job_runs (project, relation, retrain, owner, status, scheduled_at, started_at, finished_at)
VALUES ('jobs_old', 'public.jobs_live', false, 'postgres', 'succeeded',
        now() - interval '40 days', now() - interval '40 days', now() - interval '40 days'),
       ('jobs_recent', 'public.jobs_live', false, 'postgres', 'succeeded',
        now() - interval '29 days', now() - interval '29 days', now() - interval '29 days');
SELECT ok(pg_temp.wait_for($$NOT EXISTS (SELECT 1 FROM mlops.job_runs WHERE project = 'jobs_old')$$, 10),
          'a run ended 40 days ago is pruned');
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE project = 'jobs_recent'), 1::bigint,
          'a run ended 29 days ago is kept');

-- ---------------------------------------------------------------------------
-- mlops.scheduler_enabled is reloaded on SIGHUP: off, no new run; on again,
-- the due job runs
-- ---------------------------------------------------------------------------
ALTER SYSTEM SET mlops.scheduler_enabled = off;
SELECT pg_reload_conf();
SELECT ok(pg_temp.wait_for($$EXISTS (SELECT 1 FROM pg_temp.mlops_launchers
                                     WHERE query LIKE '%scheduler_enabled is off%')$$, 10),
          'the launcher reloads its configuration on SIGHUP');
SELECT mlops.schedule_drift_check('jobs_paused', 'jobs_live', '1 hour', false, 'jobs_ops') AS paused_job \gset
SELECT ok(pg_temp.holds_for(format('NOT EXISTS (SELECT 1 FROM mlops.job_runs WHERE job = %s)', :paused_job), 2.5),
          'with the scheduler disabled, a due job does not run');
ALTER SYSTEM RESET mlops.scheduler_enabled;
SELECT pg_reload_conf();
SELECT ok(pg_temp.wait_for(format('EXISTS (SELECT 1 FROM mlops.job_runs WHERE job = %s)', :paused_job), 10),
          'enabled again by a reload, the launcher runs it');

-- ---------------------------------------------------------------------------
-- the launcher survived all of it
-- ---------------------------------------------------------------------------
SELECT is((SELECT pid FROM pg_temp.mlops_launchers),
          :launcher_pid, 'the same launcher process carried on throughout');

-- clean up
SELECT mlops.unschedule(id) FROM mlops.jobs WHERE id IN (:failing_job, :carol_job, :paused_job);
SELECT pg_temp.drop_projects('jobs\_%');
DROP TABLE jobs_live, jobs_secret, jobs_locked;
SELECT pg_temp.drop_role('jobs_alice', 'jobs_bob', 'jobs_ops');
SELECT * FROM finish();
