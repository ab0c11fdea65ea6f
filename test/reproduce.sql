-- mlops.reproduce rebuilds a version from its snapshot, without the live
-- table: byte-identical models for every algorithm, even after the table
-- was changed and dropped.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(11);

CREATE TABLE rp AS
SELECT i, x1, x2, grp, 1 + 2 * x1 - x2 + CASE grp WHEN 'k' THEN 0.5 ELSE 0 END + 0.1 * sin(i * 9.1) AS y,
       CASE WHEN x1 + 0.3 * sin(i * 5.3) > 0.5 THEN 'yes' ELSE 'no' END AS hit
FROM (SELECT i, (i % 53) / 53.0 AS x1, ((i * 17) % 61) / 61.0 AS x2,
             (ARRAY['k', 'l', 'm'])[1 + i % 3] AS grp
      FROM generate_series(1, 3000) i) s;

SELECT version FROM mlops.train('rp_lin', 'rp', 'y', features => ARRAY['x1', 'x2', 'grp']);
SELECT version FROM mlops.train('rp_lasso', 'rp', 'y', algorithm => 'lasso',
                                hyperparams => '{"alpha": 0.01}', features => ARRAY['x1', 'x2', 'grp']);
SELECT version FROM mlops.train('rp_log', 'rp', 'hit', features => ARRAY['x1', 'x2', 'grp']);
SELECT version FROM mlops.train('rp_nb', 'rp', 'hit', algorithm => 'naive_bayes', features => ARRAY['x1', 'grp']);

SELECT isnt((SELECT snapshot FROM mlops.model_versions WHERE project = 'rp_lin'), NULL,
            'the version records the snapshot of its training rows');
SELECT ok((SELECT 'rp_lin/1' = ANY (model_versions) FROM mlops.snapshots
            WHERE id = (SELECT snapshot FROM mlops.model_versions WHERE project = 'rp_lin')),
          'the snapshots view shows which versions trained on it');
SELECT is((SELECT snapshot FROM mlops.model_versions WHERE project = 'rp_lasso'),
          (SELECT snapshot FROM mlops.model_versions WHERE project = 'rp_lin'),
          'training again on unchanged rows reuses the snapshot');

-- the live table changes, then disappears
UPDATE rp SET x1 = x1 + 1 WHERE i % 10 = 0;
DELETE FROM rp WHERE i % 7 = 0;
DROP TABLE rp;

SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('rp_lin', 1)),
          'linear: identical bytes and metrics after the table was dropped');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('rp_lasso', 1)),
          'lasso: identical bytes and metrics');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('rp_log', 1)),
          'logistic: identical bytes and metrics');
SELECT ok((SELECT identical AND metrics_equal FROM mlops.reproduce('rp_nb', 1)),
          'naive Bayes: identical bytes and metrics');
SELECT is((SELECT reproduced_sha256 FROM mlops.reproduce('rp_lin', 1)),
          (SELECT model_sha256 FROM mlops.model_versions WHERE project = 'rp_lin' AND version = 1),
          'the reproduced sha256 is the stored one');

-- a version whose bytes differ from what its snapshot gives is reported as such
UPDATE mlops.model_versions SET model = set_byte(model, 40, get_byte(model, 40) # 1)
 WHERE project = 'rp_lin' AND version = 1;
SELECT ok((SELECT NOT identical FROM mlops.reproduce('rp_lin', 1)),
          'a tampered model is reported as not identical');

-- errors
SELECT throws_ok($$SELECT * FROM mlops.reproduce('rp_lin', 9)$$, '42704',
                 'version 9 of project "rp_lin" does not exist', 'unknown version');
UPDATE mlops.model_versions SET snapshot = NULL WHERE project = 'rp_nb';
SELECT throws_ok($$SELECT * FROM mlops.reproduce('rp_nb', 1)$$, '55000',
                 'version 1 of project "rp_nb" has no snapshot of its training data',
                 'a version without a snapshot cannot be reproduced');

SELECT * FROM finish();
ROLLBACK;
