/*-------------------------------------------------------------------------
 *
 * snapshot_int.h
 *	  Declarations shared by the snapshot modules, not used elsewhere.
 *	  The files are layered; each calls only files listed below it:
 *
 *	  snapshot.c          the SQL-callable functions and snapshot.h's API
 *	  snapshot_take.c     reading a relation once into a new snapshot
 *	  snapshot_drop.c     dropping snapshots, compacting chains, garbage
 *	  snapshot_store.c    the row tables: creation, bulk writes, scans, garbage
 *	  snapshot_check.c    keyed check hashes of rows (forged row hashes)
 *	  snapshot_catalog.c  the registry rows (stores, contents, catalog)
 *	  snapshot_members.c  multisets of row hashes in memory: lists, maps, deltas,
 *	                      content digests
 *	  snapshot_types.c    the built-in types columns are stored in, and
 *	                      converting values to them and back
 *	  snapshot_stats.c    per-column statistics
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SNAPSHOT_INT_H
#define MLOPS_SNAPSHOT_INT_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/hyperloglog.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/* ---------------------------------------------------------------------------
 * Multisets of row hashes (snapshot_members.c)
 * ---------------------------------------------------------------------------
 */

/* A growable array of row hashes; sorted when it is a stored list */
typedef struct SnapHashList
{
	uint64	   *v;
	int64		n;
	int64		cap;
} SnapHashList;

/* Entry of a map from row hash to a count */
typedef struct SnapMapEntry
{
	uint64		key;
	int32		count;
	uint8		flags;			/* SNAP_SEEN, SNAP_PENDING */
	char		status;			/* used by simplehash */
} SnapMapEntry;

#define SNAP_SEEN		0x01	/* the row occurs in the data being read */
#define SNAP_PENDING	0x02	/* new row, maybe stored already elsewhere */

#define SH_PREFIX snapmap
#define SH_ELEMENT_TYPE SnapMapEntry
#define SH_KEY_TYPE uint64
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

extern void SnapListInit(SnapHashList *list, int64 cap);
extern void SnapListAppend(SnapHashList *list, uint64 h);
extern void SnapListAppendN(SnapHashList *list, uint64 h, int64 times);
extern void SnapListSort(SnapHashList *list);
extern bytea *SnapListToBytea(const SnapHashList *list);
extern void SnapListFromBytea(SnapHashList *list, bytea *b);
extern void SnapMapAddBytea(snapmap_hash *map, bytea *b, int32 sign,
							bool keep_zero);
extern snapmap_hash *SnapMapCreate(MemoryContext cxt, int64 expected);
extern void SnapDeltaLists(snapmap_hash *delta, SnapHashList *added,
						   SnapHashList *removed);

/* Bytes of a content digest: SHA-256 */
#define SNAP_DIGEST_LEN		32

extern void SnapListDigest(const SnapHashList *sorted, uint8 *digest);

/* ---------------------------------------------------------------------------
 * Registry rows (snapshot_catalog.c)
 * ---------------------------------------------------------------------------
 */

/* A column of a snapshot, as read from the source relation */
typedef struct SnapColumn
{
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *type_text;		/* qualified SQL type, with typmod */
	Oid			store_typid;	/* built-in type the store keeps it in */
	char	   *store_type_text;	/* SQL of store_typid */
	bool		as_text;		/* stored as the text output of typid */
} SnapColumn;

/* A snapshot as recorded: its catalog row and its content */
typedef struct SnapInfo
{
	int64		id;
	char	   *relation;
	int			ncols;
	char	  **colnames;
	char	  **coltypes;
	Oid			owner;			/* role that took it */
	int64		content;
	int32		store;
	int64		row_count;
	int64		distinct_rows;
	uint64		content_hash;
} SnapInfo;

/* A link of a content chain, from the content up to its base */
typedef struct SnapChainLink
{
	int64		id;
	int64		parent;			/* 0 for a base */
	int64		n_added;
	int64		n_removed;
} SnapChainLink;

extern bool SnapReadLatest(bool on);
extern void SnapSPIConnect(void);
extern SnapInfo *SnapLookup(int64 id, bool lock_for_update);
extern void SnapCheckRead(const SnapInfo *info);
extern int32 SnapStoreByTypes(Oid owner, int ncols, const SnapColumn *cols);
extern int32 SnapInsertStore(Oid owner, int ncols, const SnapColumn *cols);
extern uint64 SnapStoreKey(int32 store);
extern uint64 SnapContentCheckSum(int64 content);
extern void SnapDeleteStore(int32 store);
extern List *SnapStoreIds(void);
extern List *SnapContentChain(int64 content);
extern snapmap_hash *SnapContentMap(int64 content, bool keep_zero);
extern List *SnapStoreContents(int32 store);
extern int64 SnapParentCandidate(int32 store, const char *relation);
extern int64 SnapFindContent(int32 store, const uint8 *digest, int64 row_count);
extern bool SnapHasSnapshotOf(Oid owner, const char *relation, int ncols,
							  const SnapColumn *cols);
extern int64 SnapFindSnapshot(Oid owner, const char *relation, int ncols,
							  const SnapColumn *cols, uint64 content_hash,
							  int64 row_count);
extern int64 SnapInsertContent(int32 store, int64 parent, int64 row_count,
							   int64 distinct_rows, uint64 content_hash,
							   const uint8 *digest,
							   const SnapHashList *added,
							   const SnapHashList *removed,
							   const char *stats_json, uint64 check_sum);
extern int64 SnapInsertCatalog(Oid owner, const char *name, const char *relation,
							   int ncols, const SnapColumn *cols,
							   int64 content, int64 rows_stored,
							   int64 bytes_added);
extern void SnapUpdateContent(int64 content, int64 parent,
							  const SnapHashList *added,
							  const SnapHashList *removed);
extern void SnapFetchLists(int64 content, bytea **added, bytea **removed);
extern int64 SnapContentParent(int64 content);
extern List *SnapContentChildren(int64 content);
extern int64 SnapContentRefs(int64 content);
extern void SnapDeleteRow(const char *table, int64 id);
extern char *SnapUsedBy(int64 id, int64 *total);

/* ---------------------------------------------------------------------------
 * Row tables (snapshot_store.c)
 * ---------------------------------------------------------------------------
 */

/* Bulk writer of new rows into a store table */
typedef struct SnapWriter SnapWriter;

extern SnapWriter *SnapWriterBegin(Relation rel, bool new_table, bool with_hash);
extern Size SnapWriterAdd(SnapWriter *w, uint64 h, const Datum *values,
						  const bool *isnull);
extern void SnapWriterEnd(SnapWriter *w);

/* Called for each wanted row of a store scan; values exclude row_hash */
typedef void (*SnapRowCallback) (void *arg, uint64 h, int32 times,
								 Datum *values, bool *isnull);

extern char *SnapStoreRelname(int32 store);
extern Oid	SnapStoreRelid(int32 store, bool missing_ok);
extern int32 SnapFindStore(Oid owner, int ncols, const SnapColumn *cols,
						   bool create, bool *created);
extern void SnapCheckStoreTypes(Relation rel, int ncols, const SnapColumn *cols);
extern void SnapDropStore(int32 store);
extern void SnapAttachStores(void);
extern void SnapEnsureDependency(Oid relid);
extern int64 SnapStoreScan(Relation rel, snapmap_hash *want,
						   SnapRowCallback cb, void *arg);
extern void SnapStoreEachRow(Relation rel, snapmap_hash *want,
							 SnapRowCallback cb, void *arg);
extern int64 SnapStoreDelete(Relation rel, snapmap_hash *garbage,
							 bool keep_counted);

/* ---------------------------------------------------------------------------
 * Check hashes (snapshot_check.c)
 * ---------------------------------------------------------------------------
 */
typedef struct SnapCheck SnapCheck;

extern SnapCheck *SnapCheckBegin(Relation store_rel, uint64 key);
extern uint64 SnapCheckRow(const SnapCheck *ck, const Datum *values,
						   const bool *isnull);

/* ---------------------------------------------------------------------------
 * Taking snapshots (snapshot_take.c) and dropping them (snapshot_drop.c)
 * ---------------------------------------------------------------------------
 */
extern void SnapResolveColumns(Oid relid, List *colnames, int *ncols,
							   SnapColumn **cols);
extern int64 SnapDrop(int64 id);

/* ---------------------------------------------------------------------------
 * Stored column types (snapshot_types.c)
 * ---------------------------------------------------------------------------
 */
typedef struct SnapToStore SnapToStore;
typedef struct SnapFromStore SnapFromStore;

extern bool SnapTypeIsSupported(Oid typid);
extern void SnapColumnTypes(SnapColumn *col);
extern SnapToStore *SnapToStoreBegin(int ncols, const SnapColumn *cols);
extern Datum *SnapToStoreRow(SnapToStore *ts, Datum *values, const bool *isnull);
extern void SnapResolveTypes(const SnapInfo *info, Oid *types, int32 *typmods);
extern SnapFromStore *SnapFromStoreBegin(const SnapInfo *info, TupleDesc store_desc,
										 const Oid *types, const int32 *typmods,
										 bool lenient);
extern Datum *SnapFromStoreRow(SnapFromStore *fs, Datum *values, const bool *isnull);
extern Oid	SnapFromStoreType(const SnapFromStore *fs, int col);

/* ---------------------------------------------------------------------------
 * Per-column statistics (snapshot_stats.c)
 * ---------------------------------------------------------------------------
 */
typedef struct SnapColStats SnapColStats;

extern SnapColStats *SnapStatsInit(int ncols, const SnapColumn *cols);
extern void SnapStatsAdd(SnapColStats *stats, int ncols, const Datum *values,
						 const bool *isnull);
extern char *SnapStatsJson(SnapColStats *stats, int ncols,
						   const SnapColumn *cols);

#endif							/* MLOPS_SNAPSHOT_INT_H */
