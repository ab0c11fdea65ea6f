/*-------------------------------------------------------------------------
 *
 * drift.h
 *	  Drift monitoring (drift.c): the statistics that compare live data with
 *	  a version's baseline, the per-project thresholds, and the drift check
 *	  that writes mlops.drift_reports and queues retrains.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_H
#define MLOPS_DRIFT_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "train/baseline.h"

/* Thresholds of the drift verdict; defaults in drift.c, see docs/drift.md */
typedef struct MlopsDriftThresholds
{
	double		psi_warning;	/* numeric feature warns at PSI >= this */
	double		psi_drift;		/* numeric feature drifts at PSI >= this */
	double		ks_statistic;	/* ... or at KS D >= this with p < p_value */
	double		p_value;		/* significance of KS and chi-square */
	double		linf;			/* categorical drifts at L-inf >= this (p < p_value) */
	double		unseen_share;	/* categorical drifts at unseen share >= this */
	double		null_share;		/* any feature drifts at |NULL share change| >= this */
	double		drift_share;	/* dataset drifts when this share of features drift */
	double		metric_drop;	/* concept drift when the key metric drops by this */
} MlopsDriftThresholds;

/* Thresholds: defaults overridden by a project's jsonb */
extern void MlopsDriftThresholdsDefault(MlopsDriftThresholds *t);
extern void MlopsDriftThresholdsApply(MlopsDriftThresholds *t, Jsonb *overrides);

/*
 * The parallel accumulator (drift_accum.c): what one scan of the live
 * relation leaves for the statistics, per column of the spec, plus the
 * values of the numeric columns in the MLOPS_DRIFT_KS_ROWS rows of smallest
 * content hash (all rows when there are fewer), for the KS statistic.
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

#endif							/* MLOPS_DRIFT_H */
