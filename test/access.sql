-- Access control: projects belong to a role by OID; the owner grants read,
-- score, train and deploy per project; nobody else sees or uses a project.
-- Every function is tried by the owner, by roles granted one privilege, and
-- by a stranger with CREATE on public.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(69);

CREATE ROLE acc_owner;
CREATE ROLE acc_reader;
CREATE ROLE acc_scorer;
CREATE ROLE acc_trainer;
CREATE ROLE acc_deployer;
CREATE ROLE acc_stranger;
GRANT CREATE ON SCHEMA public TO acc_stranger;

-- y = 3 + 2 x1 - x2 with a little deterministic noise
CREATE TABLE acc_t AS
SELECT i AS id, (i % 53) / 5.0 AS x1, ((i * 7) % 41) / 4.0 AS x2,
       3 + 2 * ((i % 53) / 5.0) - ((i * 7) % 41) / 4.0 + 0.01 * sin(i) AS y
  FROM generate_series(1, 2000) i;
GRANT SELECT ON acc_t TO acc_owner, acc_trainer, acc_scorer, acc_stranger;

SET ROLE acc_owner;
SELECT version AS v1 FROM mlops.train('acc_p', 'acc_t', 'y', features => ARRAY['x1', 'x2']) \gset
SELECT mlops.grant('acc_p', 'acc_reader', 'read');
SELECT mlops.grant('acc_p', 'acc_scorer', 'score');
SELECT mlops.grant('acc_p', 'acc_trainer', 'train');
SELECT mlops.grant('acc_p', 'acc_deployer', 'deploy');
SELECT mlops.predict('acc_p', t) AS owner_score FROM acc_t t WHERE id = 7 \gset
RESET ROLE;

-- ---------------------------------------------------------------------------
-- the owner: recorded by OID, sees and does everything
-- ---------------------------------------------------------------------------
SELECT is((SELECT owner FROM mlops.projects WHERE name = 'acc_p'),
          'acc_owner'::regrole, 'the project is owned by the training role');
SELECT is((SELECT pg_typeof(owner)::text FROM mlops.projects LIMIT 1), 'regrole',
          'owners are stored as role OIDs (regrole)');
SELECT ok(abs(:owner_score - (3 + 2 * 1.4 - 49 % 41 / 4.0)) < 0.05,
          'the owner scores a row close to the generating function');
SET ROLE acc_owner;
SELECT is((SELECT count(*) FROM mlops.project_grants WHERE project = 'acc_p'), 4::bigint,
          'the owner sees the project''s four grants');
SELECT ok(mlops.has_project_privilege('acc_p', 'owner'), 'the owner is the owner');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- a stranger: sees nothing, may do nothing
-- ---------------------------------------------------------------------------
SET ROLE acc_stranger;
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'acc_p'), 0::bigint,
          'stranger: no project row');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'acc_p'), 0::bigint,
          'stranger: no version row (vocabularies, model bytes)');
SELECT is((SELECT count(*) FROM mlops.deployments WHERE project = 'acc_p'), 0::bigint,
          'stranger: no deployment row');
SELECT is((SELECT count(*) FROM mlops.overview WHERE project = 'acc_p'), 0::bigint,
          'stranger: nothing in the overview');
SELECT is((SELECT count(*) FROM mlops.leaderboard WHERE project = 'acc_p'), 0::bigint,
          'stranger: nothing in the leaderboard');
SELECT is((SELECT count(*) FROM mlops.project_grants WHERE project = 'acc_p'), 0::bigint,
          'stranger: no grant row');
SELECT ok(NOT mlops.has_project_privilege('acc_p', 'read'), 'stranger: no read privilege');
SELECT throws_ok($$SELECT mlops.predict('acc_p', t) FROM acc_t t LIMIT 1$$, '42501', NULL,
                 'stranger: predict is refused');
SELECT throws_ok($$SELECT mlops.predict('acc_p', ARRAY[1.0, 2.0]::float8[])$$, '42501', NULL,
                 'stranger: predict on an array is refused');
SELECT throws_ok($$SELECT * FROM mlops.explain('acc_p')$$, '42501', NULL,
                 'stranger: explain is refused');
SELECT throws_ok($$SELECT * FROM mlops.evaluate('acc_p', 'acc_t')$$, '42501', NULL,
                 'stranger: evaluate is refused');
SELECT throws_ok($$SELECT * FROM mlops.train('acc_p', 'acc_t', 'y')$$, '42501', NULL,
                 'stranger: train is refused');
SELECT throws_ok($$SELECT * FROM mlops.deploy('acc_p', 1)$$, '42501', NULL,
                 'stranger: deploy is refused');
SELECT throws_ok($$SELECT * FROM mlops.reproduce('acc_p', 1)$$, '42501', NULL,
                 'stranger: reproduce is refused');
SELECT throws_ok($$SELECT * FROM mlops.check_drift('acc_p', 'acc_t')$$, '42501', NULL,
                 'stranger: check_drift is refused');
SELECT throws_ok($$SELECT count(*) FROM mlops.baseline('acc_p')$$, '42501', NULL,
                 'stranger: the baseline is refused');
SELECT throws_ok($$SELECT * FROM mlops.retrain('acc_p')$$, '42501', NULL,
                 'stranger: a retrain by hand is refused');
SELECT throws_ok($$SELECT mlops.drift_thresholds('acc_p')$$, '42501', NULL,
                 'stranger: the thresholds are not shown');
SELECT throws_ok($$SELECT mlops.set_drift_thresholds('acc_p', '{}')$$, '42501', NULL,
                 'stranger: the thresholds cannot be set');
SELECT throws_ok($$SELECT mlops.grant('acc_p', 'acc_stranger', 'read')$$, '42501', NULL,
                 'stranger: cannot grant itself');
SELECT throws_ok($$SELECT mlops.reassign_owner('acc_p', 'acc_stranger')$$, '42501', NULL,
                 'stranger: cannot take the project');
SELECT throws_ok($$INSERT INTO mlops.project_grants (project, grantee, privilege, granted_by)
                   VALUES ('acc_p', 'acc_stranger', 'read', 'acc_stranger')$$, '42501', NULL,
                 'stranger: cannot write a grant row');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- read: sees the rows, may not score, train or deploy
-- ---------------------------------------------------------------------------
SET ROLE acc_reader;
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'acc_p'), 1::bigint,
          'reader: sees the version');
SELECT is((SELECT production_version FROM mlops.overview WHERE project = 'acc_p'), 1,
          'reader: sees the project in the overview');
SELECT ok((SELECT count(*) FROM mlops.explain('acc_p')) >= 3, 'reader: explain works');
SELECT is((SELECT count(*) FROM mlops.project_grants WHERE project = 'acc_p'), 1::bigint,
          'reader: sees its own grant only');
SELECT throws_ok($$SELECT mlops.predict('acc_p', t) FROM acc_t t LIMIT 1$$, '42501', NULL,
                 'reader: predict is refused');
SELECT throws_ok($$SELECT * FROM mlops.deploy('acc_p', 'latest')$$, '42501', NULL,
                 'reader: deploy is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- score: predicts (the same values as the owner), sees no registry row
-- ---------------------------------------------------------------------------
SET ROLE acc_scorer;
SELECT is((SELECT mlops.predict('acc_p', t) FROM acc_t t WHERE id = 7), :owner_score::float8,
          'scorer: predict gives the owner''s value');
SELECT is((SELECT count(*) FROM acc_t t WHERE mlops.predict('acc_p', t) IS NOT NULL), 2000::bigint,
          'scorer: predict in a query over every row');
SELECT ok((SELECT mlops.predict('acc_p', ARRAY[1.4, 2.0]::float8[])) IS NOT NULL,
          'scorer: the array form');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'acc_p'), 0::bigint,
          'scorer: sees no version row');
SELECT throws_ok($$SELECT * FROM mlops.explain('acc_p')$$, '42501', NULL,
                 'scorer: explain is refused');
SELECT throws_ok($$SELECT * FROM mlops.train('acc_p', 'acc_t', 'y')$$, '42501', NULL,
                 'scorer: train is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- train: trains new versions (train implies read), may not deploy
-- ---------------------------------------------------------------------------
SET ROLE acc_trainer;
SELECT is((SELECT version FROM mlops.train('acc_p', 'acc_t', 'y', features => ARRAY['x1', 'x2'],
                                           deploy => 'never')), 2,
          'trainer: trains version 2');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'acc_p'), 2::bigint,
          'trainer: sees the versions');
SELECT ok((mlops.evaluate('acc_p', 'acc_t', 2) ->> 'r2')::float8 > 0.99,
          'trainer: evaluate works');
SELECT is((SELECT identical FROM mlops.reproduce('acc_p', 2)), true,
          'trainer: reproduce works');
SELECT lives_ok($$SELECT * FROM mlops.check_drift('acc_p', 'acc_t')$$, 'trainer: check_drift works');
SELECT throws_ok($$SELECT * FROM mlops.train('acc_p', 'acc_t', 'y', deploy => 'always')$$, '42501', NULL,
                 'trainer: training that deploys needs deploy');
RESET ROLE;

-- every table and view of the registry with a project column, as a stranger:
-- not one row of acc_p (the drift report just written included)
CREATE FUNCTION pg_temp.visible_rows(p text) RETURNS TABLE (relation text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'project'
              WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind IN ('r', 'v')
              ORDER BY 1 LOOP
        relation := r.rel::text;
        EXECUTE format('SELECT count(*) FROM %s WHERE project = $1', r.rel) INTO n USING p;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT ok((SELECT count(*) FROM pg_temp.visible_rows('acc_p') WHERE n > 0) >= 6,
          'the superuser sees acc_p in the registry tables and views');
SET ROLE acc_stranger;
SELECT is((SELECT string_agg(relation, ', ') FROM pg_temp.visible_rows('acc_p') WHERE n > 0), NULL,
          'stranger: no table or view of the registry shows a row of acc_p');
RESET ROLE;
SET ROLE acc_trainer;
SELECT throws_ok($$SELECT * FROM mlops.deploy('acc_p', 2)$$, '42501', NULL,
                 'trainer: deploy is refused');
SELECT throws_ok($$SELECT mlops.grant('acc_p', 'acc_stranger', 'read')$$, '42501', NULL,
                 'trainer: cannot grant');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- deploy: deploys and rolls back, may not train
-- ---------------------------------------------------------------------------
SET ROLE acc_deployer;
SELECT is((SELECT version FROM mlops.deploy('acc_p', 2)), 2, 'deployer: deploys version 2');
SELECT is((SELECT version FROM mlops.rollback('acc_p')), 1, 'deployer: rolls back to 1');
SELECT lives_ok($$SELECT mlops.set_drift_thresholds('acc_p', '{"psi_drift": 0.3}')$$,
                'deployer: sets thresholds');
SELECT throws_ok($$SELECT * FROM mlops.train('acc_p', 'acc_t', 'y')$$, '42501', NULL,
                 'deployer: train is refused');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- revoke takes it back
-- ---------------------------------------------------------------------------
SET ROLE acc_owner;
SELECT mlops.revoke('acc_p', 'acc_reader', 'read');
RESET ROLE;
SET ROLE acc_reader;
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'acc_p'), 0::bigint,
          'revoked: the reader sees nothing any more');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- bad input
-- ---------------------------------------------------------------------------
SET ROLE acc_owner;
SELECT throws_ok($$SELECT mlops.grant('acc_p', 'acc_reader', 'admin')$$, '22023',
                 'unrecognized project privilege "admin"', 'an unknown privilege is an error');
SELECT throws_ok($$SELECT mlops.grant('acc_nope', 'acc_reader', 'read')$$, '42704',
                 'project "acc_nope" does not exist', 'a grant on a missing project is an error');
SELECT ok(NOT mlops.has_project_privilege('acc_nope', 'read'), 'no privilege on a missing project');
SELECT throws_ok($$SELECT mlops.reassign_owner('acc_p', 'acc_stranger')$$, '42501', NULL,
                 'an owner cannot hand the project to a role it is not a member of');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- roles by OID: a role dropped and created again under its name inherits nothing
-- ---------------------------------------------------------------------------
CREATE ROLE acc_ghost;
SELECT mlops.grant('acc_p', 'acc_ghost', 'score');
DROP ROLE acc_ghost;
CREATE ROLE acc_ghost;
GRANT SELECT ON acc_t TO acc_ghost;
SET ROLE acc_ghost;
SELECT throws_ok($$SELECT mlops.predict('acc_p', t) FROM acc_t t LIMIT 1$$, '42501', NULL,
                 'a new role of a dropped grantee''s name cannot score');
RESET ROLE;

CREATE ROLE acc_heir;
SELECT mlops.reassign_owner('acc_p', 'acc_heir');
SELECT is((SELECT owner FROM mlops.projects WHERE name = 'acc_p'), 'acc_heir'::regrole,
          'a superuser reassigns the project');
SET ROLE acc_owner;
SELECT throws_ok($$SELECT * FROM mlops.deploy('acc_p', 2)$$, '42501', NULL,
                 'the former owner lost its rights');
RESET ROLE;
DROP ROLE acc_heir;
CREATE ROLE acc_heir;
SET ROLE acc_heir;
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'acc_p'), 0::bigint,
          'a new role of the dropped owner''s name sees nothing');
SELECT throws_ok($$SELECT * FROM mlops.deploy('acc_p', 2)$$, '42501', NULL,
                 'and may do nothing');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- members of the owning role are owners; scheduling needs train for the run's role
-- ---------------------------------------------------------------------------
SELECT mlops.reassign_owner('acc_p', 'acc_owner');
CREATE ROLE acc_team_member;
GRANT acc_owner TO acc_team_member;
SET ROLE acc_team_member;
SELECT ok(mlops.has_project_privilege('acc_p', 'deploy'), 'a member of the owning role may deploy');
RESET ROLE;
GRANT SELECT ON acc_t TO acc_reader;
SELECT throws_ok($$SELECT mlops.schedule_drift_check('acc_p', 'acc_t', '1 hour', false, 'acc_reader')$$,
                 '42501', 'role "acc_reader" may not check drift on project "acc_p"',
                 'a job cannot run as a role without train on the project');
SELECT throws_ok($$SELECT mlops.schedule_drift_check('acc_p', 'acc_t', '1 hour', true, 'acc_trainer')$$,
                 '42501', 'role "acc_trainer" may not retrain project "acc_p"',
                 'a job that retrains cannot run as a role without deploy');
SELECT lives_ok($$SELECT mlops.schedule_drift_check('acc_p', 'acc_t', '1 hour', false, 'acc_trainer')$$,
                'a drift check without retrain runs as a role with train');

-- the predict family checks its privilege before looking at anything else
SET ROLE acc_stranger;
SELECT throws_ok($$SELECT mlops.predict_proba('acc_p', t) FROM acc_t t$$, '42501', NULL,
                 'stranger: predict_proba is refused');
SELECT throws_ok($$SELECT mlops.predict_label('acc_p', t) FROM acc_t t$$, '42501', NULL,
                 'stranger: predict_label is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
