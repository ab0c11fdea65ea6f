-- k-means clustering through mlops.train, predict, explain, evaluate,
-- reproduce and check_drift, against answers computed here in SQL:
-- four well-separated Gaussian blobs in 3-D recovered exactly (adjusted
-- Rand index 1 against the generating labels), the stored silhouette and
-- inertia against their definitions, a new point assigned to the nearest
-- centre, deploy => 'if_better' on the silhouette, byte-identical
-- reproduction, and drift checks on a project without a target.
--
-- test_size => 1e-9 puts every row in the training split, so the stored
-- metrics are computed on all the rows (the held-out split being empty)
-- and the silhouette's sample (at most 2000 rows) is the whole table.
\set ON_ERROR_STOP 1
SET client_min_messages = error;
\ir lib/helpers.sql
BEGIN;
SELECT plan(27);

SELECT setseed(0.5);
CREATE TABLE km_blobs AS
SELECT i, b AS blob,
       (ARRAY[0, 10, 0, 0])[b + 1] + 0.5 * pg_temp.gauss() AS x,
       (ARRAY[0, 0, 10, 0])[b + 1] + 0.5 * pg_temp.gauss() AS y,
       (ARRAY[0, 0, 0, 10])[b + 1] + 0.5 * pg_temp.gauss() AS z
  FROM generate_series(0, 399) AS i, LATERAL (SELECT i % 4 AS b) AS s;

-- Adjusted Rand index of two labellings of the same rows
CREATE FUNCTION pg_temp.ari(a int[], b int[]) RETURNS float8 LANGUAGE sql AS $$
    WITH pairs AS (SELECT u.a, u.b FROM unnest(a, b) AS u(a, b)),
         nij AS (SELECT count(*) AS c FROM pairs GROUP BY a, b),
         ai AS (SELECT count(*) AS c FROM pairs GROUP BY a),
         bj AS (SELECT count(*) AS c FROM pairs GROUP BY b),
         s AS (SELECT (SELECT sum(c * (c - 1) / 2.0) FROM nij) AS idx,
                      (SELECT sum(c * (c - 1) / 2.0) FROM ai) AS sa,
                      (SELECT sum(c * (c - 1) / 2.0) FROM bj) AS sb,
                      (SELECT count(*) * (count(*) - 1) / 2.0 FROM pairs) AS tot)
    SELECT ((idx - sa * sb / tot) / ((sa + sb) / 2 - sa * sb / tot))::float8 FROM s
$$;

-- 1. four blobs, k = 4, standardised (the default)
SELECT is((SELECT status FROM mlops.train('km_b', 'km_blobs', task => 'clustering', algorithm => 'kmeans',
                                          hyperparams => '{"k": 4}',
                                          features => ARRAY['x', 'y', 'z'])),
          'production', 'k-means trains and deploys a first version');
SELECT is((SELECT row(task, target, key_metric)::text FROM mlops.projects WHERE name = 'km_b'),
          '(clustering,,silhouette)', 'a clustering project has no target and the silhouette as its key metric');
SELECT is(pg_temp.ari((SELECT array_agg(blob ORDER BY i) FROM km_blobs),
                      (SELECT array_agg(mlops.predict('km_b', b)::int ORDER BY i) FROM km_blobs b)),
          1.0::float8, 'the blobs are recovered exactly (adjusted Rand index 1)');
SELECT is((SELECT array_agg(DISTINCT mlops.predict('km_b', b) ORDER BY mlops.predict('km_b', b)) FROM km_blobs b),
          ARRAY[0, 1, 2, 3]::float8[], 'predict returns the 0-based cluster index');
SELECT is((SELECT count(*) FROM mlops.explain('km_b')), 12::bigint,
          'explain has one row per cluster and design column');
-- each centre is within 0.2 of a generating centre, on the original scale
SELECT is((SELECT count(*) FROM (
              SELECT class,
                     max(coefficient) FILTER (WHERE term = 'x') AS cx,
                     max(coefficient) FILTER (WHERE term = 'y') AS cy,
                     max(coefficient) FILTER (WHERE term = 'z') AS cz
                FROM mlops.explain('km_b') GROUP BY class) c
            WHERE EXISTS (SELECT 1 FROM (VALUES (0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 10)) g(gx, gy, gz)
                           WHERE abs(cx - gx) < 0.2 AND abs(cy - gy) < 0.2 AND abs(cz - gz) < 0.2)),
          4::bigint, 'explain gives the centres on the original scale');

-- a new point goes to the nearest centre (computed here from explain; the
-- columns have about the same spread, so standardising changes no ranking)
SELECT is((SELECT mlops.predict('km_b', p) FROM (SELECT 9.1::float8 AS x, 1.2::float8 AS y,
                                                       -0.7::float8 AS z) p),
          (SELECT class::float8 FROM (
              SELECT class, sum((coefficient - CASE term WHEN 'x' THEN 9.1 WHEN 'y' THEN 1.2 ELSE -0.7 END) ^ 2) AS d
                FROM mlops.explain('km_b') GROUP BY class) s
            ORDER BY d LIMIT 1),
          'a new point is assigned to the nearest centre');
SELECT throws_ok($$SELECT mlops.predict_proba('km_b', b) FROM km_blobs b LIMIT 1$$, '42809',
                 'project "km_b" is not a classification project',
                 'predict_proba is refused for clustering');
SELECT throws_ok($$SELECT mlops.predict_label('km_b', b) FROM km_blobs b LIMIT 1$$, '42809',
                 'project "km_b" is not a classification project',
                 'predict_label is refused for clustering');

-- 2. if_better compares silhouettes: k = 2 on four blobs is worse
SELECT is((SELECT status FROM mlops.train('km_b', 'km_blobs', algorithm => 'kmeans',
                                          hyperparams => '{"k": 2}',
                                          features => ARRAY['x', 'y', 'z'])),
          'staging', 'a version with a lower silhouette is not deployed');
SELECT ok((SELECT (metrics ->> 'silhouette')::float8 FROM mlops.model_versions WHERE project = 'km_b' AND version = 1) >
          (SELECT (metrics ->> 'silhouette')::float8 FROM mlops.model_versions WHERE project = 'km_b' AND version = 2) + 0.2,
          'four clusters of four blobs have the clearly higher silhouette');
SELECT is((SELECT version FROM mlops.leaderboard WHERE project = 'km_b' AND rank = 1), 1,
          'the leaderboard ranks the higher silhouette first');

-- the silhouette's sample: at most 2000 rows, chosen by content hash, so
-- the same rows in another physical order give the same value
CREATE TABLE km_big AS
SELECT i, 0 AS blob,
       (ARRAY[0, 10, 0, 0])[i % 4 + 1] + 0.5 * pg_temp.gauss() AS x,
       (ARRAY[0, 0, 10, 0])[i % 4 + 1] + 0.5 * pg_temp.gauss() AS y,
       (ARRAY[0, 0, 0, 10])[i % 4 + 1] + 0.5 * pg_temp.gauss() AS z
  FROM generate_series(1, 2500) AS i;
CREATE TABLE km_big_rev AS SELECT * FROM km_big ORDER BY i DESC;
SELECT is((SELECT mlops.evaluate('km_b', 'km_big', 1) ->> 'silhouette_rows'), '2000',
          'the silhouette is computed on at most 2000 rows');
SELECT is(mlops.evaluate('km_b', 'km_big_rev', 1) ->> 'silhouette',
          mlops.evaluate('km_b', 'km_big', 1) ->> 'silhouette',
          'the silhouette sample does not depend on the physical order of the rows');

-- a grid search over k chooses by cross-validated silhouette: 4 for 4 blobs
SELECT is((SELECT hyperparams ->> 'k' FROM mlops.train('km_cv', 'km_blobs', task => 'clustering',
                                                        features => ARRAY['x', 'y', 'z'],
                                                        search => '{"grid": {"k": [2, 4, 6]}}')),
          '4', 'a search over k picks the number of blobs');

-- 3. reproduce: identical bytes and metrics
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('km_b', 1)),
          'k-means reproduces byte-identical from its snapshot');

-- 4. drift checks without a target: no concept drift, features compared
SELECT is((SELECT verdict FROM mlops.check_drift('km_b', 'km_blobs')), 'no_drift',
          'check_drift of a clustering project on its training data finds no drift');
SELECT ok((SELECT concept_drift IS NULL FROM mlops.drift_reports WHERE project = 'km_b' ORDER BY id DESC LIMIT 1),
          'a clustering project has no concept drift');
CREATE TABLE km_shifted AS SELECT i, blob, x + 20 AS x, y + 20 AS y, z + 20 AS z FROM km_blobs;
SELECT is((SELECT verdict FROM mlops.check_drift('km_b', 'km_shifted')), 'drift',
          'shifted features are drift for a clustering project');
-- the queued retrain trains without a target on the project's relation
-- (km_blobs, unchanged): the same model, so an equal silhouette, rejected
SELECT is((SELECT row(status, challenger_version, challenger_score = champion_score)::text
             FROM mlops.retrain('km_b')),
          '(rejected,3,t)', 'a clustering project retrains; an equal silhouette is not better');

-- 5. silhouette and inertia against their definitions: three overlapping
-- blobs in 2-D, raw (unstandardised) columns
SELECT setseed(0.125);
CREATE TABLE km_sil AS
SELECT i, (ARRAY[0, 3, 0])[i % 3 + 1] + pg_temp.gauss() AS a,
          (ARRAY[0, 0, 3])[i % 3 + 1] + 2 * pg_temp.gauss() AS b
  FROM generate_series(1, 150) AS i;
SELECT is((SELECT test_rows FROM mlops.train('km_s', 'km_sil', task => 'clustering',
                                             hyperparams => '{"k": 3, "standardize": 0, "n_init": 3}',
                                             features => ARRAY['a', 'b'], test_size => 1e-9)),
          0::bigint, 'every row of km_sil is a training row');
CREATE TEMP TABLE km_lab AS SELECT i, a, b, mlops.predict('km_s', s)::int AS c FROM km_sil s;
CREATE TEMP TABLE km_sil_sql AS
WITH d AS (SELECT p.i, p.c, q.c AS qc, sqrt((p.a - q.a) ^ 2 + (p.b - q.b) ^ 2) AS dist
             FROM km_lab p JOIN km_lab q ON p.i <> q.i),
     m AS (SELECT i, c, qc, avg(dist) AS md FROM d GROUP BY i, c, qc),
     s AS (SELECT i,
                  max(md) FILTER (WHERE qc = c) AS a,
                  min(md) FILTER (WHERE qc <> c) AS b
             FROM m GROUP BY i)
SELECT avg(CASE WHEN a IS NULL THEN 0 ELSE (b - a) / greatest(a, b) END) AS silhouette FROM s;
SELECT ok(abs((SELECT (metrics ->> 'silhouette')::float8 FROM mlops.model_versions WHERE project = 'km_s')
              - (SELECT silhouette FROM km_sil_sql)) < 1e-9,
          'the stored silhouette equals its definition computed in SQL');
SELECT ok(abs((mlops.evaluate('km_s', 'km_sil') ->> 'silhouette')::float8
              - (SELECT silhouette FROM km_sil_sql)) < 1e-9,
          'evaluate computes the same silhouette');
SELECT ok(abs((SELECT (metrics ->> 'inertia')::float8 FROM mlops.model_versions WHERE project = 'km_s')
              - (SELECT sum((l.a - ca) ^ 2 + (l.b - cb) ^ 2)
                   FROM km_lab l
                   JOIN (SELECT class::int AS c,
                                max(coefficient) FILTER (WHERE term = 'a') AS ca,
                                max(coefficient) FILTER (WHERE term = 'b') AS cb
                           FROM mlops.explain('km_s') GROUP BY class) k USING (c))) < 1e-9,
          'the stored inertia is the sum of squared distances to the centres');
-- each centre is the mean of its rows (Lloyd's fixed point)
SELECT ok((SELECT max(greatest(abs(ca - ma), abs(cb - mb)))
             FROM (SELECT c, avg(a) AS ma, avg(b) AS mb FROM km_lab GROUP BY c) l
             JOIN (SELECT class::int AS c,
                          max(coefficient) FILTER (WHERE term = 'a') AS ca,
                          max(coefficient) FILTER (WHERE term = 'b') AS cb
                     FROM mlops.explain('km_s') GROUP BY class) k USING (c)) < 1e-9,
          'each centre is the mean of the rows assigned to it');
-- standardised: the inertia is on the standardised scale
SELECT is((SELECT test_rows FROM mlops.train('km_s2', 'km_sil', task => 'clustering',
                                             hyperparams => '{"k": 3}',
                                             features => ARRAY['a', 'b'], test_size => 1e-9)),
          0::bigint, 'a standardised model of km_sil');
SELECT ok(abs((SELECT (metrics ->> 'inertia')::float8 FROM mlops.model_versions WHERE project = 'km_s2')
              - (SELECT sum((l.a - ca) ^ 2 / sa + (l.b - cb) ^ 2 / sb)
                   FROM (SELECT i, a, b, mlops.predict('km_s2', s)::int AS c FROM km_sil s) l
                   JOIN (SELECT class::int AS c,
                                max(coefficient) FILTER (WHERE term = 'a') AS ca,
                                max(coefficient) FILTER (WHERE term = 'b') AS cb
                           FROM mlops.explain('km_s2') GROUP BY class) k USING (c),
                        (SELECT var_pop(a) AS sa, var_pop(b) AS sb FROM km_sil) v)) < 1e-9,
          'with standardize the inertia is on the standardised scale');

SELECT * FROM finish();
ROLLBACK;
