-- Scoring: the SQL surface and its errors.
SET client_min_messages = warning;
CREATE TABLE pe (id int, x1 float8, x2 float8, cat text, y float8, label text);
INSERT INTO pe
SELECT i, i % 17, (i * 7) % 13, CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END,
       1 + 2 * (i % 17) - (i * 7) % 13 + CASE WHEN i % 3 = 0 THEN 5 ELSE 0 END,
       CASE WHEN (i % 17) > 8 THEN 'big' ELSE 'small' END
FROM generate_series(1, 300) i;
SELECT version FROM mlops.train('pe_reg', 'pe', 'y', features => ARRAY['x1', 'x2', 'cat']);
SELECT version FROM mlops.train('pe_num', 'pe', 'y', features => ARRAY['x1', 'x2']);
SELECT version FROM mlops.train('pe_cls', 'pe', 'label', features => ARRAY['x1', 'x2']);
SELECT version FROM mlops.train('pe_cls2', 'pe', 'label', features => ARRAY['x2'], deploy => 'never');

-- the row form, with extra columns in any order
SELECT round(mlops.predict('pe_reg', t)::numeric, 6) FROM pe t WHERE id = 3;
SELECT round(mlops.predict('pe_reg', s)::numeric, 6)
  FROM (SELECT 'a'::text AS cat, 'x' AS extra, 0::float8 AS x2, 3::float8 AS x1) s;
-- NULL features are imputed, unseen categories go to "other"
SELECT mlops.predict('pe_reg', s) IS NOT NULL AS imputed
  FROM (SELECT NULL::float8 AS x1, NULL::float8 AS x2, 'zzz'::text AS cat) s;
-- the array form, in feature order
SELECT round(mlops.predict('pe_num', ARRAY[3, 0]::float8[])::numeric, 6);
SELECT mlops.predict('pe_num', ARRAY[NULL, 0]::float8[]) IS NOT NULL AS imputed;
-- classification: the class index, the probabilities, the label
SELECT mlops.predict('pe_cls', t) AS class_index, mlops.predict_label('pe_cls', t) AS label,
       array_length(mlops.predict_proba('pe_cls', t), 1) AS nclasses
  FROM pe t WHERE id = 16;
SELECT classes FROM mlops.model_versions WHERE project = 'pe_cls';

-- errors
SELECT mlops.predict('nope', t) FROM pe t LIMIT 1;
SELECT mlops.predict('pe_cls2', t) FROM pe t LIMIT 1;
SELECT mlops.predict('pe_reg', t, 5) FROM pe t LIMIT 1;
SELECT mlops.predict('pe_reg', t, 0) FROM pe t LIMIT 1;
SELECT mlops.predict('pe_reg', s) FROM (SELECT 1::float8 AS x1, 'a'::text AS cat) s;
SELECT mlops.predict('pe_reg', s) FROM (SELECT 'one'::text AS x1, 1::float8 AS x2, 'a'::text AS cat) s;
SELECT mlops.predict('pe_reg', s) FROM (SELECT 1::float8 AS x1, 1::float8 AS x2, now() AS cat) s;
SELECT mlops.predict('pe_num', ARRAY[1, 2, 3]::float8[]);
SELECT mlops.predict('pe_num', '{}'::float8[]);
SELECT mlops.predict('pe_num', ARRAY[[1, 2]]::float8[]);
SELECT mlops.predict('pe_reg', ARRAY[1, 2, 3]::float8[]);
SELECT mlops.predict_proba('pe_reg', t) FROM pe t LIMIT 1;
SELECT mlops.predict_label('pe_reg', t) FROM pe t LIMIT 1;
-- NULL in, NULL out
SELECT mlops.predict('pe_reg', NULL::pe) IS NULL AS null_row;

-- a table's whole row is passed to the model as its columns
EXPLAIN (VERBOSE, COSTS OFF) SELECT mlops.predict('pe_reg', t) FROM pe t;
-- and the missing side of an outer join still scores as NULL
SELECT a.id, mlops.predict('pe_reg', b) IS NULL AS no_row
  FROM (VALUES (3), (-1)) a(id) LEFT JOIN pe b ON b.id = a.id ORDER BY a.id;

-- pinned version of a staging model
SELECT mlops.predict_label('pe_cls2', t, 1) FROM pe t WHERE id = 16;

-- volatility and parallel safety as declared
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.proisstrict
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'mlops' AND p.proname LIKE 'predict%' ORDER BY 1::text;

-- project references: a name with "@" is a ticket, which only the planner of
-- a Citus coordinator writes; a malformed one is refused, a forged one is
-- checked like any call (the privilege, then the version and its sha256)
SELECT mlops.predict('pe_num@1', ARRAY[1, 2]::float8[]);
SELECT mlops.predict('pe_num@x:' || repeat('00', 32), ARRAY[1, 2]::float8[]);
SELECT mlops.predict('pe_num@1:' || repeat('00', 32), ARRAY[1, 2]::float8[]);
SELECT mlops.predict('nope@1:' || repeat('00', 32), ARRAY[1, 2]::float8[]);
SELECT mlops.predict('pe_num@9:' || repeat('00', 32), ARRAY[1, 2]::float8[]);
SELECT mlops.predict('pe_num@1:' || encode(model_sha256, 'hex'), ARRAY[1, 2]::float8[])
     = mlops.predict('pe_num', ARRAY[1, 2]::float8[], 1) AS ticket_scores_its_version
  FROM mlops.model_versions WHERE project = 'pe_num' AND version = 1;
-- without Citus the planner writes no tickets, and citus_setup refuses
EXPLAIN (VERBOSE, COSTS OFF) SELECT mlops.predict('pe_num', ARRAY[x1, x2]) FROM pe;
SELECT mlops.citus_setup();
CREATE ROLE pe_stranger;
SET ROLE pe_stranger;
SELECT mlops.citus_setup();
RESET ROLE;
DROP ROLE pe_stranger;

DELETE FROM mlops.deployments;
DELETE FROM mlops.model_versions;
DELETE FROM mlops.projects;
DROP TABLE pe;
