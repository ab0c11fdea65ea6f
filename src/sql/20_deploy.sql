
-- ---------------------------------------------------------------------------
-- Deployment.  mlops._deploy holds the one implementation; it runs as the
-- registry owner (called from the C entry points after they have checked the
-- caller's rights) and is not executable by PUBLIC.
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops._deploy(p_project text, p_version integer, p_strategy text,
                              p_reason text, p_actor name)
RETURNS mlops.deployments
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proj     mlops.projects;
    cur_ver  integer;
    chosen   integer;
    why      text := p_reason;
    stack    integer[] := '{}';
    d        record;
    result   mlops.deployments;
BEGIN
    -- the project row lock serialises concurrent deployments of one project
    SELECT * INTO proj FROM mlops.projects WHERE name = p_project FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'project "%" does not exist', p_project
              USING ERRCODE = 'undefined_object';
    END IF;
    SELECT version INTO cur_ver FROM mlops.model_versions
     WHERE project = p_project AND status = 'production';

    IF p_strategy = 'latest' THEN
        SELECT max(version) INTO chosen FROM mlops.model_versions WHERE project = p_project;
        why := coalesce(why, 'latest version');
    ELSIF p_strategy = 'best' THEN
        SELECT v.version INTO chosen FROM mlops.model_versions v
         WHERE v.project = p_project AND v.metrics ? proj.key_metric
         ORDER BY CASE WHEN proj.key_metric = 'inertia'
                       THEN (v.metrics ->> proj.key_metric)::float8
                       ELSE -(v.metrics ->> proj.key_metric)::float8 END,
                  v.version DESC
         LIMIT 1;
        IF chosen IS NULL THEN
            RAISE EXCEPTION 'project "%" has no version with a % to compare', p_project, proj.key_metric
                  USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        why := coalesce(why, format('best %s among %s versions', proj.key_metric,
                                    (SELECT count(*) FROM mlops.model_versions WHERE project = p_project)));
    ELSIF p_strategy = 'rollback' THEN
        -- Deployments form a stack: each deployment pushes its version, each
        -- rollback pops one.  Rolling back returns to the version below the top.
        FOR d IN SELECT version, strategy FROM mlops.deployments
                  WHERE project = p_project ORDER BY id LOOP
            IF d.strategy = 'rollback' THEN
                stack := stack[1:greatest(cardinality(stack) - 1, 0)];
            ELSIF cardinality(stack) = 0 OR stack[cardinality(stack)] <> d.version THEN
                stack := stack || d.version;
            END IF;
        END LOOP;
        IF cardinality(stack) < 2 THEN
            RAISE EXCEPTION 'project "%" has no earlier deployment to roll back to', p_project
                  USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        chosen := stack[cardinality(stack) - 1];
        why := coalesce(why, format('rollback from version %s', cur_ver));
    ELSE
        chosen := p_version;
        PERFORM 1 FROM mlops.model_versions WHERE project = p_project AND version = chosen;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'version % of project "%" does not exist', chosen, p_project
                  USING ERRCODE = 'undefined_object';
        END IF;
        why := coalesce(why, 'deployed by hand');
    END IF;

    IF chosen IS NOT DISTINCT FROM cur_ver AND p_strategy <> 'rollback' THEN
        RAISE NOTICE 'version % of project "%" is already in production', chosen, p_project;
        SELECT * INTO result FROM mlops.deployments
         WHERE project = p_project ORDER BY id DESC LIMIT 1;
        IF FOUND THEN
            RETURN result;
        END IF;
    END IF;

    UPDATE mlops.model_versions SET status = 'archived'
     WHERE project = p_project AND status = 'production';
    UPDATE mlops.model_versions SET status = 'production'
     WHERE project = p_project AND version = chosen;
    INSERT INTO mlops.deployments (project, version, previous_version, strategy, reason, deployed_by)
    VALUES (p_project, chosen, cur_ver, p_strategy, why, p_actor)
    RETURNING * INTO result;
    RETURN result;
END;
$$;
REVOKE ALL ON FUNCTION mlops._deploy(text, integer, text, text, name) FROM PUBLIC;
COMMENT ON FUNCTION mlops._deploy(text, integer, text, text, name) IS
    'Internal: put a version in production and record it; use mlops.deploy';

CREATE FUNCTION mlops.deploy(project text, version integer)
RETURNS mlops.deployments
AS 'MODULE_PATHNAME', 'mlops_deploy_version'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.deploy(text, integer) IS
    'Put a version of a project in production; returns the deployment record';

CREATE FUNCTION mlops.deploy(project text, strategy text)
RETURNS mlops.deployments
AS 'MODULE_PATHNAME', 'mlops_deploy_strategy'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.deploy(text, text) IS
    'Deploy by strategy: best (key metric), latest, or rollback (the version deployed before the current one)';

CREATE FUNCTION mlops.rollback(project text)
RETURNS mlops.deployments
LANGUAGE sql STRICT VOLATILE
BEGIN ATOMIC
    SELECT mlops.deploy(project, 'rollback'::text);
END;
COMMENT ON FUNCTION mlops.rollback(text) IS
    'Return to the version that was in production before the current deployment';
