-- A model's bytes are checked against the sha256 the registry stored with
-- them when a backend first decodes them: bytes replaced after registration
-- are refused with a message naming the project and version, by scoring in
-- a new session and by explain().  The replacement here is another
-- version's valid model, so only the sha256 can tell.  Everything is
-- committed, for the second session (dblink) to see it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(8);

CREATE TABLE integ (x float8, y float8);
INSERT INTO integ SELECT i, 3 * i + 1 + (i % 3) FROM generate_series(1, 100) i;
SELECT version FROM mlops.train('integ', 'integ', 'y', algorithm => 'linear', deploy => 'always') \g /dev/null
SELECT version FROM mlops.train('integ', 'integ', 'y', algorithm => 'ridge',
                                hyperparams => '{"alpha": 500}', deploy => 'never') \g /dev/null

SELECT format('host=%s port=%s dbname=%s user=postgres',
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database()) AS conninfo \gset
\set score_v1 'SELECT mlops.predict(''integ'', s, 1) FROM (SELECT 10.0::float8 AS x) s'

SELECT ok((SELECT abs(p - 32) < 0.5 FROM dblink(:'conninfo', :'score_v1') AS t(p float8)),
          'a new session scores with the intact model');
SELECT lives_ok($$SELECT * FROM mlops.explain('integ', 1)$$, 'explain reads the intact model');

-- replace version 1's bytes by version 2's, leaving version 1's sha256
CREATE TABLE integ_saved AS SELECT model FROM mlops.model_versions WHERE project = 'integ' AND version = 1;
UPDATE mlops.model_versions
   SET model = (SELECT model FROM mlops.model_versions WHERE project = 'integ' AND version = 2)
 WHERE project = 'integ' AND version = 1;

SELECT throws_ok(format('SELECT * FROM dblink(%L, %L) AS t(p float8)', :'conninfo', :'score_v1'),
                 'XX001', 'model of version 1 of project "integ" does not match its sha256',
                 'a new session refuses to score with the replaced bytes');
SELECT throws_ok($$SELECT * FROM mlops.explain('integ', 1)$$, 'XX001',
                 'model of version 1 of project "integ" does not match its sha256',
                 'explain refuses them too');
SELECT throws_ok($$SELECT * FROM mlops.explain('integ')$$, 'XX001',
                 'model of version 1 of project "integ" does not match its sha256',
                 'and so does the production version, which is version 1');

-- the detail gives both hashes
CREATE FUNCTION pg_temp.error_detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE sql;
    RETURN NULL;
EXCEPTION WHEN data_corrupted THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN d;
END $$;
SELECT is(pg_temp.error_detail($$SELECT * FROM mlops.explain('integ', 1)$$),
          (SELECT format('mlops.model_versions.model_sha256 is %s, the stored model bytes hash to %s.',
                         encode(model_sha256, 'hex'), encode(sha256(model), 'hex'))
             FROM mlops.model_versions WHERE project = 'integ' AND version = 1),
          'the detail gives the stored sha256 and that of the bytes');

SELECT lives_ok($$SELECT * FROM mlops.explain('integ', 2)$$, 'version 2 is untouched');

-- the original bytes restored, a new session scores again
UPDATE mlops.model_versions SET model = (SELECT model FROM integ_saved)
 WHERE project = 'integ' AND version = 1;
SELECT ok((SELECT abs(p - 32) < 0.5 FROM dblink(:'conninfo', :'score_v1') AS t(p float8)),
          'with its own bytes back, version 1 scores again');

SELECT * FROM finish();
DELETE FROM mlops.deployments WHERE project = 'integ';
DELETE FROM mlops.model_versions WHERE project = 'integ';
DELETE FROM mlops.projects WHERE name = 'integ';
DROP TABLE integ CASCADE;
DROP TABLE integ_saved;
