-- Snapshots and their rows survive pg_dump / pg_restore into a fresh
-- database: the registry rows, the row tables, restores, diffs, reuse of
-- stored content, and DROP EXTENSION removing the row tables afterwards.
--
-- pg_dump sees committed rows only, so this test commits and removes what it
-- made at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(8);

CREATE TABLE snap_dump_t (k int, v text, w float8);
INSERT INTO snap_dump_t SELECT i, md5(i::text), i / 3.0 FROM generate_series(1, 300) i;
INSERT INTO snap_dump_t VALUES (1, md5('1'), 1 / 3.0);           -- a duplicate
CREATE TABLE snap_dump_v1 AS SELECT * FROM snap_dump_t;
SELECT mlops.snapshot('snap_dump_t', 'before') AS s1 \gset
UPDATE snap_dump_t SET w = -w WHERE k <= 3;
SELECT mlops.snapshot('snap_dump_t', 'after') AS s2 \gset
SELECT content_hash AS h2 FROM mlops.snapshots WHERE id = :s2 \gset

-- Dump this database, restore it into a fresh one, and query it there.
CREATE TEMP TABLE restored AS
SELECT line FROM pg_temp.dump_restore('mlops_snap_restored',
    format($$SELECT 'hash=' || content_hash FROM mlops.snapshots WHERE id = %s$$, :s2),
    format($$SELECT 'rows1=' || mlops.snapshot_restore(%s, 'snap_dump_r1')$$, :s1),
    $$SELECT 'same1=' || ((SELECT count(*) FROM (SELECT * FROM snap_dump_r1 EXCEPT ALL SELECT * FROM snap_dump_v1) q)
                          + (SELECT count(*) FROM (SELECT * FROM snap_dump_v1 EXCEPT ALL SELECT * FROM snap_dump_r1) q))$$,
    format($$SELECT 'same2=' || count(*) FROM (SELECT * FROM mlops.snapshot_rows(%s) AS t(k int, v text, w float8)
                                               EXCEPT ALL SELECT * FROM snap_dump_t) q$$, :s2),
    format($$SELECT 'diff=' || concat_ws(',', added, removed, unchanged) FROM mlops.snapshot_diff(%s, %s)$$, :s1, :s2),
    $$SELECT mlops.snapshot('snap_dump_t') IS NULL$$,
    format($$SELECT 'resnap=' || rows_stored || ',' || (same_content_as = %s) FROM mlops.snapshots
              WHERE id = (SELECT max(id) FROM mlops.snapshot_catalog)$$, :s2),
    format($$SELECT 'newid=' || (mlops.snapshot('snap_dump_v1') > %s)$$, :s2),
    'DROP EXTENSION mlops',
    $$SELECT 'leftover=' || count(*) FROM pg_class WHERE relname LIKE 'snapshot_rows%'$$) AS line;

SELECT is((SELECT line FROM restored WHERE line LIKE 'hash=%'), 'hash=' || :'h2',
          'the snapshot and its content hash are restored');
SELECT is((SELECT line FROM restored WHERE line LIKE 'rows1=%'), 'rows1=301',
          'a restored snapshot restores into a table');
SELECT is((SELECT line FROM restored WHERE line LIKE 'same1=%'), 'same1=0',
          'with exactly the rows it froze');
SELECT is((SELECT line FROM restored WHERE line LIKE 'same2=%'), 'same2=0',
          'the delta snapshot reads back exactly');
SELECT is((SELECT line FROM restored WHERE line LIKE 'diff=%'), 'diff=4,4,297',
          'diffs work on restored snapshots');
SELECT is((SELECT line FROM restored WHERE line LIKE 'resnap=%'), 'resnap=0,true',
          'a new snapshot of unchanged data reuses the restored content');
SELECT is((SELECT line FROM restored WHERE line LIKE 'newid=%'), 'newid=true',
          'the id sequence continues after the restored ids');
SELECT is((SELECT line FROM restored WHERE line LIKE 'leftover=%'), 'leftover=0',
          'DROP EXTENSION removes the restored row tables');

SELECT * FROM finish();

SELECT mlops.drop_snapshot(id) FROM mlops.snapshot_catalog
 WHERE relation = 'public.snap_dump_t' ORDER BY id DESC;
DROP TABLE snap_dump_t, snap_dump_v1;
DROP DATABASE mlops_snap_restored;
