
-- ---------------------------------------------------------------------------
-- Serving on Citus (docs/operations.md, "Running on Citus").
--
-- The registry lives on the coordinator.  Citus workers score rows of
-- distributed queries, so they need the models: mlops.citus_setup() creates
-- mlops.serving_models, a Citus reference table (a copy on every node) that
-- holds what scoring needs of every version -- its status, bytes, sha256 and
-- the names of the roles that may score it -- and the triggers below keep it
-- in step with the registry, in the same transaction as train, deploy,
-- rollback, grant, revoke and reassign_owner.  Citus commits a reference
-- table's change on all nodes with two-phase commit, so a committed deploy
-- is on every node or none.
--
-- The table is created by that call, not by CREATE EXTENSION: a table that
-- belongs to an extension cannot become a reference table.  Without it
-- (plain PostgreSQL) the triggers return at once.
--
-- On the coordinator, the planner support of the predict family replaces a
-- constant project name by a "ticket" naming the version and sha256 it
-- resolved (src/scoring/predict.c), so that every worker of one query
-- scores with the same model, or fails rather than use another.
-- ---------------------------------------------------------------------------

-- Invalidates cached plans that resolved a version (their tickets), at
-- commit, in every backend of this node.
CREATE FUNCTION mlops._serving_invalidate()
RETURNS void AS 'MODULE_PATHNAME', 'mlops_serving_invalidate'
LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION mlops._serving_invalidate() FROM PUBLIC;
COMMENT ON FUNCTION mlops._serving_invalidate() IS
    'Internal: makes cached plans resolve their model versions again';

-- The roles that may score a project, by name (role OIDs differ between
-- Citus nodes; names are what Citus propagates): the owner first, then the
-- grantees of score.  Members of these roles and superusers may score.
CREATE FUNCTION mlops._serving_scorers(project text)
RETURNS text[] LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_prepend(
        (SELECT p.owner::text FROM mlops.projects p WHERE p.name = $1),
        coalesce((SELECT array_agg(g.grantee::text ORDER BY g.grantee::text)
                  FROM mlops.project_grants g
                  WHERE g.project = $1 AND g.privilege = 'score'), '{}'))
$$;
REVOKE EXECUTE ON FUNCTION mlops._serving_scorers(text) FROM PUBLIC;

-- Brings the serving rows of one project in line with the registry.  Runs as
-- the extension's owner (the serving table is readable by nobody else).
CREATE FUNCTION mlops._serving_sync()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proj text;
    who  text[];
BEGIN
    IF to_regclass('mlops.serving_models') IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'projects' THEN
        proj := CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END;
    ELSE
        proj := CASE WHEN TG_OP = 'DELETE' THEN OLD.project ELSE NEW.project END;
    END IF;

    IF TG_TABLE_NAME = 'model_versions' THEN
        -- model bytes never change after training: a deploy moves only the
        -- status, and only the status travels to the workers
        IF TG_OP = 'DELETE' THEN
            DELETE FROM mlops.serving_models s
             WHERE s.project = proj AND s.version = OLD.version;
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE mlops.serving_models s SET status = NEW.status
             WHERE s.project = proj AND s.version = NEW.version;
        ELSE
            INSERT INTO mlops.serving_models
                   (project, version, status, model, model_sha256, scorers)
            VALUES (proj, NEW.version, NEW.status, NEW.model, NEW.model_sha256,
                    mlops._serving_scorers(proj));
        END IF;
    ELSIF TG_TABLE_NAME = 'projects' AND TG_OP = 'DELETE' THEN
        DELETE FROM mlops.serving_models s WHERE s.project = proj;
    ELSE
        -- a new owner or grant: every version's row names who may score
        who := mlops._serving_scorers(proj);
        UPDATE mlops.serving_models s SET scorers = who
         WHERE s.project = proj AND s.scorers IS DISTINCT FROM who;
    END IF;
    PERFORM mlops._serving_invalidate();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION mlops._serving_sync() IS
    'Internal: keeps mlops.serving_models (Citus) in step with the registry';

CREATE TRIGGER serving_sync AFTER INSERT OR DELETE OR UPDATE OF status
    ON mlops.model_versions FOR EACH ROW EXECUTE FUNCTION mlops._serving_sync();
CREATE TRIGGER serving_sync AFTER DELETE OR UPDATE OF owner
    ON mlops.projects FOR EACH ROW EXECUTE FUNCTION mlops._serving_sync();
CREATE TRIGGER serving_sync AFTER INSERT OR DELETE OR UPDATE
    ON mlops.project_grants FOR EACH ROW EXECUTE FUNCTION mlops._serving_sync();

-- mlops.citus_setup(): run once on the Citus coordinator, as a superuser,
-- after the workers have joined and mlops is installed on every node.  It
-- may be run again at any time: it rebuilds the serving table from the
-- registry (after role renames, say).
CREATE FUNCTION mlops.citus_setup()
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the citus extension is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'mlops.citus_setup() prepares scoring on Citus workers; plain PostgreSQL needs nothing.';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to set up mlops on Citus'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Only superusers may run mlops.citus_setup().';
    END IF;
    IF NOT citus_is_coordinator() THEN
        RAISE EXCEPTION 'mlops.citus_setup() must run on the coordinator'
            USING ERRCODE = 'feature_not_supported';
    END IF;

    IF to_regclass('mlops.serving_models') IS NULL THEN
        CREATE TABLE mlops.serving_models (
            project      text NOT NULL,
            version      integer NOT NULL,
            status       text NOT NULL,
            model        bytea NOT NULL,
            model_sha256 bytea NOT NULL,
            scorers      text[] NOT NULL,
            PRIMARY KEY (project, version)
        );
        REVOKE ALL ON mlops.serving_models FROM PUBLIC;
    END IF;
    -- also when a dump restored the table as a plain one
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition
                    WHERE logicalrelid = 'mlops.serving_models'::regclass) THEN
        PERFORM create_reference_table('mlops.serving_models');
    END IF;
    -- the triggers write it as the extension's owner
    EXECUTE format('ALTER TABLE mlops.serving_models OWNER TO %I',
                   (SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
                     WHERE e.extname = 'mlops'));

    DELETE FROM mlops.serving_models;
    INSERT INTO mlops.serving_models (project, version, status, model, model_sha256, scorers)
    SELECT v.project, v.version, v.status, v.model, v.model_sha256, mlops._serving_scorers(v.project)
      FROM mlops.model_versions v;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM mlops._serving_invalidate();
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION mlops.citus_setup() FROM PUBLIC;
COMMENT ON FUNCTION mlops.citus_setup() IS
    'On a Citus coordinator: creates or rebuilds mlops.serving_models, the reference table from which workers score';
