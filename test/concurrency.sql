-- Two sessions training one new project at the same time get versions 1
-- and 2, and the project exists once.  The sessions are real: two psql
-- processes started together by the server (COPY ... FROM PROGRAM).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(10);

CREATE TABLE conc AS
SELECT i, (i % 50)::float8 AS x, (i % 7)::float8 AS z, (3 * (i % 50) + i % 7)::float8 AS y
FROM generate_series(1, 50000) i;

CREATE TEMP TABLE conc_out AS
SELECT line FROM pg_temp.shell_lines(format(
    'D=$(mktemp -d); %1$s > "$D/1" 2>&1 & %1$s > "$D/2" 2>&1 & wait; cat "$D/1" "$D/2"; rm -rf "$D"',
    pg_temp.psql_command(ARRAY[$$SELECT version FROM mlops.train('conc', 'conc', 'y')$$]))) AS line;

SELECT is((SELECT array_agg(line ORDER BY line) FROM conc_out WHERE line ~ '^[0-9]+$'), ARRAY['1', '2'],
          'the two sessions got versions 1 and 2');
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'conc'), 1::bigint,
          'the project was created once');
SELECT is((SELECT array_agg(version ORDER BY version) FROM mlops.model_versions WHERE project = 'conc'),
          ARRAY[1, 2], 'both versions are registered');
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'conc' AND status = 'production'),
          1::bigint, 'one of them is in production');

-- two searches on one project at once: distinct versions, each with its own
-- complete set of trials, and the same choice (folds come from the rows)
CREATE TABLE conc_search AS
SELECT i, x1, x2, 1 + 2 * x1 - x2 + 0.3 * sin(i * 12.9898) AS y
FROM (SELECT i, (i % 37) / 7.0 AS x1, ((i * 11) % 29) / 5.0 AS x2 FROM generate_series(1, 4000) i) s;
TRUNCATE conc_out;
INSERT INTO conc_out
SELECT pg_temp.shell_lines(format(
    'D=$(mktemp -d); %1$s > "$D/1" 2>&1 & %1$s > "$D/2" 2>&1 & wait; cat "$D/1" "$D/2"; rm -rf "$D"',
    pg_temp.psql_command(ARRAY[$$SELECT version FROM mlops.train('conc_s', 'conc_search', 'y', algorithm => 'ridge',
        search => '{"grid": {"alpha": [0.01, 1, 100]}, "folds": 3}')$$])));
SELECT is((SELECT array_agg(line ORDER BY line) FROM conc_out WHERE line ~ '^[0-9]+$'), ARRAY['1', '2'],
          'two concurrent searches got versions 1 and 2');
SELECT is((SELECT array_agg(n ORDER BY version) FROM
             (SELECT version, count(*) AS n FROM mlops.trials WHERE project = 'conc_s' GROUP BY version) t),
          ARRAY[3::bigint, 3::bigint], 'each version has its three candidates');
SELECT is((SELECT count(*) FROM mlops.trials WHERE project = 'conc_s' AND chosen), 2::bigint,
          'each search chose one candidate');
SELECT is((SELECT count(DISTINCT (hyperparams, fold_metrics)) FROM mlops.trials
            WHERE project = 'conc_s' AND chosen), 1::bigint,
          'both chose the same candidate with the same fold metrics');

-- a train cancelled by statement_timeout leaves the registry as it was
CREATE VIEW conc_big AS
SELECT i::float8 AS x, (i % 7)::float8 AS z, (2 * i)::float8 AS y FROM generate_series(1, 3000000) i;
TRUNCATE conc_out;
INSERT INTO conc_out
SELECT pg_temp.shell_lines(pg_temp.psql_command(ARRAY['SET statement_timeout = 300',
                                                      $$SELECT version FROM mlops.train('cancelled', 'conc_big', 'y')$$])
                           || ' 2>&1 || true');
SELECT ok((SELECT bool_or(line LIKE '%canceling statement due to statement timeout%') FROM conc_out),
          'statement_timeout cancels a long training');
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'cancelled'), 0::bigint,
          'the cancelled train left no project and no version behind');

SELECT * FROM finish();
DROP VIEW conc_big;
SELECT pg_temp.drop_projects('conc');
SELECT pg_temp.drop_projects('conc_s');
DROP TABLE conc_search;
DROP TABLE conc;
