/*-------------------------------------------------------------------------
 *
 * algo_common.h
 *	  Helpers shared by the algorithm files (algo_common.c).  Only files of
 *	  src/algorithms/ include this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ALGO_COMMON_H
#define MLOPS_ALGO_COMMON_H

#include "algorithms/algorithm.h"

extern double MlopsMeanOf(const double *v, int64 n);
extern double *MlopsStandardisedOffsets(const MlopsModel *model);
extern void MlopsExplainRowInit(MlopsExplainRow *row, const char *term);
extern void MlopsSoftmaxInPlace(double *v, int n);

#endif							/* MLOPS_ALGO_COMMON_H */
