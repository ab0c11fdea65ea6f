-- mlops install script, part 00: the schema and the model registry.
--
-- The install script mlops--0.1.sql is assembled from src/sql/*.sql in
-- file-name order (see the Makefile).  Every registry table and sequence is
-- marked with pg_extension_config_dump so that pg_dump / pg_restore carry the
-- registry's rows.  It changes only through the extension's functions, which
-- perform their own authorisation checks; who may read which rows is part 01.

\echo Use "CREATE EXTENSION mlops" to load this file. \quit

COMMENT ON SCHEMA mlops IS 'mlops: machine-learning lifecycle inside PostgreSQL';

-- ---------------------------------------------------------------------------
-- projects: one row per named model line ("churn", "house_prices", ...)
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.projects (
    name             text PRIMARY KEY
                     CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    task             text NOT NULL
                     CHECK (task IN ('regression', 'classification', 'clustering')),
    target           text,
    key_metric       text NOT NULL
                     CHECK (key_metric IN ('r2', 'f1', 'roc_auc', 'silhouette', 'inertia')),
    relation         text,
    drift_thresholds jsonb NOT NULL DEFAULT '{}'
                     CHECK (jsonb_typeof(drift_thresholds) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    owner            regrole NOT NULL DEFAULT (pg_catalog.quote_ident(current_user))::regrole,
    CHECK ((task = 'clustering') = (target IS NULL))
);
COMMENT ON TABLE mlops.projects IS 'Projects: a named line of models that share a task, a target and a key metric';
COMMENT ON COLUMN mlops.projects.name IS 'Project name, used by train, predict, deploy';
COMMENT ON COLUMN mlops.projects.task IS 'regression, classification or clustering; fixed after the first model';
COMMENT ON COLUMN mlops.projects.target IS 'Target column (NULL for clustering)';
COMMENT ON COLUMN mlops.projects.key_metric IS 'Metric that decides "better": r2, f1 (multiclass), roc_auc (binary) or silhouette (clustering); higher is better (inertia, lower is better, is accepted but not chosen)';
COMMENT ON COLUMN mlops.projects.relation IS 'Relation the latest version was trained on; retraining reads it again';
COMMENT ON COLUMN mlops.projects.drift_thresholds IS 'Per-project overrides of the drift thresholds (see mlops.set_drift_thresholds)';
COMMENT ON COLUMN mlops.projects.created_at IS 'When the first model of the project was trained';
COMMENT ON COLUMN mlops.projects.owner IS 'Role that owns the project (by OID); its members and superusers have every right on it, others what mlops.grant gave them';

-- ---------------------------------------------------------------------------
-- model_versions: every model ever trained, with its bytes and provenance
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.model_versions (
    project           text NOT NULL REFERENCES mlops.projects (name),
    version           integer NOT NULL CHECK (version > 0),
    algorithm         text NOT NULL,
    hyperparams       jsonb NOT NULL DEFAULT '{}',
    features          jsonb NOT NULL,
    target            text,
    classes           text[],
    metrics           jsonb NOT NULL DEFAULT '{}',
    relation          text,
    snapshot          bigint,
    train_rows        bigint NOT NULL CHECK (train_rows >= 0),
    test_rows         bigint NOT NULL CHECK (test_rows >= 0),
    test_size         float8 NOT NULL CHECK (test_size >= 0 AND test_size < 1),
    seed              integer NOT NULL DEFAULT 0,
    training_seconds  float8 NOT NULL CHECK (training_seconds >= 0),
    trained_at        timestamptz NOT NULL DEFAULT now(),
    trained_by        name NOT NULL,
    status            text NOT NULL DEFAULT 'staging'
                      CHECK (status IN ('staging', 'production', 'archived')),
    extension_version text NOT NULL,
    baseline          jsonb,
    model             bytea NOT NULL,
    model_sha256      bytea NOT NULL CHECK (length(model_sha256) = 32),
    search            jsonb,
    tags              jsonb CHECK (jsonb_typeof(tags) = 'object'),
    PRIMARY KEY (project, version)
);
CREATE UNIQUE INDEX model_versions_one_production
    ON mlops.model_versions (project) WHERE status = 'production';
COMMENT ON TABLE mlops.model_versions IS 'Every trained model version with its bytes, metrics and provenance';
COMMENT ON COLUMN mlops.model_versions.project IS 'Project the version belongs to';
COMMENT ON COLUMN mlops.model_versions.version IS 'Version number, 1, 2, 3... per project';
COMMENT ON COLUMN mlops.model_versions.algorithm IS 'Training algorithm (linear, ridge, lasso, elastic_net, logistic, naive_bayes, ...)';
COMMENT ON COLUMN mlops.model_versions.hyperparams IS 'Hyperparameters actually used, defaults filled in';
COMMENT ON COLUMN mlops.model_versions.features IS 'Input features: name, SQL type, kind and encoding (vocabulary, imputation)';
COMMENT ON COLUMN mlops.model_versions.target IS 'Target column the version was trained on';
COMMENT ON COLUMN mlops.model_versions.classes IS 'Classification: the classes as text, in the order of predict_proba';
COMMENT ON COLUMN mlops.model_versions.metrics IS 'Metrics on the held-out split';
COMMENT ON COLUMN mlops.model_versions.relation IS 'Relation the version was trained on, as given';
COMMENT ON COLUMN mlops.model_versions.snapshot IS 'Snapshot of the exact training rows';
COMMENT ON COLUMN mlops.model_versions.train_rows IS 'Rows in the training split';
COMMENT ON COLUMN mlops.model_versions.test_rows IS 'Rows in the held-out split';
COMMENT ON COLUMN mlops.model_versions.test_size IS 'Requested share of held-out rows';
COMMENT ON COLUMN mlops.model_versions.seed IS 'Seed of every random choice made by training';
COMMENT ON COLUMN mlops.model_versions.training_seconds IS 'Wall-clock seconds spent in training';
COMMENT ON COLUMN mlops.model_versions.trained_at IS 'When the version was trained';
COMMENT ON COLUMN mlops.model_versions.trained_by IS 'Role that trained it';
COMMENT ON COLUMN mlops.model_versions.status IS 'staging, production (at most one per project) or archived';
COMMENT ON COLUMN mlops.model_versions.extension_version IS 'mlops version that wrote the model bytes';
COMMENT ON COLUMN mlops.model_versions.baseline IS 'Drift baseline of the training data: per-feature distributions, target and key metric';
COMMENT ON COLUMN mlops.model_versions.model IS 'The model in mlops'' versioned binary format (see docs/model-format.md)';
COMMENT ON COLUMN mlops.model_versions.model_sha256 IS 'sha256 of the model bytes';
COMMENT ON COLUMN mlops.model_versions.search IS 'Hyperparameter search spec (grid or random, folds, trials, seed) that chose the hyperparameters; NULL without search';
COMMENT ON COLUMN mlops.model_versions.tags IS 'Caller''s tags (a JSON object of strings: pipeline commit, ticket...); NULL when none';

-- ---------------------------------------------------------------------------
-- trials: every candidate of a version's hyperparameter search
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.trials (
    project       text NOT NULL,
    version       integer NOT NULL,
    candidate     integer NOT NULL CHECK (candidate > 0),
    hyperparams   jsonb NOT NULL,
    fold_metrics  float8[] NOT NULL,
    mean          float8,
    std           float8,
    seconds       float8 NOT NULL CHECK (seconds >= 0),
    chosen        boolean NOT NULL,
    PRIMARY KEY (project, version, candidate),
    FOREIGN KEY (project, version) REFERENCES mlops.model_versions (project, version)
);
COMMENT ON TABLE mlops.trials IS 'Every candidate of a hyperparameter search (mlops.train''s search), scored by k-fold cross-validation';
COMMENT ON COLUMN mlops.trials.project IS 'Project of the searched version';
COMMENT ON COLUMN mlops.trials.version IS 'Version the search produced';
COMMENT ON COLUMN mlops.trials.candidate IS 'Candidate number, 1, 2, 3... in the order the search generated them';
COMMENT ON COLUMN mlops.trials.hyperparams IS 'The candidate''s hyperparameters, defaults filled in';
COMMENT ON COLUMN mlops.trials.fold_metrics IS 'Key metric on each fold, fitted on the other folds (NULL where undefined)';
COMMENT ON COLUMN mlops.trials.mean IS 'Mean of fold_metrics: the cross-validated key metric';
COMMENT ON COLUMN mlops.trials.std IS 'Population standard deviation of fold_metrics';
COMMENT ON COLUMN mlops.trials.seconds IS 'Seconds spent fitting and scoring the candidate on all folds';
COMMENT ON COLUMN mlops.trials.chosen IS 'The candidate kept: best mean (the first on ties), refitted on every training row as the version';

-- ---------------------------------------------------------------------------
-- deployments: append-only history of what was put in production, and why
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.deployments (
    id                bigserial PRIMARY KEY,
    project           text NOT NULL REFERENCES mlops.projects (name),
    version           integer NOT NULL,
    previous_version  integer,
    strategy          text NOT NULL
                      CHECK (strategy IN ('manual', 'best', 'latest', 'rollback',
                                          'if_better', 'always', 'retrain')),
    reason            text,
    deployed_by       name NOT NULL,
    deployed_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project, version) REFERENCES mlops.model_versions (project, version)
);
CREATE INDEX deployments_project_idx ON mlops.deployments (project, id);
COMMENT ON TABLE mlops.deployments IS 'Every deployment, append-only: who deployed which version, when, how and why';
COMMENT ON COLUMN mlops.deployments.id IS 'Deployment number, increasing with time';
COMMENT ON COLUMN mlops.deployments.project IS 'Project deployed';
COMMENT ON COLUMN mlops.deployments.version IS 'Version put in production';
COMMENT ON COLUMN mlops.deployments.previous_version IS 'Version that was in production before, if any';
COMMENT ON COLUMN mlops.deployments.strategy IS 'manual (a version number), best, latest, rollback, if_better/always (at training), retrain (the closed loop)';
COMMENT ON COLUMN mlops.deployments.reason IS 'Why, in words (metric comparison, user text)';
COMMENT ON COLUMN mlops.deployments.deployed_by IS 'Role that deployed';
COMMENT ON COLUMN mlops.deployments.deployed_at IS 'When';

-- ---------------------------------------------------------------------------
-- drift_reports and retrain_queue: written by mlops.check_drift
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.drift_reports (
    id              bigserial PRIMARY KEY,
    project         text NOT NULL REFERENCES mlops.projects (name),
    version         integer NOT NULL,
    relation        text NOT NULL,
    checked_at      timestamptz NOT NULL DEFAULT now(),
    checked_by      name NOT NULL,
    rows_checked    bigint NOT NULL CHECK (rows_checked >= 0),
    verdict         text NOT NULL CHECK (verdict IN ('no_drift', 'warning', 'drift')),
    drift_share     float8 NOT NULL CHECK (drift_share BETWEEN 0 AND 1),
    concept_drift   boolean,
    features        jsonb NOT NULL,
    summary         jsonb NOT NULL DEFAULT '{}',
    duration_ms     float8 NOT NULL,
    FOREIGN KEY (project, version) REFERENCES mlops.model_versions (project, version)
);
CREATE INDEX drift_reports_project_idx ON mlops.drift_reports (project, id);
COMMENT ON TABLE mlops.drift_reports IS 'One row per drift check of a live relation against a version''s baseline';
COMMENT ON COLUMN mlops.drift_reports.id IS 'Report number';
COMMENT ON COLUMN mlops.drift_reports.project IS 'Project checked';
COMMENT ON COLUMN mlops.drift_reports.version IS 'Version whose baseline was the reference';
COMMENT ON COLUMN mlops.drift_reports.relation IS 'Live relation checked';
COMMENT ON COLUMN mlops.drift_reports.checked_at IS 'When the check ran';
COMMENT ON COLUMN mlops.drift_reports.checked_by IS 'Role that ran it (the job owner for scheduled checks)';
COMMENT ON COLUMN mlops.drift_reports.rows_checked IS 'Rows of the live relation read';
COMMENT ON COLUMN mlops.drift_reports.verdict IS 'no_drift, warning or drift';
COMMENT ON COLUMN mlops.drift_reports.drift_share IS 'Share of the features found drifting';
COMMENT ON COLUMN mlops.drift_reports.concept_drift IS 'Live key metric fell past the threshold (NULL when the live relation has no target)';
COMMENT ON COLUMN mlops.drift_reports.features IS 'Per-feature findings: statistics, p-values, flags';
COMMENT ON COLUMN mlops.drift_reports.summary IS 'Dataset-level findings: missing/retyped columns, live metric, thresholds used';
COMMENT ON COLUMN mlops.drift_reports.duration_ms IS 'Time the check took';

CREATE TABLE mlops.retrain_queue (
    id                 bigserial PRIMARY KEY,
    project            text NOT NULL REFERENCES mlops.projects (name),
    report_id          bigint REFERENCES mlops.drift_reports (id),
    reason             text NOT NULL,
    status             text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'running', 'deployed', 'rejected', 'failed', 'canceled')),
    queued_at          timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    champion_version   integer,
    challenger_version integer,
    champion_score     float8,
    challenger_score   float8,
    outcome            text
);
CREATE UNIQUE INDEX retrain_queue_one_queued
    ON mlops.retrain_queue (project) WHERE status = 'queued';
CREATE UNIQUE INDEX retrain_queue_one_running
    ON mlops.retrain_queue (project) WHERE status = 'running';
COMMENT ON TABLE mlops.retrain_queue IS 'Retrains requested by drift checks and their outcomes';
COMMENT ON COLUMN mlops.retrain_queue.id IS 'Queue entry number';
COMMENT ON COLUMN mlops.retrain_queue.project IS 'Project to retrain';
COMMENT ON COLUMN mlops.retrain_queue.report_id IS 'Drift report that asked for it';
COMMENT ON COLUMN mlops.retrain_queue.reason IS 'Why, in words';
COMMENT ON COLUMN mlops.retrain_queue.status IS 'queued, running, deployed, rejected (challenger not better), failed, canceled';
COMMENT ON COLUMN mlops.retrain_queue.queued_at IS 'When it was queued';
COMMENT ON COLUMN mlops.retrain_queue.started_at IS 'When a worker took it';
COMMENT ON COLUMN mlops.retrain_queue.finished_at IS 'When it ended';
COMMENT ON COLUMN mlops.retrain_queue.champion_version IS 'Production version at the time of the retrain';
COMMENT ON COLUMN mlops.retrain_queue.challenger_version IS 'Version the retrain produced';
COMMENT ON COLUMN mlops.retrain_queue.champion_score IS 'Key metric of the champion on the shared holdout';
COMMENT ON COLUMN mlops.retrain_queue.challenger_score IS 'Key metric of the challenger on the shared holdout';
COMMENT ON COLUMN mlops.retrain_queue.outcome IS 'What happened, in words (or the error)';

-- pg_dump keeps the rows of these tables (extension members are otherwise
-- dumped as a bare CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('mlops.projects', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.trials', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.deployments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_reports', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.drift_reports_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retrain_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.retrain_queue_id_seq', '');

-- ---------------------------------------------------------------------------
-- Views for BI tools
-- ---------------------------------------------------------------------------
CREATE VIEW mlops.overview AS
SELECT p.name                                     AS project,
       p.task,
       p.target,
       p.key_metric,
       prod.version                               AS production_version,
       prod.algorithm,
       (prod.metrics ->> p.key_metric)::float8    AS key_metric_value,
       last.trained_at                            AS last_trained,
       last.version                               AS latest_version,
       dr.checked_at                              AS last_drift_check,
       dr.verdict                                 AS last_drift_verdict,
       (SELECT count(*) FROM mlops.retrain_queue q
         WHERE q.project = p.name AND q.status = 'queued') AS queued_retrains,
       p.owner
FROM mlops.projects p
LEFT JOIN mlops.model_versions prod
       ON prod.project = p.name AND prod.status = 'production'
LEFT JOIN LATERAL (SELECT v.version, v.trained_at FROM mlops.model_versions v
                    WHERE v.project = p.name
                    ORDER BY v.version DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (SELECT r.checked_at, r.verdict FROM mlops.drift_reports r
                    WHERE r.project = p.name
                    ORDER BY r.id DESC LIMIT 1) dr ON true;
COMMENT ON VIEW mlops.overview IS 'One row per project: production version, key metric, last training, last drift verdict, queued retrains';

CREATE VIEW mlops.leaderboard AS
SELECT v.project,
       v.version,
       v.algorithm,
       v.status,
       p.key_metric,
       (v.metrics ->> p.key_metric)::float8 AS key_metric_value,
       rank() OVER (PARTITION BY v.project
                    ORDER BY CASE WHEN p.key_metric = 'inertia'
                                  THEN (v.metrics ->> p.key_metric)::float8
                                  ELSE -(v.metrics ->> p.key_metric)::float8 END
                             NULLS LAST) AS rank,
       v.metrics,
       v.hyperparams,
       v.train_rows,
       v.training_seconds,
       v.trained_at,
       v.tags
FROM mlops.model_versions v
JOIN mlops.projects p ON p.name = v.project;
COMMENT ON VIEW mlops.leaderboard IS 'Versions of each project ranked by the project''s key metric (1 = best)';

-- One row per version (candidate NULL) and per candidate of its search, in
-- flat typed columns to chart.  key_metric_value is the held-out metric of
-- a version; cv_mean and cv_std the cross-validated one (of the chosen
-- candidate on a version's row).
CREATE VIEW mlops.experiments AS
SELECT v.project,
       v.version,
       t.candidate,
       v.algorithm,
       p.key_metric,
       CASE WHEN t.candidate IS NULL
            THEN (v.metrics ->> p.key_metric)::float8 END      AS key_metric_value,
       coalesce(t.mean, c.mean)                                 AS cv_mean,
       coalesce(t.std, c.std)                                   AS cv_std,
       v.train_rows,
       coalesce(t.seconds, v.training_seconds)                  AS seconds,
       v.trained_at,
       v.status,
       t.chosen,
       v.tags,
       coalesce(t.hyperparams, v.hyperparams)                   AS hyperparams,
       (coalesce(t.hyperparams, v.hyperparams) ->> 'alpha')::float8         AS alpha,
       (coalesce(t.hyperparams, v.hyperparams) ->> 'l1_ratio')::float8      AS l1_ratio,
       (coalesce(t.hyperparams, v.hyperparams) ->> 'max_depth')::float8     AS max_depth,
       (coalesce(t.hyperparams, v.hyperparams) ->> 'learning_rate')::float8 AS learning_rate,
       (coalesce(t.hyperparams, v.hyperparams) ->> 'n_estimators')::float8  AS n_estimators
FROM mlops.model_versions v
JOIN mlops.projects p ON p.name = v.project
LEFT JOIN mlops.trials c
       ON c.project = v.project AND c.version = v.version AND c.chosen
LEFT JOIN LATERAL (SELECT NULL::integer AS candidate, NULL::jsonb AS hyperparams,
                          NULL::float8 AS mean, NULL::float8 AS std,
                          NULL::float8 AS seconds, NULL::boolean AS chosen
                   UNION ALL
                   SELECT t.candidate, t.hyperparams, t.mean, t.std, t.seconds, t.chosen
                     FROM mlops.trials t
                    WHERE t.project = v.project AND t.version = v.version) t ON true;
COMMENT ON VIEW mlops.experiments IS 'One row per version and per hyperparameter-search candidate, with flat columns for charts';

-- PUBLIC may select; row-level security (part 01) shows each role the rows
-- of the projects it may read.  Writes go through the extension's functions.
REVOKE ALL ON ALL TABLES IN SCHEMA mlops FROM PUBLIC;
GRANT USAGE ON SCHEMA mlops TO PUBLIC;
GRANT SELECT ON mlops.projects, mlops.deployments, mlops.trials,
                mlops.drift_reports, mlops.retrain_queue TO PUBLIC;
-- Every column of model_versions but the drift baseline, which holds a
-- sample of the training rows: only the project's owner reads it, through
-- mlops.baseline() and mlops.check_drift.
GRANT SELECT (project, version, algorithm, hyperparams, features, target, classes,
              metrics, relation, snapshot, train_rows, test_rows, test_size, seed,
              training_seconds, trained_at, trained_by, status, extension_version,
              model, model_sha256, search, tags)
   ON mlops.model_versions TO PUBLIC;
GRANT SELECT ON mlops.overview, mlops.leaderboard, mlops.experiments TO PUBLIC;
