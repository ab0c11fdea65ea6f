-- A tree training cancelled by statement_timeout while XGBoost boosts
-- leaves nothing: no project, no version, no XGBoost session (whose memory
-- context frees the handles), and the same session trains again.  The
-- training runs in a separate psql session, as the cancel must not abort
-- this test's transaction.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(4);

CREATE TABLE gbt_cancel AS
SELECT i, random() AS x1, random() AS x2, random() AS y FROM generate_series(1, 20000) i;

CREATE TEMP TABLE cancel_out AS
SELECT line FROM pg_temp.shell_lines(pg_temp.psql_command(ARRAY[
    'SET statement_timeout = 1500',
    $$SELECT version FROM mlops.train('gbt_cancelled', 'gbt_cancel', 'y', algorithm => 'gbt',
                                      hyperparams => '{"n_estimators": 10000, "max_depth": 10}')$$,
    'RESET statement_timeout',
    $$SELECT 'contexts ' || count(*) FROM pg_backend_memory_contexts WHERE name = 'mlops xgboost'$$,
    $$SELECT 'again ' || version FROM mlops.train('gbt_after', 'gbt_cancel', 'y', algorithm => 'gbt',
                                                  hyperparams => '{"n_estimators": 5}')$$])
    || ' 2>&1 || true') AS line;

SELECT ok((SELECT bool_or(line LIKE '%canceling statement due to statement timeout%') FROM cancel_out),
          'statement_timeout cancels a long gbt training');
SELECT is((SELECT count(*) FROM mlops.projects WHERE name = 'gbt_cancelled'), 0::bigint,
          'the cancelled training left no project and no version');
SELECT is((SELECT line FROM cancel_out WHERE line LIKE 'contexts %'), 'contexts 0',
          'no XGBoost session (and so no handle) is left in the backend');
SELECT is((SELECT line FROM cancel_out WHERE line LIKE 'again %'), 'again 1',
          'the backend trains again after the cancel');

SELECT * FROM finish();
SELECT pg_temp.drop_projects('gbt_after');
DROP TABLE gbt_cancel;
