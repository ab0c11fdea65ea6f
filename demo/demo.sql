-- demo/demo.sql: mlops end to end, on data made here.
--
-- A house-price regression and a churn classification: train, inspect,
-- score inside queries, deploy and roll back, evaluate on new rows, and
-- watch a live table drift.  Run by `make demo` on a throwaway cluster.
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mlops;

\echo
\echo '== 1. Data: 20,000 houses with a price that depends on size, age and district'
SELECT setseed(0.7);
CREATE TABLE houses AS
SELECT i AS id, size_m2, age_years, district, garden,
       round((50000 + 2500 * size_m2 - 800 * age_years
              + CASE district WHEN 'centre' THEN 60000 WHEN 'north' THEN 15000 ELSE 0 END
              + CASE WHEN garden THEN 12000 ELSE 0 END
              + 15000 * (random() - 0.5))::numeric, 0)::float8 AS price
FROM (SELECT i, 40 + random() * 160 AS size_m2, floor(random() * 80) AS age_years,
             (ARRAY['centre', 'north', 'south', 'east'])[1 + floor(random() * 4)::int] AS district,
             random() < 0.4 AS garden
      FROM generate_series(1, 20000) i) s;
SELECT * FROM houses LIMIT 3;

\echo
\echo '== 2. Train: one call; preprocessing (one-hot district, boolean garden) is learned and stored'
SELECT project, version, algorithm, status, train_rows, test_rows,
       round((metrics->>'r2')::numeric, 4) AS r2, round((metrics->>'rmse')::numeric, 0) AS rmse
  FROM mlops.train('house_prices', 'houses', 'price', features => ARRAY['size_m2', 'age_years', 'district', 'garden']);

\echo
\echo '== 3. Explain: coefficients with standard errors and p-values (the data was made with 2500 per m2)'
SELECT term, round(coefficient::numeric, 1) AS coefficient, round(std_error::numeric, 2) AS std_error,
       round(p_value::numeric, 4) AS p_value
  FROM mlops.explain('house_prices');

\echo
\echo '== 4. Score inside an ordinary query: rows are matched to features by column name'
SELECT id, district, round(size_m2::numeric) AS size_m2, price,
       round(mlops.predict('house_prices', h)::numeric) AS predicted
  FROM houses h ORDER BY id LIMIT 5;

\echo
\echo '== 5. A second version (ridge) is trained; deploy => if_better keeps the better one in production'
SELECT version, algorithm, status, round((metrics->>'r2')::numeric, 4) AS r2,
       round((metrics->'champion'->>'r2')::numeric, 4) AS champion_r2_on_same_rows
  FROM mlops.train('house_prices', 'houses', 'price', algorithm => 'ridge', hyperparams => '{"alpha": 5000}',
                   features => ARRAY['size_m2', 'age_years', 'district', 'garden']);
SELECT project, version, algorithm, rank, round(key_metric_value::numeric, 4) AS r2, status
  FROM mlops.leaderboard WHERE project = 'house_prices' ORDER BY rank;

\echo
\echo '== 6. Deploy by hand, then roll back; every deployment is recorded'
SELECT version, previous_version, strategy, reason FROM mlops.deploy('house_prices', 2);
SELECT version, previous_version, strategy, reason FROM mlops.rollback('house_prices');
SELECT id, version, previous_version, strategy, deployed_by FROM mlops.deployments ORDER BY id;

\echo
\echo '== 7. Classification: churn as text labels, probabilities per class'
CREATE TABLE customers AS
SELECT i AS id, tenure_months, monthly_fee, plan, support_calls,
       CASE WHEN random() < 1 / (1 + exp(-(-1.5 - 0.05 * tenure_months + 0.03 * monthly_fee
                                           + 0.6 * support_calls + CASE plan WHEN 'basic' THEN 0.8 ELSE 0 END)))
            THEN 'churned' ELSE 'stayed' END AS outcome
FROM (SELECT i, floor(random() * 72) AS tenure_months, 20 + random() * 80 AS monthly_fee,
             (ARRAY['basic', 'plus', 'pro'])[1 + floor(random() * 3)::int] AS plan,
             floor(random() * 6) AS support_calls
      FROM generate_series(1, 20000) i) s;
SELECT version, algorithm, classes, round((metrics->>'accuracy')::numeric, 3) AS accuracy,
       round((metrics->>'roc_auc')::numeric, 3) AS roc_auc
  FROM mlops.train('churn', 'customers', 'outcome');
SELECT id, plan, support_calls, outcome, mlops.predict_label('churn', c) AS predicted,
       (SELECT array_agg(round(p::numeric, 3)) FROM unnest(mlops.predict_proba('churn', c)) p) AS proba
  FROM customers c ORDER BY id LIMIT 5;

\echo
\echo '== 8. Evaluate the production model on any relation'
CREATE VIEW recent_customers AS SELECT * FROM customers WHERE id > 18000;
SELECT mlops.evaluate('churn', 'recent_customers');

\echo
\echo '== 9. Drift: the live table moves (bigger houses, a new district); check it against the training baseline'
CREATE TABLE houses_live AS
SELECT id, size_m2 * 1.4 AS size_m2, age_years,
       CASE WHEN id % 3 = 0 THEN 'harbour' ELSE district END AS district, garden, price
FROM houses WHERE id <= 5000;
SELECT verdict, round(drift_share::numeric, 2) AS drift_share, rows_checked, concept_drift
  FROM mlops.check_drift('house_prices', 'houses_live');
SELECT feature, kind, status, round(psi::numeric, 3) AS psi, round(ks_p_value::numeric, 4) AS ks_p,
       round(unseen_share::numeric, 3) AS unseen_share
  FROM mlops.drift_history WHERE project = 'house_prices' ORDER BY feature;
SELECT project, reason, status FROM mlops.retrain_queue;

\echo
\echo '== 10. The overview for BI tools'
SELECT project, task, production_version, algorithm, round(key_metric_value::numeric, 4) AS key_metric,
       last_drift_verdict, queued_retrains
  FROM mlops.overview ORDER BY project;

\echo
\echo '== 11. The closed loop, with no human step: new sales (with the new district) reach the training'
\echo '       table; a scheduled drift check finds the drift, retrains, compares and deploys on its own'
INSERT INTO houses
SELECT 20000 + id, size_m2, age_years, district, garden,
       price + CASE WHEN district = 'harbour' THEN 80000 ELSE 0 END
  FROM houses_live;
-- Jobs never run as a superuser, and this demo runs as one: the job runs as
-- demo_ops, an ordinary role that may read the two tables.  A retrain
-- trains and deploys, so the project's owner grants demo_ops both.
CREATE ROLE demo_ops LOGIN;
GRANT SELECT ON houses, houses_live TO demo_ops;
SELECT mlops.grant('house_prices', 'demo_ops', 'train');
SELECT mlops.grant('house_prices', 'demo_ops', 'deploy');
SELECT mlops.schedule_drift_check('house_prices', 'houses_live', '1 hour', run_as => 'demo_ops') AS job;
DO $$
DECLARE deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
    WHILE clock_timestamp() < deadline AND NOT EXISTS
          (SELECT 1 FROM mlops.retrain_queue WHERE project = 'house_prices'
              AND status IN ('deployed', 'rejected', 'failed')) LOOP
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;
SELECT run.id AS run, run.status, run.outcome FROM mlops.job_runs run ORDER BY run.id;
SELECT project, status, champion_version, challenger_version,
       round(champion_score::numeric, 4) AS champion_r2, round(challenger_score::numeric, 4) AS challenger_r2
  FROM mlops.retrain_queue ORDER BY id;
SELECT id, version, previous_version, strategy, deployed_by FROM mlops.deployments
 WHERE project = 'house_prices' ORDER BY id;
SELECT project, production_version, algorithm, round(key_metric_value::numeric, 4) AS key_metric,
       last_drift_verdict, queued_retrains
  FROM mlops.overview ORDER BY project;
