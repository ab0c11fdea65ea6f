/*-------------------------------------------------------------------------
 *
 * drift_state.h
 *	  What the drift check's accumulator works with (drift_state.c): the
 *	  spec it is given, the state one scan leaves, and the flat form of the
 *	  state that moves between processes and nodes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_STATE_H
#define MLOPS_DRIFT_STATE_H

#include "train/baseline.h"

/*
 * What one scan of the live relation leaves for the statistics, per column
 * of the spec, plus the values of the numeric columns in the
 * MLOPS_DRIFT_KS_ROWS rows of smallest content hash (all rows when there
 * are fewer), for the KS statistic.
 */
#define MLOPS_DRIFT_KS_ROWS 20000

/*
 * The values of a row come in two arrays: numeric and boolean columns as
 * float8 (booleans 0 or 1), categorical columns as text, each in the order
 * of the spec's columns.
 */
#define MlopsDriftKindIsNumber(kind) ((kind) != MLOPS_KIND_CATEGORICAL)

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
	int32		nnumbers;		/* numeric and boolean columns */
	int32		ncategories;	/* categorical columns */
	uint64		ks_bound;		/* KS sample: rows whose hash is at most this */
	MlopsDriftSpecCol *cols;
} MlopsDriftSpec;

/* A spec's ks_bound that keeps every row's hash in the running */
#define MLOPS_DRIFT_NO_BOUND	PG_UINT64_MAX

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
	MemoryContext cxt;			/* everything of the state lives here */
	const MlopsDriftSpec *spec; /* rows are read by it; NULL until the first */
	double	   *rowvals;		/* with spec: the current row's numeric values */
	int64		rows;
	int32		ncols;
	MlopsDriftAccCol *cols;
	int32		nnum;			/* numeric columns */
	int32		ksn;			/* rows kept for KS */
	int32		kscap;			/* rows ksheap and ksvals have room for */
	MlopsDriftKsRow *ksheap;	/* max-heap on hash, at most MLOPS_DRIFT_KS_ROWS */
	double	   *ksvals;			/* per slot, nnum values (NaN: none) */
} MlopsDriftState;

/* One row's values, as the two arrays give them */
typedef struct MlopsDriftRow
{
	const double *numbers;		/* spec->nnumbers values */
	const bool *number_null;	/* NULL: none is NULL */
	const char *const *categories;	/* spec->ncategories strings... */
	const int32 *category_len;	/* ...of these lengths (no terminator) */
	const bool *category_null;
} MlopsDriftRow;

/* the spec */
extern bytea *MlopsDriftSpecBuild(MlopsBaselineColumn **cols, int ncols, uint64 ks_bound);
extern MlopsDriftSpec *MlopsDriftSpecDecode(const bytea *spec, MemoryContext cxt);

/* the state */
extern MlopsDriftState *MlopsDriftStateNew(MemoryContext cxt, int ncols,
										   const MlopsFeatureKind *kinds);
extern void MlopsDriftStateUseSpec(MlopsDriftState *s, const MlopsDriftSpec *spec);
extern void MlopsDriftStateAddRow(MlopsDriftState *s, const MlopsDriftRow *row);
extern void MlopsDriftStateMerge(MlopsDriftState *a, MlopsDriftState *b);

/* its flat form */
extern Size MlopsDriftStateFlatSize(const MlopsDriftState *s);
extern void MlopsDriftStateFlatten(MlopsDriftState *s, void *result, Size size);
extern bytea *MlopsDriftStateToBytea(MlopsDriftState *s);
extern MlopsDriftState *MlopsDriftStateRead(const bytea *flat, MemoryContext cxt);
extern void MlopsDriftStateMergeFlat(MlopsDriftState *a, const bytea *flat);

#endif							/* MLOPS_DRIFT_STATE_H */
