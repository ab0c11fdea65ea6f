-- mlops install script, part 40: dataset snapshots (DESIGN section 4).
--
-- A snapshot freezes the rows of (some columns of) a relation as the caller
-- sees them.  Storage, in three layers (docs/snapshots.md has the details):
--
--   snapshot_stores     one per owning role and list of stored column types;
--                       each owns a heap table mlops.snapshot_rows_<id>
--                       (row_hash bigint, c1, c2, ...), created on first use.
--                       Columns are stored in built-in types only (a domain's
--                       base type; text for types outside pg_catalog), so no
--                       user type can change or break a store.  Every
--                       distinct row is stored once per store, addressed by
--                       its row hash (rowhash.c).
--   snapshot_contents   a multiset of row hashes: either a full sorted list
--                       (a base) or a delta (hashes added and removed) against
--                       a parent content.  Identified by the SHA-256 of the
--                       sorted list; unchanged data reuses a content.
--   snapshot_catalog    the snapshots users see: name, relation, column names
--                       and types, owner (by OID) and time, and the content
--                       they point at.
--
-- Nothing is shared between roles: a store, its rows and its contents belong
-- to one role.  The tables are registry tables, dumped with their rows.  A
-- role sees the snapshots and stores of the roles whose privileges it has
-- (row-level security); snapshot_contents is read only through the
-- mlops.snapshots view, which applies the same rule.  Rows change only
-- through the functions below.

-- ---------------------------------------------------------------------------
-- snapshot_stores: one content-addressed row store per role and column types
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.snapshot_stores (
    id            serial PRIMARY KEY,
    owner         regrole NOT NULL,
    column_types  text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    check_key     bigint NOT NULL,
    UNIQUE (owner, column_types)
);
COMMENT ON TABLE mlops.snapshot_stores IS 'Row stores of snapshots: one per owning role and list of stored column types, each with its table mlops.snapshot_rows_<id>';
COMMENT ON COLUMN mlops.snapshot_stores.id IS 'Store number; its rows are in mlops.snapshot_rows_<id>';
COMMENT ON COLUMN mlops.snapshot_stores.owner IS 'Role whose snapshots the store holds; no other role''s snapshot uses it';
COMMENT ON COLUMN mlops.snapshot_stores.column_types IS 'Built-in SQL types the columns are stored in, in order (the base type of a domain, text for a type outside pg_catalog)';
COMMENT ON COLUMN mlops.snapshot_stores.created_at IS 'When the first snapshot with these column types was taken';
COMMENT ON COLUMN mlops.snapshot_stores.check_key IS 'Secret random key of the rows'' check hashes, which tell a stored row from a different row with the same row hash; readable only by the store''s owner and the registry owner';

-- ---------------------------------------------------------------------------
-- snapshot_contents: multisets of row hashes, stored as deltas
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.snapshot_contents (
    id             bigserial PRIMARY KEY,
    store          integer NOT NULL REFERENCES mlops.snapshot_stores (id),
    parent         bigint,      -- a content id; no foreign key, which pg_dump would call circular
    row_count      bigint NOT NULL CHECK (row_count >= 0),
    distinct_rows  bigint NOT NULL CHECK (distinct_rows >= 0),
    content_hash   bigint NOT NULL,
    digest         bytea NOT NULL CHECK (octet_length(digest) = 32),
    n_added        bigint NOT NULL CHECK (n_added >= 0),
    n_removed      bigint NOT NULL CHECK (n_removed >= 0),
    added          bytea NOT NULL,
    removed        bytea NOT NULL,
    statistics     jsonb NOT NULL,
    check_sum      bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (parent IS NOT NULL OR n_removed = 0),
    CHECK (octet_length(added) = 8 * n_added AND octet_length(removed) = 8 * n_removed)
);
-- hash lists are random bytes: do not try to compress them
ALTER TABLE mlops.snapshot_contents ALTER COLUMN added SET STORAGE EXTERNAL;
ALTER TABLE mlops.snapshot_contents ALTER COLUMN removed SET STORAGE EXTERNAL;
CREATE INDEX snapshot_contents_store_digest_idx ON mlops.snapshot_contents (store, digest);
CREATE INDEX snapshot_contents_parent_idx ON mlops.snapshot_contents (parent);
COMMENT ON TABLE mlops.snapshot_contents IS 'Frozen multisets of rows: a full list of row hashes, or a delta against a parent content';
COMMENT ON COLUMN mlops.snapshot_contents.id IS 'Content number';
COMMENT ON COLUMN mlops.snapshot_contents.store IS 'Store holding the rows';
COMMENT ON COLUMN mlops.snapshot_contents.parent IS 'Content this one is a delta of; NULL when added lists every row (a base)';
COMMENT ON COLUMN mlops.snapshot_contents.row_count IS 'Rows, duplicates included';
COMMENT ON COLUMN mlops.snapshot_contents.distinct_rows IS 'Distinct rows';
COMMENT ON COLUMN mlops.snapshot_contents.content_hash IS 'Sum of the row hashes modulo 2^64 (order-independent), as a signed bigint; a quick check, not an identity';
COMMENT ON COLUMN mlops.snapshot_contents.digest IS 'SHA-256 of the sorted list of all row hashes (the bytes of a base list): the identity of the content within its store';
COMMENT ON COLUMN mlops.snapshot_contents.n_added IS 'Row hashes in added';
COMMENT ON COLUMN mlops.snapshot_contents.n_removed IS 'Row hashes in removed';
COMMENT ON COLUMN mlops.snapshot_contents.added IS 'Row hashes added to the parent (every row for a base), sorted, 8 bytes big-endian each, repeated for duplicates';
COMMENT ON COLUMN mlops.snapshot_contents.removed IS 'Row hashes removed from the parent, in the same format';
COMMENT ON COLUMN mlops.snapshot_contents.statistics IS 'Per-column statistics, one object per column in column order';
COMMENT ON COLUMN mlops.snapshot_contents.check_sum IS 'Sum modulo 2^64 of the rows'' check hashes (keyed with the store''s check_key, over the stored values), duplicates included, as a signed bigint: what a later snapshot that reuses stored rows checks its rows against';
COMMENT ON COLUMN mlops.snapshot_contents.created_at IS 'When the content was first stored';

-- ---------------------------------------------------------------------------
-- snapshot_catalog: the snapshots
-- ---------------------------------------------------------------------------
CREATE TABLE mlops.snapshot_catalog (
    id             bigserial PRIMARY KEY,
    name           text,
    relation       text NOT NULL,
    columns        text[] NOT NULL,
    column_types   text[] NOT NULL,
    content        bigint NOT NULL REFERENCES mlops.snapshot_contents (id),
    rows_stored    bigint NOT NULL DEFAULT 0 CHECK (rows_stored >= 0),
    bytes_added    bigint NOT NULL DEFAULT 0 CHECK (bytes_added >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    owner          regrole NOT NULL,
    CHECK (cardinality(columns) = cardinality(column_types))
);
CREATE INDEX snapshot_catalog_relation_idx ON mlops.snapshot_catalog (relation, id);
CREATE INDEX snapshot_catalog_content_idx ON mlops.snapshot_catalog (content);
COMMENT ON TABLE mlops.snapshot_catalog IS 'Every snapshot: which columns of which relation, taken by whom and when, and its content';
COMMENT ON COLUMN mlops.snapshot_catalog.id IS 'Snapshot number, returned by mlops.snapshot and recorded in mlops.model_versions.snapshot';
COMMENT ON COLUMN mlops.snapshot_catalog.name IS 'Optional label given by the user';
COMMENT ON COLUMN mlops.snapshot_catalog.relation IS 'Relation snapshotted, schema-qualified, as it was named then';
COMMENT ON COLUMN mlops.snapshot_catalog.columns IS 'Column names, in order';
COMMENT ON COLUMN mlops.snapshot_catalog.column_types IS 'Column SQL types, in order';
COMMENT ON COLUMN mlops.snapshot_catalog.content IS 'The frozen rows (shared by snapshots of identical data)';
COMMENT ON COLUMN mlops.snapshot_catalog.rows_stored IS 'New distinct rows this snapshot added to the store';
COMMENT ON COLUMN mlops.snapshot_catalog.bytes_added IS 'Approximate bytes this snapshot added (new rows and membership lists)';
COMMENT ON COLUMN mlops.snapshot_catalog.created_at IS 'When the snapshot was taken';
COMMENT ON COLUMN mlops.snapshot_catalog.owner IS 'Role that took it (by OID); it, the roles with its privileges and superusers may see and read it';

SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_stores', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_stores_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_contents', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_contents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('mlops.snapshot_catalog_id_seq', '');

-- A role sees the stores and snapshots of the roles whose privileges it has;
-- superusers and the registry owner (which writes them) see all.
ALTER TABLE mlops.snapshot_stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.snapshot_catalog ENABLE ROW LEVEL SECURITY;
CREATE POLICY snapshot_stores_visible ON mlops.snapshot_stores
    FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY snapshot_catalog_visible ON mlops.snapshot_catalog
    FOR SELECT USING (pg_catalog.pg_has_role(owner, 'USAGE'));

-- ---------------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.snapshot(relation regclass, name text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_snapshot'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mlops.snapshot(regclass, text) IS
'Freeze the rows of a table, view or materialized view that the caller can see; returns the snapshot id';

CREATE FUNCTION mlops.snapshot_restore(snapshot bigint, "into" text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_snapshot_restore'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mlops.snapshot_restore(bigint, text) IS
'Recreate a snapshot''s rows as a new table (an error if it exists); returns the number of rows';

CREATE FUNCTION mlops.snapshot_diff(a bigint, b bigint,
                                    OUT added bigint, OUT removed bigint, OUT unchanged bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'mlops_snapshot_diff'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.snapshot_diff(bigint, bigint) IS
'Rows in b and not in a (added), in a and not in b (removed), in both (unchanged); duplicates counted';

CREATE FUNCTION mlops.snapshot_diff_rows(a bigint, b bigint)
RETURNS TABLE (change text, row_hash bigint, "row" jsonb)
AS 'MODULE_PATHNAME', 'mlops_snapshot_diff_rows'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.snapshot_diff_rows(bigint, bigint) IS
'The rows added (in b, not in a) and removed (in a, not in b), as jsonb, one line per occurrence';

CREATE FUNCTION mlops.snapshot_rows(snapshot bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mlops_snapshot_rows'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.snapshot_rows(bigint) IS
'A snapshot''s rows; needs a column definition list: SELECT * FROM mlops.snapshot_rows(1) AS t(a int, b text)';

CREATE FUNCTION mlops.drop_snapshot(snapshot bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mlops_drop_snapshot'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mlops.drop_snapshot(bigint) IS
'Delete a snapshot no model version uses and the stored rows no other snapshot needs; returns rows freed';

-- ---------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------
-- The views run as their owner (the registry owner, who bypasses row-level
-- security), so they filter on the caller's roles themselves; as security
-- barriers, no function of the caller sees a row before that filter.
CREATE VIEW mlops.snapshots WITH (security_barrier) AS
SELECT s.id,
       s.name,
       s.relation,
       s.columns,
       s.column_types,
       c.row_count,
       c.distinct_rows,
       lpad(to_hex(c.content_hash), 16, '0')              AS content_hash,
       (SELECT max(p.id) FROM mlops.snapshot_catalog p
         WHERE p.relation = s.relation AND p.id < s.id
           AND pg_catalog.pg_has_role(p.owner, 'USAGE'))   AS previous,
       (SELECT min(o.id) FROM mlops.snapshot_catalog o
         WHERE o.content = s.content AND o.id < s.id
           AND pg_catalog.pg_has_role(o.owner, 'USAGE'))   AS same_content_as,
       s.rows_stored,
       s.bytes_added,
       ARRAY(SELECT v.project || '/' || v.version
               FROM mlops.model_versions v
              WHERE v.snapshot = s.id
                AND mlops.has_project_privilege(v.project, 'read')
              ORDER BY v.project, v.version)               AS model_versions,
       (SELECT jsonb_object_agg(col.name, st.value ORDER BY col.n)
          FROM unnest(s.columns) WITH ORDINALITY AS col(name, n)
          JOIN jsonb_array_elements(c.statistics) WITH ORDINALITY AS st(value, n)
            ON st.n = col.n)                               AS statistics,
       s.created_at,
       s.owner
FROM mlops.snapshot_catalog s
JOIN mlops.snapshot_contents c ON c.id = s.content
WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');
COMMENT ON VIEW mlops.snapshots IS 'The snapshots of the roles whose privileges the caller has, with their lineage: previous snapshot of the relation, identical earlier content, the model versions trained on each';

CREATE VIEW mlops.snapshot_storage WITH (security_barrier) AS
SELECT st.id                                            AS store,
       st.owner,
       st.column_types,
       to_regclass(format('mlops.snapshot_rows_%s', st.id)) AS rows_table,
       coalesce(pg_catalog.pg_total_relation_size(
                    to_regclass(format('mlops.snapshot_rows_%s', st.id))), 0) AS rows_bytes,
       (SELECT coalesce(sum(pg_catalog.pg_column_size(c.added)
                            + pg_catalog.pg_column_size(c.removed)), 0)::bigint
          FROM mlops.snapshot_contents c WHERE c.store = st.id) AS membership_bytes,
       (SELECT count(*) FROM mlops.snapshot_contents c WHERE c.store = st.id) AS contents,
       (SELECT count(*) FROM mlops.snapshot_catalog s
          JOIN mlops.snapshot_contents c ON c.id = s.content
         WHERE c.store = st.id)                         AS snapshots
FROM mlops.snapshot_stores st
WHERE pg_catalog.pg_has_role(st.owner, 'USAGE');
COMMENT ON VIEW mlops.snapshot_storage IS 'Space used by the snapshots of the roles whose privileges the caller has: per store, the bytes of its rows table and of its membership lists';

-- the check key stays with the registry owner: no column grant exposes it
GRANT SELECT (id, owner, column_types, created_at) ON mlops.snapshot_stores TO PUBLIC;
GRANT SELECT ON mlops.snapshot_catalog TO PUBLIC;
GRANT SELECT ON mlops.snapshots, mlops.snapshot_storage TO PUBLIC;
