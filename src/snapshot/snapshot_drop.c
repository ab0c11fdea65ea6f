/*-------------------------------------------------------------------------
 *
 * snapshot_drop.c
 *	  Dropping a snapshot and collecting the garbage it leaves.
 *
 * A content that no snapshot points at any more is removed; contents stored
 * as deltas of it are first rewritten against its parent (or, when it was a
 * base, the oldest of them becomes the new base and the others deltas of
 * it), so every remaining content stays reachable from a base and every
 * content is in use.  Then the rows of the removed content that no remaining
 * content lists are deleted from the store, and a store left without
 * contents is dropped with its rows table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/rel.h"

#include "snapshot/snapshot_int.h"

/* Signed count changes: +1 per hash of plus, -1 per hash of minus. */
static void
Accumulate(snapmap_hash *map, bytea *list, int32 sign)
{
	int64		n = (VARSIZE(list) - VARHDRSZ) / sizeof(uint64);

	for (int64 i = 0; i < n; i++)
	{
		uint64		h;
		SnapMapEntry *e;
		bool		found;

		memcpy(&h, VARDATA(list) + i * sizeof(uint64), sizeof(uint64));
		e = snapmap_insert(map, pg_ntoh64(h), &found);
		if (!found)
		{
			e->count = 0;
			e->flags = 0;
		}
		e->count += sign;
	}
}

/*
 * Rewrite the deltas of content (which is going away) so that they no
 * longer depend on it.
 */
static void
Reparent(int64 content, int64 parent, bytea *c_added, bytea *c_removed)
{
	List	   *children = SnapContentChildren(content);
	ListCell   *lc;
	int64		first = 0;
	bytea	   *f_added = NULL;
	bytea	   *f_removed = NULL;

	foreach(lc, children)
	{
		int64		child = *(int64 *) lfirst(lc);
		bytea	   *k_added;
		bytea	   *k_removed;
		snapmap_hash *delta;
		SnapHashList added;
		SnapHashList removed;

		CHECK_FOR_INTERRUPTS();
		SnapFetchLists(child, &k_added, &k_removed);
		delta = SnapMapCreate(CurrentMemoryContext,
							  (VARSIZE(k_added) + VARSIZE(k_removed)) / sizeof(uint64));
		if (parent != 0)
		{
			/* child = parent + (content's delta + child's delta) */
			Accumulate(delta, c_added, 1);
			Accumulate(delta, c_removed, -1);
			Accumulate(delta, k_added, 1);
			Accumulate(delta, k_removed, -1);
			SnapDeltaLists(delta, &added, &removed);
			SnapUpdateContent(child, parent, &added, &removed);
		}
		else if (first == 0)
		{
			/* the oldest child of a base becomes a base: list all its rows */
			snapmap_hash *full = SnapMapCreate(CurrentMemoryContext,
											   (VARSIZE(c_added) + VARSIZE(k_added)) / sizeof(uint64));
			snapmap_iterator it;
			SnapMapEntry *e;

			SnapMapAddBytea(full, c_added, 1, false);
			SnapMapAddBytea(full, k_added, 1, false);
			SnapMapAddBytea(full, k_removed, -1, false);
			SnapListInit(&added, full->members);
			snapmap_start_iterate(full, &it);
			while ((e = snapmap_iterate(full, &it)) != NULL)
				SnapListAppendN(&added, e->key, e->count);
			SnapListSort(&added);
			SnapListInit(&removed, 1);
			SnapUpdateContent(child, 0, &added, &removed);
			first = child;
			f_added = k_added;
			f_removed = k_removed;
			continue;
		}
		else
		{
			/* child = first - first's delta + child's delta */
			Accumulate(delta, f_added, -1);
			Accumulate(delta, f_removed, 1);
			Accumulate(delta, k_added, 1);
			Accumulate(delta, k_removed, -1);
			SnapDeltaLists(delta, &added, &removed);
			SnapUpdateContent(child, first, &added, &removed);
		}
		pfree(k_added);
		pfree(k_removed);
	}
}

/*
 * Remove a content no snapshot uses, and delete from the store the rows
 * only it listed.  Returns the number of rows deleted.
 */
static int64
DropContent(int32 store, int64 content, Relation store_rel)
{
	int64		parent = SnapContentParent(content);
	bytea	   *c_added;
	bytea	   *c_removed;
	snapmap_hash *garbage;
	int64		n;
	ListCell   *lc;

	SnapFetchLists(content, &c_added, &c_removed);
	Reparent(content, parent, c_added, c_removed);
	SnapDeleteRow("snapshot_contents", content);

	/* candidates: the rows the content added; keep those listed elsewhere */
	n = (VARSIZE(c_added) - VARHDRSZ) / sizeof(uint64);
	garbage = SnapMapCreate(CurrentMemoryContext, n);
	SnapMapAddBytea(garbage, c_added, 1, false);
	foreach(lc, SnapStoreContents(store))
	{
		int64		other = *(int64 *) lfirst(lc);
		bytea	   *o_added;
		bytea	   *o_removed;
		int64		m;

		CHECK_FOR_INTERRUPTS();
		SnapFetchLists(other, &o_added, &o_removed);
		m = (VARSIZE(o_added) - VARHDRSZ) / sizeof(uint64);
		for (int64 i = 0; i < m && garbage->members > 0; i++)
		{
			uint64		h;

			memcpy(&h, VARDATA(o_added) + i * sizeof(uint64), sizeof(uint64));
			snapmap_delete(garbage, pg_ntoh64(h));
		}
		pfree(o_added);
		pfree(o_removed);
	}
	return SnapStoreDelete(store_rel, garbage, false);
}

/*
 * Drop a snapshot (mlops.drop_snapshot): refused while a model version
 * records it; returns the number of stored rows freed.
 */
int64
SnapDrop(int64 id)
{
	SnapInfo   *info;
	Relation	store_rel;
	char	   *used;
	int64		nused;
	int64		freed = 0;

	SnapSPIConnect();
	SnapReadLatest(false);
	info = SnapLookup(id, true);
	SnapCheckRead(info);

	SnapReadLatest(true);
	used = SnapUsedBy(id, &nused);
	if (nused > 10)
		used = psprintf("%s and " INT64_FORMAT " more", used, nused - 10);
	if (nused > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop snapshot " INT64_FORMAT " because model versions were trained on it",
						id),
				 errdetail_plural("Model version %s was trained on it.",
								  "Model versions %s were trained on it.",
								  nused, used),
				 errhint("A snapshot is kept for as long as a model version records it as its training data.")));

	store_rel = table_open(SnapStoreRelid(info->store, false), ExclusiveLock);
	SnapDeleteRow("snapshot_catalog", id);
	if (SnapContentRefs(info->content) == 0)
		freed = DropContent(info->store, info->content, store_rel);
	table_close(store_rel, NoLock);

	if (SnapStoreContents(info->store) == NIL)
		SnapDropStore(info->store);
	SnapReadLatest(false);
	SPI_finish();
	return freed;
}
