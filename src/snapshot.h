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
 * snapshot of exactly those rows: an existing one when one matches (same
 * relation, names and types, content hash and row count), else a new
 * snapshot of those columns read with the caller's privileges.  Errors with
 * SQLSTATE 40001 when the rows read now are not the rows training saw (the
 * relation changed in between): a model must never point at other data.
 */
extern int64 MlopsSnapshotForTraining(Oid relid, List *colnames,
									  uint64 content_hash, int64 nrows);

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
