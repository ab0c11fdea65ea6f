-- Scheduling: the SQL surface and its errors.
--
-- pg_regress runs in a database of its own, not in mlops.database, so no
-- launcher runs these jobs (and scheduling says so); what runs do is tested
-- by test/jobs*.sql in the launcher's database.
CREATE TABLE sched_live (x float8, y float8);
CREATE SEQUENCE sched_seq;
CREATE ROLE sched_alice LOGIN;
CREATE ROLE sched_bob LOGIN;
CREATE ROLE sched_ops LOGIN;
GRANT SELECT ON sched_live TO sched_alice, sched_ops;

-- the functions, as declared
SELECT p.oid::regprocedure AS function, p.provolatile AS volatility,
       p.proisstrict AS strict, p.prosecdef AS security_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'mlops'::regnamespace
   AND p.proname IN ('schedule_drift_check', 'unschedule', 'cancel_run', 'retrain',
                     'retrain_claim', 'retrain_finish', 'scheduler_preloaded')
 ORDER BY 1::text;
SELECT c.relname, c.relrowsecurity AS row_security
  FROM pg_class c
 WHERE c.oid IN ('mlops.jobs'::regclass, 'mlops.job_runs'::regclass)
 ORDER BY 1;
SELECT mlops.scheduler_preloaded();

-- jobs never run as a superuser
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour');

-- a job is recorded; the NOTICE says that the launcher runs elsewhere
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour', run_as => 'sched_ops') AS first_job \gset
SELECT id = :first_job AS same_id, project, relation, every, retrain, owner, created_by,
       next_run_at <= now() AS due_now, last_run_at
  FROM mlops.jobs;

-- bad arguments
SELECT mlops.schedule_drift_check('p', 'sched_live', '10 milliseconds', run_as => 'sched_ops');
SELECT mlops.schedule_drift_check('p', 'sched_live', '-1 hour', run_as => 'sched_ops');
SELECT mlops.schedule_drift_check('p', 'sched_seq', '1 hour', run_as => 'sched_ops');
SELECT mlops.schedule_drift_check('p', 'no_such_table', '1 hour');
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour', true, 'no_such_role');
SELECT mlops.schedule_drift_check(NULL, 'sched_live', '1 hour');
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour', NULL);

-- privileges: runs read with the owner's privileges, so the owner must be
-- able to read the relation; only superusers schedule for another role;
-- jobs and runs change only through the functions
SET ROLE sched_bob;
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour');
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 hour', true, 'sched_alice');
INSERT INTO mlops.jobs (project, relation, every, owner, created_by)
VALUES ('p', 'public.sched_live', '1 hour', 'sched_bob', 'sched_bob');
UPDATE mlops.job_runs SET status = 'failed';
DELETE FROM mlops.jobs;
RESET ROLE;
SELECT mlops.schedule_drift_check('p', 'sched_live', '1 day', false, 'sched_alice') AS alice_job \gset

-- row-level security: each role sees its own jobs
SET ROLE sched_alice;
SELECT project, relation, every, retrain, owner, created_by FROM mlops.jobs;
RESET ROLE;
SET ROLE sched_bob;
SELECT count(*) AS jobs_bob_sees FROM mlops.jobs;
SELECT mlops.unschedule(:alice_job);
RESET ROLE;
SELECT count(*) AS jobs_superuser_sees FROM mlops.jobs;

-- unschedule: by the owner, once
SET ROLE sched_alice;
SELECT mlops.unschedule(:alice_job);
SELECT mlops.unschedule(:alice_job);
RESET ROLE;

-- cancel_run: a run not started yet is canceled at once, an ended one says so
INSERT INTO mlops.job_runs (job, project, relation, retrain, owner)
SELECT id, project, relation, retrain, owner FROM mlops.jobs WHERE id = :first_job
RETURNING id AS first_run \gset
SET ROLE sched_bob;
SELECT mlops.cancel_run(:first_run);
RESET ROLE;
SELECT mlops.cancel_run(:first_run);
SELECT status, error, finished_at IS NOT NULL AS ended FROM mlops.job_runs WHERE id = :first_run;
SELECT mlops.cancel_run(:first_run);
SELECT mlops.cancel_run(-1);

-- the runs' bookkeeping is consistent
\set VERBOSITY terse
INSERT INTO mlops.job_runs (project, relation, retrain, owner, status)
VALUES ('p', 'public.sched_live', false, 'postgres', 'succeeded');
INSERT INTO mlops.job_runs (project, relation, retrain, owner, status)
VALUES ('p', 'public.sched_live', false, 'postgres', 'bogus');
\set VERBOSITY default

-- unscheduling keeps the history
SELECT mlops.unschedule(:first_job);
SELECT job, status FROM mlops.job_runs WHERE id = :first_run;

-- retrain: errors that need no model
SELECT mlops.retrain('no_such_project');
SELECT mlops.retrain(NULL);
SELECT mlops.retrain_finish(-1, NULL);
SELECT mlops.retrain_finish(NULL, NULL);

DELETE FROM mlops.job_runs;
DROP TABLE sched_live;
DROP SEQUENCE sched_seq;
DROP ROLE sched_alice, sched_bob, sched_ops;
