/*-------------------------------------------------------------------------
 *
 * snapshot_store.c
 *	  The rows tables of snapshot stores: creation, bulk writes, scans and
 *	  garbage deletion.
 *
 * A store's rows live in mlops.snapshot_rows_<id> (row_hash bigint, c1, c2,
 * ...), the columns in built-in types (snapshot_types.c): the original SQL
 * type or a domain's base type, which need no encoding, or text for a type
 * a user could drop.  A store belongs to one role: only snapshots that role
 * took point at its rows.
 * The table has no index: rows are found by hash with an in-memory map while
 * scanning it, which costs one sequential read of the store and spares the
 * first snapshot the price of building an index over every row.
 *
 * The tables are created on first use, owned by the registry owner, and
 * depend automatically on the extension (DROP EXTENSION removes them).  Not
 * being members of the extension, pg_dump dumps them, rows included, like
 * ordinary tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core/util.h"
#include "registry/registry.h"
#include "snapshot/snapshot_int.h"

/* like COPY FROM: flush every 1000 rows or 64 kB */
#define SNAP_BATCH_ROWS		1000
#define SNAP_BATCH_BYTES	(64 * 1024)

struct SnapWriter
{
	Relation	rel;
	bool		with_hash;		/* first column is row_hash */
	int			options;
	CommandId	cid;
	BulkInsertState bistate;
	TupleTableSlot *slots[SNAP_BATCH_ROWS];
	int			nused;
	Size		bytes;
	MemoryContext cxt;			/* holds the slots */
	MemoryContext batchcxt;
};

/* Name of the rows table of a store (in schema mlops). */
char *
SnapStoreRelname(int32 store)
{
	return psprintf("snapshot_rows_%d", store);
}

/* OID of the rows table of a store. */
Oid
SnapStoreRelid(int32 store, bool missing_ok)
{
	char	   *name = SnapStoreRelname(store);
	Oid			relid = get_relname_relid(name, MlopsSchemaOid());

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot row table mlops.%s is missing", name),
				 errdetail("The registry lists store %d but its table does not exist.", store)));
	return relid;
}

/*
 * Create the rows table of a new store, as the registry owner, and make it
 * go away with the extension.
 */
static void
SnapCreateStoreTable(int32 store, int ncols, const SnapColumn *cols)
{
	char	   *rel = quote_qualified_identifier("mlops", SnapStoreRelname(store));
	StringInfoData sql;
	StringInfoData types;

	initStringInfo(&sql);
	initStringInfo(&types);
	appendStringInfo(&sql, "CREATE TABLE %s (row_hash bigint NOT NULL", rel);
	for (int i = 0; i < ncols; i++)
	{
		appendStringInfo(&sql, ", c%d %s", i + 1, cols[i].store_type_text);
		appendStringInfo(&types, "%s%s", i > 0 ? ", " : "", cols[i].store_type_text);
	}
	appendStringInfoString(&sql, ") USING heap;");
	appendStringInfo(&sql, "COMMENT ON TABLE %s IS %s;", rel,
					 quote_literal_cstr(psprintf("Rows of snapshots with columns (%s), once each, addressed by row hash",
												 types.data)));
	appendStringInfo(&sql, "COMMENT ON COLUMN %s.row_hash IS 'Content hash of the row (its address in the store)';", rel);
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&sql, "COMMENT ON COLUMN %s.c%d IS 'Column %d of the snapshotted rows';",
						 rel, i + 1, i + 1);

	MlopsExecAsRegistryOwner(sql.data, 0, NULL, NULL, NULL, MLOPS_OWNER_WRITE);
	SnapEnsureDependency(SnapStoreRelid(store, false));
}

/*
 * Error unless the rows table rel stores the columns cols in their stored
 * types: nothing is written to or read from a table of other types.
 */
void
SnapCheckStoreTypes(Relation rel, int ncols, const SnapColumn *cols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		ok = (desc->natts == ncols + 1 &&
					  TupleDescAttr(desc, 0)->atttypid == INT8OID);

	for (int i = 0; ok && i < ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i + 1);

		ok = (!att->attisdropped && att->atttypid == cols[i].store_typid);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot row table %s does not have the columns its store lists",
						RelationGetRelationName(rel))));
}

/*
 * The store of owner for the stored types of cols, created (with its rows
 * table) when missing and create is true; 0 when missing and create is
 * false.
 */
int32
SnapFindStore(Oid owner, int ncols, const SnapColumn *cols, bool create, bool *created)
{
	int32		store;
	bool		latest;

	*created = false;
	store = SnapStoreByTypes(owner, ncols, cols);
	if (store != 0 || !create)
		return store;

	/* serialise creators of stores, then look again */
	LockRelationOid(get_relname_relid("snapshot_stores", MlopsSchemaOid()),
					ShareRowExclusiveLock);
	latest = SnapReadLatest(true);
	store = SnapStoreByTypes(owner, ncols, cols);
	SnapReadLatest(latest);
	if (store != 0)
		return store;

	store = SnapInsertStore(owner, ncols, cols);
	SnapCreateStoreTable(store, ncols, cols);
	*created = true;
	return store;
}

/* Remove an empty store: its rows table and its registry row. */
void
SnapDropStore(int32 store)
{
	MlopsExecAsRegistryOwner(psprintf("DROP TABLE mlops.%s", SnapStoreRelname(store)),
							 0, NULL, NULL, NULL, MLOPS_OWNER_WRITE);
	SnapDeleteStore(store);
}

/*
 * Make every store's rows table depend on the extension (see
 * SnapEnsureDependency): after a restore, the first snapshot taken
 * re-attaches them all.
 */
void
SnapAttachStores(void)
{
	ListCell   *lc;

	foreach(lc, SnapStoreIds())
	{
		Oid			relid = SnapStoreRelid((int32) *(int64 *) lfirst(lc), true);

		if (OidIsValid(relid))
			SnapEnsureDependency(relid);
	}
}

/*
 * Make a store's rows table depend on the extension again if it does not:
 * pg_dump does not carry that dependency, so after a restore the first
 * writer of each store restores it (DROP EXTENSION then drops the table).
 */
void
SnapEnsureDependency(Oid relid)
{
	Oid			extoid = get_extension_oid("mlops", false);
	Relation	depRel = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(depRel, DependDependerIndexId, true, NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->refclassid == ExtensionRelationId && dep->refobjid == extoid)
			found = true;
	}
	systable_endscan(scan);
	table_close(depRel, AccessShareLock);

	if (!found)
	{
		ObjectAddress table;
		ObjectAddress ext;

		ObjectAddressSet(table, RelationRelationId, relid);
		ObjectAddressSet(ext, ExtensionRelationId, extoid);
		recordDependencyOn(&table, &ext, DEPENDENCY_AUTO);
		CommandCounterIncrement();
	}
}

/*
 * Start writing rows into rel in batches.  new_table: rel was created in
 * this transaction, so its free space map is not worth consulting.
 * with_hash: rel is a store table whose first column is the row hash.
 */
SnapWriter *
SnapWriterBegin(Relation rel, bool new_table, bool with_hash)
{
	SnapWriter *w = palloc0(sizeof(SnapWriter));

	w->rel = rel;
	w->with_hash = with_hash;
	w->options = new_table ? TABLE_INSERT_SKIP_FSM : 0;
	w->cid = GetCurrentCommandId(true);
	w->bistate = GetBulkInsertState();
	w->cxt = CurrentMemoryContext;
	w->batchcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot batch",
										ALLOCSET_DEFAULT_SIZES);
	return w;
}

/* Write the buffered rows. */
static void
SnapWriterFlush(SnapWriter *w)
{
	MemoryContext old;

	if (w->nused == 0)
		return;
	old = MemoryContextSwitchTo(w->batchcxt);
	table_multi_insert(w->rel, w->slots, w->nused, w->cid, w->options, w->bistate);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < w->nused; i++)
		ExecClearTuple(w->slots[i]);
	MemoryContextReset(w->batchcxt);
	w->nused = 0;
	w->bytes = 0;
}

/*
 * Buffer one row (h first when writing a store).  The values are copied at
 * once, so they need not outlive the call.  Returns the row's approximate
 * size on disk.
 */
Size
SnapWriterAdd(SnapWriter *w, uint64 h, const Datum *values, const bool *isnull)
{
	TupleTableSlot *slot;
	TupleDesc	desc = RelationGetDescr(w->rel);
	int			off = w->with_hash ? 1 : 0;
	int			natts = desc->natts;
	Size		len;

	if (w->slots[w->nused] == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(w->cxt);

		w->slots[w->nused] = table_slot_create(w->rel, NULL);
		MemoryContextSwitchTo(old);
	}
	slot = w->slots[w->nused];

	ExecClearTuple(slot);
	if (w->with_hash)
	{
		slot->tts_values[0] = Int64GetDatum((int64) h);
		slot->tts_isnull[0] = false;
	}
	memcpy(slot->tts_values + off, values, sizeof(Datum) * (natts - off));
	memcpy(slot->tts_isnull + off, isnull, sizeof(bool) * (natts - off));
	ExecStoreVirtualTuple(slot);
	ExecMaterializeSlot(slot);

	/* size of the formed tuple; heap slots have it at hand */
	if (TTS_IS_BUFFERTUPLE(slot) || TTS_IS_HEAPTUPLE(slot))
		len = ((HeapTupleTableSlot *) slot)->tuple->t_len;
	else
		len = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(natts))
			+ heap_compute_data_size(desc, slot->tts_values, slot->tts_isnull);
	len += sizeof(ItemIdData);

	w->nused++;
	w->bytes += len;
	if (w->nused >= SNAP_BATCH_ROWS || w->bytes >= SNAP_BATCH_BYTES)
		SnapWriterFlush(w);
	return len;
}

/* Write what is buffered and release the writer. */
void
SnapWriterEnd(SnapWriter *w)
{
	SnapWriterFlush(w);
	FreeBulkInsertState(w->bistate);
	table_finish_bulk_insert(w->rel, w->options);
	for (int i = 0; i < SNAP_BATCH_ROWS && w->slots[i] != NULL; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	MemoryContextDelete(w->batchcxt);
	pfree(w);
}

/*
 * The scan behind SnapStoreScan and SnapStoreEachRow: call cb for every row
 * of the store whose hash want maps to a positive count, with that count;
 * with once, the count is then zeroed, so each row is given once even if
 * the store held it twice.  Returns the sum of the counts given.
 */
static int64
StoreScanWanted(Relation rel, Snapshot snap, snapmap_hash *want, bool once,
				SnapRowCallback cb, void *arg)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	int64		total = 0;
	uint64		seen = 0;

	if (want->members == 0)
		return 0;
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		uint64		h;
		SnapMapEntry *e;

		if ((++seen & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
		h = (uint64) DatumGetInt64(slot_getattr(slot, 1, &isnull));
		e = snapmap_lookup(want, h);
		if (e == NULL || e->count <= 0)
			continue;
		slot_getallattrs(slot);
		cb(arg, h, e->count, slot->tts_values + 1, slot->tts_isnull + 1);
		total += e->count;
		if (once)
			e->count = 0;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return total;
}

/*
 * Scan a store and call cb for each row whose hash want maps to a positive
 * count, with that count; the count is then zeroed, so each row is given
 * once even if the store held it twice.  Reads with the active snapshot.
 * Returns the sum of the counts given.
 */
int64
SnapStoreScan(Relation rel, snapmap_hash *want, SnapRowCallback cb, void *arg)
{
	return StoreScanWanted(rel, GetActiveSnapshot(), want, true, cb, arg);
}

/*
 * Scan a store and call cb for every row whose hash want maps to a positive
 * count, with that count, copies included; want is left as it is.  Reads
 * with the latest snapshot, so rows written earlier in the same command are
 * seen once the caller made them visible (CommandCounterIncrement).
 */
void
SnapStoreEachRow(Relation rel, snapmap_hash *want, SnapRowCallback cb, void *arg)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

	(void) StoreScanWanted(rel, snap, want, false, cb, arg);
	UnregisterSnapshot(snap);
}

/*
 * Delete the rows of a store whose hash is in garbage: all of them, or with
 * keep_counted all but the first count copies (count is consumed).  The
 * caller holds a lock that keeps other writers out; reads with the latest
 * snapshot.  Returns the number of rows deleted.
 */
int64
SnapStoreDelete(Relation rel, snapmap_hash *garbage, bool keep_counted)
{
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	int64		deleted = 0;
	uint64		seen = 0;

	if (garbage->members == 0)
		return 0;
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		uint64		h;
		SnapMapEntry *e;

		if ((++seen & 0x3FF) == 0)
			CHECK_FOR_INTERRUPTS();
		h = (uint64) DatumGetInt64(heap_getattr(tup, 1, RelationGetDescr(rel), &isnull));
		e = snapmap_lookup(garbage, h);
		if (e == NULL)
			continue;
		if (keep_counted && e->count > 0)
			e->count--;
		else
		{
			simple_heap_delete(rel, &tup->t_self);
			deleted++;
		}
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	return deleted;
}
