/*-------------------------------------------------------------------------
 *
 * snapshot_take.c
 *	  Taking a snapshot: read the relation once, as the caller, and store
 *	  only what the store does not hold yet.
 *
 * The relation's SELECT runs under SPI with a DestReceiver of our own.  For
 * each row it computes the row hash (rowhash.c, the same hash training
 * uses), adds the row to the content hash and to the column statistics, and
 * looks the hash up in the membership map of the parent content (the
 * previous snapshot of the relation in this store).  A row the parent has
 * is only counted; a new row goes to the store's rows table through
 * batched multi-inserts, unless the store already has it.  Rows left over
 * in the parent's map were removed.  Unchanged data thus costs one read and
 * no write, and a change costs the changed rows plus two short hash lists.
 *
 * Row hashes can be forged, so each row also gets a keyed check hash
 * (snapshot_check.c).  Where a row read is taken to be a stored row, the
 * check hashes must agree: the rows kept from the parent must sum to the
 * parent's check sum less the removed rows' (read back from the store), a
 * new row whose hash the store holds already must match the stored row,
 * copies of a hash in a first snapshot must match each other, and reused
 * content must have the check sum of the rows read.  Otherwise the
 * snapshot is refused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "tcop/dest.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "core/rowhash.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "core/relation.h"

/*
 * A new content is stored as a delta of its parent while the deltas from
 * the base stay short: at most this many links, and at most a quarter as
 * many hashes as rows.  Otherwise it is stored as a new base.
 */
#define SNAP_MAX_CHAIN		64
#define SNAP_DELTA_SHARE	4

/* State of one snapshot being taken, also its DestReceiver */
typedef struct TakeState
{
	DestReceiver pub;
	int			ncols;
	SnapColumn *cols;
	MlopsHashColumn *hcols;
	SnapColStats *stats;
	SnapToStore *tostore;		/* values into their stored types */
	Oid			owner;			/* the role taking it: the store's owner */
	bool		have_parent;
	snapmap_hash *map;			/* parent's counts; every stored hash known */
	bool		write_now;		/* map knows every row the store holds */
	bool		fresh;			/* no parent, empty store: write every row */
	Relation	store_rel;
	SnapWriter *writer;
	Tuplestorestate *pending;	/* new rows to check against the other contents */
	TupleDesc	pending_desc;
	bool	   *varlena;		/* per column: needs detoasting before keeping */
	SnapHashList all;			/* every row's hash */
	SnapHashList added;			/* rows the parent lacks */
	uint64		content_hash;
	SnapCheck  *check;			/* the store's keyed check hash */
	uint64		check_sum;		/* sum of every row's check hash */
	uint64		kept_sum;		/* ... of the rows kept from the parent */
	uint64		parent_check_sum;
	snapmap_hash *verify;		/* new rows the store holds already: counts */
	uint64		verify_sum;		/* ... and the sum of their check hashes */
	int64		nrows;
	int64		distinct;
	int64		rows_stored;
	int64		bytes_stored;
	MemoryContext rowcxt;
	/* set up by TakeBegin for TakeEnd */
	char	   *relation;
	const char *name;
	int32		store;
	bool		created;
	int64		parent;
	List	   *chain;
	int64		chain_hashes;
	int64		parent_rows;
	bool		flatten;		/* fed by a caller: fetch TOASTed values at once */
	MemoryContext statecxt;		/* where the state lives */
} TakeState;

/*
 * The columns to snapshot: colnames (a List of C strings) of relid, or all
 * its columns when colnames is NIL.  Errors for a relation that is not
 * readable as a table, missing columns and unsupported types (naming them).
 */
void
SnapResolveColumns(Oid relid, List *colnames, int *ncols, SnapColumn **cols)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	char		relkind = rel->rd_rel->relkind;
	SnapColumn *out;
	int			n = 0;
	StringInfoData bad;
	ListCell   *lc;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_FOREIGN_TABLE &&
		relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot snapshot \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Only tables, views, materialized views and foreign tables can be snapshotted.")));

	out = palloc0(sizeof(SnapColumn) * Max(desc->natts, 1));
	if (colnames == NIL)
	{
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped)
				continue;
			out[n].name = pstrdup(NameStr(att->attname));
			out[n].typid = att->atttypid;
			out[n].typmod = att->atttypmod;
			n++;
		}
	}
	else
	{
		out = repalloc(out, sizeof(SnapColumn) * list_length(colnames));
		foreach(lc, colnames)
		{
			const char *name = lfirst(lc);
			Form_pg_attribute found = NULL;

			for (int i = 0; i < desc->natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);

				if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
				{
					found = att;
					break;
				}
			}
			if (found == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								name, RelationGetRelationName(rel))));
			out[n].name = pstrdup(name);
			out[n].typid = found->atttypid;
			out[n].typmod = found->atttypmod;
			n++;
		}
	}
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot snapshot \"%s\"", RelationGetRelationName(rel)),
				 errdetail("The relation has no columns.")));
	if (n >= MaxTupleAttributeNumber)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot snapshot %d columns", n),
				 errdetail("Snapshots hold at most %d columns.", MaxTupleAttributeNumber - 1)));

	initStringInfo(&bad);
	for (int i = 0; i < n; i++)
	{
		SnapColumnTypes(&out[i]);
		if (!SnapTypeIsSupported(out[i].typid))
			appendStringInfo(&bad, "%s\"%s\" (%s)", bad.len > 0 ? ", " : "",
							 out[i].name, format_type_be(out[i].typid));
	}
	if (bad.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot snapshot relation \"%s\": unsupported column types",
						RelationGetRelationName(rel)),
				 errdetail("Snapshots cannot store these columns: %s.", bad.data),
				 errhint("Snapshot a view that casts them to storable types such as text, or leaves them out.")));

	relation_close(rel, NoLock);
	*ncols = n;
	*cols = out;
}

/*
 * Error unless the current user may SELECT the columns: the same check the
 * executor makes, made first so that nothing is written for nothing.
 */
static void
CheckSelectPrivilege(Oid relid, int ncols, const SnapColumn *cols)
{
	Oid			userid = GetUserId();

	if (pg_class_aclcheck(relid, userid, ACL_SELECT) == ACLCHECK_OK)
		return;
	for (int i = 0; i < ncols; i++)
	{
		AttrNumber	attnum = get_attnum(relid, cols[i].name);

		if (attnum == InvalidAttrNumber ||
			pg_attribute_aclcheck(relid, attnum, userid, ACL_SELECT) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
						   get_rel_name(relid));
	}
}

/* The SELECT that reads the columns, every identifier quoted. */
static char *
SourceSQL(Oid relid, int ncols, const SnapColumn *cols)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", quote_identifier(cols[i].name));
	appendStringInfo(&buf, " FROM %s", MlopsQualifiedRelname(relid));
	return buf.data;
}

static void
take_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	TakeState  *st = (TakeState *) self;

	if (typeinfo->natts != st->ncols)
		elog(ERROR, "snapshot query returned %d columns, expected %d",
			 typeinfo->natts, st->ncols);
	for (int i = 0; i < st->ncols; i++)
		if (TupleDescAttr(typeinfo, i)->atttypid != st->cols[i].typid)
			elog(ERROR, "snapshot query returned type %u for column %d, expected %u",
				 TupleDescAttr(typeinfo, i)->atttypid, i + 1, st->cols[i].typid);
}

/* Keep a new row that might be stored already, to decide after the scan. */
static void
KeepPending(TakeState *st, uint64 h, Datum *values, bool *isnull)
{
	Datum	   *v = palloc(sizeof(Datum) * (st->ncols + 1));
	bool	   *n = palloc(sizeof(bool) * (st->ncols + 1));

	if (st->pending == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(st->statecxt);

		st->pending = tuplestore_begin_heap(false, false, work_mem);
		st->pending_desc = RelationGetDescr(st->store_rel);
		MemoryContextSwitchTo(old);
	}
	v[0] = Int64GetDatum((int64) h);
	n[0] = false;
	for (int i = 0; i < st->ncols; i++)
	{
		v[i + 1] = values[i];
		n[i + 1] = isnull[i];
		/* the source's TOAST data need not outlive its query */
		if (!isnull[i] && st->varlena[i] &&
			VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
			v[i + 1] = PointerGetDatum(detoast_external_attr((struct varlena *)
															 DatumGetPointer(values[i])));
	}
	tuplestore_putvalues(st->pending, st->pending_desc, v, n);
}

/* Values with TOAST pointers fetched (in the current memory context). */
static Datum *
FlattenRow(TakeState *st, Datum *values, bool *isnull)
{
	Datum	   *out = palloc(sizeof(Datum) * st->ncols);

	for (int i = 0; i < st->ncols; i++)
	{
		out[i] = values[i];
		if (!isnull[i] && st->varlena[i] &&
			VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
			out[i] = PointerGetDatum(detoast_external_attr((struct varlena *)
														   DatumGetPointer(values[i])));
	}
	return out;
}

/*
 * Write a new row (values in their stored types) to the store, or keep it
 * for the end of the scan.
 */
static void
StoreRow(TakeState *st, uint64 h, Datum *values, bool *isnull, SnapMapEntry *e)
{
	/* no writes while a parallel query runs: keep the row until the end */
	if (st->writer == NULL || IsInParallelMode())
	{
		if (e != NULL)
			e->flags |= SNAP_PENDING;
		KeepPending(st, h, values, isnull);
		return;
	}
	if (st->flatten)
		values = FlattenRow(st, values, isnull);
	st->bytes_stored += SnapWriterAdd(st->writer, h, values, isnull);
	st->rows_stored++;
}

/*
 * Remember a row (with check hash k) that is taken to be the stored row
 * with hash h, to compare with it after the scan.
 */
static void
VerifyLater(TakeState *st, uint64 h, uint64 k)
{
	SnapMapEntry *e;
	bool		found;

	if (st->verify == NULL)
		st->verify = SnapMapCreate(st->statecxt, 64);
	e = snapmap_insert(st->verify, h, &found);
	if (!found)
	{
		e->count = 0;
		e->flags = 0;
	}
	e->count++;
	st->verify_sum += k;
}

/*
 * Count one row of the data being snapshotted, with its row hash h: into
 * the content hash and the statistics, and into the store when it is new.
 */
static void
TakeAddRow(TakeState *st, uint64 h, Datum *values, bool *isnull)
{
	MemoryContext old;
	SnapMapEntry *e;
	bool		found;
	Datum	   *stored;
	uint64		k;

	if ((st->nrows & 0x3FF) == 0)
		CHECK_FOR_INTERRUPTS();
	old = MemoryContextSwitchTo(st->rowcxt);
	SnapStatsAdd(st->stats, st->ncols, values, isnull);
	stored = SnapToStoreRow(st->tostore, values, isnull);
	k = SnapCheckRow(st->check, stored, isnull);
	st->check_sum += k;

	st->content_hash += h;
	st->nrows++;
	SnapListAppend(&st->all, h);

	if (st->fresh)
	{
		/* duplicates are found when the hashes are sorted, and removed then */
		StoreRow(st, h, stored, isnull, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->rowcxt);
		return;
	}

	e = snapmap_insert(st->map, h, &found);
	if (!found)
	{
		e->count = 0;
		e->flags = 0;
	}
	if (!(e->flags & SNAP_SEEN))
	{
		e->flags |= SNAP_SEEN;
		st->distinct++;
	}
	if (found && e->count > 0)
	{
		e->count--;				/* a row of the parent, still there */
		st->kept_sum += k;
	}
	else
	{
		if (st->have_parent)
			SnapListAppend(&st->added, h);
		if (!found)
		{
			/* a row no content of the chain has: store it */
			if (st->write_now)
				StoreRow(st, h, stored, isnull, e);
			else
			{
				e->flags |= SNAP_PENDING;
				KeepPending(st, h, stored, isnull);
			}
		}
		else
			VerifyLater(st, h, k);	/* the store has a row with this hash */
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
}

static bool
take_receive(TupleTableSlot *slot, DestReceiver *self)
{
	TakeState  *st = (TakeState *) self;
	MemoryContext old;
	uint64		h;

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(st->rowcxt);
	h = MlopsRowHash(st->hcols, st->ncols, slot->tts_values, slot->tts_isnull);
	MemoryContextSwitchTo(old);
	TakeAddRow(st, h, slot->tts_values, slot->tts_isnull);
	return true;
}

static void
take_shutdown(DestReceiver *self)
{
	TakeState  *st = (TakeState *) self;

	/* write the last batch while the source's data is still pinned */
	if (st->writer)
	{
		SnapWriterEnd(st->writer);
		st->writer = NULL;
	}
}

static void
take_destroy(DestReceiver *self)
{
}

/*
 * Store the pending rows (new to the parent's chain) that no other content
 * of the store has.
 */
static void
StorePending(TakeState *st, int32 store, List *chain)
{
	List	   *contents = st->fresh ? NIL : SnapStoreContents(store);
	ListCell   *lc;
	TupleTableSlot *slot;

	/* hashes listed by contents outside the chain are stored already */
	foreach(lc, contents)
	{
		int64		id = *(int64 *) lfirst(lc);
		ListCell   *lc2;
		bool		in_chain = false;
		bytea	   *added;
		bytea	   *removed;
		int64		n;

		foreach(lc2, chain)
			if (((SnapChainLink *) lfirst(lc2))->id == id)
				in_chain = true;
		if (in_chain)
			continue;
		SnapFetchLists(id, &added, &removed);
		n = (VARSIZE(added) - VARHDRSZ) / sizeof(uint64);
		for (int64 i = 0; i < n; i++)
		{
			uint64		h;
			SnapMapEntry *e;

			memcpy(&h, VARDATA(added) + i * sizeof(uint64), sizeof(uint64));
			e = snapmap_lookup(st->map, pg_ntoh64(h));
			if (e != NULL)
				e->flags &= ~SNAP_PENDING;
		}
		pfree(added);
		pfree(removed);
	}

	slot = MakeSingleTupleTableSlot(st->pending_desc, &TTSOpsMinimalTuple);
	st->writer = SnapWriterBegin(st->store_rel, st->created, true);
	while (tuplestore_gettupleslot(st->pending, true, false, slot))
	{
		uint64		h;
		SnapMapEntry *e;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		h = (uint64) DatumGetInt64(slot->tts_values[0]);
		if (!st->fresh)
		{
			/* fresh: every row is written, duplicates are removed later */
			e = snapmap_lookup(st->map, h);
			if (e == NULL || !(e->flags & SNAP_PENDING))
			{
				/* stored by another content: it must be this row */
				VerifyLater(st, h, SnapCheckRow(st->check, slot->tts_values + 1,
												slot->tts_isnull + 1));
				continue;
			}
			e->flags &= ~SNAP_PENDING;
		}
		st->bytes_stored += SnapWriterAdd(st->writer, h, slot->tts_values + 1,
										  slot->tts_isnull + 1);
		st->rows_stored++;
	}
	SnapWriterEnd(st->writer);
	st->writer = NULL;
	ExecDropSingleTupleTableSlot(slot);
}

/* Refuse a snapshot in which a row is taken for a different stored row. */
static void
RefuseForgedRow(TakeState *st)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("snapshot of %s refused: a row has the same row hash as a different stored row",
					st->relation),
			 errdetail("Either the row was made to collide on purpose by someone who can write to the relation, or two rows collide by chance on a 64-bit hash."),
			 errhint("Check who may write to the relation.")));
}

/* State of the scans that compare rows read with stored rows */
typedef struct CheckScan
{
	TakeState  *st;
	snapmap_hash *want;			/* flags: which sums a hash goes to */
	HTAB	   *first;			/* copies: the first copy's check hash */
	uint64		removed_sum;	/* stored check hashes of removed rows */
	uint64		verify_sum;		/* ... of the rows to verify */
} CheckScan;

#define CHECK_REMOVED	0x01
#define CHECK_VERIFY	0x02
#define CHECK_DONE		0x04

/* For each copy of a hash a first snapshot wrote: all copies must agree. */
static void
CheckCopy(void *arg, uint64 h, int32 times, Datum *values, bool *isnull)
{
	CheckScan  *cs = arg;
	uint64		k = SnapCheckRow(cs->st->check, values, isnull);
	uint64	   *entry;
	bool		found;

	entry = hash_search(cs->first, &h, HASH_ENTER, &found);
	if (!found)
		entry[1] = k;
	else if (entry[1] != k)
		RefuseForgedRow(cs->st);
}

/* For a stored row removed from the parent, or taken for a row read. */
static void
CheckStored(void *arg, uint64 h, int32 times, Datum *values, bool *isnull)
{
	CheckScan  *cs = arg;
	SnapMapEntry *e = snapmap_lookup(cs->want, h);
	uint64		k;

	if (e == NULL || (e->flags & CHECK_DONE))
		return;
	e->flags |= CHECK_DONE;
	k = SnapCheckRow(cs->st->check, values, isnull);
	if (e->flags & CHECK_REMOVED)
		cs->removed_sum += k * (uint64) e->count;
	if (e->flags & CHECK_VERIFY)
		cs->verify_sum += k * (uint64) e->count;
}

/*
 * Compare the rows read with the stored rows they were taken for: the
 * parent's check sum less the removed rows' must be what the kept rows sum
 * to, and the rows found stored already must match the stored rows.  Reads
 * only the removed and verified rows from the store.
 */
static void
CheckAgainstStore(TakeState *st)
{
	CheckScan	cs;
	snapmap_iterator it;
	SnapMapEntry *e;
	bool		found;

	memset(&cs, 0, sizeof(cs));
	cs.st = st;
	cs.want = SnapMapCreate(CurrentMemoryContext, 64);
	if (st->have_parent)
	{
		snapmap_start_iterate(st->map, &it);
		while ((e = snapmap_iterate(st->map, &it)) != NULL)
		{
			SnapMapEntry *w;

			if (e->count <= 0)
				continue;
			w = snapmap_insert(cs.want, e->key, &found);
			w->count = e->count;
			w->flags = CHECK_REMOVED;
		}
	}
	if (st->verify != NULL)
	{
		snapmap_start_iterate(st->verify, &it);
		while ((e = snapmap_iterate(st->verify, &it)) != NULL)
		{
			SnapMapEntry *w = snapmap_insert(cs.want, e->key, &found);

			/* a removed hash is never also a new one */
			w->count = e->count;
			w->flags = CHECK_VERIFY;
		}
	}
	if (cs.want->members > 0)
	{
		CommandCounterIncrement();
		SnapStoreEachRow(st->store_rel, cs.want, CheckStored, &cs);
	}
	if (st->have_parent && st->kept_sum != st->parent_check_sum - cs.removed_sum)
		RefuseForgedRow(st);
	if (st->verify_sum != cs.verify_sum)
		RefuseForgedRow(st);
}

/*
 * After a first snapshot into an empty store, which wrote every row: sort
 * the hashes, count the distinct rows, and delete from the store the extra
 * copies of rows that occurred more than once.
 */
static void
RemoveDuplicates(TakeState *st)
{
	snapmap_hash *dups = NULL;
	int64		ndup = 0;

	SnapListSort(&st->all);
	st->distinct = st->nrows > 0 ? 1 : 0;
	for (int64 i = 1; i < st->all.n; i++)
	{
		if (st->all.v[i] != st->all.v[i - 1])
			st->distinct++;
		else if (i < 2 || st->all.v[i] != st->all.v[i - 2])
		{
			SnapMapEntry *e;
			bool		found;

			/* a row seen more than once: keep one copy */
			if (dups == NULL)
				dups = SnapMapCreate(CurrentMemoryContext, 1024);
			e = snapmap_insert(dups, st->all.v[i], &found);
			e->count = 1;
			e->flags = 0;
			ndup++;
		}
	}
	if (dups != NULL)
	{
		int64		deleted;
		CheckScan	cs;
		HASHCTL		ctl;

		CommandCounterIncrement();
		/* the copies of a hash must be copies of one row */
		memset(&cs, 0, sizeof(cs));
		cs.st = st;
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = 2 * sizeof(uint64);
		ctl.hcxt = CurrentMemoryContext;
		cs.first = hash_create("mlops snapshot copies", 1024, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		SnapStoreEachRow(st->store_rel, dups, CheckCopy, &cs);
		hash_destroy(cs.first);
		deleted = SnapStoreDelete(st->store_rel, dups, true);
		st->bytes_stored = st->bytes_stored * (st->rows_stored - deleted)
			/ Max(st->rows_stored, 1);
		st->rows_stored -= deleted;
	}
}

/*
 * Prepare a snapshot of the columns of relid, to be fed its rows with
 * TakeAddRow: check the caller may read them, find (or create) and lock the
 * store, and load the parent's membership.  The state is allocated in the
 * current memory context; registry access needs an SPI connection.
 */
static TakeState *
TakeBegin(Oid relid, int ncols, SnapColumn *cols, const char *name)
{
	TakeState  *st = palloc0(sizeof(TakeState));
	float4		reltuples = 0;
	HeapTuple	tup;

	CheckSelectPrivilege(relid, ncols, cols);
	st->statecxt = CurrentMemoryContext;
	st->relation = MlopsQualifiedRelname(relid);
	st->name = name ? pstrdup(name) : NULL;

	/* the caller's store, locked against other writers until the end of the transaction */
	st->owner = GetUserId();
	st->store = SnapFindStore(st->owner, ncols, cols, true, &st->created);
	st->store_rel = table_open(SnapStoreRelid(st->store, false), ShareRowExclusiveLock);
	SnapCheckStoreTypes(st->store_rel, ncols, cols);
	SnapReadLatest(true);
	SnapAttachStores();
	st->check = SnapCheckBegin(st->store_rel, SnapStoreKey(st->store));

	st->ncols = ncols;
	st->cols = cols;
	st->hcols = palloc(sizeof(MlopsHashColumn) * ncols);
	st->varlena = palloc(sizeof(bool) * ncols);
	for (int i = 0; i < ncols; i++)
	{
		st->hcols[i].typid = cols[i].typid;
		get_typlenbyval(cols[i].typid, &st->hcols[i].typlen, &st->hcols[i].typbyval);
		st->varlena[i] = (st->hcols[i].typlen == -1);
	}
	st->stats = SnapStatsInit(ncols, cols);
	st->tostore = SnapToStoreBegin(ncols, cols);

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tup))
	{
		reltuples = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
		ReleaseSysCache(tup);
	}

	/* the parent's membership, with every hash its chain lists */
	st->parent = st->created ? 0 : SnapParentCandidate(st->store, st->relation);
	if (st->parent != 0)
	{
		ListCell   *lc;
		snapmap_iterator it;
		SnapMapEntry *e;

		st->chain = SnapContentChain(st->parent);
		foreach(lc, st->chain)
		{
			SnapChainLink *link = lfirst(lc);

			if (link->parent != 0)
				st->chain_hashes += link->n_added + link->n_removed;
		}
		st->map = SnapContentMap(st->parent, true);
		st->parent_check_sum = SnapContentCheckSum(st->parent);
		st->have_parent = true;
		snapmap_start_iterate(st->map, &it);
		while ((e = snapmap_iterate(st->map, &it)) != NULL)
			st->parent_rows += e->count;
		st->write_now = (list_length(SnapStoreContents(st->store)) == list_length(st->chain));
	}
	else
	{
		st->write_now = st->created || list_length(SnapStoreContents(st->store)) == 0;
		st->fresh = st->write_now;
		if (!st->fresh)
			st->map = SnapMapCreate(CurrentMemoryContext, (int64) Max(reltuples, 1024));
	}
	SnapListInit(&st->all, (int64) Max(reltuples, st->parent_rows) + 64);
	if (st->have_parent)
		SnapListInit(&st->added, 1024);
	if (st->write_now)
		st->writer = SnapWriterBegin(st->store_rel, st->created, true);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot row",
									   ALLOCSET_SMALL_SIZES);
	return st;
}

/*
 * Finish a snapshot fed with TakeAddRow: store what is pending, then point
 * a new catalog row at identical stored content, or store the new content
 * as a delta of the parent or as a base.  Returns the snapshot's id.
 *
 * Identical content is found only in the caller's own store, and only by
 * the exact multiset of row hashes: the parent's when nothing was added or
 * removed, else any content whose digest (SHA-256 of the sorted hashes)
 * matches.
 */
static int64
TakeEnd(TakeState *st)
{
	int64		content = 0;
	int64		parent = st->parent;
	SnapHashList removed;
	SnapHashList *added;
	int64		bytes_lists;
	uint8		digest[SNAP_DIGEST_LEN];

	if (st->writer)
	{
		SnapWriterEnd(st->writer);
		st->writer = NULL;
	}
	MemoryContextDelete(st->rowcxt);
	SnapReadLatest(true);
	if (st->pending)
	{
		StorePending(st, st->store, st->chain);
		tuplestore_end(st->pending);
	}
	if (st->fresh)
		RemoveDuplicates(st);

	/* removed: what is left of the parent's counts */
	SnapListInit(&removed, 1024);
	if (st->have_parent)
	{
		snapmap_iterator it;
		SnapMapEntry *e;

		snapmap_start_iterate(st->map, &it);
		while ((e = snapmap_iterate(st->map, &it)) != NULL)
			if (e->count > 0)
				SnapListAppendN(&removed, e->key, e->count);
	}

	/* rows taken for stored rows must be those rows */
	if (!st->fresh)
		CheckAgainstStore(st);

	/* identical data stored before: point at it */
	if (st->have_parent && st->added.n == 0 && removed.n == 0)
		content = parent;
	else
	{
		if (!st->fresh)
			SnapListSort(&st->all);
		SnapListDigest(&st->all, digest);
		content = SnapFindContent(st->store, digest, st->nrows);
		if (content != 0 && SnapContentCheckSum(content) != st->check_sum)
			RefuseForgedRow(st);
	}
	if (content != 0)
	{
		table_close(st->store_rel, NoLock);
		return SnapInsertCatalog(st->owner, st->name, st->relation, st->ncols, st->cols,
								 content, st->rows_stored, st->bytes_stored);
	}

	/* a delta of the parent while the chain stays short, else a base */
	if (st->have_parent &&
		list_length(st->chain) < SNAP_MAX_CHAIN &&
		(st->chain_hashes + st->added.n + removed.n) * SNAP_DELTA_SHARE <=
		Max(st->nrows, st->parent_rows))
	{
		SnapListSort(&st->added);
		SnapListSort(&removed);
		added = &st->added;
	}
	else
	{
		/* st->all is sorted already, for the digest */
		parent = 0;
		added = &st->all;
		removed.n = 0;
	}
	bytes_lists = (added->n + removed.n) * sizeof(uint64);

	content = SnapInsertContent(st->store, parent, st->nrows, st->distinct,
								st->content_hash, digest, added, &removed,
								SnapStatsJson(st->stats, st->ncols, st->cols),
								st->check_sum);
	table_close(st->store_rel, NoLock);
	return SnapInsertCatalog(st->owner, st->name, st->relation, st->ncols, st->cols,
							 content, st->rows_stored, st->bytes_stored + bytes_lists);
}

/*
 * Take a snapshot of the columns of relid (see snapshot.h): one read of the
 * relation, as the caller, through our DestReceiver.  Runs inside the
 * caller's SPI connection.
 */
static int64
TakeSnapshot(Oid relid, int ncols, SnapColumn *cols, const char *name)
{
	TakeState  *st = TakeBegin(relid, ncols, cols, name);
	SPIPlanPtr	plan;
	SPIExecuteOptions options;
	int			ret;

	/* never in parallel, as the receiver writes */
	st->pub.receiveSlot = take_receive;
	st->pub.rStartup = take_startup;
	st->pub.rShutdown = take_shutdown;
	st->pub.rDestroy = take_destroy;
	st->pub.mydest = DestNone;
	plan = SPI_prepare_cursor(SourceSQL(relid, ncols, cols), 0, NULL, 0);
	if (plan == NULL)
		elog(ERROR, "preparing the snapshot query failed: %s",
			 SPI_result_code_string(SPI_result));
	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.dest = (DestReceiver *) st;
	ret = SPI_execute_plan_extended(plan, &options);
	/* SPI reports SPI_OK_UTILITY for a SELECT sent to a DestNone receiver */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "reading the relation to snapshot failed: %s",
			 SPI_result_code_string(ret));
	SPI_freeplan(plan);
	return TakeEnd(st);
}

/* Take a snapshot of columns of relid (see snapshot.h). */
int64
MlopsSnapshotTake(Oid relid, List *colnames, const char *name)
{
	int			ncols;
	SnapColumn *cols;
	int64		id;

	SnapSPIConnect();
	SnapReadLatest(false);
	SnapResolveColumns(relid, colnames, &ncols, &cols);
	id = TakeSnapshot(relid, ncols, cols, name);
	SnapReadLatest(false);
	SPI_finish();
	return id;
}

static int64 TakeMatching(Oid relid, int ncols, SnapColumn *cols,
						  uint64 content_hash, int64 nrows);

/*
 * A snapshot of exactly the rows training read (see snapshot.h): the
 * caller's existing snapshot of them, else a new snapshot, checked against
 * what training saw.  (Stored content is never linked to by the content
 * hash alone, which is no identity: a new snapshot reads the rows, and
 * finds identical content by its digest.)
 */
int64
MlopsSnapshotForTraining(Oid relid, List *colnames, uint64 content_hash, int64 nrows)
{
	int			ncols;
	SnapColumn *cols;
	int64		id;

	SnapSPIConnect();
	SnapReadLatest(false);
	SnapResolveColumns(relid, colnames, &ncols, &cols);
	id = SnapFindSnapshot(GetUserId(), MlopsQualifiedRelname(relid), ncols, cols,
						  content_hash, nrows);
	if (id == 0)
		id = TakeMatching(relid, ncols, cols, content_hash, nrows);
	SnapReadLatest(false);
	SPI_finish();
	return id;
}

/*
 * A new snapshot of relid, which must hold the rows training read (their
 * content hash and count): else the rows changed in between.
 */
static int64
TakeMatching(Oid relid, int ncols, SnapColumn *cols, uint64 content_hash, int64 nrows)
{
	int64		id = TakeSnapshot(relid, ncols, cols, NULL);
	SnapInfo   *info = SnapLookup(id, false);

	if (info->content_hash != content_hash || info->row_count != nrows)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("rows of \"%s\" changed while training read them", info->relation),
				 errdetail("Training read " INT64_FORMAT " rows with content hash %016llx; the snapshot taken after it has " INT64_FORMAT " rows with hash %016llx.",
						   nrows, (unsigned long long) content_hash,
						   info->row_count, (unsigned long long) info->content_hash),
				 errhint("Train again, or train in a REPEATABLE READ transaction.")));
	return id;
}

/*
 * A snapshot fed row by row by its caller (see snapshot.h).  Either the
 * relation's first snapshot is being taken (st), or the caller already has
 * one and the rows are only summed up, so that the existing snapshot they
 * match is used only when their keyed check hashes agree too: a content
 * hash and a row count can be forged, check hashes cannot.
 */
struct MlopsSnapshotBuilder
{
	TakeState  *st;				/* a first snapshot, or NULL when verifying */
	MemoryContext cxt;
	/* verifying */
	Oid			relid;
	int			ncols;
	SnapColumn *cols;
	Relation	store_rel;
	SnapCheck  *check;
	SnapToStore *tostore;
	MemoryContext rowcxt;
	uint64		content_hash;
	uint64		check_sum;
	int64		nrows;
};

/* Start summing up the rows of relid against its store's check key */
static void
VerifyBegin(MlopsSnapshotBuilder *b, Oid relid, int ncols, SnapColumn *cols)
{
	bool		created;
	int32		store = SnapFindStore(GetUserId(), ncols, cols, false, &created);

	b->relid = relid;
	b->ncols = ncols;
	b->cols = cols;
	b->store_rel = table_open(SnapStoreRelid(store, false), AccessShareLock);
	b->check = SnapCheckBegin(b->store_rel, SnapStoreKey(store));
	b->tostore = SnapToStoreBegin(ncols, cols);
	b->rowcxt = AllocSetContextCreate(b->cxt, "mlops snapshot check row", ALLOCSET_SMALL_SIZES);
}

/*
 * Start the first snapshot of these columns of relid, to be fed the rows
 * training reads; NULL when relid already has a snapshot of them (see
 * snapshot.h).
 */
MlopsSnapshotBuilder *
MlopsSnapshotBeginFirst(Oid relid, List *colnames)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops snapshot builder",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	MlopsSnapshotBuilder *b = NULL;
	int			ncols;
	SnapColumn *cols;

	SnapSPIConnect();
	old = MemoryContextSwitchTo(cxt);
	SnapReadLatest(false);
	SnapResolveColumns(relid, colnames, &ncols, &cols);
	b = palloc0(sizeof(MlopsSnapshotBuilder));
	b->cxt = cxt;
	if (!SnapHasSnapshotOf(GetUserId(), MlopsQualifiedRelname(relid), ncols, cols))
	{
		b->st = TakeBegin(relid, ncols, cols, NULL);
		/* the caller's query ends before we write the last rows */
		b->st->flatten = true;
	}
	else
		VerifyBegin(b, relid, ncols, cols);
	SnapReadLatest(false);
	MemoryContextSwitchTo(old);
	SPI_finish();
	return b;
}

/* One row of the snapshot being built, with its MlopsRowHash. */
void
MlopsSnapshotAddRow(MlopsSnapshotBuilder *b, uint64 rowhash,
					const Datum *values, const bool *isnull)
{
	MemoryContext old;

	if (b->st == NULL)
	{
		old = MemoryContextSwitchTo(b->rowcxt);
		b->check_sum += SnapCheckRow(b->check,
									 SnapToStoreRow(b->tostore, (Datum *) values, isnull),
									 isnull);
		b->content_hash += rowhash;
		b->nrows++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(b->rowcxt);
		return;
	}
	old = MemoryContextSwitchTo(b->cxt);
	TakeAddRow(b->st, rowhash, (Datum *) values, (bool *) isnull);
	MemoryContextSwitchTo(old);
}

/*
 * The caller's existing snapshot of exactly the rows summed up in b, when
 * their check hashes agree; else a new snapshot (which refuses rows whose
 * hashes collide with different stored rows).
 */
static int64
VerifyEnd(MlopsSnapshotBuilder *b)
{
	int64		id;

	table_close(b->store_rel, NoLock);
	SnapReadLatest(false);
	id = SnapFindSnapshot(GetUserId(), MlopsQualifiedRelname(b->relid), b->ncols, b->cols,
						  b->content_hash, b->nrows);
	if (id != 0 && SnapContentCheckSum(SnapLookup(id, false)->content) == b->check_sum)
		return id;
	return TakeMatching(b->relid, b->ncols, b->cols, b->content_hash, b->nrows);
}

/* Store the snapshot fed to b and return its id; b is freed. */
int64
MlopsSnapshotFinish(MlopsSnapshotBuilder *b)
{
	MemoryContext old;
	int64		id;

	SnapSPIConnect();
	old = MemoryContextSwitchTo(b->cxt);
	if (b->st != NULL)
		id = TakeEnd(b->st);
	else
		id = VerifyEnd(b);
	SnapReadLatest(false);
	MemoryContextSwitchTo(old);
	SPI_finish();
	MemoryContextDelete(b->cxt);
	return id;
}
