/*-------------------------------------------------------------------------
 *
 * hyperparams.c
 *	  The hyperparameters of a training run: the user's jsonb checked against
 *	  the algorithm's table (names, types, ranges), defaults filled in, and
 *	  the JSON that the registry records.
 *
 * max_categories (the most values a categorical feature's vocabulary
 * keeps) is the training driver's own hyperparameter, valid with every
 * algorithm.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "algorithms/algorithm.h"
#include "train/train_int.h"

#define DEFAULT_MAX_CATEGORIES	100

/* The valid hyperparameter names of algo, for an error's detail */
static char *
ValidHyperparams(const MlopsAlgorithm *algo)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < algo->nhyper; i++)
		appendStringInfo(&buf, "%s, ", algo->hyper[i].name);
	appendStringInfoString(&buf, "max_categories");
	return buf.data;
}

/*
 * Fill model->hyper from the user's jsonb (defaults for what is absent),
 * checking names, types and ranges.  max_categories is the driver's own.
 */
void
TrainParseHyperparams(MlopsModel *model, Jsonb *hp, int *max_categories)
{
	const MlopsAlgorithm *algo = model->algo;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	model->nhyper = algo->nhyper;
	model->hyper = palloc(sizeof(double) * Max(algo->nhyper, 1));
	for (int i = 0; i < algo->nhyper; i++)
		model->hyper[i] = algo->hyper[i].defval;
	*max_categories = DEFAULT_MAX_CATEGORIES;

	if (hp == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparams must be a JSON object")));

	it = JsonbIteratorInit(&hp->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		double		val;
		int			idx = -1;
		double		min,
					max;
		bool		integer;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		for (int i = 0; i < algo->nhyper; i++)
			if (strcmp(algo->hyper[i].name, key) == 0)
				idx = i;
		if (idx < 0 && strcmp(key, "max_categories") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for algorithm \"%s\"", key, algo->name),
					 errdetail("Valid hyperparameters are: %s.", ValidHyperparams(algo))));
		if (v.type == jbvNumeric)
			val = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			val = v.val.boolean ? 1.0 : 0.0;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameter \"%s\" must be a number", key)));

		if (idx >= 0)
		{
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
		if (idx >= 0)
			model->hyper[idx] = val;
		else
			*max_categories = (int) val;
	}
}

/* model->hyper and max_categories as stored in mlops.model_versions.hyperparams */
char *
TrainHyperparamsJson(const MlopsModel *model, int max_categories)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < model->nhyper; i++)
		appendStringInfo(&buf, "\"%s\": %.17g, ", model->algo->hyper[i].name, model->hyper[i]);
	appendStringInfo(&buf, "\"max_categories\": %d}", max_categories);
	return buf.data;
}
