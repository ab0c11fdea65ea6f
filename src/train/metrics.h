/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  Scoring a model on loaded rows and computing its metrics (metrics.c):
 *	  used for the held-out split at training, mlops.evaluate, the champion
 *	  comparison of deploy => 'if_better', and concept drift.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

#include "utils/jsonb.h"

#include "core/moments.h"
#include "model/model.h"
#include "train/load.h"


/*
 * Metrics of model on the rows of data selected by rowmask (NULL = all).
 * featcol[i] is the data column holding model feature i; targetcol the data
 * column of the target (-1 for clustering).  Regression: r2, rmse, mae;
 * classification: accuracy, precision, recall, f1 (macro), roc_auc (binary),
 * log_loss; clustering: inertia, silhouette (on at most 2000 rows, those
 * with the smallest content hashes) and silhouette_rows.  Also "rows".
 */
extern Jsonb *MlopsEvaluateData(const MlopsModel *model, const MlopsTrainData *data,
								const int *featcol, int targetcol,
								const bool *rowmask);

extern Jsonb *MlopsRegressionMetrics(const MlopsErrorSums *s);

/* Is a better than b on this key metric? (inertia: lower is better) */
extern bool MlopsMetricBetter(const char *key_metric, double a, double b);

#endif							/* MLOPS_METRICS_H */
