-- The accumulator behind mlops.check_drift, mlops.drift_accumulate, as
-- Citus needs it to push it down to its workers: a declared signature
-- without pseudo-types, a bytea state with a combine function, and states
-- of parts of a scan that combine (in SQL, as Citus's coordinator does) to
-- the state of the whole scan.  Also: states made by hand are validated,
-- never trusted.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(26);

-- ---------------------------------------------------------------------------
-- The declared aggregate
-- ---------------------------------------------------------------------------
SELECT is(pg_get_function_identity_arguments('mlops.drift_accumulate'::regproc),
          'spec bytea, numbers double precision[], categories text[]',
          'the aggregate takes a spec, an array of numbers and an array of categories');
SELECT is((SELECT count(*)::int
             FROM pg_proc p, unnest(p.proargtypes) AS a(t), pg_type ty
            WHERE p.oid = 'mlops.drift_accumulate'::regproc AND ty.oid = a.t
              AND ty.typtype = 'p'), 0,
          'no argument of the aggregate is a pseudo-type ("any", internal)');
SELECT is((SELECT provariadic FROM pg_proc WHERE oid = 'mlops.drift_accumulate'::regproc),
          0::oid, 'the aggregate is not variadic');
SELECT results_eq(
    $$SELECT aggtranstype::regtype::text, aggcombinefn::text, aggfinalfn::text,
             aggserialfn::oid, aggdeserialfn::oid
        FROM pg_aggregate WHERE aggfnoid = 'mlops.drift_accumulate'::regproc$$,
    $$VALUES ('bytea', 'mlops.drift_accumulate_combine', 'mlops.drift_accumulate_final',
              0::oid, 0::oid)$$,
    'the state is a bytea with a combine function, and needs no (de)serialisation');
SELECT is((SELECT count(*)::int
             FROM pg_aggregate g, pg_proc p, pg_type ty
            WHERE g.aggfnoid = 'mlops.drift_accumulate'::regproc
              AND p.oid IN (g.aggtransfn, g.aggcombinefn, g.aggfinalfn)
              AND ty.oid = ANY (p.proargtypes::oid[] || p.prorettype)
              AND ty.typtype = 'p'), 0,
          'the support functions take and return no pseudo-type');
SELECT is((SELECT proparallel FROM pg_proc WHERE oid = 'mlops.drift_accumulate'::regproc),
          's', 'the aggregate is parallel safe');

-- ---------------------------------------------------------------------------
-- States of parts combine to the state of the whole
-- ---------------------------------------------------------------------------
-- 30,000 rows, more than the KS sample's 20,000, so that the parts' samples
-- lose rows when combined.  Whole numbers keep the moments' sums exact, so
-- the flat states (written canonically) can be compared byte for byte.
CREATE TABLE agg_t AS
SELECT g AS id, (g * 7919 % 50)::float8 AS x, g % 3 = 0 AS b,
       CASE WHEN g % 17 = 0 THEN NULL ELSE 'c' || (g % 7) END AS c,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g % 13 END::int AS z,
       (g % 5)::numeric AS p
  FROM generate_series(1, 30000) g;
-- the spec, as check_drift builds it: per column its kind (1 numeric,
-- 2 boolean, 3 categorical), its bin edges and the moments' shift
CREATE TEMP TABLE agg_spec AS
SELECT '\x4d524632'::bytea || int4send(5)
       || int4send(1) || int4send(11) || float8send(20)
       || (SELECT string_agg(float8send(e), ''::bytea ORDER BY e)
             FROM unnest('{0, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49}'::float8[]) e)
       || int4send(2) || int4send(0) || float8send(0)
       || int4send(3) || int4send(0) || float8send(0)
       || int4send(1) || int4send(0) || float8send(6)
       || int4send(1) || int4send(0) || float8send(0) AS spec;
CREATE FUNCTION pg_temp.acc(cond text) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    r bytea;
BEGIN
    EXECUTE 'SELECT mlops.drift_accumulate((SELECT spec FROM agg_spec),
                 mlops._drift_numbers(x, b, z, p), mlops._drift_categories(c))
               FROM agg_t WHERE ' || cond INTO r;
    RETURN r;
END $$;
CREATE TEMP TABLE whole AS SELECT pg_temp.acc('true') AS s;

SELECT is(length((SELECT s FROM whole)),
          4 + 8 + 4 + 5 * 152 + 7 * (4 + 2 + 8) + 4 + 20000 * (8 + 3 * 8),
          'the state of the scan: 5 columns, 7 categories, 20,000 KS rows of 3 numbers');
SELECT is(mlops.drift_accumulate_final(mlops.drift_accumulate_combine(
              pg_temp.acc('id % 2 = 0'), pg_temp.acc('id % 2 = 1'))),
          (SELECT s FROM whole), 'odd and even rows combined give the state of the scan');
SELECT is(mlops.drift_accumulate_final(mlops.drift_accumulate_combine(
              pg_temp.acc('id > 21000'), pg_temp.acc('id <= 21000'))),
          (SELECT s FROM whole), 'so do two ranges, combined the other way round');
SELECT is(mlops.drift_accumulate_combine(
              mlops.drift_accumulate_combine(pg_temp.acc('id % 3 = 0'), pg_temp.acc('id % 3 = 1')),
              pg_temp.acc('id % 3 = 2')),
          (SELECT s FROM whole), 'and three parts');
SELECT is(mlops.drift_accumulate_combine(pg_temp.acc('true'), NULL),
          (SELECT s FROM whole), 'combining with no state changes nothing');
SELECT is((SELECT mlops.drift_accumulate((SELECT spec FROM agg_spec),
                      mlops._drift_numbers(x, b, z, p), mlops._drift_categories(c))
             FROM (SELECT * FROM agg_t ORDER BY md5(id::text)) s),
          (SELECT s FROM whole), 'the state does not depend on the order of the rows');
-- check_drift's accumulator where Citus is not installed takes the values as
-- arguments of their own types; it leaves the same state, and the two mix
SELECT is((SELECT mlops.drift_accumulate_local((SELECT spec FROM agg_spec), x, b, c, z, p)
             FROM agg_t),
          (SELECT s FROM whole),
          'drift_accumulate_local, with the values as arguments, leaves the same state');
SELECT is(mlops.drift_accumulate_combine(
              (SELECT mlops.drift_accumulate_local((SELECT spec FROM agg_spec), x, b, c, z, p)
                 FROM agg_t WHERE id % 2 = 0),
              pg_temp.acc('id % 2 = 1')),
          (SELECT s FROM whole), 'and its states combine with drift_accumulate''s');
-- the state is also the combine function's input, as in Citus's
-- coord_combine_agg: an aggregate of parts' states through the combine function
CREATE AGGREGATE pg_temp.combine_states(bytea) (
    SFUNC = mlops.drift_accumulate_combine, STYPE = bytea,
    FINALFUNC = mlops.drift_accumulate_final);
SELECT is((SELECT pg_temp.combine_states(pg_temp.acc(format('id %% 4 = %s', k)))
             FROM generate_series(0, 3) k),
          (SELECT s FROM whole), 'an aggregate of four parts'' states through the combine function');

-- PostgreSQL's own parallel aggregation ships the flat state between processes
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
    r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        r := r || l || E'\n';
    END LOOP;
    RETURN r;
END $$;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
SELECT matches(pg_temp.plan_of($$SELECT mlops.drift_accumulate((SELECT spec FROM agg_spec),
                                    mlops._drift_numbers(x, b, z, p), mlops._drift_categories(c))
                                  FROM agg_t$$),
               'Workers Launched: [12].*Partial Aggregate',
               'the scan is split across parallel workers');
SELECT is((SELECT mlops.drift_accumulate((SELECT spec FROM agg_spec),
                      mlops._drift_numbers(x, b, z, p), mlops._drift_categories(c))
             FROM agg_t),
          (SELECT s FROM whole), 'parallel workers'' states combine to the state of the scan');
SELECT is((SELECT mlops.drift_accumulate_local((SELECT spec FROM agg_spec), x, b, c, z, p)
             FROM agg_t),
          (SELECT s FROM whole), 'so do those of drift_accumulate_local');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- ---------------------------------------------------------------------------
-- States and specs made by hand
-- ---------------------------------------------------------------------------
-- final and combine of each input: how many were refused as malformed (any
-- other error fails the test)
CREATE FUNCTION pg_temp.refused(inputs bytea[], other bytea) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    b bytea;
BEGIN
    FOREACH b IN ARRAY inputs LOOP
        BEGIN
            PERFORM mlops.drift_accumulate_final(b);
            PERFORM mlops.drift_accumulate_combine(other, b);
        EXCEPTION WHEN invalid_parameter_value THEN
            n := n + 1;
        END;
    END LOOP;
    RETURN n;
END $$;
CREATE TEMP TABLE small AS SELECT pg_temp.acc('id <= 3') AS s;
SELECT is(pg_temp.refused(ARRAY(SELECT substring(s FROM 1 FOR k)
                                  FROM small, generate_series(0, length(s) - 1) k)
                          || (SELECT s || '\x00'::bytea FROM small), (SELECT s FROM small)),
          (SELECT length(s) + 1 FROM small),
          'a state cut short, or with a byte too many, is refused');
SELECT lives_ok($$SELECT pg_temp.refused(ARRAY(SELECT set_byte(s, k, get_byte(s, k) # 255)
                                                FROM small, generate_series(0, length(s) - 1) k),
                                          (SELECT s FROM small))$$,
                'a state with any one byte changed is read or refused, never a crash');
SELECT throws_ok($$SELECT mlops.drift_accumulate_combine((SELECT s FROM small),
                                                        '\x4d52533200000000000000000000000000000000')$$,
                 '22023', 'drift accumulator states of different shapes',
                 'states of different columns do not combine');
CREATE AGGREGATE pg_temp.forged(bytea, float8[], text[]) (
    SFUNC = mlops.drift_accumulate_trans, STYPE = bytea, INITCOND = '\x0102');
SELECT throws_ok($$SELECT pg_temp.forged(spec, mlops._drift_numbers(x, b, z, p),
                                         mlops._drift_categories(c))
                     FROM agg_t, agg_spec$$,
                 '22023', 'malformed drift accumulator state',
                 'a forged initial state of the transition function is refused');
CREATE AGGREGATE pg_temp.reshaped(bytea, float8[], text[]) (
    SFUNC = mlops.drift_accumulate_trans, STYPE = bytea,
    INITCOND = '\x4d52533200000000000000000000000000000000');
SELECT throws_ok($$SELECT pg_temp.reshaped(spec, mlops._drift_numbers(x, b, z, p),
                                           mlops._drift_categories(c))
                     FROM agg_t, agg_spec$$,
                 '22023', 'drift accumulator states of different shapes',
                 'an initial state that does not match the spec is refused');
SELECT throws_ok($$SELECT mlops._drift_numbers(1, 'a'::text)$$, '42804',
                 'drift accumulator value 2 must be numeric or boolean, not text',
                 'the numbers of a row must be numbers or booleans');
SELECT throws_ok($$SELECT mlops.drift_accumulate_local(spec, x, b, c, z, c) FROM agg_t, agg_spec$$,
                 '42804', 'drift accumulator value 5 must be numeric or boolean, not text',
                 'so must drift_accumulate_local''s where the spec says so');
SELECT throws_ok($$SELECT mlops.drift_accumulate_local(spec, x, b, c, z) FROM agg_t, agg_spec$$,
                 '22023', 'drift accumulator spec describes 5 columns, 4 given',
                 'and it takes a value for every column of the spec');

SELECT * FROM finish();
ROLLBACK;
