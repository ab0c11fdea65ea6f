/*-------------------------------------------------------------------------
 *
 * compare.h
 *	  One live column against its baseline (compare.c): the statistics,
 *	  the status they earn under the thresholds, and the JSON of the
 *	  finding that goes into a drift report.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_COMPARE_H
#define MLOPS_DRIFT_COMPARE_H

#include "lib/stringinfo.h"

#include "train/baseline.h"
#include "drift/drift_state.h"
#include "drift/thresholds.h"

/* Status of a feature, worst last (a finding keeps the worst it earned) */
typedef enum MlopsFindingStatus
{
	MLOPS_FINDING_OK = 0,
	MLOPS_FINDING_WARNING,
	MLOPS_FINDING_DRIFT,
	MLOPS_FINDING_RETYPED,
	MLOPS_FINDING_MISSING
} MlopsFindingStatus;

/* Findings of one feature (or the target) */
typedef struct MlopsDriftFinding
{
	MlopsFindingStatus status;
	StringInfoData json;		/* the statistics, as members of an object */
	StringInfoData reasons;		/* JSON strings, comma separated */
} MlopsDriftFinding;

extern void MlopsDriftFindingInit(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
								  const char *live_type);
extern void MlopsDriftFindingReason(MlopsDriftFinding *f, MlopsFindingStatus level,
									const char *fmt,...) pg_attribute_printf(3, 4);
extern void MlopsDriftCompareColumn(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
									const MlopsDriftState *state, int col, int64 nrows,
									const MlopsDriftThresholds *t);
extern void MlopsDriftFindingAppend(StringInfo buf, const MlopsDriftFinding *f);
extern void MlopsDriftAppendKeyDouble(StringInfo buf, const char *key, double v);

#endif							/* MLOPS_DRIFT_COMPARE_H */
