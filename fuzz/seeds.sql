-- fuzz/seeds.sql -- real encodings for the fuzz corpora, run by make_seeds.sh
-- on a throwaway cluster.  Prints one line per seed: "<target>/<name> <hex>".
\set ON_ERROR_STOP 1
SET client_min_messages = error;

CREATE TABLE fz (x1 float8, x2 int, flag boolean, cat text, y float8, label text);
INSERT INTO fz
SELECT i, i % 7, i % 3 = 0, (ARRAY['red', 'green', 'blue'])[i % 3 + 1],
       2 * i + (i % 5), CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END
FROM generate_series(1, 60) i;

-- one model per algorithm, with numeric, boolean and categorical features
SELECT count(*) FROM (
    SELECT mlops.train('fz_linear', 'fz', 'y', algorithm => 'linear',
                       features => ARRAY['x1', 'x2', 'flag', 'cat'])
    UNION ALL
    SELECT mlops.train('fz_ridge', 'fz', 'y', algorithm => 'ridge',
                       hyperparams => '{"alpha": 0.5}', features => ARRAY['x1', 'cat'])
    UNION ALL
    SELECT mlops.train('fz_lasso', 'fz', 'y', algorithm => 'lasso',
                       hyperparams => '{"alpha": 0.1, "max_iter": 200}', features => ARRAY['x1', 'flag'])
    UNION ALL
    SELECT mlops.train('fz_enet', 'fz', 'y', algorithm => 'elastic_net',
                       hyperparams => '{"alpha": 0.2, "l1_ratio": 0.3, "tol": 1e-5}',
                       features => ARRAY['x2', 'cat'])
    UNION ALL
    SELECT mlops.train('fz_logit2', 'fz', 'label', algorithm => 'logistic',
                       hyperparams => '{"alpha": 0.01, "max_categories": 2}',
                       features => ARRAY['x1', 'cat'])
    UNION ALL
    SELECT mlops.train('fz_logit3', 'fz', 'cat', algorithm => 'logistic',
                       features => ARRAY['x2', 'flag'])
    UNION ALL
    SELECT mlops.train('fz_nb', 'fz', 'label', algorithm => 'naive_bayes',
                       hyperparams => '{"var_smoothing": 1e-6, "alpha": 2}',
                       features => ARRAY['x1', 'flag', 'cat'])
) t \g /dev/null

-- a chain of snapshot contents: a base, then deltas with rows added,
-- removed and duplicated
CREATE TABLE fs (a int, b text);
INSERT INTO fs SELECT i, 'r' || (i % 4) FROM generate_series(1, 24) i;
SELECT mlops.snapshot('fs', 'fs_1') \g /dev/null
DELETE FROM fs WHERE a % 5 = 0;
INSERT INTO fs SELECT i, 'n' FROM generate_series(30, 34) i;
SELECT mlops.snapshot('fs', 'fs_2') \g /dev/null
INSERT INTO fs SELECT a, b FROM fs WHERE a < 6;
DELETE FROM fs WHERE a = 31;
SELECT mlops.snapshot('fs', 'fs_3') \g /dev/null

\pset format unaligned
\pset tuples_only on
\pset fieldsep ' '

SELECT 'model/' || algorithm || '_' || project, encode(model, 'hex')
FROM mlops.model_versions ORDER BY project;

SELECT 'hyperparams/stored_' || project, encode(convert_to(hyperparams::text, 'UTF8'), 'hex')
FROM mlops.model_versions ORDER BY project;

SELECT 'hyperparams/user_' || n, encode(convert_to(j, 'UTF8'), 'hex')
FROM unnest(ARRAY['{"alpha": 0.5}', '{"alpha": true, "max_categories": 20}',
                  '{"lambda": 1}', '{"alpha": "big"}', '{"alpha": -1}', '[1]',
                  '{"tol": 1e-400, "max_iter": 2.5}', '{"alpha": {"nested": [1, 2]}, "alpha": 3}'])
     WITH ORDINALITY AS u(j, n);

-- the chain of each named snapshot's content and of training's first, base
-- first: flags, then per content the added and removed lists, each as a
-- big-endian length and the bytes
WITH RECURSIVE chain AS (
    (SELECT DISTINCT ON (s.id) coalesce(c.name, 'snapshot_' || c.id) AS snap, s.id, s.parent,
            s.added, s.removed, 0 AS depth
     FROM mlops.snapshot_catalog c JOIN mlops.snapshot_contents s ON s.id = c.content
     WHERE c.name IS NOT NULL OR c.id = (SELECT min(id) FROM mlops.snapshot_catalog)
     ORDER BY s.id, c.id)
  UNION ALL
    SELECT chain.snap, s.id, s.parent, s.added, s.removed, chain.depth + 1
    FROM chain JOIN mlops.snapshot_contents s ON s.id = chain.parent
)
SELECT 'members/' || snap || '_keep' || k, encode(
           set_byte('\x00'::bytea, 0, k) ||
           string_agg(int4send(length(added)) || added || int4send(length(removed)) || removed,
                      ''::bytea ORDER BY depth DESC), 'hex')
FROM chain, (VALUES (0), (1)) AS f(k)
GROUP BY snap, k ORDER BY snap, k;

-- the drift accumulator: flat states of some rows of fz (a numeric column
-- with bin edges, one without, a boolean, a category), and the spec they
-- were made with followed by bytes to make rows of
CREATE TEMP TABLE fd AS
SELECT '\x4d524632'::bytea || int4send(4)
       || int4send(1) || int4send(11) || float8send(30.5)
       || (SELECT string_agg(float8send(1 + 5.9 * k), ''::bytea ORDER BY k)
             FROM generate_series(0, 10) k)
       || int4send(1) || int4send(0) || float8send(3)
       || int4send(2) || int4send(0) || float8send(0)
       || int4send(3) || int4send(0) || float8send(0) AS spec;
SELECT 'drift/state_' || n, encode('\x00'::bytea || (
           SELECT mlops.drift_accumulate(fd.spec, mlops._drift_numbers(x1, x2, flag),
                                         mlops._drift_categories(cat))
             FROM fz WHERE x1 <= n), 'hex')
FROM fd, unnest(ARRAY[1, 3, 60]) AS n ORDER BY n;
SELECT 'drift/spec_rows', encode('\x01'::bytea || int2send(length(spec)::int2) || spec
                                 || '\x02017f05ff0300616263'::bytea, 'hex')
FROM fd;
