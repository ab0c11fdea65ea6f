/*-------------------------------------------------------------------------
 *
 * drift_accum.h
 *	  The parallel accumulator of the drift check (drift_accum.c): the spec
 *	  it is given and the state it leaves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_ACCUM_H
#define MLOPS_DRIFT_ACCUM_H

#include "train/baseline.h"

/*
 * What one scan of the live relation leaves for the statistics, per column
 * of the spec, plus the values of the numeric columns in the
 * MLOPS_DRIFT_KS_ROWS rows of smallest content hash (all rows when there
 * are fewer), for the KS statistic.
 */
#define MLOPS_DRIFT_KS_ROWS 20000

typedef struct MlopsDriftSpecCol
{
	MlopsFeatureKind kind;		/* as in the baseline */
	int32		nedges;			/* numeric: 0 or MLOPS_BASELINE_NEDGES */
	double		shift;			/* numeric: moments are taken about this */
	double		edges[MLOPS_BASELINE_NEDGES];
} MlopsDriftSpecCol;

typedef struct MlopsDriftSpec
{
	int32		ncols;
	MlopsDriftSpecCol *cols;
} MlopsDriftSpec;

typedef struct MlopsDriftCategory
{
	uint32		hash;
	int32		len;
	char	   *str;			/* NULL: empty slot */
	int64		count;
} MlopsDriftCategory;

typedef struct MlopsDriftAccCol
{
	MlopsFeatureKind kind;
	int32		numidx;			/* numeric: index among the numeric columns */
	int64		nulls;			/* NULL, NaN or infinite */
	int64		n;				/* values counted */
	double		s1;				/* sum of (v - shift) */
	double		s2;				/* sum of (v - shift)^2 */
	int64		bins[MLOPS_BASELINE_NBINS];
	int64		bools[2];		/* boolean: false, true */
	MlopsDriftCategory *cat;	/* categorical: open-addressing table */
	int32		ncat;
	int32		capcat;
	double	   *buf;			/* numeric: values not yet counted */
	int32		nbuf;
} MlopsDriftAccCol;

typedef struct MlopsDriftKsRow
{
	uint64		hash;
	int32		slot;			/* row of ksvals */
} MlopsDriftKsRow;

typedef struct MlopsDriftState
{
	MemoryContext cxt;
	void	   *cache;			/* transition's decoded spec, this process */
	int64		rows;
	int32		ncols;
	MlopsDriftAccCol *cols;
	int32		nnum;			/* numeric columns */
	int32		ksn;			/* rows kept for KS */
	MlopsDriftKsRow *ksheap;	/* max-heap on hash, MLOPS_DRIFT_KS_ROWS */
	double	   *ksvals;			/* per slot, nnum values (NaN: none) */
} MlopsDriftState;

extern bytea *MlopsDriftSpecBuild(MlopsBaselineColumn **cols, int ncols);
extern MlopsDriftState *MlopsDriftStateDeserialize(const bytea *bytes, MemoryContext cxt);

#endif							/* MLOPS_DRIFT_ACCUM_H */
