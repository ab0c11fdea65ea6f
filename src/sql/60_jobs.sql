-- mlops install script, part 60: scheduled jobs, their run history, and the
-- closed retraining loop.
--
-- With shared_preload_libraries = 'mlops', a launcher background worker runs
-- in the database named by mlops.database (src/jobs/scheduler.c).  Every
-- mlops.naptime seconds it looks for due jobs in mlops.jobs and starts each
-- due run in its own dynamic background worker (src/jobs/job_worker.c), connected
-- as the role that owns the job.  The worker runs mlops.check_drift and, when
-- drift queued a retrain, mlops.retrain.  Every run leaves a row in
-- mlops.job_runs.
--
-- Jobs and runs are private: row-level security shows each role the rows of
-- the roles whose privileges it has (superusers see everything).  They change only through the
-- functions below, which check who is asking.

-- ---------------------------------------------------------------------------
-- jobs: what to run, how often, as whom
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.jobs (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL DEFAULT 'drift_check'
                 CHECK (kind IN ('drift_check')),
    project      text NOT NULL,
    relation     text NOT NULL,
    every        interval NOT NULL CHECK (every >= interval '1 second'),
    retrain      boolean NOT NULL DEFAULT true,
    owner        regrole NOT NULL,
    created_by   name NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    next_run_at  timestamptz NOT NULL DEFAULT now(),
    last_run_at  timestamptz
);
CREATE INDEX jobs_next_run_idx ON mlops.jobs (next_run_at);
COMMENT ON TABLE mlops.jobs IS 'Scheduled jobs (drift checks that may retrain), run by the mlops launcher';
COMMENT ON COLUMN mlops.jobs.id IS 'Job number, as returned by mlops.schedule_drift_check';
COMMENT ON COLUMN mlops.jobs.kind IS 'What the job does: drift_check (check_drift, then retrain when drift queued one)';
COMMENT ON COLUMN mlops.jobs.project IS 'Project whose production version is checked';
COMMENT ON COLUMN mlops.jobs.relation IS 'Live relation checked, schema-qualified';
COMMENT ON COLUMN mlops.jobs.every IS 'Interval between two runs';
COMMENT ON COLUMN mlops.jobs.retrain IS 'Whether a retrain queued by the check is run at once by the same run';
COMMENT ON COLUMN mlops.jobs.owner IS 'Role the runs execute as (by OID; with its own privileges, never more)';
COMMENT ON COLUMN mlops.jobs.created_by IS 'Role that scheduled the job';
COMMENT ON COLUMN mlops.jobs.created_at IS 'When the job was scheduled';
COMMENT ON COLUMN mlops.jobs.next_run_at IS 'When the launcher next starts the job';
COMMENT ON COLUMN mlops.jobs.last_run_at IS 'When the launcher last started (or skipped) the job';

-- ---------------------------------------------------------------------------
-- job_runs: one row per run, kept mlops.history_days days
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.job_runs (
    id               bigserial PRIMARY KEY,
    job              bigint REFERENCES mlops.jobs (id) ON DELETE SET NULL,
    project          text NOT NULL,
    relation         text NOT NULL,
    retrain          boolean NOT NULL,
    owner            regrole NOT NULL,
    status           text NOT NULL DEFAULT 'starting'
                     CHECK (status IN ('starting', 'running', 'succeeded', 'failed', 'canceled')),
    pid              integer,
    scheduled_at     timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    drift_report     bigint,
    retrain_request  bigint,
    outcome          text,
    error            text,
    CHECK ((status IN ('succeeded', 'failed', 'canceled')) = (finished_at IS NOT NULL))
);
CREATE INDEX job_runs_job_idx ON mlops.job_runs (job, id);
CREATE INDEX job_runs_in_flight_idx ON mlops.job_runs (id)
    WHERE status IN ('starting', 'running');
CREATE INDEX job_runs_finished_idx ON mlops.job_runs (finished_at);
COMMENT ON TABLE mlops.job_runs IS 'Every run of a scheduled job: when, in which worker, how it ended';
COMMENT ON COLUMN mlops.job_runs.id IS 'Run number, the argument of mlops.cancel_run';
COMMENT ON COLUMN mlops.job_runs.job IS 'Job the run belongs to (NULL once the job is unscheduled)';
COMMENT ON COLUMN mlops.job_runs.project IS 'Project checked, copied from the job';
COMMENT ON COLUMN mlops.job_runs.relation IS 'Relation checked, copied from the job';
COMMENT ON COLUMN mlops.job_runs.retrain IS 'Whether the run was allowed to retrain, copied from the job';
COMMENT ON COLUMN mlops.job_runs.owner IS 'Role the run executed as';
COMMENT ON COLUMN mlops.job_runs.status IS 'starting (worker requested), running, succeeded, failed or canceled';
COMMENT ON COLUMN mlops.job_runs.pid IS 'Process id of the background worker that ran it';
COMMENT ON COLUMN mlops.job_runs.scheduled_at IS 'When the launcher created the run';
COMMENT ON COLUMN mlops.job_runs.started_at IS 'When the worker started working on it';
COMMENT ON COLUMN mlops.job_runs.finished_at IS 'When it ended, whatever the outcome';
COMMENT ON COLUMN mlops.job_runs.drift_report IS 'mlops.drift_reports row written by the check';
COMMENT ON COLUMN mlops.job_runs.retrain_request IS 'mlops.retrain_queue entry the run retrained, if any';
COMMENT ON COLUMN mlops.job_runs.outcome IS 'What the run did, in words';
COMMENT ON COLUMN mlops.job_runs.error IS 'Why it failed or was canceled';

-- pg_dump keeps jobs and their history with the rest of the registry.
SELECT pg_catalog.pg_extension_config_dump('mlops.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.job_runs_id_seq', '');

-- Each role sees the jobs and runs of the roles whose privileges it has
-- (its own, and those of roles it is a member of); superusers (and the
-- registry owner, which runs the launcher's bookkeeping) see all of them.
ALTER TABLE mlops.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.job_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_owner_only ON mlops.jobs
    FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY job_runs_owner_only ON mlops.job_runs
    FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
REVOKE ALL ON mlops.jobs, mlops.job_runs FROM PUBLIC;
GRANT SELECT ON mlops.jobs, mlops.job_runs TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Scheduling
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.schedule_drift_check(project text, relation regclass,
                                           every interval,
                                           retrain boolean DEFAULT true,
                                           run_as name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_schedule_drift_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mlops.schedule_drift_check(text, regclass, interval, boolean, name) IS
'Checks relation for drift against project''s production version every interval (first run at once), retraining when drift queues it; runs as run_as (default: the caller; another role needs superuser); returns the job id';

CREATE FUNCTION mlops.unschedule(job bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_unschedule'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.unschedule(bigint) IS
'Removes a job (its owner or a superuser); a run in progress finishes, the history stays';

CREATE FUNCTION mlops.cancel_run(run bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_cancel_run'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.cancel_run(bigint) IS
'Cancels a starting or running job run (its owner or a superuser); the run records canceled';

CREATE FUNCTION mlops.scheduler_preloaded()
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_scheduler_preloaded'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.scheduler_preloaded() IS
'Whether mlops was loaded through shared_preload_libraries, so that a launcher runs scheduled jobs';

-- ---------------------------------------------------------------------------
-- The closed loop: retrain a project from its queue
--
-- mlops.retrain runs as its caller (so training reads the relation with the
-- caller's privileges).  Its two helpers make the queue writes as the
-- registry owner after checking that the caller may retrain the project;
-- they are for mlops.retrain and the job worker, not for direct use.
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.retrain_claim(project text, request bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_retrain_claim'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mlops.retrain_claim(text, bigint) IS
'Internal to mlops.retrain: marks a queued retrain of project running (request, or the oldest queued when NULL) and returns its id, NULL when none is queued';

CREATE FUNCTION mlops.retrain_finish(request bigint, challenger_version integer,
                                     error text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_retrain_finish'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mlops.retrain_finish(bigint, integer, text) IS
'Internal to mlops.retrain: deploys the challenger (strategy retrain) only if it beats the champion on the shared holdout, and records the outcome; with an error, records failed';

CREATE FUNCTION mlops.retrain(project text, request bigint DEFAULT NULL)
RETURNS mlops.retrain_queue
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $retrain$
-- The closed loop for one queued retrain: a fresh snapshot and training of
-- the project's relation with the production version's algorithm,
-- hyperparameters, features and test size (mlops.train, deploy => 'never',
-- which scores the champion on the challenger's held-out rows), then
-- mlops.retrain_finish deploys the challenger only when it is better.
-- A training error is recorded on the queue row as failed, not raised; a
-- cancel is raised and leaves the queue as it was.
DECLARE
    proj   mlops.projects;
    prod   mlops.model_versions;
    chall  mlops.model_versions;
    req    bigint;
    feats  text[];
    msg    text;
BEGIN
    IF project IS NULL THEN
        RAISE EXCEPTION 'project must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    req := mlops.retrain_claim(project, request);
    IF req IS NULL THEN
        RAISE NOTICE 'no retrain of project "%" is queued', project;
        RETURN NULL;
    END IF;

    SELECT * INTO proj FROM mlops.projects p WHERE p.name = retrain.project;
    -- every column up to the baseline, which only the owner's paths read
    -- (the remaining fields of prod stay NULL)
    SELECT v.project, v.version, v.algorithm, v.hyperparams, v.features, v.target,
           v.classes, v.metrics, v.relation, v.snapshot, v.train_rows, v.test_rows,
           v.test_size
      INTO prod FROM mlops.model_versions v
     WHERE v.project = retrain.project AND v.status = 'production';
    IF NOT FOUND THEN
        PERFORM mlops.retrain_finish(req, NULL, 'project has no production version to retrain');
        RETURN (SELECT q FROM mlops.retrain_queue q WHERE q.id = req);
    END IF;

    SELECT array_agg(f ->> 'name' ORDER BY n) INTO feats
      FROM jsonb_array_elements(prod.features) WITH ORDINALITY AS e(f, n);

    BEGIN
        SELECT * INTO STRICT chall
          FROM mlops.train(project,
                           coalesce(proj.relation, prod.relation)::regclass,
                           target      => coalesce(prod.target, proj.target),
                           task        => proj.task,
                           algorithm   => prod.algorithm,
                           hyperparams => prod.hyperparams,
                           features    => feats,
                           test_size   => prod.test_size,
                           deploy      => 'never');
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
        PERFORM mlops.retrain_finish(req, NULL, 'training failed: ' || msg);
        RETURN (SELECT q FROM mlops.retrain_queue q WHERE q.id = req);
    END;

    PERFORM mlops.retrain_finish(req, chall.version);
    RETURN (SELECT q FROM mlops.retrain_queue q WHERE q.id = req);
END
$retrain$;
COMMENT ON FUNCTION mlops.retrain(text, bigint) IS
'Runs a queued retrain of project (request, or the oldest queued): trains with the production settings on a fresh snapshot, deploys only if better (strategy retrain), records the outcome on the queue row and returns it';
