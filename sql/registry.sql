-- The registry schema as installed: tables, views, privileges.
\dx mlops
SELECT c.relname, c.relkind
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mlops'
 WHERE c.relkind IN ('r', 'v', 'S')
 ORDER BY c.relkind, c.relname;
-- every registry table and sequence is dumped with its rows
SELECT t.oid::regclass AS config_relation
  FROM pg_extension e, unnest(e.extconfig) AS t(oid)
 WHERE e.extname = 'mlops' ORDER BY 1::text;
-- every table and column of the extension is commented
SELECT c.relname, a.attname
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mlops'
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind = 'r' AND col_description(c.oid, a.attnum) IS NULL;
SELECT c.relname
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mlops'
 WHERE c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL;
-- PUBLIC reads, never writes
CREATE ROLE mlops_reader;
SET ROLE mlops_reader;
SELECT count(*) FROM mlops.overview;
SELECT count(*) FROM mlops.leaderboard;
INSERT INTO mlops.projects (name, task, target, key_metric) VALUES ('x', 'regression', 'y', 'r2');
RESET ROLE;
DROP ROLE mlops_reader;
-- the GUCs
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'mlops.%' ORDER BY name;
