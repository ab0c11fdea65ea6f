-- mlops.train: bad input is refused with a clear message, and a failed
-- call leaves the registry as it was.
SET client_min_messages = warning;
CREATE TABLE te (x1 float8, x2 float8, cat text, y float8, label text, flag boolean);
INSERT INTO te
SELECT i, (i * 7) % 13, CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END,
       2 * i + 1, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i % 2 = 0
FROM generate_series(1, 200) i;
CREATE TABLE te_empty (x float8, y float8);
CREATE TABLE te_none (LIKE te);
CREATE TABLE te_onecls (x float8, label text);
INSERT INTO te_onecls SELECT i, 'same' FROM generate_series(1, 50) i;
CREATE TABLE te_const (x float8, c float8, y float8);
INSERT INTO te_const SELECT i, 5, i FROM generate_series(1, 50) i;
CREATE TABLE te_nulls (x float8, n float8, y float8);
INSERT INTO te_nulls SELECT i, NULL, i FROM generate_series(1, 50) i;
CREATE TABLE te_nan (x float8, y float8);
INSERT INTO te_nan SELECT i, i FROM generate_series(1, 50) i;
INSERT INTO te_nan VALUES ('NaN', 1);
CREATE TABLE te_inf (x float8, y float8);
INSERT INTO te_inf SELECT i, i FROM generate_series(1, 50) i;
INSERT INTO te_inf VALUES (1, 'Infinity');
CREATE TABLE te_json (x float8, j jsonb, y float8);
INSERT INTO te_json SELECT i, '{}', i FROM generate_series(1, 50) i;

-- unknown relation
SELECT version FROM mlops.train('p', 'no_such_table', 'y');
-- target missing or absent
SELECT version FROM mlops.train('p', 'te');
SELECT version FROM mlops.train('p', 'te', 'nope');
-- unknown feature column
SELECT version FROM mlops.train('p', 'te', 'y', features => ARRAY['x1', 'zz']);
SELECT version FROM mlops.train('p', 'te', 'y', features => ARRAY['x1', 'y']);
-- text target for regression
SELECT version FROM mlops.train('p', 'te', 'label', task => 'regression');
-- unknown task
SELECT version FROM mlops.train('p', 'te', 'y', task => 'forecasting');
-- one class
SELECT version FROM mlops.train('p', 'te_onecls', 'label');
-- empty relation
SELECT version FROM mlops.train('p', 'te_empty', 'y');
-- constant and all-NULL features
SELECT version FROM mlops.train('p', 'te_const', 'y');
SELECT version FROM mlops.train('p', 'te_nulls', 'y');
-- NaN and infinity
SELECT version FROM mlops.train('p', 'te_nan', 'y');
SELECT version FROM mlops.train('p', 'te_inf', 'y');
-- unsupported column type
SELECT version FROM mlops.train('p', 'te_json', 'y');
-- unknown algorithm, algorithm of another task, unknown or bad hyperparameters
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'deep_forest');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'logistic');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', hyperparams => '{"lambda": 1}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', hyperparams => '{"alpha": -1}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'lasso', hyperparams => '{"alpha": "big"}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', hyperparams => '[1]');
-- tree hyperparameters: out of range (the range is listed), not an integer,
-- unknown (the valid ones are listed), or another algorithm's
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'gbt', hyperparams => '{"max_depth": 0}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'gbt', hyperparams => '{"learning_rate": 1.5}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'gbt', hyperparams => '{"subsample": 0}');
SELECT version FROM mlops.train('p', 'te', 'label', algorithm => 'gbt', hyperparams => '{"nthread": 65}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'gbt', hyperparams => '{"n_estimators": 2.5}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'gbt', hyperparams => '{"eta": 0.1}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'random_forest',
                                hyperparams => '{"early_stopping_rounds": 5}');
-- test_size outside (0, 1)
SELECT version FROM mlops.train('p', 'te', 'y', test_size => 0);
SELECT version FROM mlops.train('p', 'te', 'y', test_size => 1.5);
-- deploy policy, clustering
SELECT version FROM mlops.train('p', 'te', 'y', deploy => 'sometimes');
SELECT version FROM mlops.train('p', 'te', 'y', task => 'clustering');
-- k-means: algorithm and task, hyperparameters, more clusters than rows
SELECT version FROM mlops.train('p', 'te', task => 'clustering', algorithm => 'linear');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'kmeans');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"k": 1}');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"k": 2.5}');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"n_init": 0}');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"standardize": 2}');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"alpha": 1}');
SELECT version FROM mlops.train('p', 'te', task => 'clustering', hyperparams => '{"k": 1000}',
                                features => ARRAY['x1', 'x2']);
-- bad search specs (every one SQLSTATE 22023) and tags
SELECT version FROM mlops.train('p', 'te', 'y', search => '[1]');
SELECT version FROM mlops.train('p', 'te', 'y', search => '{"alpha": [0.1, 1]}');
SELECT version FROM mlops.train('p', 'te', 'y', search => '{"folds": 5}');
SELECT version FROM mlops.train('p', 'te', 'y', search => '{"grid": {"alpha": [1]}, "random": {"alpha": [1]}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": []}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": ["big"]}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"nope": [1]}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": [-1]}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"max_categories": [5]}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge',
                                search => jsonb_build_object('grid', jsonb_build_object('alpha',
                                          (SELECT jsonb_agg(i) FROM generate_series(1, 1001) i))));
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": [1]}, "folds": 1}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": [1]}, "folds": 2.5}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": [1]}, "folds": 1000}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"grid": {"alpha": [1]}, "seed": 3}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"random": {"alpha": {"log": [0.01, 1]}}, "trials": 0}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"random": {"alpha": {"log": [0, 1]}}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"random": {"alpha": {"uniform": [2, 1]}}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"random": {"alpha": {"normal": [0, 1]}}}');
SELECT version FROM mlops.train('p', 'te', 'y', algorithm => 'ridge', search => '{"random": {"alpha": 1}}');
SELECT version FROM mlops.train('p', 'te', 'y', tags => '"nightly"');
SELECT version FROM mlops.train('p', 'te', 'y', tags => '{"build": 42}');
-- bad project names
SELECT version FROM mlops.train('1abc', 'te', 'y');
SELECT version FROM mlops.train('has space', 'te', 'y');
-- nothing was registered by any of the above
SELECT count(*) AS projects FROM mlops.projects;
SELECT count(*) AS versions FROM mlops.model_versions;

-- a first model, then a task or target that does not match the project
SELECT version, algorithm, status, train_rows + test_rows AS rows
  FROM mlops.train('p', 'te', 'y', features => ARRAY['x1', 'x2', 'cat']);
SELECT version FROM mlops.train('p', 'te', 'label');
SELECT version FROM mlops.train('p', 'te', 'y', task => 'classification');

-- scoring and registry functions on unknown things
SELECT mlops.evaluate('nope', 'te');
SELECT mlops.evaluate('p', 'te', 42);
SELECT mlops.evaluate('p', 'te_none');
SELECT mlops.evaluate('p', 'te_empty');
SELECT * FROM mlops.explain('nope');
SELECT * FROM mlops.deploy('p', 9);
SELECT * FROM mlops.deploy('p', 'newest');
SELECT * FROM mlops.rollback('p');
SELECT * FROM mlops.deploy('nope', 1);

-- another role cannot train or deploy the project
CREATE ROLE mlops_intruder;
GRANT SELECT ON te TO mlops_intruder;
SET ROLE mlops_intruder;
SELECT version FROM mlops.train('p', 'te', 'y');
SELECT * FROM mlops.deploy('p', 1);
RESET ROLE;
DROP OWNED BY mlops_intruder;
DROP ROLE mlops_intruder;
SELECT count(*) AS versions FROM mlops.model_versions;

-- beyond mlops.max_training_memory, training refuses and says how much it needs:
-- before reading, from the planner's estimate of an analyzed table
CREATE TABLE te_big AS
SELECT i::float8 AS x1, (i % 7)::float8 AS x2, (i % 13)::float8 AS y FROM generate_series(1, 40000) i;
ANALYZE te_big;
SET mlops.max_training_memory = '1MB';
SELECT version FROM mlops.train('big', 'te_big', 'y');
-- a view has no estimate: the data is refused as it grows past the cap
CREATE VIEW te_big_view AS SELECT * FROM te_big;
SELECT version FROM mlops.train('big', 'te_big_view', 'y');
RESET mlops.max_training_memory;
SELECT count(*) AS projects FROM mlops.projects WHERE name = 'big';
DROP VIEW te_big_view;
DROP TABLE te_big;

-- clean up
DELETE FROM mlops.deployments;
DELETE FROM mlops.model_versions;
DELETE FROM mlops.projects;
DROP TABLE te, te_none, te_empty, te_onecls, te_const, te_nulls, te_nan, te_inf, te_json;
