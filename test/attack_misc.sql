-- Attacks by a stranger (CREATE on public) and by grantees on the registry's
-- edges: direct writes, objects in schema mlops, type games in train,
-- predict, check_drift and snapshots (each followed by a query, so a crash
-- fails the test), and grants to roles that do not exist.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(48);

CREATE ROLE mx_owner;
CREATE ROLE mx_scorer;
CREATE ROLE mx_stranger;
GRANT CREATE ON SCHEMA public TO mx_owner, mx_stranger;

-- the SQLSTATE a statement raises, or 'ok'
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

CREATE TYPE public.mx_mood AS ENUM ('sad', 'happy', 'meh');
CREATE DOMAIN public.mx_pos AS float8 CHECK (VALUE > -1000);
CREATE TYPE public.mx_pair AS (a float8, b float8);
CREATE TABLE mx_t AS
SELECT i AS id, (i % 53) / 5.0 AS x1, ((i * 7) % 41) / 4.0 AS x2,
       (ARRAY['sad', 'happy', 'meh'])[1 + i % 3]::public.mx_mood AS mood,
       ((i % 17) * 1.0)::public.mx_pos AS pos,
       3 + 2 * ((i % 53) / 5.0) - ((i * 7) % 41) / 4.0 + (i % 3) AS y
  FROM generate_series(1, 600) i;
GRANT SELECT ON mx_t TO mx_owner, mx_scorer, mx_stranger;
ALTER TYPE public.mx_mood OWNER TO mx_owner;
ALTER DOMAIN public.mx_pos OWNER TO mx_owner;

SET ROLE mx_owner;
SELECT version FROM mlops.train('mx_p', 'mx_t', 'y', features => ARRAY['x1', 'x2', 'mood', 'pos']);
SELECT mlops.grant('mx_p', 'mx_scorer', 'score');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- direct writes and objects in schema mlops, as a stranger
-- ---------------------------------------------------------------------------
SET ROLE mx_stranger;
SELECT is(pg_temp.try($$INSERT INTO mlops.projects (name, task, target, key_metric) VALUES ('mx_x', 'regression', 'y', 'r2')$$),
          '42501', 'stranger: INSERT into projects refused');
SELECT is(pg_temp.try($$UPDATE mlops.projects SET owner = 'mx_stranger' WHERE name = 'mx_p'$$),
          '42501', 'stranger: UPDATE of projects refused');
SELECT is(pg_temp.try($$INSERT INTO mlops.project_grants (project, grantee, privilege, granted_by) VALUES ('mx_p', 'mx_stranger', 'read', 'x')$$),
          '42501', 'stranger: INSERT into project_grants refused');
SELECT is(pg_temp.try($$DELETE FROM mlops.model_versions$$), '42501', 'stranger: DELETE refused');
SELECT is(pg_temp.try($$TRUNCATE mlops.deployments$$), '42501', 'stranger: TRUNCATE refused');
SELECT is(pg_temp.try($$SELECT nextval('mlops.deployments_id_seq')$$), '42501', 'stranger: nextval refused');
SELECT is(pg_temp.try($$SELECT setval('mlops.snapshot_catalog_id_seq', 1)$$), '42501', 'stranger: setval refused');
SELECT is(pg_temp.try($$CREATE TABLE mlops.mx_evil (a int)$$), '42501', 'stranger: CREATE in schema mlops refused');
SELECT is(pg_temp.try($$CREATE FUNCTION mlops.mx_evil() RETURNS int LANGUAGE sql AS 'SELECT 1'$$),
          '42501', 'stranger: CREATE FUNCTION in schema mlops refused');
SELECT is(pg_temp.try($$SELECT * FROM mlops.snapshot_contents$$), '42501', 'stranger: snapshot_contents refused');
SELECT is(pg_temp.try($$SELECT mlops._deploy('mx_p', 1, 'manual', NULL, 'x')$$), '42501', 'stranger: _deploy refused');
SELECT is(pg_temp.try($$SELECT mlops.retrain_finish(1, 1)$$), '42704', 'stranger: retrain_finish sees no request');
-- has_project_privilege is the RLS check: a stranger's own function named like it changes nothing
CREATE FUNCTION public.has_project_privilege(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET LOCAL search_path = public, mlops, pg_catalog;
SELECT is((SELECT count(*) FROM mlops.model_versions WHERE project = 'mx_p'), 0::bigint,
          'stranger: a planted has_project_privilege does not open the policies');
RESET search_path;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- type games
-- ---------------------------------------------------------------------------
SET ROLE mx_scorer;
SELECT ok(pg_temp.try($$SELECT mlops.predict('mx_p', t) FROM mx_t t LIMIT 5$$) = 'ok',
          'scorer: predict with enum and domain columns works');
-- a composite where a number is expected, an array of a domain, an anonymous record
SELECT ok(pg_temp.try($$SELECT mlops.predict('mx_p', r) FROM (SELECT 1.0 AS x1, ROW(1, 2)::public.mx_pair AS x2, 'sad'::public.mx_mood AS mood, 1.0 AS pos) r$$) <> 'ok',
          'scorer: a composite in place of a number is refused');
SELECT ok(pg_temp.try($$SELECT mlops.predict('mx_p', r) FROM (SELECT 1.0 AS x1, ARRAY[1.0::public.mx_pos] AS x2, 'sad'::text AS mood, 1.0 AS pos) r$$) <> 'ok',
          'scorer: an array of a domain in place of a number is refused');
SELECT is(pg_temp.try($$SELECT mlops.predict('mx_p', ROW(1.0, 2.0, 'sad', 1.0))$$) <> 'ok', true,
          'scorer: an anonymous record is refused');
SELECT is(pg_temp.try($$SELECT mlops._predict_columns('mx_p', ARRAY['x1', 'x2', 'mood', 'pos'], VARIADIC ARRAY[1.0, 2.0, 3.0, 4.0])$$) <> 'ok', true,
          'scorer: _predict_columns with a VARIADIC array is refused');
SELECT is(pg_temp.try($$SELECT mlops._predict_columns('mx_p', ARRAY['x1', 'x1', 'x1', 'x1'], 1.0, 2.0, 3.0, 4.0)$$) <> 'ok', true,
          'scorer: _predict_columns with repeated names is refused');
SELECT is(pg_temp.try($$SELECT mlops._predict_columns('mx_p', '[5:8]={x1,x2,mood,pos}'::text[], 1.0, 2.0, 'sad'::text, 4.0)$$), 'ok',
          'scorer: _predict_columns with a shifted array of names');
RESET ROLE;

-- the owner drops the enum and makes it again with other labels, and the
-- domain over text
SET ROLE mx_owner;
DROP TYPE public.mx_mood CASCADE;
CREATE TYPE public.mx_mood AS ENUM ('angry', 'sad');
DROP DOMAIN public.mx_pos CASCADE;
CREATE DOMAIN public.mx_pos AS text;
CREATE TABLE mx_live AS
SELECT id, x1, x2, (ARRAY['angry', 'sad'])[1 + id % 2]::public.mx_mood AS mood,
       (id % 5)::text::public.mx_pos AS pos, y
  FROM mx_t;
SELECT ok(pg_temp.try($$SELECT mlops.predict('mx_p', t) FROM mx_live t LIMIT 5$$) IN ('ok', '42804', '22023', '42P18'),
          'owner: predict after the types were recreated errors or scores');
SELECT is(pg_temp.try($$SELECT * FROM mlops.check_drift('mx_p', 'mx_live')$$), 'ok',
          'owner: check_drift after the types were recreated');
SELECT ok(pg_temp.try($$SELECT mlops.snapshot('mx_live')$$) = 'ok', 'owner: snapshot of recreated types');
-- pseudo-type and catalog-internal columns
-- built-in types without hashing or equality
CREATE VIEW public.mx_odd AS
SELECT i AS id, point(i, i) AS p, json_build_object('i', i) AS j,
       xmlelement(name x, i) AS x, pg_current_snapshot() AS s, 'pg_class'::regclass AS r
  FROM generate_series(1, 3) i;
SELECT ok(pg_temp.try($$SELECT mlops.snapshot('public.mx_odd')$$) IS NOT NULL,
          'owner: snapshot of point, json, xml, pg_snapshot, regclass columns does not crash');
SELECT ok(pg_temp.try($$SELECT mlops.snapshot_restore(max(id), 'public.mx_odd_r') FROM mlops.snapshots WHERE relation = 'public.mx_odd'$$) IS NOT NULL,
          'owner: their restore does not crash');
RESET ROLE;
SELECT is((SELECT 1), 1, 'the server is up after the type games');

-- odd arrays and numbers for the public statistics functions and predict
SET ROLE mx_scorer;
SELECT ok(pg_temp.try(q) IS NOT NULL, 'no crash: ' || q)
  FROM unnest(ARRAY[
    $$SELECT mlops.psi('{}'::float8[], '{}'::float8[])$$,
    $$SELECT mlops.psi('{NaN,Infinity,-Infinity}'::float8[], '{1,NULL,0}'::float8[])$$,
    $$SELECT mlops.psi('{{1,2},{3,4}}'::float8[], '{1,2,3,4}'::float8[])$$,
    $$SELECT mlops.ks_test('{}'::float8[], '{NaN}'::float8[])$$,
    $$SELECT mlops.ks_test('[-2147483648:-2147483647]={1,2}'::float8[], '{NULL,NULL}'::float8[])$$,
    $$SELECT mlops.chi_square_test('{0,0}'::float8[], '{0,0}'::float8[])$$,
    $$SELECT mlops.chi_square_test('{1e308,1e308}'::float8[], '{-1,NaN}'::float8[])$$,
    $$SELECT mlops.predict('mx_p', '{}'::float8[])$$,
    $$SELECT mlops.predict('mx_p', '{{1,2},{3,4}}'::float8[])$$,
    $$SELECT mlops.predict('mx_p', '{1,NULL,3,4,5,6,7,8}'::float8[])$$,
    $$SELECT mlops.predict('mx_p', array_fill(1.0::float8, ARRAY[100000]))$$,
    $$SELECT mlops.predict('mx_p', ARRAY[1.0]::float8[], -1)$$,
    $$SELECT mlops.predict('mx_p', ARRAY[1.0]::float8[], 2147483647)$$,
    $$SELECT * FROM mlops.explain_row('mx_p', ROW(1)::record, NULL)$$,
    $$SELECT mlops.snapshot_diff(-1, 9223372036854775807)$$,
    $$SELECT * FROM mlops.snapshot_rows(0) AS t(a int)$$,
    $$SELECT mlops.drift_thresholds(repeat('x', 100000))$$,
    $$SELECT mlops.has_project_privilege(repeat('x', 100000), 'read')$$,
    $$SELECT mlops.predict(repeat('x', 100000), ARRAY[1.0]::float8[])$$
  ]) q;
RESET ROLE;
SELECT is((SELECT 1), 1, 'the server is up after the odd arrays');

-- ---------------------------------------------------------------------------
-- grants to roles that do not exist
-- ---------------------------------------------------------------------------
SET ROLE mx_owner;
SELECT isnt(pg_temp.try($$SELECT mlops.grant('mx_p', 987654::oid::regrole, 'read')$$), 'ok',
            'owner: a grant to a role OID that does not exist is refused');
RESET ROLE;
CREATE ROLE mx_temp;
SET ROLE mx_owner;
SELECT mlops.grant('mx_p', 'mx_temp', 'read');
RESET ROLE;
SELECT 'mx_temp'::regrole::oid AS tmp_oid \gset
DROP ROLE mx_temp;
-- DROP ROLE cannot be hooked: the grants of dropped roles are collected the
-- next time the grants change
SET ROLE mx_owner;
SELECT mlops.revoke('mx_p', 'mx_owner', 'read');
RESET ROLE;
SELECT is((SELECT count(*) FROM mlops.project_grants g WHERE g.grantee = :tmp_oid), 0::bigint,
          'no grant to a dropped role survives the next change of grants');

SELECT * FROM finish();
ROLLBACK;
