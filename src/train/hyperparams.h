/*-------------------------------------------------------------------------
 *
 * hyperparams.h
 *	  Checking a training call's hyperparameters against the algorithm's
 *	  table, and printing them as stored (hyperparams.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_HYPERPARAMS_H
#define MLOPS_HYPERPARAMS_H

#include "model/model.h"

/* max_categories is the training driver's own setting, not an algorithm's */
#define MLOPS_DEFAULT_MAX_CATEGORIES	100
#define MLOPS_MAX_CATEGORIES_KEY		"max_categories"

/* Position in the algorithm's table of a key that is not one of its own */
#define MLOPS_HYPER_MAX_CATEGORIES		(-1)

extern void MlopsHyperparamsInit(MlopsModel *model, int *max_categories);
extern int	MlopsHyperparamIndex(const MlopsModel *model, const char *key);
extern void MlopsHyperparamAssign(MlopsModel *model, int idx, const char *key,
								  const double *value, int *max_categories);
extern char *MlopsHyperparamsJson(const MlopsModel *model, int max_categories);

#endif							/* MLOPS_HYPERPARAMS_H */
