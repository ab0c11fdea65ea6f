/*-------------------------------------------------------------------------
 *
 * rowhash.h
 *	  Content hashing of rows, shared by the training split and snapshots.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ROWHASH_H
#define MLOPS_ROWHASH_H

#include "access/tupdesc.h"

/* Per-column facts the hash needs, resolved once per query */
typedef struct MlopsHashColumn
{
	Oid			typid;
	int16		typlen;
	bool		typbyval;
} MlopsHashColumn;

extern uint64 MlopsRowHash(const MlopsHashColumn *cols, int ncols,
						   const Datum *values, const bool *isnull);
extern uint64 MlopsHashMix(uint64 h);
extern bool MlopsRowIsTest(uint64 rowhash, double test_size);

#endif							/* MLOPS_ROWHASH_H */
