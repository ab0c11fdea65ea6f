-- Attack: a role granted only "read" reads raw training values.
-- model_versions.baseline is withheld from PUBLIC because it holds a sample
-- of the training rows (src/sql/00_registry.sql), and docs/drift.md says
-- only the project's owner reads it.  mlops.baseline() shows buckets only,
-- but the internal mlops._version_baseline, executable by PUBLIC, checks
-- just "read" and returns the whole jsonb, KS samples included: the first
-- 2,000 values of every numeric feature and of the target, row-aligned
-- when there are no NULLs, i.e. training rows.
-- Expected once fixed: a read grantee gets no raw sample.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(4);

CREATE ROLE bl_owner;
CREATE ROLE bl_reader;
CREATE ROLE bl_scorer;

CREATE TABLE bl_t AS
SELECT i AS id, (i % 53) / 5.0 AS salary, ((i * 7) % 41) / 4.0 AS age,
       3 + 2 * ((i % 53) / 5.0) - ((i * 7) % 41) / 4.0 AS y
  FROM generate_series(1, 2000) i;
GRANT SELECT ON bl_t TO bl_owner;

SET ROLE bl_owner;
SELECT version FROM mlops.train('bl_p', 'bl_t', 'y', features => ARRAY['salary', 'age']);
SELECT mlops.grant('bl_p', 'bl_reader', 'read');
SELECT mlops.grant('bl_p', 'bl_scorer', 'score');
RESET ROLE;

SET ROLE bl_reader;
-- the column itself is refused, as intended
SELECT throws_ok($$SELECT baseline FROM mlops.model_versions WHERE project = 'bl_p'$$,
                 '42501', NULL, 'read grantee: the baseline column is not selectable');
-- nor does the raw sample come out of the internal function or mlops.baseline
SELECT throws_ok($$SELECT * FROM mlops._version_baseline('bl_p', NULL)$$, '42501', NULL,
                 'read grantee: mlops._version_baseline returns no raw training sample');
SELECT throws_ok($$SELECT * FROM mlops.baseline('bl_p')$$, '42501', NULL,
                 'read grantee: nor does mlops.baseline');
RESET ROLE;

SET ROLE bl_scorer;
SELECT throws_ok($$SELECT * FROM mlops._version_baseline('bl_p', NULL)$$, '42501', NULL,
                 'score grantee: no baseline');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
