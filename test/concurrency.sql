-- Two sessions training one new project at the same time get versions 1
-- and 2, and the project exists once.  The sessions are real: two psql
-- processes started together by the server (COPY ... FROM PROGRAM).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(6);

CREATE TABLE conc AS
SELECT i, (i % 50)::float8 AS x, (i % 7)::float8 AS z, (3 * (i % 50) + i % 7)::float8 AS y
FROM generate_series(1, 50000) i;

CREATE TEMP TABLE conc_out (line text);
SELECT format($cmd$COPY conc_out FROM PROGRAM %L$cmd$,
    format('B=%1$s; C="-X -q -A -t -h %2$s -p %3$s -U postgres -d %4$s";'
           ' $B/psql $C -c "SELECT version FROM mlops.train(''conc'', ''conc'', ''y'')" > /tmp/mlops_conc_$$_1 2>&1 &'
           ' $B/psql $C -c "SELECT version FROM mlops.train(''conc'', ''conc'', ''y'')" > /tmp/mlops_conc_$$_2 2>&1 &'
           ' wait; cat /tmp/mlops_conc_$$_1 /tmp/mlops_conc_$$_2; rm -f /tmp/mlops_conc_$$_*',
           current_setting('mlops_test.bindir'),
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()))
\gexec

SELECT is((SELECT array_agg(line ORDER BY line) FROM conc_out WHERE line ~ '^[0-9]+$'), ARRAY['1', '2'],
          'the two sessions got versions 1 and 2');
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'conc'), 1::bigint,
          'the project was created once');
SELECT is((SELECT array_agg(version ORDER BY version) FROM mlops.model_versions WHERE project = 'conc'),
          ARRAY[1, 2], 'both versions are registered');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'conc' AND status = 'production'),
          1::bigint, 'one of them is in production');

-- a train cancelled by statement_timeout leaves the registry as it was
CREATE VIEW conc_big AS
SELECT i::float8 AS x, (i % 7)::float8 AS z, (2 * i)::float8 AS y FROM generate_series(1, 3000000) i;
TRUNCATE conc_out;
SELECT format($cmd$COPY conc_out FROM PROGRAM %L$cmd$,
    format('%1$s/psql -X -q -A -t -h %2$s -p %3$s -U postgres -d %4$s'
           ' -c "SET statement_timeout = 300" -c "SELECT version FROM mlops.train(''cancelled'', ''conc_big'', ''y'')" 2>&1 || true',
           current_setting('mlops_test.bindir'),
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()))
\gexec
SELECT ok((SELECT bool_or(line LIKE '%canceling statement due to statement timeout%') FROM conc_out),
          'statement_timeout cancels a long training');
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'cancelled'), 0::bigint,
          'the cancelled train left no project and no version behind');

SELECT * FROM finish();
DROP VIEW conc_big;
DELETE FROM mlops.deployments WHERE project = 'conc';
DELETE FROM mlops.model_versions WHERE project = 'conc';
DELETE FROM mlops.projects WHERE name = 'conc';
DROP TABLE conc;
