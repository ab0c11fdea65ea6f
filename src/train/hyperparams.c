/*-------------------------------------------------------------------------
 *
 * hyperparams.c
 *	  A training call's hyperparameters: defaults, each given key and value
 *	  checked against the algorithm's table (name, number, range, integer),
 *	  and the JSON stored with the version.
 *
 * The caller walks the user's jsonb object and hands each key and value
 * here (train.c), so that the checks do not depend on how the object was
 * parsed: fuzz/fuzz_hyperparams.c drives them from a JSON text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"

#include "algorithms/algorithm.h"
#include "train/hyperparams.h"

/* "a, b, max_categories": the keys algo accepts, for error details */
static char *
ValidHyperparams(const MlopsAlgorithm *algo)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < algo->nhyper; i++)
		appendStringInfo(&buf, "%s, ", algo->hyper[i].name);
	appendStringInfoString(&buf, MLOPS_MAX_CATEGORIES_KEY);
	return buf.data;
}

/*
 * Start model->hyper (for model->algo) and *max_categories at their
 * defaults, before any key given by the user is applied.
 */
void
MlopsHyperparamsInit(MlopsModel *model, int *max_categories)
{
	const MlopsAlgorithm *algo = model->algo;

	model->nhyper = algo->nhyper;
	model->hyper = palloc(sizeof(double) * Max(algo->nhyper, 1));
	for (int i = 0; i < algo->nhyper; i++)
		model->hyper[i] = algo->hyper[i].defval;
	*max_categories = MLOPS_DEFAULT_MAX_CATEGORIES;
}

/*
 * Position of key in the algorithm's table, or MLOPS_HYPER_MAX_CATEGORIES;
 * ERROR for a key the algorithm does not take, listing those it does.
 */
int
MlopsHyperparamIndex(const MlopsModel *model, const char *key)
{
	const MlopsAlgorithm *algo = model->algo;
	int			idx = -1;

	for (int i = 0; i < algo->nhyper; i++)
		if (strcmp(algo->hyper[i].name, key) == 0)
			idx = i;
	if (idx < 0 && strcmp(key, MLOPS_MAX_CATEGORIES_KEY) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown hyperparameter \"%s\" for algorithm \"%s\"", key, algo->name),
				 errdetail("Valid hyperparameters are: %s.", ValidHyperparams(algo))));
	return idx < 0 ? MLOPS_HYPER_MAX_CATEGORIES : idx;
}

/*
 * Set the hyperparameter at idx (from MlopsHyperparamIndex) to *value,
 * after checking its range and, for an integer one, that it is whole.
 * value is NULL when the user gave something other than a number or a
 * boolean (booleans count as 1 and 0).
 */
void
MlopsHyperparamAssign(MlopsModel *model, int idx, const char *key,
					  const double *value, int *max_categories)
{
	const MlopsAlgorithm *algo = model->algo;
	double		val;
	double		min,
				max;
	bool		integer;

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be a number", key)));
	val = *value;
	if (idx != MLOPS_HYPER_MAX_CATEGORIES)
	{
		Assert(idx >= 0 && idx < algo->nhyper);
		min = algo->hyper[idx].min;
		max = algo->hyper[idx].max;
		integer = algo->hyper[idx].integer;
	}
	else
	{
		min = 1;
		max = 10000;
		integer = true;
	}
	if (!(val >= min && val <= max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be between %g and %g, not %g",
						key, min, max, val)));
	if (integer && val != floor(val))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be an integer, not %g", key, val)));
	if (idx != MLOPS_HYPER_MAX_CATEGORIES)
		model->hyper[idx] = val;
	else
		*max_categories = (int) val;
}

/*
 * Every hyperparameter with the value used, as stored in
 * mlops.model_versions.hyperparams: mlops.reproduce reads it back through
 * the same checks, so each value is printed exactly.
 */
char *
MlopsHyperparamsJson(const MlopsModel *model, int max_categories)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < model->nhyper; i++)
		appendStringInfo(&buf, "\"%s\": %.17g, ", model->algo->hyper[i].name, model->hyper[i]);
	appendStringInfo(&buf, "\"%s\": %d}", MLOPS_MAX_CATEGORIES_KEY, max_categories);
	return buf.data;
}
