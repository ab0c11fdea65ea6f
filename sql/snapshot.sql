-- Dataset snapshots: the SQL surface and its error messages.
SET client_min_messages = warning;
-- snapshot ids in this file start at 1000, whatever ran before
SELECT setval('mlops.snapshot_catalog_id_seq', 1000, false) IS NOT NULL AS ok;

CREATE TABLE snap_people (id int, name text, score numeric(6,2), born date, active bool);
INSERT INTO snap_people VALUES
    (1, 'ann', 1.5, '2000-01-01', true),
    (2, 'bob', NULL, '1999-05-05', false),
    (3, 'cy', 3.25, NULL, true),
    (3, 'cy', 3.25, NULL, true);          -- a duplicate row

-- a first snapshot
SELECT mlops.snapshot('snap_people', 'people v1');
SELECT name, relation, columns, column_types, row_count, distinct_rows,
       previous, same_content_as, rows_stored, model_versions, owner::text = current_user AS mine
  FROM mlops.snapshots WHERE id = 1000;
SELECT key, value FROM mlops.snapshots, jsonb_each(statistics) WHERE id = 1000 ORDER BY key;

-- the same rows again: a new snapshot of the same content, nothing stored
SELECT mlops.snapshot('snap_people');
SELECT id, previous, same_content_as, rows_stored, bytes_added, content_hash = (SELECT content_hash FROM mlops.snapshots WHERE id = 1000) AS same_hash
  FROM mlops.snapshots WHERE id = 1001;

-- a change: one row updated, one inserted, one of the duplicates deleted
UPDATE snap_people SET score = 2 WHERE id = 1;
INSERT INTO snap_people VALUES (4, 'dee', 4, '2001-02-03', false);
DELETE FROM snap_people WHERE ctid = (SELECT min(ctid) FROM snap_people WHERE id = 3);
SELECT mlops.snapshot('snap_people', 'people v2');
SELECT id, name, row_count, distinct_rows, previous, same_content_as, rows_stored
  FROM mlops.snapshots WHERE id = 1002;
SELECT * FROM mlops.snapshot_diff(1000, 1002);
SELECT * FROM mlops.snapshot_diff(1002, 1000);
SELECT * FROM mlops.snapshot_diff(1000, 1001);
SELECT change, "row" FROM mlops.snapshot_diff_rows(1000, 1002) ORDER BY change, "row"->>'id';

-- restore recreates the rows with their types
SELECT mlops.snapshot_restore(1000, 'snap_people_v1');
SELECT * FROM snap_people_v1 ORDER BY id, name;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'snap_people_v1'::regclass AND attnum > 0 ORDER BY attnum;
SELECT mlops.snapshot_restore(1002, 'public.snap_people_v2');
SELECT * FROM snap_people_v2 ORDER BY id;

-- the rows as a query (this is what mlops.reproduce reads)
SELECT * FROM mlops.snapshot_rows(1002)
    AS t(id integer, name text, score numeric(6,2), born date, active boolean) ORDER BY id;

-- errors
SELECT mlops.snapshot_restore(1000, 'snap_people_v1');
SELECT mlops.snapshot_restore(999999, 'nowhere');
SELECT * FROM mlops.snapshot_diff(1000, 999999);
SELECT mlops.drop_snapshot(999999);
SELECT mlops.snapshot(NULL);
CREATE INDEX snap_people_idx ON snap_people (id);
SELECT mlops.snapshot('snap_people_idx');
CREATE VIEW snap_catalog_view AS SELECT relname, relpartbound, reloptions FROM pg_class;
SELECT mlops.snapshot('snap_catalog_view');
CREATE TABLE snap_empty ();
SELECT mlops.snapshot('snap_empty');
SELECT * FROM mlops.snapshot_rows(1000) AS t(id int);
SELECT * FROM mlops.snapshot_rows(1000) AS t(id int, name int, score numeric, born date, active bool);
SELECT mlops.snapshot_rows(1000);

-- privileges: the relation is read as the caller; a snapshot and its rows
-- belong to the role that took them, and are stored apart from other roles'
CREATE ROLE regress_snap_reader;
CREATE ROLE regress_snap_other;
SET ROLE regress_snap_reader;
SELECT mlops.snapshot('snap_people');
RESET ROLE;
GRANT SELECT (id, name) ON snap_people TO regress_snap_reader;
SET ROLE regress_snap_reader;
SELECT mlops.snapshot('snap_people');
RESET ROLE;
GRANT SELECT ON snap_people TO regress_snap_reader;
SET ROLE regress_snap_reader;
SELECT mlops.snapshot('snap_people');
SELECT count(*) FROM mlops.snapshot_rows(1003) AS t(id int, name text, score numeric(6,2), born date, active bool);
SELECT statistics IS NOT NULL AS sees_statistics FROM mlops.snapshots WHERE id = 1003;
SET ROLE regress_snap_other;
SELECT count(*) AS visible FROM mlops.snapshots WHERE id = 1003;
SELECT count(*) FROM mlops.snapshot_rows(1003) AS t(id int, name text, score numeric(6,2), born date, active bool);
SELECT mlops.snapshot_restore(1003, 'snap_stolen');
SELECT * FROM mlops.snapshot_diff(1003, 1003);
SELECT mlops.drop_snapshot(1003);
SELECT count(*) FROM mlops.snapshot_contents;
SELECT count(*) FROM mlops.snapshot_catalog WHERE id = 1003;
RESET ROLE;

-- drop: refused while a model version records the snapshot
INSERT INTO mlops.projects (name, task, target, key_metric) VALUES ('snap_regress', 'regression', 'score', 'r2');
INSERT INTO mlops.model_versions
    (project, version, algorithm, features, target, snapshot, train_rows, test_rows,
     test_size, training_seconds, trained_by, extension_version, model, model_sha256)
VALUES ('snap_regress', 1, 'linear', '[]', 'score', 1000, 3, 1, 0.25, 0, current_user, '0.1',
        '\x00', sha256('\x00'));
SELECT id, model_versions FROM mlops.snapshots WHERE id IN (1000, 1001) ORDER BY id;
SELECT mlops.drop_snapshot(1000);
DELETE FROM mlops.model_versions WHERE project = 'snap_regress';
DELETE FROM mlops.projects WHERE name = 'snap_regress';

-- drop and collect: 1001 shares 1000's content, so only the last drop frees
-- rows; 1003, of another role, shares nothing
SELECT mlops.drop_snapshot(1001);
SELECT mlops.drop_snapshot(1003);
SELECT mlops.drop_snapshot(1000);
SELECT id, row_count FROM mlops.snapshots WHERE relation = 'public.snap_people' ORDER BY id;
SELECT * FROM mlops.snapshot_rows(1002)
    AS t(id integer, name text, score numeric(6,2), born date, active boolean) ORDER BY id;
SELECT mlops.drop_snapshot(1002);
SELECT count(*) AS snapshots_left FROM mlops.snapshots WHERE relation = 'public.snap_people';

-- a type whose name now means another type: an error before any row is read
CREATE DOMAIN snap_dom AS float8;
CREATE TABLE snap_typed (x snap_dom, n int);
INSERT INTO snap_typed VALUES (1.5, 1);
SELECT mlops.snapshot('snap_typed');
SELECT column_types FROM mlops.snapshots WHERE id = 1004;
DROP DOMAIN snap_dom CASCADE;
CREATE DOMAIN snap_dom AS text;
SELECT mlops.snapshot_restore(1004, 'snap_typed_r');
SELECT * FROM mlops.snapshot_rows(1004) AS t(x snap_dom, n int);
SELECT * FROM mlops.snapshot_rows(1004) AS t(x float8, n int);
SELECT mlops.drop_snapshot(1004);
DROP TABLE snap_typed;
DROP DOMAIN snap_dom;

DROP TABLE snap_people, snap_people_v1, snap_people_v2, snap_empty;
DROP VIEW snap_catalog_view;
DROP ROLE regress_snap_reader;
DROP ROLE regress_snap_other;
