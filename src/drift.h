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

/* Statistics (shares are normalised here; empty bins count as 1e-4) */
extern double MlopsPsi(const double *expected, const double *actual, int nbins);
extern double MlopsKsStatistic(const double *sample, int m, const int64 *hist,
							   int64 n);
extern int	MlopsKsCell(const double *sample, int m, double v);
extern double MlopsKsPValue(double d, double m, double n);
extern double MlopsChiSquareHomogeneity(const double *a, const double *b, int k,
										double *statistic, int *df);

/* Thresholds: defaults overridden by a project's jsonb */
extern void MlopsDriftThresholdsDefault(MlopsDriftThresholds *t);
extern void MlopsDriftThresholdsApply(MlopsDriftThresholds *t, Jsonb *overrides);

#endif							/* MLOPS_DRIFT_H */
