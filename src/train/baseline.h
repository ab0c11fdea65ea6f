/*-------------------------------------------------------------------------
 *
 * baseline.h
 *	  The drift baseline of a model version (baseline.c): built from the
 *	  training data in memory right after fitting, stored as jsonb in
 *	  mlops.model_versions.baseline, and read back by the drift check.
 *
 * docs/drift.md describes the jsonb layout (format 1).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_BASELINE_H
#define MLOPS_BASELINE_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "train/load.h"

#define MLOPS_BASELINE_FORMAT	1
#define MLOPS_BASELINE_SAMPLE	2000	/* values kept per numeric column for KS */
#define MLOPS_BASELINE_QUANTILE_SAMPLE 20000	/* values the deciles come from */
#define MLOPS_BASELINE_TOP		50		/* categories with their own bucket */
#define MLOPS_BASELINE_VOCAB	1000	/* values remembered for "unseen" */
#define MLOPS_BASELINE_NEDGES	11		/* min, 9 deciles, max */
#define MLOPS_BASELINE_NBINS	12		/* below min, 10 deciles, above max */

/*
 * The bin of a value v: 0 below the training minimum, 11 above the maximum,
 * otherwise 1 + the number of interior decile edges strictly below v (bins
 * are closed on the right), that is (v >= min) + the count of the other
 * edges strictly below v.  Repeated edges, from tied values, leave some bins
 * empty on both sides.  baseline.c and drift/compare.c count it without branches.
 */

/* One feature (or the target) of a baseline, as read back from jsonb */
typedef struct MlopsBaselineColumn
{
	char	   *name;
	char	   *type_name;		/* SQL type at training */
	MlopsFeatureKind kind;		/* numeric, boolean or categorical */
	int64		rows;			/* rows of the training data */
	int64		nulls;
	double		null_share;
	/* numeric */
	double		min;
	double		max;
	double		mean;
	double		std;
	int			nedges;			/* 0 (all NULL) or MLOPS_BASELINE_NEDGES */
	double		edges[MLOPS_BASELINE_NEDGES];
	double		bins[MLOPS_BASELINE_NBINS]; /* shares of the non-NULL values */
	int			nsample;
	double	   *sample;			/* sorted ascending */
	/* categorical and boolean */
	int64		distinct;
	int			ntop;
	char	  **top_value;
	int64	   *top_count;
	int64		other_count;	/* non-NULL rows outside the top values */
	int			nvocab;
	char	  **vocab;			/* sorted by strcmp() */
	bool		vocab_complete; /* every training value is in vocab */
} MlopsBaselineColumn;

typedef struct MlopsBaseline
{
	int			format;
	int64		rows;
	int			nfeatures;
	MlopsBaselineColumn *features;
	MlopsBaselineColumn *target;	/* NULL for clustering */
	char	   *key_metric;
	double		key_metric_value;	/* NaN when unknown */
} MlopsBaseline;

/* baseline.c */
extern Jsonb *MlopsBaselineBuild(const MlopsTrainData *data, int nfeatures,
								 const char *target, const char *key_metric,
								 double key_metric_value);
extern MlopsBaseline *MlopsBaselineParse(Jsonb *jb);

#endif							/* MLOPS_BASELINE_H */
