-- Drift monitoring: the SQL surface (baseline rows, check_drift, thresholds,
-- drift_history) and its error messages.  Everything runs in one
-- transaction that is rolled back, so the registry is left as it was; each
-- statement gets its own savepoint so that errors do not end it.
\set ON_ERROR_ROLLBACK on
SET client_min_messages = warning;
BEGIN;
-- x = 1..500 makes the decile edges exact: q(p) = 1 + 499 p
CREATE TABLE drift_t AS
SELECT g::float8 AS x, (g % 7)::float8 AS z, (g % 3)::text AS c, g % 4 = 0 AS b,
       2.0 * g + (g % 5) AS y
  FROM generate_series(1, 500) g;
SELECT version, algorithm FROM mlops.train('drift_sql', 'drift_t', 'y', algorithm => 'linear');
-- the baseline as rows: 12 buckets per numeric column, top values and
-- "other" (category NULL) per categorical or boolean column, target last
SELECT feature, role, kind, type, count(*) AS buckets, round(sum(share)::numeric, 9) AS total_share
  FROM mlops.baseline('drift_sql') GROUP BY 1, 2, 3, 4 ORDER BY role, min(bucket), feature;
SELECT bucket, lower_bound, upper_bound, share, rows, null_share, mean, min, max
  FROM mlops.baseline('drift_sql') WHERE feature = 'x';
SELECT feature, bucket, category, round(share::numeric, 4) AS share
  FROM mlops.baseline('drift_sql') WHERE kind <> 'numeric';
-- the training data itself: nothing drifts
SELECT verdict, drift_share, concept_drift, rows_checked, checked_by = current_user AS by_me,
       relation
  FROM mlops.check_drift('drift_sql', 'drift_t');
SELECT feature_position, feature, kind, status, round(psi::numeric, 9) AS psi, ks_statistic, ks_p_value, linf,
       chi_square_p_value, unseen_share, null_share_change
  FROM mlops.drift_history WHERE project = 'drift_sql' ORDER BY report_id, feature_position;
SELECT summary - 'thresholds' - 'target' - 'concept' - 'timing_ms' AS summary,
       summary -> 'concept' ->> 'metric' AS metric,
       (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(summary -> 'timing_ms') k) AS timed
  FROM mlops.drift_reports WHERE project = 'drift_sql';
SELECT count(*) AS queued FROM mlops.retrain_queue WHERE project = 'drift_sql';
-- a column retyped to text, another to a type mlops cannot read
CREATE TABLE drift_retyped AS SELECT x::text AS x, to_jsonb(z) AS z, c, b, y FROM drift_t;
SELECT verdict, drift_share, concept_drift, summary -> 'retyped_columns' AS retyped
  FROM mlops.check_drift('drift_sql', 'drift_retyped');
SELECT feature, status, detail -> 'reasons' AS reasons
  FROM mlops.drift_history
 WHERE report_id = (SELECT max(id) FROM mlops.drift_reports) ORDER BY feature_position;
-- a type change within a kind is compared, and noted
CREATE TABLE drift_int AS SELECT x::integer AS x, z, c, b, y FROM drift_t;
SELECT verdict, drift_share, concept_drift, summary -> 'retyped_columns' AS retyped,
       features -> 0 -> 'reasons' AS x_reasons, round((features -> 0 ->> 'psi')::numeric, 9) AS x_psi
  FROM mlops.check_drift('drift_sql', 'drift_int');
-- a target that can no longer be read as a number: no concept drift verdict
CREATE TABLE drift_ytext AS SELECT x, z, c, b, y::text AS y FROM drift_t;
SELECT verdict, concept_drift, summary -> 'target' AS target
  FROM mlops.check_drift('drift_sql', 'drift_ytext');
-- a view works too: here the rows with x > 250, so x drifts
CREATE VIEW drift_v AS SELECT * FROM drift_t WHERE x > 250;
SELECT verdict, rows_checked, concept_drift, summary -> 'drifted_features' AS drifted,
       (summary -> 'concept' ->> 'rows')::int AS concept_rows
  FROM mlops.check_drift('drift_sql', 'drift_v');

-- thresholds
SELECT mlops.drift_thresholds();
SELECT mlops.set_drift_thresholds('drift_sql', '{"psi_drift": 0.3, "linf": 0.2}');
SELECT drift_thresholds FROM mlops.projects WHERE name = 'drift_sql';
SELECT mlops.drift_thresholds('drift_sql') ->> 'psi_drift' AS psi_drift;
SELECT mlops.set_drift_thresholds('drift_sql', NULL) ->> 'psi_drift' AS reset;
SELECT mlops.set_drift_thresholds('drift_sql', '{"psi": 1}');
SELECT mlops.set_drift_thresholds('drift_sql', '{"p_value": 2}');
SELECT mlops.set_drift_thresholds('drift_sql', '{"p_value": "low"}');
SELECT mlops.set_drift_thresholds('drift_sql', '{"psi_warning": 0.5}');
SELECT mlops.set_drift_thresholds('drift_sql', '[0.1]');
SELECT mlops.set_drift_thresholds('no_such_project', '{}');
SELECT mlops.drift_thresholds('no_such_project');

-- errors of check_drift: none leaves a report behind
SELECT * FROM mlops.check_drift('no_such_project', 'drift_t');
CREATE TABLE drift_other (a int, b2 text);
INSERT INTO drift_other VALUES (1, 'one');
SELECT * FROM mlops.check_drift('drift_sql', 'drift_other');
CREATE TABLE drift_empty (LIKE drift_t);
SELECT * FROM mlops.check_drift('drift_sql', 'drift_empty');
SELECT * FROM mlops.check_drift('drift_sql', 'drift_t', 7);
SELECT * FROM mlops.check_drift(NULL, 'drift_t');
SELECT * FROM mlops.check_drift('drift_sql', 'no_such_table');
SELECT count(*) AS reports FROM mlops.drift_reports WHERE project = 'drift_sql';
SELECT * FROM mlops.baseline('no_such_project');
SELECT * FROM mlops.baseline('drift_sql', 9);

-- a role without privileges on the project may not check drift, set
-- thresholds or read the baseline (a sample of training rows), and sees
-- none of its reports or versions
CREATE ROLE drift_owner;
CREATE ROLE drift_stranger;
UPDATE mlops.projects SET owner = 'drift_owner' WHERE name = 'drift_sql';
GRANT SELECT ON drift_t TO drift_owner, drift_stranger;
CREATE TABLE drift_private AS SELECT * FROM drift_t;
SET ROLE drift_stranger;
SELECT * FROM mlops.check_drift('drift_sql', 'drift_t');
SELECT mlops.set_drift_thresholds('drift_sql', '{}');
SELECT count(*) AS history_rows FROM mlops.drift_history WHERE project = 'drift_sql';
SELECT count(*) AS baseline_rows FROM mlops.baseline('drift_sql');
SELECT baseline FROM mlops.model_versions WHERE project = 'drift_sql';
SELECT count(*) AS versions_visible FROM mlops.model_versions WHERE project = 'drift_sql';
RESET ROLE;
-- the owner may; the report is written for it, the live relation is read
-- with its own privileges
SET ROLE drift_owner;
SELECT verdict, checked_by FROM mlops.check_drift('drift_sql', 'drift_t');
SELECT * FROM mlops.check_drift('drift_sql', 'drift_private');
SELECT mlops.set_drift_thresholds('drift_sql', '{"linf": 0.15}') ->> 'linf' AS linf;
RESET ROLE;

-- the statistics' own argument checks
SELECT * FROM mlops.ks_test('{}', '{1}');
SELECT mlops.psi('{1,NULL}', '{1,2}');
SELECT mlops.psi('{0,0}', '{1,2}');
SELECT * FROM mlops.chi_square_test('{1,2}', '{1}');
-- the accumulator behind check_drift refuses specs and states it did not
-- build, and arrays that do not match the spec
SELECT mlops.drift_accumulate('\x00'::bytea, ARRAY[1.0::float8], NULL);
SELECT mlops.drift_accumulate(NULL::bytea, ARRAY[1.0::float8], NULL);
SELECT mlops.drift_accumulate('\x4d5246320000000100000001000000000000000000000000'::bytea,
                              ARRAY[1.0::float8, 2.0], NULL);
SELECT mlops.drift_accumulate('\x4d5246320000000100000003000000000000000000000000'::bytea,
                              ARRAY[1.0::float8], NULL);
SELECT length(mlops.drift_accumulate('\x4d5246320000000100000003000000000000000000000000'::bytea,
                                     NULL, ARRAY['a']));
SELECT mlops.drift_accumulate_local('\x00'::bytea, 1.0::float8);
SELECT mlops.drift_accumulate_local('\x4d5246320000000100000001000000000000000000000000'::bytea,
                                    'one'::text);
SELECT mlops.drift_accumulate_trans(NULL, '\x00', NULL, NULL);
SELECT mlops.drift_accumulate_final('\x00');
SELECT mlops.drift_accumulate_final('\x4d525332000000000000000100000001');
SELECT mlops.drift_accumulate_combine('\x4d52533200000000000000000000000000000000', '\x4d52533200');
SELECT mlops.drift_accumulate_combine('\x4d52533200000000000000000000000000000000', NULL)
       = '\x4d52533200000000000000000000000000000000' AS same;
ROLLBACK;
