/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *	  Dataset versioning (DESIGN section 4): what the rest of mlops calls to
 *	  record and read back the exact rows a model was trained on.
 *
 * A snapshot is a frozen multiset of rows of some columns of a relation.
 * Rows live once in a content-addressed store keyed by their row hash
 * (rowhash.c); a snapshot's membership is stored as a delta against a parent
 * snapshot's.  docs/snapshots.md describes the design and the SQL surface.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SNAPSHOT_H
#define MLOPS_SNAPSHOT_H

#include "nodes/pg_list.h"

/*
 * For the training driver, after it has read the rows of colnames (a List of
 * C strings, in the order training hashed them) from relid and computed
 * their content hash and count with MlopsRowHash.  Returns the id of a
 * snapshot of exactly those rows: the caller's own existing one when one
 * matches (same relation, names and types, content hash and row count),
 * else a new snapshot of those columns read with the caller's privileges.  Errors with
 * SQLSTATE 40001 when the rows read now are not the rows training saw (the
 * relation changed in between): a model must never point at other data.
 */
extern int64 MlopsSnapshotForTraining(Oid relid, List *colnames,
									  uint64 content_hash, int64 nrows);

/*
 * Training's single pass, for the first training on a relation: instead of
 * reading the rows a second time in MlopsSnapshotForTraining, training may
 * feed the snapshot the rows it reads anyway.
 *
 *	 b = MlopsSnapshotBeginFirst(relid, colnames);
 *	 ... for each row read (in colnames order, with its MlopsRowHash over
 *		 exactly those values):  if (b) MlopsSnapshotAddRow(b, h, values, isnull);
 *	 snapshot = b ? MlopsSnapshotFinish(b)
 *				  : MlopsSnapshotForTraining(relid, colnames, content_hash, nrows);
 *
 * When the caller already has a snapshot of these columns of relid, the
 * builder only sums the rows up, content hash and keyed check hashes
 * (snapshot_check.c), and Finish returns the existing snapshot they match
 * only when the check hashes agree too: a content hash can be forged, the
 * check hashes cannot.  Otherwise (changed data) the rows are read again
 * into a new snapshot.  MlopsSnapshotBeginFirst never returns NULL; the
 * form above also covers callers that have no builder.
 * It checks the caller may read the columns and locks the store until the
 * transaction ends.  AddRow copies what it keeps (values need only live for
 * the call) and may run inside the caller's query, also a parallel one (it
 * then keeps new rows for Finish to write).  Finish needs no SPI connection
 * of the caller's.
 */
typedef struct MlopsSnapshotBuilder MlopsSnapshotBuilder;

extern MlopsSnapshotBuilder *MlopsSnapshotBeginFirst(Oid relid, List *colnames);
extern void MlopsSnapshotAddRow(MlopsSnapshotBuilder *b, uint64 rowhash,
								const Datum *values, const bool *isnull);
extern int64 MlopsSnapshotFinish(MlopsSnapshotBuilder *b);

/*
 * A SELECT returning the snapshot's rows (each duplicate as often as it
 * occurred) with the original column names and types, in no particular
 * order.  The query calls mlops.snapshot_rows(), which checks that the
 * current user may read the snapshot; run it as the user, not as the
 * registry owner.  Errors when the snapshot does not exist.
 */
extern char *MlopsSnapshotSelectSQL(int64 snapshot_id);

/*
 * Take a snapshot of the named columns of relid (all of them when colnames
 * is NIL), read with the caller's privileges; name may be NULL.  This is
 * what mlops.snapshot() runs; the scheduler may call it directly.
 */
extern int64 MlopsSnapshotTake(Oid relid, List *colnames, const char *name);

#endif							/* MLOPS_SNAPSHOT_H */
