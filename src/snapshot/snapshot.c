/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Dataset versioning (DESIGN section 4): the SQL functions
 *	  mlops.snapshot, snapshot_restore, snapshot_rows, snapshot_diff,
 *	  snapshot_diff_rows and drop_snapshot, and the reading side of
 *	  snapshot.h.
 *
 * The folder src/snapshot/ is dataset versioning; snapshot.h is what
 * training uses, snapshot_int.h is private to the folder.
 *
 * Taking a snapshot is in snapshot_take.c, dropping one in snapshot_drop.c;
 * docs/snapshots.md describes the storage design and its costs.  Reading a
 * snapshot's rows needs the privileges of the role that took it (or
 * superuser): the rows may come from a relation with row-level security.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"

PG_FUNCTION_INFO_V1(mlops_snapshot);
PG_FUNCTION_INFO_V1(mlops_snapshot_restore);
PG_FUNCTION_INFO_V1(mlops_snapshot_rows);
PG_FUNCTION_INFO_V1(mlops_snapshot_diff);
PG_FUNCTION_INFO_V1(mlops_snapshot_diff_rows);
PG_FUNCTION_INFO_V1(mlops_drop_snapshot);

/* Where the rows of a store scan go */
typedef struct EmitState
{
	SnapWriter *writer;			/* restore: the new table */
	Tuplestorestate *tupstore;	/* snapshot_rows, snapshot_diff_rows */
	TupleDesc	desc;			/* of tupstore's rows */
	TupleDesc	rowdesc;		/* diff: the snapshot's columns, blessed */
	const char *change;			/* diff: "added" or "removed" */
	int			ncols;
	bool	   *varlena;		/* per stored column: may hold a TOAST pointer */
	SnapFromStore *from;		/* stored values into the reader's types */
	MemoryContext tmpcxt;
} EmitState;

/* The columns' SQL, "name type, ..." for CREATE TABLE or AS t(...). */
static char *
ColumnsSQL(const SnapInfo *info)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < info->ncols; i++)
		appendStringInfo(&buf, "%s%s %s", i > 0 ? ", " : "",
						 quote_identifier(info->colnames[i]), info->coltypes[i]);
	return buf.data;
}

/* Which columns of a store table are varlena (they may be TOASTed). */
static bool *
VarlenaColumns(Relation store_rel)
{
	TupleDesc	desc = RelationGetDescr(store_rel);
	bool	   *varlena = palloc(sizeof(bool) * desc->natts);

	for (int i = 1; i < desc->natts; i++)
		varlena[i - 1] = (TupleDescAttr(desc, i)->attlen == -1);
	return varlena;
}

/* Values with TOAST pointers fetched, for a tuplestore that may outlive them. */
static void
FlattenValues(EmitState *es, Datum *values, bool *isnull, Datum *out)
{
	for (int i = 0; i < es->ncols; i++)
	{
		out[i] = values[i];
		if (!isnull[i] && es->varlena[i] &&
			VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
			out[i] = PointerGetDatum(detoast_external_attr((struct varlena *)
														   DatumGetPointer(values[i])));
	}
}

/*
 * How to read a snapshot's store as the columns of desc (the restored table
 * or the column definition list): errors, before any row is read, when a
 * column's type cannot hold what is stored.
 */
static SnapFromStore *
FromStoreAs(const SnapInfo *info, Relation store_rel, TupleDesc desc)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(info->ncols, 1));
	int32	   *typmods = palloc(sizeof(int32) * Max(info->ncols, 1));

	if (desc->natts != info->ncols)
		elog(ERROR, "expected %d columns to read snapshot " INT64_FORMAT " into, got %d",
			 info->ncols, info->id, desc->natts);
	for (int i = 0; i < info->ncols; i++)
	{
		types[i] = TupleDescAttr(desc, i)->atttypid;
		typmods[i] = TupleDescAttr(desc, i)->atttypmod;
	}
	return SnapFromStoreBegin(info, RelationGetDescr(store_rel), types, typmods, false);
}

/* Store scan callback of snapshot_restore: write the row times times. */
static void
EmitToTable(void *arg, uint64 h, int32 times, Datum *values, bool *isnull)
{
	EmitState  *es = arg;
	MemoryContext old = MemoryContextSwitchTo(es->tmpcxt);
	Datum	   *row = SnapFromStoreRow(es->from, values, isnull);

	for (int32 i = 0; i < times; i++)
		SnapWriterAdd(es->writer, 0, row, isnull);
	MemoryContextSwitchTo(old);
	MemoryContextReset(es->tmpcxt);
}

/* Store scan callback of snapshot_rows: return the row times times. */
static void
EmitToTupstore(void *arg, uint64 h, int32 times, Datum *values, bool *isnull)
{
	EmitState  *es = arg;
	MemoryContext old = MemoryContextSwitchTo(es->tmpcxt);
	Datum	   *flat = palloc(sizeof(Datum) * es->ncols);
	Datum	   *row;

	/* TOAST pointers are of the stored values: fetch them before converting */
	FlattenValues(es, values, isnull, flat);
	row = SnapFromStoreRow(es->from, flat, isnull);
	for (int32 i = 0; i < times; i++)
		tuplestore_putvalues(es->tupstore, es->desc, row, isnull);
	MemoryContextSwitchTo(old);
	MemoryContextReset(es->tmpcxt);
}

/* Store scan callback of snapshot_diff_rows: (change, row_hash, row as jsonb). */
static void
EmitDiffRow(void *arg, uint64 h, int32 times, Datum *values, bool *isnull)
{
	EmitState  *es = arg;
	MemoryContext old = MemoryContextSwitchTo(es->tmpcxt);
	Datum	   *row = SnapFromStoreRow(es->from, values, isnull);
	HeapTuple	tup = heap_form_tuple(es->rowdesc, row, isnull);
	Datum		json = DirectFunctionCall1(row_to_json, HeapTupleGetDatum(tup));
	Datum		out[3];
	bool		outnull[3] = {false, false, false};

	out[0] = CStringGetTextDatum(es->change);
	out[1] = Int64GetDatum((int64) h);
	out[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(json)));
	for (int32 i = 0; i < times; i++)
		tuplestore_putvalues(es->tupstore, es->desc, out, outnull);
	MemoryContextSwitchTo(old);
	MemoryContextReset(es->tmpcxt);
}

/* Error when a scan did not find every row of a snapshot. */
static void
CheckComplete(const SnapInfo *info, int64 found)
{
	if (found != info->row_count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot " INT64_FORMAT " is incomplete", info->id),
				 errdetail("Its store holds " INT64_FORMAT " of its " INT64_FORMAT " rows.",
						   found, info->row_count)));
}

/*
 * mlops.snapshot(relation regclass, name text DEFAULT NULL) RETURNS bigint
 * Snapshot every column of the relation, as the caller sees it.
 */
Datum
mlops_snapshot(PG_FUNCTION_ARGS)
{
	char	   *name = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be NULL")));
	PG_RETURN_INT64(MlopsSnapshotTake(PG_GETARG_OID(0), NIL, name));
}

/*
 * mlops.snapshot_restore(snapshot bigint, into text) RETURNS bigint
 * Create the table "into" (an error if it exists) with the snapshot's
 * columns and fill it with its rows; returns the number of rows.  The table
 * belongs to the caller, who needs CREATE on its schema.
 */
Datum
mlops_snapshot_restore(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	char	   *into = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SnapInfo   *info;
	List	   *names;
	RangeVar   *rv;
	Oid			relid;
	Relation	target;
	Relation	store_rel;
	snapmap_hash *want;
	EmitState	es;
	int64		total;
	int			ret;

	SnapSPIConnect();
	SnapReadLatest(false);
	info = SnapLookup(id, false);
	SnapCheckRead(info);

#if PG_VERSION_NUM >= 160000
	names = stringToQualifiedNameList(into, NULL);
#else
	names = stringToQualifiedNameList(into);
#endif
	rv = makeRangeVarFromNameList(names);
	if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", NameListToString(names)),
				 errhint("Restore into a new table name.")));

	/* created as the caller, who owns it */
	ret = SPI_execute(psprintf("CREATE TABLE %s (%s)", NameListToQuotedString(names),
							   ColumnsSQL(info)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "creating the restored table failed: %s", SPI_result_code_string(ret));
	relid = RangeVarGetRelid(rv, NoLock, false);

	target = table_open(relid, RowExclusiveLock);
	store_rel = table_open(SnapStoreRelid(info->store, false), AccessShareLock);
	memset(&es, 0, sizeof(es));
	/* the type names now may mean other types than when the snapshot was taken */
	es.from = FromStoreAs(info, store_rel, RelationGetDescr(target));
	es.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot restore",
									  ALLOCSET_DEFAULT_SIZES);
	want = SnapContentMap(info->content, false);
	es.writer = SnapWriterBegin(target, true, false);
	total = SnapStoreScan(store_rel, want, EmitToTable, &es);
	SnapWriterEnd(es.writer);
	CheckComplete(info, total);
	table_close(store_rel, AccessShareLock);
	table_close(target, NoLock);
	SPI_finish();
	PG_RETURN_INT64(total);
}

/*
 * mlops.snapshot_rows(snapshot bigint) RETURNS SETOF record
 * The rows, each duplicate as often as it occurred; the column definition
 * list must give the snapshot's column types.
 */
Datum
mlops_snapshot_rows(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SnapInfo   *info;
	Relation	store_rel;
	Oid		   *types;
	int32	   *typmods;
	snapmap_hash *want;
	EmitState	es;
	int64		total;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mlops.snapshot_rows must be called in FROM with a column definition list"),
				 errhint("For example: SELECT * FROM mlops.snapshot_rows(1) AS t(a integer, b text).")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	SnapSPIConnect();
	SnapReadLatest(false);
	info = SnapLookup(id, false);
	SnapCheckRead(info);
	store_rel = table_open(SnapStoreRelid(info->store, false), AccessShareLock);

	if (rsinfo->setDesc->natts != info->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column definition list has %d columns, snapshot " INT64_FORMAT " has %d",
						rsinfo->setDesc->natts, id, info->ncols),
				 errhint("Use: SELECT * FROM mlops.snapshot_rows(" INT64_FORMAT ") AS t(%s)",
						 id, ColumnsSQL(info))));
	/* the list must name the snapshot's types, as far as they still exist */
	types = palloc(sizeof(Oid) * info->ncols);
	typmods = palloc(sizeof(int32) * info->ncols);
	SnapResolveTypes(info, types, typmods);
	for (int i = 0; i < info->ncols; i++)
		if (OidIsValid(types[i]) && TupleDescAttr(rsinfo->setDesc, i)->atttypid != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the column definition list has type %s, but the snapshot's \"%s\" has type %s",
							i + 1, format_type_be(TupleDescAttr(rsinfo->setDesc, i)->atttypid),
							info->colnames[i], info->coltypes[i]),
					 errhint("Use: SELECT * FROM mlops.snapshot_rows(" INT64_FORMAT ") AS t(%s)",
							 id, ColumnsSQL(info))));

	memset(&es, 0, sizeof(es));
	es.from = FromStoreAs(info, store_rel, rsinfo->setDesc);
	want = SnapContentMap(info->content, false);
	es.tupstore = rsinfo->setResult;
	es.desc = rsinfo->setDesc;
	es.ncols = info->ncols;
	es.varlena = VarlenaColumns(store_rel);
	es.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot rows",
									  ALLOCSET_DEFAULT_SIZES);
	total = SnapStoreScan(store_rel, want, EmitToTupstore, &es);
	CheckComplete(info, total);
	table_close(store_rel, AccessShareLock);
	SPI_finish();
	return (Datum) 0;
}

/*
 * Counts of rows of b not in a (added), of a not in b (removed) and in both,
 * as multisets; with maps of the differences when wanted.
 */
static void
DiffContents(const SnapInfo *a, const SnapInfo *b, int64 *added, int64 *removed,
			 int64 *unchanged, snapmap_hash **want_added, snapmap_hash **want_removed)
{
	snapmap_hash *ma;
	snapmap_hash *mb;
	snapmap_iterator it;
	SnapMapEntry *e;
	int64		common = 0;

	*added = *removed = 0;
	if (want_added)
	{
		*want_added = SnapMapCreate(CurrentMemoryContext, 1024);
		*want_removed = SnapMapCreate(CurrentMemoryContext, 1024);
	}
	if (a->content == b->content)
	{
		*unchanged = a->row_count;
		return;
	}
	ma = SnapContentMap(a->content, false);
	mb = SnapContentMap(b->content, false);
	snapmap_start_iterate(mb, &it);
	while ((e = snapmap_iterate(mb, &it)) != NULL)
	{
		SnapMapEntry *ea = snapmap_lookup(ma, e->key);
		int32		ca = ea ? ea->count : 0;
		int32		both = Min(ca, e->count);

		common += both;
		*added += e->count - both;
		if (want_added && e->count > both)
		{
			bool		found;
			SnapMapEntry *w = snapmap_insert(*want_added, e->key, &found);

			w->count = e->count - both;
			w->flags = 0;
		}
		if (ea)
			ea->count -= both;
	}
	if (want_added)
	{
		snapmap_start_iterate(ma, &it);
		while ((e = snapmap_iterate(ma, &it)) != NULL)
		{
			if (e->count > 0)
			{
				bool		found;
				SnapMapEntry *w = snapmap_insert(*want_removed, e->key, &found);

				w->count = e->count;
				w->flags = 0;
			}
		}
	}
	*removed = a->row_count - common;
	*unchanged = common;
}

/*
 * The two snapshots a diff compares, after connecting SPI: both must
 * exist and be readable by the caller.
 */
static void
OpenDiffPair(int64 ida, int64 idb, SnapInfo **a, SnapInfo **b)
{
	SnapSPIConnect();
	SnapReadLatest(false);
	*a = SnapLookup(ida, false);
	*b = SnapLookup(idb, false);
	SnapCheckRead(*a);
	SnapCheckRead(*b);
}

/*
 * mlops.snapshot_diff(a bigint, b bigint, OUT added, OUT removed,
 * OUT unchanged) RETURNS record
 */
Datum
mlops_snapshot_diff(PG_FUNCTION_ARGS)
{
	SnapInfo   *a;
	SnapInfo   *b;
	int64		added;
	int64		removed;
	int64		unchanged;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	MemoryContext callercxt = CurrentMemoryContext;
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	OpenDiffPair(PG_GETARG_INT64(0), PG_GETARG_INT64(1), &a, &b);
	DiffContents(a, b, &added, &removed, &unchanged, NULL, NULL);
	SPI_finish();

	MemoryContextSwitchTo(callercxt);
	values[0] = Int64GetDatum(added);
	values[1] = Int64GetDatum(removed);
	values[2] = Int64GetDatum(unchanged);
	tup = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/* Emit the rows of want from a snapshot's store for snapshot_diff_rows. */
static void
EmitDiffSide(EmitState *es, const SnapInfo *info, snapmap_hash *want, const char *change)
{
	Relation	store_rel;
	Oid		   *types;
	int32	   *typmods;

	if (want->members == 0)
		return;
	store_rel = table_open(SnapStoreRelid(info->store, false), AccessShareLock);
	/* the rows in their original types, or as stored where those are gone */
	types = palloc(sizeof(Oid) * info->ncols);
	typmods = palloc(sizeof(int32) * info->ncols);
	SnapResolveTypes(info, types, typmods);
	es->from = SnapFromStoreBegin(info, RelationGetDescr(store_rel), types, typmods, true);
	es->rowdesc = CreateTemplateTupleDesc(info->ncols);
	for (int i = 0; i < info->ncols; i++)
		TupleDescInitEntry(es->rowdesc, i + 1, info->colnames[i],
						   SnapFromStoreType(es->from, i), -1, 0);
	es->rowdesc = BlessTupleDesc(es->rowdesc);
	es->change = change;
	es->ncols = info->ncols;
	SnapStoreScan(store_rel, want, EmitDiffRow, es);
	table_close(store_rel, AccessShareLock);
}

/*
 * mlops.snapshot_diff_rows(a bigint, b bigint)
 * RETURNS TABLE (change text, row_hash bigint, row jsonb)
 */
Datum
mlops_snapshot_diff_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SnapInfo   *a;
	SnapInfo   *b;
	int64		added;
	int64		removed;
	int64		unchanged;
	snapmap_hash *want_added;
	snapmap_hash *want_removed;
	EmitState	es;

	InitMaterializedSRF(fcinfo, 0);
	OpenDiffPair(PG_GETARG_INT64(0), PG_GETARG_INT64(1), &a, &b);
	DiffContents(a, b, &added, &removed, &unchanged, &want_added, &want_removed);

	memset(&es, 0, sizeof(es));
	es.tupstore = rsinfo->setResult;
	es.desc = rsinfo->setDesc;
	es.tmpcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot diff",
									  ALLOCSET_DEFAULT_SIZES);
	EmitDiffSide(&es, a, want_removed, "removed");
	EmitDiffSide(&es, b, want_added, "added");
	SPI_finish();
	return (Datum) 0;
}

/*
 * mlops.drop_snapshot(snapshot bigint) RETURNS bigint
 * Returns the number of stored rows freed.
 */
Datum
mlops_drop_snapshot(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(SnapDrop(PG_GETARG_INT64(0)));
}

/* A SELECT of a snapshot's rows with their names and types (see snapshot.h). */
char *
MlopsSnapshotSelectSQL(int64 snapshot_id)
{
	MemoryContext callercxt = CurrentMemoryContext;
	SnapInfo   *info;
	char	   *sql;

	SnapSPIConnect();
	SnapReadLatest(false);
	info = SnapLookup(snapshot_id, false);
	sql = MemoryContextStrdup(callercxt,
							  psprintf("SELECT * FROM mlops.snapshot_rows(" INT64_FORMAT ") AS s(%s)",
									   snapshot_id, ColumnsSQL(info)));
	SPI_finish();
	return sql;
}
