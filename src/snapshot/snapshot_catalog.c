/*-------------------------------------------------------------------------
 *
 * snapshot_catalog.c
 *	  The registry rows of snapshots: mlops.snapshot_stores,
 *	  mlops.snapshot_contents and mlops.snapshot_catalog.
 *
 * Every query here runs under SPI as the registry owner, through
 * MlopsExecAsRegistryOwner (the caller of the snapshot function has been
 * authorised before).  Functions that change
 * snapshots switch to "latest" reads once they hold the store's lock, so
 * that they see every committed content whatever the isolation level;
 * functions that only read use the calling statement's snapshot, the same
 * one their scans of the store use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "registry/registry.h"
#include "snapshot/snapshot_int.h"
#include "core/util.h"

/* read registry rows with the latest snapshot (after taking a store lock) */
static bool snap_read_latest = false;

/*
 * Choose how the following registry reads see concurrent commits; returns
 * the previous choice.
 */
bool
SnapReadLatest(bool on)
{
	bool		was = snap_read_latest;

	snap_read_latest = on;
	return was;
}

/* SPI_connect, or a can't-happen error. */
void
SnapSPIConnect(void)
{
	int			ret = SPI_connect();

	if (ret != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
}

/*
 * Run one registry statement as the registry owner.  Reads use the latest
 * snapshot or the active one (see the header comment); writes are ordinary.
 */
static int
SnapExec(const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls, bool write)
{
	MlopsOwnerMode mode;

	if (write)
		mode = MLOPS_OWNER_WRITE;
	else
		mode = snap_read_latest ? MLOPS_OWNER_READ_LATEST : MLOPS_OWNER_READ;
	return MlopsExecAsRegistryOwner(sql, nargs, types, values, nulls, mode);
}

/* A text[] datum from C strings. */
static Datum
CStringsToTextArray(int n, char **strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(strings[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* C strings from a text[] datum without NULLs. */
static char **
TextArrayToCStrings(Datum d, int *n)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	return out;
}

/* int8 value of column col of result row row (NULL gives 0). */
static int64
ResultInt64(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Run one registry statement (as SnapExec) and return the int8 in the first
 * column of its first row, 0 when it returns no row or NULL.
 */
static int64
SnapExecInt64(const char *sql, int nargs, Oid *types, Datum *values,
			  const char *nulls, bool write)
{
	int64		result = 0;

	SnapExec(sql, nargs, types, values, nulls, write);
	if (SPI_processed > 0)
		result = ResultInt64(0, 1);
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * Run one registry read whose rows have a single int8 column; returns the
 * values as a List of palloc'd int64, in the rows' order.
 */
static List *
SnapExecInt64List(const char *sql, int nargs, Oid *types, Datum *values)
{
	List	   *ids = NIL;

	SnapExec(sql, nargs, types, values, NULL, false);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int64	   *id = palloc(sizeof(int64));

		*id = ResultInt64(i, 1);
		ids = lappend(ids, id);
	}
	SPI_freetuptable(SPI_tuptable);
	return ids;
}

/*
 * The names and the type texts of columns as two text[] datums, the way
 * mlops.snapshot_catalog stores them in columns and column_types.
 */
static void
SnapColumnArrays(int ncols, const SnapColumn *cols, Datum *names_array,
				 Datum *types_array)
{
	char	  **names = palloc(sizeof(char *) * Max(ncols, 1));
	char	  **typetexts = palloc(sizeof(char *) * Max(ncols, 1));

	for (int i = 0; i < ncols; i++)
	{
		names[i] = cols[i].name;
		typetexts[i] = cols[i].type_text;
	}
	*names_array = CStringsToTextArray(ncols, names);
	*types_array = CStringsToTextArray(ncols, typetexts);
}

/*
 * A snapshot and its content, or an error when there is no such snapshot.
 * With lock_for_update the catalog row is locked against concurrent use
 * (drop_snapshot).
 */
SnapInfo *
SnapLookup(int64 id, bool lock_for_update)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	SnapInfo   *info;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			n;

	SnapExec(lock_for_update
			 ? "SELECT s.relation, s.columns, s.column_types, s.owner::oid, s.content,"
			 "       c.store, c.row_count, c.distinct_rows, c.content_hash"
			 "  FROM mlops.snapshot_catalog s JOIN mlops.snapshot_contents c ON c.id = s.content"
			 " WHERE s.id = $1 FOR UPDATE OF s"
			 : "SELECT s.relation, s.columns, s.column_types, s.owner::oid, s.content,"
			 "       c.store, c.row_count, c.distinct_rows, c.content_hash"
			 "  FROM mlops.snapshot_catalog s JOIN mlops.snapshot_contents c ON c.id = s.content"
			 " WHERE s.id = $1",
			 1, types, values, NULL, lock_for_update);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("snapshot " INT64_FORMAT " does not exist", id),
				 errhint("The snapshots are listed in mlops.snapshots.")));

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	info = palloc0(sizeof(SnapInfo));
	info->id = id;
	info->relation = SPI_getvalue(tup, desc, 1);
	info->colnames = TextArrayToCStrings(SPI_getbinval(tup, desc, 2, &isnull), &info->ncols);
	info->coltypes = TextArrayToCStrings(SPI_getbinval(tup, desc, 3, &isnull), &n);
	if (n != info->ncols)
		elog(ERROR, "snapshot " INT64_FORMAT " has %d column names but %d types",
			 id, info->ncols, n);
	info->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	info->content = ResultInt64(0, 5);
	info->store = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	info->row_count = ResultInt64(0, 7);
	info->distinct_rows = ResultInt64(0, 8);
	info->content_hash = (uint64) ResultInt64(0, 9);
	SPI_freetuptable(SPI_tuptable);
	return info;
}

/*
 * Error unless the current user may read the snapshot's rows: superusers,
 * the role that took it and the roles that have its privileges.
 */
void
SnapCheckRead(const SnapInfo *info)
{
	if (superuser())
		return;
	if (has_privs_of_role(GetUserId(), info->owner))
		return;
	/* the detail names no role: who took a snapshot is the owner's to know */
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for snapshot " INT64_FORMAT, info->id),
			 errdetail("Only the role that took it, the roles with its privileges and superusers may use the rows of a snapshot.")));
}

/* The stored column types of cols as a text[] datum. */
static Datum
StoreTypesArray(int ncols, const SnapColumn *cols)
{
	char	  **typetexts = palloc(sizeof(char *) * Max(ncols, 1));

	for (int i = 0; i < ncols; i++)
		typetexts[i] = cols[i].store_type_text;
	return CStringsToTextArray(ncols, typetexts);
}

/* The store of owner for the stored types of cols, or 0. */
int32
SnapStoreByTypes(Oid owner, int ncols, const SnapColumn *cols)
{
	Oid			types[2] = {REGROLEOID, TEXTARRAYOID};
	Datum		values[2];
	int32		store = 0;
	bool		isnull;

	values[0] = ObjectIdGetDatum(owner);
	values[1] = StoreTypesArray(ncols, cols);
	SnapExec("SELECT id FROM mlops.snapshot_stores WHERE owner = $1 AND column_types = $2",
			 2, types, values, NULL, false);
	if (SPI_processed > 0)
		store = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
	SPI_freetuptable(SPI_tuptable);
	return store;
}

/* Register a new store of owner for the stored types of cols; returns its id. */
int32
SnapInsertStore(Oid owner, int ncols, const SnapColumn *cols)
{
	Oid			types[3] = {REGROLEOID, TEXTARRAYOID, INT8OID};
	Datum		values[3];
	bool		isnull;
	int32		store;
	uint64		key;

	/* the store's secret check key (snapshot_check.c) */
	if (!pg_strong_random(&key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random snapshot store key")));
	values[0] = ObjectIdGetDatum(owner);
	values[1] = StoreTypesArray(ncols, cols);
	values[2] = Int64GetDatum((int64) key);
	SnapExec("INSERT INTO mlops.snapshot_stores (owner, column_types, check_key)"
			 " VALUES ($1, $2, $3) RETURNING id",
			 3, types, values, NULL, true);
	store = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										&isnull));
	SPI_freetuptable(SPI_tuptable);
	return store;
}

/* The secret check key of a store (snapshot_check.c). */
uint64
SnapStoreKey(int32 store)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(store)};

	return (uint64) SnapExecInt64("SELECT check_key FROM mlops.snapshot_stores WHERE id = $1",
								  1, types, values, NULL, false);
}

/* The sum of the check hashes of a content's rows. */
uint64
SnapContentCheckSum(int64 content)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};

	return (uint64) SnapExecInt64("SELECT check_sum FROM mlops.snapshot_contents WHERE id = $1",
								  1, types, values, NULL, false);
}

/* Remove the registry row of a store. */
void
SnapDeleteStore(int32 store)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(store)};

	SnapExec("DELETE FROM mlops.snapshot_stores WHERE id = $1", 1, types, values, NULL, true);
}

/* Ids of every registered store. */
List *
SnapStoreIds(void)
{
	return SnapExecInt64List("SELECT id::bigint FROM mlops.snapshot_stores ORDER BY id",
							 0, NULL, NULL);
}

/*
 * The chain of a content: a List of SnapChainLink, the content first and its
 * base last.
 */
List *
SnapContentChain(int64 content)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};
	List	   *chain = NIL;

	SnapExec("WITH RECURSIVE chain (id, parent, n_added, n_removed, depth) AS ("
			 "  SELECT id, parent, n_added, n_removed, 0"
			 "    FROM mlops.snapshot_contents WHERE id = $1"
			 "  UNION ALL"
			 "  SELECT c.id, c.parent, c.n_added, c.n_removed, chain.depth + 1"
			 "    FROM mlops.snapshot_contents c JOIN chain ON c.id = chain.parent)"
			 " SELECT id, parent, n_added, n_removed FROM chain ORDER BY depth",
			 1, types, values, NULL, false);
	if (SPI_processed == 0)
		elog(ERROR, "snapshot content " INT64_FORMAT " does not exist", content);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		SnapChainLink *link = palloc(sizeof(SnapChainLink));

		link->id = ResultInt64(i, 1);
		link->parent = ResultInt64(i, 2);
		link->n_added = ResultInt64(i, 3);
		link->n_removed = ResultInt64(i, 4);
		chain = lappend(chain, link);
	}
	if (((SnapChainLink *) llast(chain))->parent != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot content " INT64_FORMAT " has no base", content)));
	SPI_freetuptable(SPI_tuptable);
	return chain;
}

/* Ids of the contents of a store, oldest first. */
List *
SnapStoreContents(int32 store)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(store)};

	return SnapExecInt64List("SELECT id FROM mlops.snapshot_contents"
							 " WHERE store = $1 ORDER BY id",
							 1, types, values);
}

/*
 * The content to store a new snapshot of relation as a delta of: the latest
 * content of that relation in the store, else the latest of the store; 0
 * when the store has none.
 */
int64
SnapParentCandidate(int32 store, const char *relation)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2] = {Int32GetDatum(store), CStringGetTextDatum(relation)};

	return SnapExecInt64("SELECT s.content FROM mlops.snapshot_catalog s"
						 "  JOIN mlops.snapshot_contents c ON c.id = s.content"
						 " WHERE c.store = $1"
						 " ORDER BY (s.relation = $2) DESC, s.id DESC LIMIT 1",
						 2, types, values, NULL, false);
}

/* A bytea datum of a content digest. */
static Datum
DigestDatum(const uint8 *digest)
{
	bytea	   *b = palloc(VARHDRSZ + SNAP_DIGEST_LEN);

	SET_VARSIZE(b, VARHDRSZ + SNAP_DIGEST_LEN);
	memcpy(VARDATA(b), digest, SNAP_DIGEST_LEN);
	return PointerGetDatum(b);
}

/*
 * The latest content of the store with this digest (SnapListDigest of all
 * its row hashes) and row count, or 0.  Stores belong to one role, so this
 * never finds another role's content.
 */
int64
SnapFindContent(int32 store, const uint8 *digest, int64 row_count)
{
	Oid			types[3] = {INT4OID, BYTEAOID, INT8OID};
	Datum		values[3];

	values[0] = Int32GetDatum(store);
	values[1] = DigestDatum(digest);
	values[2] = Int64GetDatum(row_count);
	return SnapExecInt64("SELECT id FROM mlops.snapshot_contents"
						 " WHERE store = $1 AND digest = $2 AND row_count = $3"
						 " ORDER BY id DESC LIMIT 1",
						 3, types, values, NULL, false);
}

/*
 * The latest snapshot taken by owner of exactly these columns of relation
 * whose content has this hash and row count, or 0.  The catalog row is
 * locked (FOR KEY SHARE) so that it cannot be dropped before the caller's
 * transaction ends.
 */
int64
SnapFindSnapshot(Oid owner, const char *relation, int ncols, const SnapColumn *cols,
				 uint64 content_hash, int64 row_count)
{
	Oid			types[6] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, INT8OID, INT8OID, REGROLEOID};
	Datum		values[6];

	values[0] = CStringGetTextDatum(relation);
	SnapColumnArrays(ncols, cols, &values[1], &values[2]);
	values[3] = Int64GetDatum((int64) content_hash);
	values[4] = Int64GetDatum(row_count);
	values[5] = ObjectIdGetDatum(owner);

	return SnapExecInt64("SELECT s.id FROM mlops.snapshot_catalog s"
						 "  JOIN mlops.snapshot_contents c ON c.id = s.content"
						 " WHERE s.relation = $1 AND s.columns = $2 AND s.column_types = $3"
						 "   AND c.content_hash = $4 AND c.row_count = $5 AND s.owner = $6"
						 " ORDER BY s.id DESC LIMIT 1 FOR KEY SHARE OF s",
						 6, types, values, NULL, true);
}

/* Whether owner has a snapshot of exactly these columns of relation. */
bool
SnapHasSnapshotOf(Oid owner, const char *relation, int ncols, const SnapColumn *cols)
{
	Oid			types[4] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, REGROLEOID};
	Datum		values[4];
	bool		found;

	values[0] = CStringGetTextDatum(relation);
	SnapColumnArrays(ncols, cols, &values[1], &values[2]);
	values[3] = ObjectIdGetDatum(owner);
	SnapExec("SELECT 1 FROM mlops.snapshot_catalog"
			 " WHERE relation = $1 AND columns = $2 AND column_types = $3 AND owner = $4"
			 " LIMIT 1",
			 4, types, values, NULL, false);
	found = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* Store a new content; returns its id. */
int64
SnapInsertContent(int32 store, int64 parent, int64 row_count, int64 distinct_rows,
				  uint64 content_hash, const uint8 *digest, const SnapHashList *added,
				  const SnapHashList *removed, const char *stats_json,
				  uint64 check_sum)
{
	Oid			types[11] = {INT4OID, INT8OID, INT8OID, INT8OID, INT8OID,
	BYTEAOID, BYTEAOID, TEXTOID, INT8OID, BYTEAOID, INT8OID};
	Datum		values[11];
	char		nulls[11] = "           ";
	int64		id;

	values[0] = Int32GetDatum(store);
	values[1] = Int64GetDatum(parent);
	if (parent == 0)
		nulls[1] = 'n';
	values[2] = Int64GetDatum(row_count);
	values[3] = Int64GetDatum(distinct_rows);
	values[4] = Int64GetDatum((int64) content_hash);
	values[5] = PointerGetDatum(SnapListToBytea(added));
	values[6] = PointerGetDatum(SnapListToBytea(removed));
	values[7] = CStringGetTextDatum(stats_json);
	values[8] = Int64GetDatum(added->n);
	values[9] = DigestDatum(digest);
	values[10] = Int64GetDatum((int64) check_sum);

	id = SnapExecInt64("INSERT INTO mlops.snapshot_contents"
					   " (store, parent, row_count, distinct_rows, content_hash, digest,"
					   "  added, removed, statistics, n_added, n_removed, check_sum)"
					   " VALUES ($1, $2, $3, $4, $5, $10, $6, $7, $8::jsonb, $9,"
					   "         octet_length($7) / 8, $11)"
					   " RETURNING id",
					   11, types, values, nulls, true);
	pfree(DatumGetPointer(values[5]));
	pfree(DatumGetPointer(values[6]));
	return id;
}

/* Rewrite a content as a delta of parent (0: as a base). */
void
SnapUpdateContent(int64 content, int64 parent, const SnapHashList *added,
				  const SnapHashList *removed)
{
	Oid			types[4] = {INT8OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		values[4];
	char		nulls[4] = "    ";

	values[0] = Int64GetDatum(content);
	values[1] = Int64GetDatum(parent);
	if (parent == 0)
		nulls[1] = 'n';
	values[2] = PointerGetDatum(SnapListToBytea(added));
	values[3] = PointerGetDatum(SnapListToBytea(removed));
	SnapExec("UPDATE mlops.snapshot_contents"
			 "   SET parent = $2, added = $3, removed = $4,"
			 "       n_added = octet_length($3) / 8, n_removed = octet_length($4) / 8"
			 " WHERE id = $1",
			 4, types, values, nulls, true);
}

/* Record a snapshot of owner pointing at content; returns its id. */
int64
SnapInsertCatalog(Oid owner, const char *name, const char *relation, int ncols,
				  const SnapColumn *cols, int64 content, int64 rows_stored,
				  int64 bytes_added)
{
	Oid			types[8] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, INT8OID,
	INT8OID, INT8OID, REGROLEOID};
	Datum		values[8];
	char		nulls[8] = "        ";

	values[0] = name ? CStringGetTextDatum(name) : (Datum) 0;
	if (name == NULL)
		nulls[0] = 'n';
	values[1] = CStringGetTextDatum(relation);
	SnapColumnArrays(ncols, cols, &values[2], &values[3]);
	values[4] = Int64GetDatum(content);
	values[5] = Int64GetDatum(rows_stored);
	values[6] = Int64GetDatum(bytes_added);
	values[7] = ObjectIdGetDatum(owner);

	return SnapExecInt64("INSERT INTO mlops.snapshot_catalog"
						 " (name, relation, columns, column_types, content, rows_stored,"
						 "  bytes_added, owner)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
						 8, types, values, nulls, true);
}

/*
 * The stored lists of a content, detoasted into the current memory context
 * (they may be large: the tuple table is freed at once).
 */
void
SnapFetchLists(int64 content, bytea **added, bytea **removed)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};
	bool		isnull;

	SnapExec("SELECT added, removed FROM mlops.snapshot_contents WHERE id = $1",
			 1, types, values, NULL, false);
	if (SPI_processed == 0)
		elog(ERROR, "snapshot content " INT64_FORMAT " does not exist", content);
	*added = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	*removed = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
}

/* Parent of a content (0 for a base). */
int64
SnapContentParent(int64 content)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};
	int64		parent;

	SnapExec("SELECT parent FROM mlops.snapshot_contents WHERE id = $1",
			 1, types, values, NULL, false);
	if (SPI_processed == 0)
		elog(ERROR, "snapshot content " INT64_FORMAT " does not exist", content);
	parent = ResultInt64(0, 1);
	SPI_freetuptable(SPI_tuptable);
	return parent;
}

/* Ids of the contents that are deltas of content, oldest first. */
List *
SnapContentChildren(int64 content)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};

	return SnapExecInt64List("SELECT id FROM mlops.snapshot_contents"
							 " WHERE parent = $1 ORDER BY id",
							 1, types, values);
}

/* Snapshots pointing at a content. */
int64
SnapContentRefs(int64 content)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(content)};

	return SnapExecInt64("SELECT count(*) FROM mlops.snapshot_catalog WHERE content = $1",
						 1, types, values, NULL, false);
}

/* Delete a catalog row or a content row. */
void
SnapDeleteRow(const char *table, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	SnapExec(psprintf("DELETE FROM mlops.%s WHERE id = $1", table),
			 1, types, values, NULL, true);
}

/*
 * Model versions recorded as trained on a snapshot, as "project/version"
 * text, at most 10; *total gets their number.
 */
char *
SnapUsedBy(int64 id, int64 *total)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	StringInfoData buf;

	SnapExec("SELECT v.project || '/' || v.version, count(*) OVER ()"
			 "  FROM mlops.model_versions v WHERE v.snapshot = $1"
			 " ORDER BY v.project, v.version LIMIT 10",
			 1, types, values, NULL, false);
	*total = SPI_processed > 0 ? ResultInt64(0, 2) : 0;
	initStringInfo(&buf);
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
						 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	SPI_freetuptable(SPI_tuptable);
	return buf.data;
}

/*
 * Membership of a content as a map from row hash to count, built in the
 * current memory context by applying its chain from the base.  With
 * keep_zero, hashes that some content of the chain lists but this one does
 * not contain stay in the map with count zero.
 */
snapmap_hash *
SnapContentMap(int64 content, bool keep_zero)
{
	List	   *chain = SnapContentChain(content);
	SnapChainLink *base = llast(chain);
	int64		expected = base->n_added;
	snapmap_hash *map;

	/* the map must hold the base and whatever the deltas add */
	for (int i = list_length(chain) - 2; i >= 0; i--)
		expected += ((SnapChainLink *) list_nth(chain, i))->n_added;
	map = SnapMapCreate(CurrentMemoryContext, expected);

	for (int i = list_length(chain) - 1; i >= 0; i--)
	{
		SnapChainLink *link = list_nth(chain, i);
		bytea	   *added;
		bytea	   *removed;

		SnapFetchLists(link->id, &added, &removed);
		SnapMapAddBytea(map, added, 1, keep_zero);
		SnapMapAddBytea(map, removed, -1, keep_zero);
		pfree(added);
		pfree(removed);
	}
	return map;
}
