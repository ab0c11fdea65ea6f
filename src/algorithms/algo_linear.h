/*-------------------------------------------------------------------------
 *
 * algo_linear.h
 *	  What the linear-model algorithms share (algo_linear.c): the layout of
 *	  an intercept-plus-coefficients model fitted on standardised inputs,
 *	  its prediction and its explain() rows on the original scale, used by
 *	  ridge (algo_linear.c), lasso and elastic_net (algo_elastic_net.c);
 *	  and small helpers every algorithm uses.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ALGO_LINEAR_H
#define MLOPS_ALGO_LINEAR_H

#include "algorithms/algo_common.h"

/*
 * A penalised linear model's params: [0] the intercept, [1 .. ncols] the
 * coefficients, both on the standardised scale the model was fitted on.
 */
#define MLOPS_PENALIZED_NPARAMS(ncols)	((ncols) + 1)

extern void MlopsLinearPredict(const MlopsModel *model, const double *x,
							   double *out);
extern int	MlopsLinearContributions(const MlopsModel *model, const double *x,
									 double *contrib);
extern int	MlopsPenalizedExplain(const MlopsModel *model,
								  MlopsExplainRow **rows);
extern int64 MlopsPenalizedNParams(const MlopsModel *model);

#endif							/* MLOPS_ALGO_LINEAR_H */
