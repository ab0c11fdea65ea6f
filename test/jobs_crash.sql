-- Crashes: kill -9 of a job worker, then of the launcher.
--
-- Either kill makes the postmaster reinitialise shared memory: every
-- session is cut (this one too), the launcher is restarted, and it marks the
-- runs left running as failed.  Because this session dies, the kills come
-- first, from psql (\!), and the pgTAP plan only after psql has reconnected;
-- what each step observed is carried in psql variables.  Every wait is a
-- bounded poll.  The helpers live in pg_temp, so each reconnection includes
-- them again.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET synchronous_commit = on;     -- what this test commits survives a crash
\ir lib/helpers.sql
SELECT current_setting('mlops_test.bindir') AS bindir \gset
\setenv MLOPS_TEST_BINDIR :bindir

CREATE TABLE public.jobs_crash_locked (x float8);
CREATE TABLE public.jobs_crash_live (x float8);
-- jobs never run as a superuser: these run as jobs_crash_ops
SELECT pg_temp.create_role('jobs_crash_ops', 'public.jobs_crash_locked', 'public.jobs_crash_live');

SELECT pg_temp.wait_for('EXISTS (SELECT 1 FROM pg_temp.mlops_launchers)') AS launcher_up \gset
SELECT pid AS launcher_pid_0 FROM pg_temp.mlops_launchers \gset

-- ---------------------------------------------------------------------------
-- 1. kill -9 of a worker at work
-- ---------------------------------------------------------------------------
-- a lock held from a second connection keeps a worker at work until it is killed
SELECT pg_temp.hold_lock('jobs_crash_locker', 'public.jobs_crash_locked');
SELECT mlops.schedule_drift_check('jobs_crash_1', 'jobs_crash_locked', '1 hour', false, 'jobs_crash_ops') AS job_1 \gset
SELECT pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                         WHERE job = %s AND status = 'running')$$, :job_1))
       AS worker_1_running \gset
SELECT id AS run_1, pid AS worker_1_pid FROM mlops.job_runs WHERE job = :job_1 \gset
\setenv MLOPS_KILL_PID :worker_1_pid
\! kill -9 "$MLOPS_KILL_PID"; sleep 1; for i in $(seq 1 150); do "$MLOPS_TEST_BINDIR/pg_isready" -q && break; sleep 0.2; done
\connect
SET client_min_messages = warning;
SET synchronous_commit = on;
\ir lib/helpers.sql

SELECT pg_temp.wait_for(format('EXISTS (SELECT 1 FROM pg_temp.mlops_launchers WHERE pid <> %s)', :launcher_pid_0))
       AS launcher_back_1 \gset
SELECT pg_temp.wait_for(format($$(SELECT status FROM mlops.job_runs WHERE id = %s) = 'failed'$$, :run_1))
       AS run_1_failed \gset
SELECT pid AS launcher_pid_1 FROM pg_temp.mlops_launchers \gset

-- ---------------------------------------------------------------------------
-- 2. kill -9 of the launcher while a worker is at work
-- ---------------------------------------------------------------------------
SELECT pg_temp.hold_lock('jobs_crash_locker', 'public.jobs_crash_locked');
SELECT mlops.schedule_drift_check('jobs_crash_2', 'jobs_crash_locked', '1 hour', false, 'jobs_crash_ops') AS job_2 \gset
SELECT pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                         WHERE job = %s AND status = 'running')$$, :job_2))
       AS worker_2_running \gset
SELECT id AS run_2 FROM mlops.job_runs WHERE job = :job_2 \gset
\setenv MLOPS_KILL_PID :launcher_pid_1
\! kill -9 "$MLOPS_KILL_PID"; sleep 1; for i in $(seq 1 150); do "$MLOPS_TEST_BINDIR/pg_isready" -q && break; sleep 0.2; done
\connect
SET client_min_messages = warning;
SET synchronous_commit = on;
\ir lib/helpers.sql

-- ---------------------------------------------------------------------------
-- the checks
-- ---------------------------------------------------------------------------
SELECT plan(12);
SELECT ok(:'launcher_up'::boolean, 'the launcher was up');
SELECT ok(:'worker_1_running'::boolean, 'a worker was at work');
SELECT ok(:'launcher_back_1'::boolean, 'after kill -9 of the worker, the postmaster restarted the launcher');
SELECT ok(:'run_1_failed'::boolean, 'the new launcher marked the killed worker''s run failed');
SELECT alike(error, 'the worker ended without recording an outcome%', 'saying the worker ended without an outcome')
  FROM mlops.job_runs WHERE id = :run_1;
SELECT ok(:'worker_2_running'::boolean, 'a worker was at work again');
SELECT ok(pg_temp.wait_for(format('EXISTS (SELECT 1 FROM pg_temp.mlops_launchers WHERE pid <> %s)', :launcher_pid_1)),
          'after kill -9 of the launcher, the postmaster restarted it');
SELECT ok(pg_temp.wait_for(format($$(SELECT status FROM mlops.job_runs WHERE id = %s) = 'failed'$$, :run_2)),
          'the run left running by the crash is marked failed');
SELECT is((SELECT count(*) FROM mlops.job_runs WHERE status IN ('starting', 'running')), 0::bigint,
          'no run is left running');
SELECT is((SELECT count(*) FROM mlops.jobs WHERE id IN (:job_1, :job_2)), 2::bigint,
          'the jobs are still scheduled');

-- the restarted launcher runs new jobs
SELECT mlops.schedule_drift_check('jobs_crash_3', 'jobs_crash_live', '1 hour', false, 'jobs_crash_ops') AS job_3 \gset
SELECT ok(pg_temp.wait_for(format($$EXISTS (SELECT 1 FROM mlops.job_runs
                                            WHERE job = %s AND finished_at IS NOT NULL)$$, :job_3)),
          'a job scheduled after the crashes runs to its end');
SELECT is((SELECT count(*) FROM pg_temp.mlops_launchers), 1::bigint,
          'one launcher');

SELECT mlops.unschedule(j) FROM unnest(ARRAY[:job_1, :job_2, :job_3]::bigint[]) j;
SELECT pg_temp.drop_projects('jobs\_crash\_%');
DROP TABLE public.jobs_crash_locked, public.jobs_crash_live;
SELECT pg_temp.drop_role('jobs_crash_ops');
SELECT * FROM finish();
