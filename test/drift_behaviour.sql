-- Drift monitoring end to end: baselines kept by mlops.train, and
-- mlops.check_drift on live tables drawn from the training distribution,
-- shifted, with a new category, a dropped column and flipped labels.
-- All data comes from seeded generators, so every run sees the same rows.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
BEGIN;
SELECT plan(48);

-- Regression rows: four features with different scales, y linear in them.
-- shift1 / shift2 move x1 / x2 by that many of their standard deviations.
CREATE FUNCTION pg_temp.regdata(n int, seed float8, shift1 float8 DEFAULT 0,
                                shift2 float8 DEFAULT 0)
RETURNS TABLE (x1 float8, x2 float8, x3 float8, x4 float8, y float8)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    RETURN QUERY
    SELECT s.a, s.b, s.c, s.d, s.a + 2 * s.b - s.c + 0.5 * s.d + pg_temp.gauss()
      FROM (SELECT pg_temp.gauss() + shift1 AS a,
                   10 + 3 * (pg_temp.gauss() + shift2) AS b,
                   -5 + 0.5 * pg_temp.gauss() AS c,
                   100 + 20 * pg_temp.gauss() AS d
              FROM generate_series(1, n)) s;
END $$;

-- Classification rows: a text category and a number decide a boolean label.
-- new_share of the rows get the category 'e', never seen at training.
CREATE FUNCTION pg_temp.clsdata(n int, seed float8, new_share float8 DEFAULT 0)
RETURNS TABLE (cat text, num float8, label boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM setseed(seed);
    RETURN QUERY
    SELECT CASE WHEN s.u < new_share THEN 'e' ELSE s.c END, s.x,
           2 * s.x + CASE s.c WHEN 'a' THEN 1.5 WHEN 'b' THEN -1 WHEN 'c' THEN 0.5 ELSE -1 END
             + 0.5 * pg_temp.gauss() > 0
      FROM (SELECT (ARRAY['a', 'b', 'c', 'd'])[1 + floor(random() * 4)::int] AS c,
                   pg_temp.gauss() AS x, random() AS u
              FROM generate_series(1, n)) s;
END $$;

-- The plan of a query, as JSON
CREATE FUNCTION pg_temp.explain_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    p jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
    RETURN p;
END $$;

-- ---------------------------------------------------------------------------
-- Training keeps a baseline
-- ---------------------------------------------------------------------------
CREATE TABLE drift_train AS SELECT * FROM pg_temp.regdata(3000, 0.5);
SELECT is((SELECT version FROM mlops.train('drift_reg', 'drift_train', 'y', algorithm => 'linear')),
          1, 'regression project trained');

SELECT is((SELECT count(*)::int FROM mlops.baseline('drift_reg') WHERE feature = 'x1'), 12,
          'a numeric feature has 12 bins (below min, ten deciles, above max)');
SELECT cmp_ok((SELECT abs(sum(share) - 1) FROM mlops.baseline('drift_reg') WHERE feature = 'x2'),
              '<', 1e-12::float8, 'the bin shares of a feature sum to 1');
SELECT is((SELECT array_agg(round(upper_bound::numeric, 9) ORDER BY bucket)
             FROM mlops.baseline('drift_reg') WHERE feature = 'x1' AND bucket BETWEEN 1 AND 9),
          (SELECT array_agg(round(q::numeric, 9))
             FROM unnest((SELECT percentile_cont(ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
                                 WITHIN GROUP (ORDER BY x1) FROM drift_train)) q),
          'decile edges are the exact quantiles of the training data (percentile_cont)');
SELECT is((SELECT (round(min::numeric, 9), round(max::numeric, 9), round(mean::numeric, 9),
                   round(stddev::numeric, 9), rows)
             FROM mlops.baseline('drift_reg') WHERE feature = 'x4' AND bucket = 0),
          (SELECT (round(min(x4)::numeric, 9), round(max(x4)::numeric, 9), round(avg(x4)::numeric, 9),
                   round(stddev_samp(x4)::numeric, 9), count(*))
             FROM drift_train),
          'min, max, mean, std and rows of a feature match the training data');
SELECT is((SELECT jsonb_array_length(baseline -> 'features' -> 0 -> 'sample')
             FROM mlops.model_versions WHERE project = 'drift_reg'),
          2000, 'the KS sample is bounded at 2,000 values');
SELECT is((SELECT DISTINCT role FROM mlops.baseline('drift_reg') WHERE feature = 'y'),
          'target', 'the target''s distribution is part of the baseline');
SELECT is((SELECT (baseline ->> 'key_metric', (baseline ->> 'key_metric_value')::float8 = (metrics ->> 'r2')::float8)
             FROM mlops.model_versions WHERE project = 'drift_reg'),
          ('r2'::text, true), 'the baseline keeps the key metric of the version');

-- beyond 20,000 rows the edges come from a 20,000-value sample, and the
-- shares are still exact counts over every training row
CREATE TABLE drift_train_big AS SELECT * FROM pg_temp.regdata(30000, 0.44);
SELECT is((SELECT version FROM mlops.train('drift_big', 'drift_train_big', 'y', algorithm => 'linear')),
          1, 'a 30,000-row project trained');
SELECT is((SELECT array_agg(round(b.share::numeric, 9) ORDER BY b.bucket)
             FROM mlops.baseline('drift_big') b WHERE b.feature = 'x2'),
          (SELECT array_agg(round(c.n::numeric / 30000, 9) ORDER BY b.bucket)
             FROM mlops.baseline('drift_big') b,
                  LATERAL (SELECT count(*) AS n FROM drift_train_big t
                            WHERE CASE b.bucket WHEN 0 THEN t.x2 < b.upper_bound
                                                WHEN 1 THEN t.x2 BETWEEN b.lower_bound AND b.upper_bound
                                                WHEN 11 THEN t.x2 > b.lower_bound
                                                ELSE t.x2 > b.lower_bound AND t.x2 <= b.upper_bound END) c
            WHERE b.feature = 'x2'),
          'bin shares are exact counts over all training rows for the stored edges');
SELECT cmp_ok((SELECT max(abs(share - 0.1)) FROM mlops.baseline('drift_big')
                WHERE feature = 'x2' AND bucket BETWEEN 1 AND 10),
              '<', 0.01::float8, 'edges from the sample are close to deciles: every bin holds 10% +- 1%');
SELECT is((SELECT (baseline -> 'features' -> 1 ->> 'quantile_sample')::int FROM mlops.model_versions
            WHERE project = 'drift_big'),
          20000, 'the deciles came from 20,000 values');

-- ---------------------------------------------------------------------------
-- Live data from the training distribution: no drift
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.trial(k int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    EXECUTE format('CREATE TABLE drift_live_%s AS SELECT * FROM pg_temp.regdata(1000, %s)',
                   k, k / 50.0);
    SELECT verdict INTO v FROM mlops.check_drift('drift_reg', format('drift_live_%s', k)::regclass);
    RETURN v;
END $$;
SELECT cmp_ok((SELECT count(*) FILTER (WHERE pg_temp.trial(k) = 'no_drift')::int
                 FROM generate_series(1, 20) k),
              '>=', 19, 'live data from the training distribution: no drift in at least 19 of 20 seeded trials');
SELECT is((SELECT count(*)::int FROM mlops.retrain_queue WHERE project = 'drift_reg'), 0,
          'no retrain is queued without drift');
SELECT is((SELECT (rows_checked, concept_drift) FROM mlops.drift_reports ORDER BY id DESC LIMIT 1),
          (1000::bigint, false), 'a report counts the live rows and finds no concept drift');

-- ---------------------------------------------------------------------------
-- Half a standard deviation on two of the four features
-- ---------------------------------------------------------------------------
CREATE TABLE drift_shifted AS SELECT * FROM pg_temp.regdata(1000, 0.77, 0.5, 0.5);
CREATE TEMP TABLE r_shift AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_shifted');
SELECT is((SELECT verdict FROM r_shift), 'drift', 'a 0.5 SD shift on two of four features is drift');
SELECT is((SELECT summary -> 'drifted_features' FROM r_shift), '["x1", "x2"]'::jsonb,
          'the report names exactly the shifted features');
SELECT is((SELECT drift_share FROM r_shift), 0.5::float8, 'drift share is 2 of 4');
SELECT is((SELECT array_agg(f ->> 'status' ORDER BY f ->> 'name') FROM r_shift, jsonb_array_elements(features) f),
          ARRAY['drift', 'drift', 'ok', 'ok'], 'unshifted features are ok');
SELECT cmp_ok((SELECT (f ->> 'ks_statistic')::float8 FROM r_shift, jsonb_array_elements(features) f
                WHERE f ->> 'name' = 'x1'),
              '>', 0.15::float8, 'KS statistic of the shifted feature is near 2 Phi(0.25) - 1 = 0.197');
SELECT is((SELECT (q.status, q.report_id = r.id, q.reason ~ 'x1, x2')
             FROM mlops.retrain_queue q, r_shift r WHERE q.project = 'drift_reg'),
          ('queued'::text, true, true), 'drift queues a retrain that points at the report');
SELECT is((SELECT verdict FROM mlops.check_drift('drift_reg', 'drift_shifted')), 'drift',
          'checking again still finds drift');
SELECT is((SELECT count(*)::int FROM mlops.retrain_queue WHERE project = 'drift_reg'), 1,
          'no second queued retrain while one is queued');
SELECT is((SELECT last_drift_verdict FROM mlops.overview WHERE project = 'drift_reg'), 'drift',
          'the overview shows the last verdict');
SELECT is((SELECT count(*)::int FROM mlops.drift_history h, r_shift r WHERE h.report_id = r.id), 4,
          'drift_history has one row per report and feature');
SELECT is((SELECT round(h.psi::numeric, 12) FROM mlops.drift_history h, r_shift r, jsonb_array_elements(r.features) f
            WHERE h.report_id = r.id AND h.feature = 'x2' AND f ->> 'name' = 'x2'),
          (SELECT round((f ->> 'psi')::numeric, 12) FROM r_shift r, jsonb_array_elements(r.features) f
            WHERE f ->> 'name' = 'x2'),
          'drift_history flattens the statistics of the report');

-- on more than 50,000 rows, concept drift scores a TABLESAMPLE of the table
CREATE TABLE drift_large AS SELECT * FROM pg_temp.regdata(150000, 0.21);
CREATE TEMP TABLE r_large AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_large');
SELECT ok((SELECT (summary -> 'concept' ->> 'rows')::int BETWEEN 40000 AND 90000
             FROM r_large),
          'concept drift scored a sample of pages of a 150,000-row table');
SELECT is((SELECT (verdict, concept_drift, rows_checked) FROM r_large),
          ('no_drift'::text, false, 150000::bigint), 'and found nothing on data from the training distribution');

-- thresholds are per project
SELECT is(mlops.set_drift_thresholds('drift_reg', '{"drift_share": 0.75}') ->> 'drift_share', '0.75',
          'set_drift_thresholds returns the thresholds in effect');
SELECT is((SELECT verdict FROM mlops.check_drift('drift_reg', 'drift_shifted')), 'warning',
          'with drift_share 0.75, two drifting features of four are only a warning');
SELECT is(mlops.set_drift_thresholds('drift_reg', '{"drift_share": null}') ->> 'drift_share', '0.5',
          'a JSON null restores the default');

-- beyond 20,000 rows KS uses the live values of the 20,000 rows of smallest
-- content hash (a bottom-k sample), close to the exact statistic
CREATE TABLE drift_big AS SELECT * FROM pg_temp.regdata(60000, 0.12, 0.1, 0);
CREATE TEMP TABLE r_big AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_big');
SELECT is((SELECT (f ->> 'ks_rows')::int FROM r_big, jsonb_array_elements(features) f
            WHERE f ->> 'name' = 'x1'),
          20000, 'KS uses 20,000 of the 60,000 live rows');
SELECT cmp_ok((SELECT abs((f ->> 'ks_statistic')::float8 - k.statistic)
                 FROM r_big, jsonb_array_elements(features) f,
                      mlops.ks_test((SELECT array_agg(s::text::float8)
                                       FROM mlops.model_versions v,
                                            jsonb_array_elements(v.baseline -> 'features' -> 0 -> 'sample') s
                                      WHERE v.project = 'drift_reg'),
                                    (SELECT array_agg(x1) FROM drift_big)) k
                WHERE f ->> 'name' = 'x1'),
              '<', 0.02::float8, 'the sampled KS statistic is within 0.02 of the exact one over every live value');
-- the same rows in another physical order give the same report
CREATE TABLE drift_big_shuffled AS SELECT * FROM drift_big ORDER BY x4 DESC;
CREATE TEMP TABLE r_shuffled AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_big_shuffled');
-- (mean and std are sums in floating point: equal to about 1e-12)
SELECT is((SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY o) FROM r_shuffled, jsonb_array_elements(features) WITH ORDINALITY x(f, o)),
          (SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY o) FROM r_big, jsonb_array_elements(features) WITH ORDINALITY x(f, o)),
          'the report does not depend on the physical order of the rows (KS sample included)');
-- a parallel scan (forced on this small table) gives the same report
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT ok((SELECT count(*) FROM (SELECT jsonb_array_elements_text(p -> 0 -> 'Plan' -> 'Plans') AS e
                                     FROM (SELECT (SELECT * FROM pg_temp.explain_json('SELECT sum(x1) FROM drift_big')) AS p) q) z
            WHERE e LIKE '%Gather%') > 0,
          'with these settings a scan of drift_big is parallel');
CREATE TEMP TABLE r_parallel AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_big');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT is((SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY o) FROM r_parallel, jsonb_array_elements(features) WITH ORDINALITY x(f, o)),
          (SELECT jsonb_agg(f - 'mean' - 'std' ORDER BY o) FROM r_big, jsonb_array_elements(features) WITH ORDINALITY x(f, o)),
          'a parallel scan gives the same report as a serial one');
SELECT is((SELECT (f ->> 'rows')::int FROM r_big, jsonb_array_elements(features) f WHERE f ->> 'name' = 'x1'),
          60000, 'PSI and the moments still use every live value');

-- a relation wider than one call of the accumulator (at most 100 arguments)
DO $$
BEGIN
    PERFORM setseed(0.3);
    EXECUTE 'CREATE TABLE drift_wide AS SELECT '
            || (SELECT string_agg(format('random() AS w%s', k), ', ') FROM generate_series(1, 95) k)
            || ', random() AS y FROM generate_series(1, 400)';
END $$;
SELECT is((SELECT version FROM mlops.train('drift_wide', 'drift_wide', 'y', algorithm => 'ridge')),
          1, 'a 95-feature project trained');
CREATE TEMP TABLE r_wide AS SELECT * FROM mlops.check_drift('drift_wide', 'drift_wide');
SELECT is((SELECT (verdict, jsonb_array_length(features), (features -> 94 ->> 'rows')::int,
                   (features -> 94 ->> 'ks_statistic')::float8, summary -> 'target' ->> 'status')
             FROM r_wide),
          ('no_drift'::text, 95, 400, 0::float8, 'ok'::text),
          'all 95 features and the target are compared, across two calls of the accumulator');

-- ---------------------------------------------------------------------------
-- A dropped column
-- ---------------------------------------------------------------------------
CREATE TABLE drift_nox3 AS SELECT x1, x2, x4, y FROM pg_temp.regdata(1000, 0.33);
CREATE TEMP TABLE r_drop AS SELECT * FROM mlops.check_drift('drift_reg', 'drift_nox3');
SELECT is((SELECT summary -> 'missing_columns' FROM r_drop), '["x3"]'::jsonb,
          'a dropped column is reported as missing');
SELECT is((SELECT array_agg(f ->> 'status' ORDER BY f ->> 'name') FROM r_drop, jsonb_array_elements(features) f),
          ARRAY['ok', 'ok', 'missing', 'ok'], 'the other features are still compared');
SELECT is((SELECT (verdict, concept_drift IS NULL) FROM r_drop), ('warning'::text, true),
          'a missing column is a warning, and concept drift cannot be judged');

-- ---------------------------------------------------------------------------
-- Classification: a new category, and flipped labels
-- ---------------------------------------------------------------------------
CREATE TABLE drift_cls_train AS SELECT * FROM pg_temp.clsdata(3000, 0.25);
SELECT is((SELECT metrics ? 'roc_auc' FROM mlops.train('drift_cls', 'drift_cls_train', 'label',
                                                     task => 'classification', algorithm => 'logistic')),
          true, 'classification project trained');

CREATE TABLE drift_cls_new AS SELECT * FROM pg_temp.clsdata(1000, 0.6, 0.3);
CREATE TEMP TABLE r_new AS SELECT * FROM mlops.check_drift('drift_cls', 'drift_cls_new');
SELECT is((SELECT (f ->> 'status', f -> 'unseen_values') FROM r_new, jsonb_array_elements(features) f
            WHERE f ->> 'name' = 'cat'),
          ('drift'::text, '["e"]'::jsonb), 'a new category in 30% of rows is drift, naming the value');
SELECT cmp_ok((SELECT abs((f ->> 'unseen_share')::float8 - 0.3) FROM r_new, jsonb_array_elements(features) f
                WHERE f ->> 'name' = 'cat'),
              '<', 0.05::float8, 'the unseen share is about 30%');

CREATE TABLE drift_cls_same AS SELECT * FROM pg_temp.clsdata(1000, 0.61);
CREATE TABLE drift_cls_flip AS SELECT * FROM pg_temp.clsdata(1000, 0.61);
SELECT setseed(0.9);
UPDATE drift_cls_flip SET label = NOT label WHERE random() < 0.2;
SELECT is((SELECT (verdict, concept_drift) FROM mlops.check_drift('drift_cls', 'drift_cls_same')),
          ('no_drift'::text, false), 'unchanged labels: no concept drift');
CREATE TEMP TABLE r_flip AS SELECT * FROM mlops.check_drift('drift_cls', 'drift_cls_flip');
SELECT is((SELECT (verdict, concept_drift, summary -> 'drifted_features') FROM r_flip),
          ('drift'::text, true, '[]'::jsonb), 'labels flipped on 20% of rows raise concept drift, features unchanged');
SELECT cmp_ok((SELECT (summary -> 'concept' ->> 'drop')::float8 FROM r_flip), '>=', 0.05::float8,
              'the key metric (roc_auc) dropped by at least 0.05');

SELECT * FROM finish();
ROLLBACK;
