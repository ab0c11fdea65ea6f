-- Registry writes are made as the registry owner (a superuser); the
-- caller's search_path must not be able to slip its own operators or
-- functions into them.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(4);

CREATE ROLE sec_attacker;
CREATE SCHEMA sec_evil AUTHORIZATION sec_attacker;
CREATE TABLE sec_data AS SELECT i::float8 AS x, (i % 7)::float8 AS z, (2 * i + i % 7)::float8 AS y
  FROM generate_series(1, 300) i;
GRANT SELECT ON sec_data TO sec_attacker;

SET ROLE sec_attacker;
-- an "=" for text that makes its caller a superuser when it can
CREATE FUNCTION sec_evil.grab(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE sec_attacker SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_evil.grab);
CREATE FUNCTION sec_evil.sha256(bytea) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE sec_attacker SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    RETURN pg_catalog.sha256($1);
END $$;
SET search_path = sec_evil, pg_catalog, public;
SELECT is((SELECT version FROM mlops.train('sec_p', 'public.sec_data', 'y')), 1,
          'training works with a hostile search_path');
SELECT is((SELECT version FROM mlops.deploy('sec_p', 1)), 1, 'so does deploying');
SELECT lives_ok($$SELECT mlops.snapshot('public.sec_data')$$, 'and snapshotting');
RESET search_path;
RESET ROLE;

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_attacker'), false,
          'no operator or function of the caller ran as the registry owner');

SELECT * FROM finish();
ROLLBACK;
