-- Dataset snapshots: content hashing, storage growth, diffs, restore,
-- statistics, delta chains, garbage collection, privileges.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(59);

-- 5,000 distinct rows plus 20 duplicates, with NULLs
CREATE TABLE snt (id int, g text, x float8, y numeric(8,3), flag bool);
INSERT INTO snt
SELECT i, 'g' || (i % 13), CASE WHEN i % 97 = 0 THEN NULL ELSE sin(i) * 100 END,
       (i % 1000) / 7.0, i % 3 = 0
  FROM generate_series(1, 5000) i;
INSERT INTO snt SELECT * FROM snt WHERE id <= 20;
CREATE TABLE snt_shuffled AS SELECT * FROM snt ORDER BY md5(id::text || g);

-- ---------------------------------------------------------------------------
-- content hash: independent of the physical order
-- ---------------------------------------------------------------------------
SELECT mlops.snapshot('snt', 'first') AS a \gset
SELECT mlops.snapshot('snt_shuffled') AS b \gset
SELECT is((SELECT content_hash FROM mlops.snapshots WHERE id = :b),
          (SELECT content_hash FROM mlops.snapshots WHERE id = :a),
          'the same rows in another physical order have the same content hash');
SELECT is((SELECT row_count FROM mlops.snapshots WHERE id = :a), 5020::bigint,
          'the row count includes duplicates');
SELECT is((SELECT distinct_rows FROM mlops.snapshots WHERE id = :a), 5000::bigint,
          'distinct rows are counted');
SELECT is((SELECT same_content_as FROM mlops.snapshots WHERE id = :b), :a::bigint,
          'the shuffled copy points at the content of the first snapshot');
SELECT is((SELECT rows_stored FROM mlops.snapshots WHERE id = :b), 0::bigint,
          'and stores no row');
SELECT is((SELECT rows_stored FROM mlops.snapshots WHERE id = :a), 5000::bigint,
          'the first snapshot stores each distinct row once');
SELECT isnt((SELECT content_hash FROM mlops.snapshots WHERE id = :a), '0000000000000000',
            'the content hash is not trivial');

SELECT format('mlops.snapshot_rows_%s', c.store) AS store
  FROM mlops.snapshot_catalog s JOIN mlops.snapshot_contents c ON c.id = s.content
 WHERE s.id = :a \gset
SELECT is((SELECT count(*) FROM :store), 5000::bigint, 'the store holds 5000 rows');

-- ---------------------------------------------------------------------------
-- re-snapshot of unchanged data adds nothing
-- ---------------------------------------------------------------------------
SELECT pg_total_relation_size(:'store') AS store_bytes0, pg_relation_size(:'store') AS store_main0 \gset
SELECT count(*) AS contents0 FROM mlops.snapshot_contents \gset
SELECT mlops.snapshot('snt') AS c \gset
SELECT is((SELECT count(*) FROM :store), 5000::bigint, 're-snapshot adds no row to the store');
SELECT is(pg_total_relation_size(:'store'), :store_bytes0::bigint, 'the store does not grow');
SELECT is((SELECT count(*) FROM mlops.snapshot_contents), :contents0::bigint, 'no new content is stored');
SELECT is((SELECT content FROM mlops.snapshot_catalog WHERE id = :c),
          (SELECT content FROM mlops.snapshot_catalog WHERE id = :a),
          'the new snapshot points at the existing content');
SELECT is((SELECT bytes_added FROM mlops.snapshots WHERE id = :c), 0::bigint, 'bytes added: none');

-- ---------------------------------------------------------------------------
-- 1% of the rows change: storage grows by about the changed rows
-- ---------------------------------------------------------------------------
SELECT coalesce(sum(octet_length(added) + octet_length(removed)), 0) AS lists0
  FROM mlops.snapshot_contents WHERE id = (SELECT content FROM mlops.snapshot_catalog WHERE id = :a) \gset
UPDATE snt SET x = coalesce(x, 0) + 1 WHERE id % 100 = 50;
SELECT mlops.snapshot('snt', 'one percent') AS d \gset
SELECT is((SELECT count(*) FROM :store), 5050::bigint, 'the store gains exactly the 50 changed rows');
SELECT results_eq(format('SELECT parent IS NOT NULL, n_added, n_removed FROM mlops.snapshot_contents
                           WHERE id = (SELECT content FROM mlops.snapshot_catalog WHERE id = %s)', :d),
                  $$VALUES (true, 50::bigint, 50::bigint)$$,
                  'the new content is a delta of 50 added and 50 removed hashes');
-- (the rows table's main fork: its free space map, created by the second
-- write, is a fixed 24 kB that only matters for a table this small)
SELECT cmp_ok((pg_relation_size(:'store') - :store_main0
               + (SELECT octet_length(added) + octet_length(removed) FROM mlops.snapshot_contents
                   WHERE id = (SELECT content FROM mlops.snapshot_catalog WHERE id = :d)))::float8
              / (:store_main0 + :lists0),
              '<=', 0.05::float8, 'after a 1% change the storage grows by at most 5% of the first snapshot');
SELECT cmp_ok((SELECT bytes_added FROM mlops.snapshots WHERE id = :d)::float8
              / (SELECT bytes_added FROM mlops.snapshots WHERE id = :a),
              '<', 0.03::float8, 'and the bytes_added the snapshot reports are small likewise');

-- ---------------------------------------------------------------------------
-- diffs: exact counts, duplicates counted, the rows themselves
-- ---------------------------------------------------------------------------
SELECT results_eq(format('SELECT added, removed, unchanged FROM mlops.snapshot_diff(%s, %s)', :a, :d),
                  $$VALUES (50::bigint, 50::bigint, 4970::bigint)$$, 'diff counts the changed rows');
SELECT results_eq(format('SELECT added, removed, unchanged FROM mlops.snapshot_diff(%s, %s)', :d, :a),
                  $$VALUES (50::bigint, 50::bigint, 4970::bigint)$$, 'and is symmetric');
SELECT results_eq(format('SELECT added, removed, unchanged FROM mlops.snapshot_diff(%s, %s)', :a, :b),
                  $$VALUES (0::bigint, 0::bigint, 5020::bigint)$$, 'identical contents differ in nothing');
SELECT is((SELECT sum(CASE change WHEN 'added' THEN 1 ELSE -1 END * coalesce(("row"->>'x')::float8, 0))
             FROM mlops.snapshot_diff_rows(:a, :d))::numeric(10,6), 50.0::numeric(10,6),
          'diff rows: the added x exceed the removed ones by 1 per changed row');
SELECT is((SELECT count(DISTINCT ("row"->>'id')::int) FROM mlops.snapshot_diff_rows(:a, :d)
            WHERE ("row"->>'id')::int % 100 = 50), 50::bigint,
          'diff rows are the changed ids, each removed and added');
DELETE FROM snt WHERE ctid = (SELECT min(ctid) FROM snt WHERE id = 5);
SELECT mlops.snapshot('snt') AS e \gset
SELECT results_eq(format('SELECT added, removed, unchanged FROM mlops.snapshot_diff(%s, %s)', :d, :e),
                  $$VALUES (0::bigint, 1::bigint, 5019::bigint)$$,
                  'removing one copy of a duplicate row is one removed row');
SELECT is((SELECT distinct_rows FROM mlops.snapshots WHERE id = :e), 5000::bigint,
          'while the distinct rows stay');

-- ---------------------------------------------------------------------------
-- restore and the rows query give back exactly the rows
-- ---------------------------------------------------------------------------
CREATE TABLE snt_at_d AS SELECT * FROM snt;
INSERT INTO snt_at_d SELECT * FROM snt WHERE id = 5;      -- snt as it was at d
SELECT is(mlops.snapshot_restore(:a, 'snt_restored_a'), 5020::bigint, 'restore returns the row count');
SELECT is((SELECT count(*) FROM (SELECT * FROM snt_restored_a EXCEPT ALL SELECT * FROM snt_shuffled) q)
        + (SELECT count(*) FROM (SELECT * FROM snt_shuffled EXCEPT ALL SELECT * FROM snt_restored_a) q),
          0::bigint, 'the restored first snapshot equals the original rows, duplicates included');
SELECT is((SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'snt_restored_a'::regclass AND attnum > 0),
          ARRAY['integer', 'text', 'double precision', 'numeric(8,3)', 'boolean'],
          'the restored table has the original column types');
SELECT mlops.snapshot_restore(:d, 'snt_restored_d') AS restored \gset
SELECT is((SELECT count(*) FROM (SELECT * FROM snt_restored_d EXCEPT ALL SELECT * FROM snt_at_d) q)
        + (SELECT count(*) FROM (SELECT * FROM snt_at_d EXCEPT ALL SELECT * FROM snt_restored_d) q),
          0::bigint, 'a delta snapshot restores exactly');
SELECT is((SELECT count(*) FROM (
             SELECT * FROM mlops.snapshot_rows(:d) AS t(id int, g text, x float8, y numeric(8,3), flag bool)
             EXCEPT ALL SELECT * FROM snt_at_d) q), 0::bigint,
          'snapshot_rows returns the same rows');
SELECT throws_ok(format($$SELECT mlops.snapshot_restore(%s, 'snt_restored_a')$$, :a), '42P07', NULL,
                 'restoring into an existing table is an error');

-- ---------------------------------------------------------------------------
-- statistics
-- ---------------------------------------------------------------------------
SELECT statistics AS st FROM mlops.snapshots WHERE id = :a \gset
SELECT is((:'st'::jsonb -> 'x' ->> 'nulls')::bigint, (SELECT count(*) FROM snt_shuffled WHERE x IS NULL),
          'statistics: NULL count');
SELECT ok(abs((:'st'::jsonb -> 'x' ->> 'mean')::float8 - (SELECT avg(x) FROM snt_shuffled)) < 1e-9,
          'statistics: mean');
SELECT ok(abs((:'st'::jsonb -> 'x' ->> 'stddev')::float8 - (SELECT stddev_samp(x) FROM snt_shuffled)) < 1e-9,
          'statistics: standard deviation');
SELECT is((:'st'::jsonb -> 'y' ->> 'max')::float8, (SELECT max(y)::float8 FROM snt_shuffled),
          'statistics: maximum of a numeric column');
SELECT is((:'st'::jsonb -> 'flag' ->> 'true')::bigint, (SELECT count(*) FROM snt_shuffled WHERE flag),
          'statistics: true count');
SELECT ok((:'st'::jsonb -> 'g' ->> 'distinct_estimate')::int BETWEEN 12 AND 14,
          'statistics: distinct estimate of a text column');

-- ---------------------------------------------------------------------------
-- delta chains survive drops: each remaining snapshot restores exactly
-- ---------------------------------------------------------------------------
CREATE TABLE chain (k int, v text);
INSERT INTO chain SELECT i, md5(i::text) FROM generate_series(1, 2000) i;
CREATE TABLE chain_v1 AS SELECT * FROM chain;
SELECT mlops.snapshot('chain') AS c1 \gset
UPDATE chain SET v = 'two' WHERE k % 50 = 1;
CREATE TABLE chain_v2 AS SELECT * FROM chain;
SELECT mlops.snapshot('chain') AS c2 \gset
DELETE FROM chain WHERE k % 50 = 2;
INSERT INTO chain VALUES (9001, 'new'), (9001, 'new');
CREATE TABLE chain_v3 AS SELECT * FROM chain;
SELECT mlops.snapshot('chain') AS c3 \gset
UPDATE chain SET v = 'four' WHERE k % 50 = 3;
CREATE TABLE chain_v4 AS SELECT * FROM chain;
SELECT mlops.snapshot('chain') AS c4 \gset
SELECT is((SELECT count(*) FROM mlops.snapshot_contents
            WHERE id IN (SELECT content FROM mlops.snapshot_catalog WHERE id IN (:c2, :c3, :c4))
              AND parent IS NOT NULL), 3::bigint, 'small changes are stored as deltas');

SELECT format('mlops.snapshot_rows_%s', c.store) AS chain_store
  FROM mlops.snapshot_catalog s JOIN mlops.snapshot_contents c ON c.id = s.content
 WHERE s.id = :c1 \gset
SELECT is(mlops.drop_snapshot(:c1), 40::bigint, 'dropping the base frees the 40 rows only it had');
SELECT is(mlops.drop_snapshot(:c3), 0::bigint,
          'dropping a middle snapshot frees nothing: its neighbours have all its rows');
SELECT is((SELECT count(*) FROM :chain_store), (SELECT count(*) FROM (SELECT * FROM chain_v2 UNION SELECT * FROM chain_v4) u),
          'the store holds exactly the distinct rows of the remaining snapshots');
SELECT mlops.snapshot_restore(:c2, 'chain_r2') AS restored \gset
SELECT mlops.snapshot_restore(:c4, 'chain_r4') AS restored \gset
SELECT is((SELECT count(*) FROM (SELECT * FROM chain_r2 EXCEPT ALL SELECT * FROM chain_v2) q)
        + (SELECT count(*) FROM (SELECT * FROM chain_v2 EXCEPT ALL SELECT * FROM chain_r2) q),
          0::bigint, 'the snapshot that became the base restores exactly');
SELECT is((SELECT count(*) FROM (SELECT * FROM chain_r4 EXCEPT ALL SELECT * FROM chain_v4) q)
        + (SELECT count(*) FROM (SELECT * FROM chain_v4 EXCEPT ALL SELECT * FROM chain_r4) q),
          0::bigint, 'the snapshot re-parented over a dropped one restores exactly');

-- a content with two deltas (data reverted, then changed another way):
-- dropping it makes the first delta a base and the second a delta of it
CREATE TABLE fork (k int, v text);
INSERT INTO fork SELECT i, 'v' || i FROM generate_series(1, 400) i;
CREATE TABLE fork_v1 AS SELECT * FROM fork;
SELECT mlops.snapshot('fork') AS f1 \gset
UPDATE fork SET v = 'a' WHERE k <= 4;
CREATE TABLE fork_v2 AS SELECT * FROM fork;
SELECT mlops.snapshot('fork') AS f2 \gset
TRUNCATE fork;
INSERT INTO fork SELECT * FROM fork_v1;
SELECT mlops.snapshot('fork') AS f3 \gset
DELETE FROM fork WHERE k > 396;
CREATE TABLE fork_v4 AS SELECT * FROM fork;
SELECT mlops.snapshot('fork') AS f4 \gset
SELECT is((SELECT count(*) FROM mlops.snapshot_contents
            WHERE parent = (SELECT content FROM mlops.snapshot_catalog WHERE id = :f1)), 2::bigint,
          'the reverted data was recognised and the next change is a second delta of it');
SELECT is(mlops.drop_snapshot(:f3) + mlops.drop_snapshot(:f1), 0::bigint,
          'dropping the shared base frees nothing the two deltas still hold');
SELECT is((SELECT count(*) FROM (SELECT * FROM mlops.snapshot_rows(:f2) AS t(k int, v text)
                                 EXCEPT ALL SELECT * FROM fork_v2) q)
        + (SELECT count(*) FROM (SELECT * FROM fork_v2 EXCEPT ALL
                                 SELECT * FROM mlops.snapshot_rows(:f2) AS t(k int, v text)) q)
        + (SELECT count(*) FROM (SELECT * FROM mlops.snapshot_rows(:f4) AS t(k int, v text)
                                 EXCEPT ALL SELECT * FROM fork_v4) q)
        + (SELECT count(*) FROM (SELECT * FROM fork_v4 EXCEPT ALL
                                 SELECT * FROM mlops.snapshot_rows(:f4) AS t(k int, v text)) q),
          0::bigint, 'both former deltas still read back exactly');

-- an empty relation is a snapshot of no rows
CREATE TABLE snt_none (a int);
SELECT mlops.snapshot('snt_none') AS n1 \gset
SELECT is(mlops.snapshot_restore(:n1, 'snt_none_r'), 0::bigint, 'an empty snapshot restores to an empty table');

-- a large change is stored as a new base
UPDATE chain SET v = v || '!' WHERE k % 2 = 0;
SELECT mlops.snapshot('chain') AS c5 \gset
SELECT is((SELECT parent FROM mlops.snapshot_contents
            WHERE id = (SELECT content FROM mlops.snapshot_catalog WHERE id = :c5)), NULL,
          'a change of half the rows is stored as a full list');

-- ---------------------------------------------------------------------------
-- a relation with the same column types shares the store: only rows the
-- store lacks are added
-- ---------------------------------------------------------------------------
CREATE TABLE chain_other AS SELECT * FROM chain_v4 WHERE k <= 1000;
INSERT INTO chain_other VALUES (-1, 'only here');
SELECT mlops.snapshot('chain_other') AS o1 \gset
SELECT is((SELECT rows_stored FROM mlops.snapshots WHERE id = :o1), 1::bigint,
          'a snapshot of another relation stores only the one row the store did not have');
SELECT mlops.snapshot_restore(:o1, 'chain_other_r') AS restored \gset
SELECT is((SELECT count(*) FROM (SELECT * FROM chain_other_r EXCEPT ALL SELECT * FROM chain_other) q)
        + (SELECT count(*) FROM (SELECT * FROM chain_other EXCEPT ALL SELECT * FROM chain_other_r) q),
          0::bigint, 'and restores exactly');

-- ---------------------------------------------------------------------------
-- types: arrays, domains, enums, jsonb, timestamps restore as they were
-- ---------------------------------------------------------------------------
CREATE TYPE snt_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN snt_pos AS int CHECK (VALUE > 0);
CREATE TABLE typed (a int[], b snt_pos, c snt_mood, d jsonb, e timestamptz, f varchar(5), g bytea);
INSERT INTO typed VALUES ('{1,2}', 3, 'ok', '{"k": [1, 2]}', '2020-01-01 10:00+00', 'abc', '\x00ff'),
                         (NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                         ('{}', 1, 'happy', '[]', 'infinity', '', '\x');
SELECT mlops.snapshot('typed') AS t1 \gset
SELECT mlops.snapshot_restore(:t1, 'typed_r') AS restored \gset
SELECT is((SELECT count(*) FROM (SELECT a, b, c, d, e, f, g FROM typed_r
                                  EXCEPT ALL SELECT a, b, c, d, e, f, g FROM typed) q), 0::bigint,
          'arrays, domains, enums, jsonb, timestamps, varchar and bytea restore as they were');
SELECT is((SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'typed_r'::regclass AND attnum > 0),
          ARRAY['integer[]', 'snt_pos', 'snt_mood', 'jsonb', 'timestamp with time zone',
                'character varying(5)', 'bytea'],
          'with their types');

-- ---------------------------------------------------------------------------
-- privileges and row-level security
-- ---------------------------------------------------------------------------
CREATE ROLE snt_user;
CREATE TABLE snt_secret (id int, owner text);
INSERT INTO snt_secret SELECT i, CASE WHEN i <= 3 THEN 'snt_user' ELSE 'other' END FROM generate_series(1, 10) i;
SET ROLE snt_user;
SELECT throws_ok($$SELECT mlops.snapshot('snt_secret')$$, '42501', NULL,
                 'a relation the caller cannot read cannot be snapshotted');
RESET ROLE;
GRANT SELECT ON snt_secret TO snt_user;
ALTER TABLE snt_secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY snt_mine ON snt_secret USING (owner = current_user);
SET ROLE snt_user;
SELECT mlops.snapshot('snt_secret') AS s1 \gset
SELECT is((SELECT row_count FROM mlops.snapshots WHERE id = :s1), 3::bigint,
          'a snapshot freezes the rows the caller can see (row-level security applies)');
SELECT throws_ok(format('SELECT mlops.drop_snapshot(%s)', :a), '42501', NULL,
                 'another role''s snapshot cannot be dropped');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- errors and drop rules
-- ---------------------------------------------------------------------------
SELECT throws_ok('SELECT mlops.snapshot_restore(-5, ''x'')', '42704', NULL, 'unknown snapshot');
SELECT throws_ok($$SELECT mlops.snapshot('pg_class_oid_index')$$, '42809', NULL, 'an index cannot be snapshotted');
CREATE VIEW snt_bad AS SELECT relname, relpartbound FROM pg_class;
SELECT throws_ok($$SELECT mlops.snapshot('snt_bad')$$, '0A000', NULL, 'unsupported column types are refused');

INSERT INTO mlops.projects (name, task, target, key_metric) VALUES ('snt_project', 'regression', 'x', 'r2');
INSERT INTO mlops.model_versions
    (project, version, algorithm, features, target, snapshot, train_rows, test_rows,
     test_size, training_seconds, trained_by, extension_version, model, model_sha256)
VALUES ('snt_project', 1, 'linear', '[]', 'x', :d, 1, 1, 0.25, 0, current_user, '0.1', '\x00', sha256('\x00'));
SELECT throws_ok(format('SELECT mlops.drop_snapshot(%s)', :d), '2BP01', NULL,
                 'a snapshot a model version was trained on cannot be dropped');
SELECT is((SELECT model_versions FROM mlops.snapshots WHERE id = :d), ARRAY['snt_project/1'],
          'the snapshots view shows which versions trained on a snapshot');

SELECT * FROM finish();
ROLLBACK;
