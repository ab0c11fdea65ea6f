/*-------------------------------------------------------------------------
 *
 * thresholds.h
 *	  The thresholds of the drift verdict (thresholds.c): defaults, a
 *	  project's overrides, and their JSON form.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_THRESHOLDS_H
#define MLOPS_DRIFT_THRESHOLDS_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* Thresholds of the drift verdict; defaults in thresholds.c, see docs/drift.md */
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

extern void MlopsDriftThresholdsDefault(MlopsDriftThresholds *t);
extern void MlopsDriftThresholdsApply(MlopsDriftThresholds *t, Jsonb *overrides);
extern void MlopsDriftThresholdsAppendJson(StringInfo buf, const MlopsDriftThresholds *t);

/* Runs an SPI query: call it between SPI_connect and SPI_finish */
extern void MlopsDriftProjectThresholds(const char *project, MlopsDriftThresholds *t);

#endif							/* MLOPS_DRIFT_THRESHOLDS_H */
