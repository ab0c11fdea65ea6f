-- Training writes the registry as documented: version numbers, the
-- if_better policy against the champion on the same held-out rows,
-- deploy by version and strategy, rollback, history, evaluate, and an
-- interrupted train that leaves nothing behind.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(23);

-- y = 4 + 3 x1 - 2 x2 + (cat effect) + noise; the noise is a fixed function
-- of i so the data is the same on every run.
CREATE TABLE tr AS
SELECT i, x1, x2, cat,
       4 + 3 * x1 - 2 * x2 + CASE cat WHEN 'a' THEN 1.0 WHEN 'b' THEN -1.0 ELSE 0 END
         + 0.3 * sin(i * 12.9898) AS y
FROM (SELECT i, (i % 101) / 10.0 AS x1, ((i * 37) % 89) / 9.0 AS x2,
             (ARRAY['a', 'b', 'c'])[1 + i % 3] AS cat
      FROM generate_series(1, 4000) i) s;

SELECT is((SELECT version FROM mlops.train('reg', 'tr', 'y')), 1, 'first version is 1');
SELECT is((SELECT status FROM mlops.model_versions WHERE project = 'reg' AND version = 1),
          'production', 'the first version goes to production');
SELECT ok((SELECT (metrics ->> 'r2')::float8 > 0.99 FROM mlops.model_versions
            WHERE project = 'reg' AND version = 1), 'linear r2 on the held-out rows is above 0.99');
SELECT is((SELECT train_rows + test_rows FROM mlops.model_versions WHERE project = 'reg' AND version = 1),
          4000::bigint, 'every row is on one side of the split');
SELECT ok((SELECT test_rows BETWEEN 850 AND 1150 FROM mlops.model_versions
            WHERE project = 'reg' AND version = 1), 'about a quarter of the rows are held out');

-- a much worse challenger is not deployed by if_better
SELECT is((SELECT status FROM mlops.train('reg', 'tr', 'y', algorithm => 'ridge',
                                          hyperparams => '{"alpha": 100000}')),
          'staging', 'a worse version stays in staging');
SELECT is((SELECT (metrics -> 'champion' ->> 'version')::int FROM mlops.model_versions
            WHERE project = 'reg' AND version = 2), 1,
          'the champion was scored on the challenger''s held-out rows');
SELECT ok((SELECT (metrics -> 'champion' ->> 'r2')::float8 > (metrics ->> 'r2')::float8
             FROM mlops.model_versions WHERE project = 'reg' AND version = 2),
          'and it scored better there');
SELECT is((SELECT count(*) FROM mlops.deployments WHERE project = 'reg'), 1::bigint,
          'no deployment was recorded for it');

-- deploy by hand, by strategy, and roll back
SELECT is((SELECT previous_version FROM mlops.deploy('reg', 2)), 1, 'manual deploy records the previous version');
SELECT is((SELECT status FROM mlops.model_versions WHERE project = 'reg' AND version = 1),
          'archived', 'the replaced version is archived');
SELECT is((SELECT version FROM mlops.deploy('reg', 'best')), 1, 'best picks the highest r2');
SELECT is((SELECT version FROM mlops.train('reg', 'tr', 'y', features => ARRAY['x1', 'x2'],
                                           deploy => 'never')), 3, 'versions count up');
SELECT is((SELECT version FROM mlops.deploy('reg', 'latest')), 3, 'latest picks the newest version');
SELECT is((SELECT version FROM mlops.rollback('reg')), 1, 'rollback returns to the version before');
SELECT is((SELECT version FROM mlops.rollback('reg')), 2, 'a second rollback goes one further back');
SELECT is((SELECT array_agg(strategy ORDER BY id) FROM mlops.deployments WHERE project = 'reg'),
          ARRAY['if_better', 'manual', 'best', 'latest', 'rollback', 'rollback'],
          'the history keeps every deployment in order');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'reg' AND status = 'production'),
          1::bigint, 'exactly one version is in production');
SELECT is((SELECT production_version FROM mlops.overview WHERE project = 'reg'), 2,
          'the overview shows the production version');
SELECT is((SELECT version FROM mlops.leaderboard WHERE project = 'reg' AND rank = 1), 1,
          'the leaderboard ranks the best version first');

-- evaluate on other rows, including a category never seen in training
CREATE TABLE tr_new AS SELECT * FROM tr WHERE i <= 500;
UPDATE tr_new SET cat = 'z' WHERE i <= 100;
SELECT is((SELECT (mlops.evaluate('reg', 'tr_new', 1) ->> 'rows')::int), 500,
          'evaluate scores every row, unseen categories included');
SELECT ok((SELECT (mlops.evaluate('reg', 'tr_new', 1) ->> 'r2')::float8 BETWEEN 0.5 AND 0.999),
          'and the unseen category costs accuracy but not the evaluation');

-- history is not writable by users
CREATE ROLE mlops_tr_user;
SET ROLE mlops_tr_user;
SELECT throws_ok($$DELETE FROM mlops.deployments$$, '42501', NULL,
                 'users cannot rewrite the deployment history');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
