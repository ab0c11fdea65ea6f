-- Registry rows survive pg_dump / pg_restore into a fresh database.
--
-- The rows must be committed for pg_dump to see them, so this test does not
-- run in a rolled-back transaction; it removes what it made at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(7);

INSERT INTO mlops.projects (name, task, target, key_metric)
VALUES ('dump_check', 'regression', 'y', 'r2');
INSERT INTO mlops.model_versions
    (project, version, algorithm, features, target, metrics, train_rows, test_rows,
     test_size, training_seconds, trained_by, status, extension_version, model, model_sha256)
VALUES ('dump_check', 1, 'linear', '[{"name": "x", "type": "float8"}]', 'y',
        '{"r2": 0.91}', 75, 25, 0.25, 0.01, current_user, 'production', '0.1',
        '\x4d4c4f5053'::bytea, sha256('\x4d4c4f5053'::bytea));
INSERT INTO mlops.deployments (project, version, strategy, reason, deployed_by)
VALUES ('dump_check', 1, 'manual', 'dump test', current_user);
INSERT INTO mlops.deployments (project, version, previous_version, strategy, reason, deployed_by)
VALUES ('dump_check', 1, 1, 'manual', 'second entry', current_user);

SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname)
             FROM pg_extension e, unnest(e.extconfig) AS t(oid)
             JOIN pg_class c ON c.oid = t.oid
            WHERE e.extname = 'mlops' AND c.relkind = 'r'),
          (SELECT array_agg(c.relname::text ORDER BY c.relname)
             FROM pg_class c
             JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
             JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mlops'
            WHERE c.relkind = 'r'),
          'pg_extension.extconfig names every table the extension creates');

-- Dump this database, restore it into a fresh one, and read the restored
-- registry back through psql.
CREATE TEMP TABLE restored AS
SELECT line FROM pg_temp.dump_restore('mlops_restored',
    $$SELECT 'projects=' || count(*) FROM mlops.projects WHERE name = 'dump_check'$$,
    $$SELECT 'model_sha=' || encode(model_sha256, 'hex') FROM mlops.model_versions WHERE project = 'dump_check'$$,
    $$SELECT 'deployments=' || count(*) FROM mlops.deployments WHERE project = 'dump_check'$$,
    $$SELECT 'metric=' || (metrics->>'r2') FROM mlops.model_versions WHERE project = 'dump_check'$$,
    format($$SELECT 'nextid_ok=' || (nextval('mlops.deployments_id_seq') > %s)$$,
           (SELECT max(id) FROM mlops.deployments)),
    $$SELECT 'overview=' || production_version FROM mlops.overview WHERE project = 'dump_check'$$) AS line;

SELECT is((SELECT line FROM restored WHERE line LIKE 'projects=%'), 'projects=1',
          'the project row is restored');
SELECT is((SELECT line FROM restored WHERE line LIKE 'model_sha=%'),
          'model_sha=' || encode(sha256('\x4d4c4f5053'::bytea), 'hex'),
          'the model version is restored with its bytes'' hash');
SELECT is((SELECT line FROM restored WHERE line LIKE 'deployments=%'), 'deployments=2',
          'the deployment history is restored');
SELECT is((SELECT line FROM restored WHERE line LIKE 'metric=%'), 'metric=0.91',
          'metrics are restored');
SELECT is((SELECT line FROM restored WHERE line LIKE 'nextid_ok=%'), 'nextid_ok=true',
          'the deployments sequence continues after the restored ids');
SELECT is((SELECT line FROM restored WHERE line LIKE 'overview=%'), 'overview=1',
          'the overview shows the restored production version');

SELECT * FROM finish();

SELECT pg_temp.drop_projects('dump\_check');
DROP DATABASE mlops_restored;
