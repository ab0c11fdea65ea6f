-- mlops install script, part 01: who may see and do what with a project.
--
-- A project belongs to a role, recorded by OID (mlops.projects.owner is a
-- regrole: pg_dump writes it as the role's name, and a role dropped and
-- created again under the same name is a new role that inherits nothing).
-- Members of the owning role and superusers have every right on it.  The
-- owner hands out four privileges per project to other roles:
--
--   read    see the project's registry rows: versions (features with their
--           category vocabularies, model bytes), metrics, deployments,
--           drift reports, the retrain queue, search trials
--   score   the predict family
--   train   train, evaluate, check_drift, reproduce, schedule_drift_check
--   deploy  deploy, rollback, set_drift_thresholds
--
-- train and deploy imply read: whoever changes a project sees it.  score does
-- not: an application that scores rows need not see the training data that
-- the registry rows are derived from.
--
-- Nobody else sees any row of the project.  The C entry points check the
-- privilege they need (mlops.has_project_privilege's C twin); the tables and
-- the views over them are filtered by row-level security with the same
-- function, and the views run with the querying role's rights
-- (security_invoker).  See docs/operations.md, "Access control".

-- ---------------------------------------------------------------------------
-- project_grants: privileges given by a project's owner to other roles
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.project_grants (
    project     text NOT NULL REFERENCES mlops.projects (name),
    grantee     regrole NOT NULL,
    privilege   text NOT NULL CHECK (privilege IN ('read', 'score', 'train', 'deploy')),
    granted_by  name NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, grantee, privilege)
);
COMMENT ON TABLE mlops.project_grants IS 'Per-project privileges given to roles with mlops.grant';
COMMENT ON COLUMN mlops.project_grants.project IS 'Project the privilege is on';
COMMENT ON COLUMN mlops.project_grants.grantee IS 'Role that holds it (members of the role too)';
COMMENT ON COLUMN mlops.project_grants.privilege IS 'read, score, train or deploy';
COMMENT ON COLUMN mlops.project_grants.granted_by IS 'Role that granted it';
COMMENT ON COLUMN mlops.project_grants.granted_at IS 'When';
SELECT pg_catalog.pg_extension_config_dump('mlops.project_grants', '');

-- ---------------------------------------------------------------------------
-- The check, and the functions that change who may do what
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.has_project_privilege(project text, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mlops_has_project_privilege'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.has_project_privilege(text, text) IS
'Does the current role hold privilege (read, score, train, deploy, or owner) on project?  false when there is no such project';

CREATE FUNCTION mlops.grant(project text, role regrole, privilege text)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_grant'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.grant(text, regrole, text) IS
'Give role a privilege on a project: read, score, train or deploy (the project''s owner or a superuser)';

CREATE FUNCTION mlops.revoke(project text, role regrole, privilege text)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_revoke'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.revoke(text, regrole, text) IS
'Take a privilege on a project back from role (the project''s owner or a superuser)';

CREATE FUNCTION mlops.reassign_owner(project text, new_owner regrole)
RETURNS void
AS 'MODULE_PATHNAME', 'mlops_reassign_owner'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.reassign_owner(text, regrole) IS
'Give a project to another role (its owner, who must also be a member of the new role, or a superuser)';

-- ---------------------------------------------------------------------------
-- Row-level security on the registry
-- ---------------------------------------------------------------------------
-- Policies apply to every role but the tables' owner (the registry owner,
-- which the C code acts as for its writes) and superusers.
ALTER TABLE mlops.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.model_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.trials ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.drift_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.retrain_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.project_grants ENABLE ROW LEVEL SECURITY;

CREATE POLICY projects_read ON mlops.projects
    FOR SELECT USING (mlops.has_project_privilege(name, 'read'));
CREATE POLICY model_versions_read ON mlops.model_versions
    FOR SELECT USING (mlops.has_project_privilege(project, 'read'));
CREATE POLICY trials_read ON mlops.trials
    FOR SELECT USING (mlops.has_project_privilege(project, 'read'));
CREATE POLICY deployments_read ON mlops.deployments
    FOR SELECT USING (mlops.has_project_privilege(project, 'read'));
CREATE POLICY drift_reports_read ON mlops.drift_reports
    FOR SELECT USING (mlops.has_project_privilege(project, 'read'));
CREATE POLICY retrain_queue_read ON mlops.retrain_queue
    FOR SELECT USING (mlops.has_project_privilege(project, 'read'));
-- a grant is seen by its grantee (and members) and by the project's owner
CREATE POLICY project_grants_read ON mlops.project_grants
    FOR SELECT USING (pg_catalog.pg_has_role(grantee, 'USAGE')
                      OR mlops.has_project_privilege(project, 'owner'));

GRANT SELECT ON mlops.project_grants TO PUBLIC;

-- The views read the tables with the querying role's rights, so the
-- policies above filter them too.
ALTER VIEW mlops.overview SET (security_invoker = true);
ALTER VIEW mlops.leaderboard SET (security_invoker = true);
ALTER VIEW mlops.experiments SET (security_invoker = true);
