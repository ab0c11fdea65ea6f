/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Score a model on loaded rows and compute its quality metrics.
 *
 * One function serves the held-out split at training, mlops.evaluate on
 * any relation, the champion/challenger comparison, and concept drift, so
 * a metric means the same thing everywhere.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "algorithms/algorithm.h"
#include "train/metrics.h"

/*
 * Per feature: map from the data column's category codes to vocabulary
 * positions (nvocab = other), built once per evaluation.
 */
typedef struct FeatureMap
{
	int			datacol;
	int		   *code_to_vocab;	/* categorical only */
} FeatureMap;

static FeatureMap *
BuildFeatureMaps(const MlopsModel *model, const MlopsTrainData *data, const int *featcol)
{
	FeatureMap *maps = palloc0(sizeof(FeatureMap) * Max(model->nfeatures, 1));

	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];
		const MlopsColumnData *col = &data->columns[featcol[i]];

		maps[i].datacol = featcol[i];
		if ((f->kind == MLOPS_KIND_CATEGORICAL) != (col->kind == MLOPS_KIND_CATEGORICAL))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is %s, but the model was trained on it as %s (%s)",
							f->name, MlopsKindName(col->kind), MlopsKindName(f->kind),
							f->type_name)));
		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			maps[i].code_to_vocab = palloc(sizeof(int) * Max(col->ncodes, 1));
			for (int c = 0; c < col->ncodes; c++)
				maps[i].code_to_vocab[c] = MlopsVocabPosition(f, col->code_text[c]);
		}
	}
	return maps;
}

static void
EncodeMapped(const MlopsModel *model, const MlopsTrainData *data,
			 const FeatureMap *maps, int64 row, double *x)
{
	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];
		const MlopsColumnData *col = &data->columns[maps[i].datacol];

		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			int32		code = col->code[row];
			int			pos = code < 0 ? f->nvocab : maps[i].code_to_vocab[code];

			memset(&x[f->offset], 0, sizeof(double) * f->width);
			x[f->offset + pos] = 1.0;
		}
		else
			MlopsEncodeFeatureNumber(f, col->num[row], false, x);
	}
}

/* add "key": value to a jsonb object under construction */
static void
PushNumber(JsonbParseState **state, const char *key, double v)
{
	JsonbValue	k;
	JsonbValue	val;

	k.type = jbvString;
	k.val.string.len = strlen(key);
	k.val.string.val = (char *) key;
	pushJsonbValue(state, WJB_KEY, &k);
	if (isnan(v) || isinf(v))
		val.type = jbvNull;
	else
	{
		val.type = jbvNumeric;
		val.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(v)));
	}
	pushJsonbValue(state, WJB_VALUE, &val);
}

/* for sorting scores in the ROC AUC */
typedef struct ScoredLabel
{
	double		score;
	bool		positive;
} ScoredLabel;

/* an inlined sort by score (a generic qsort took most of the AUC's time) */
#define ST_SORT sort_scored_labels
#define ST_ELEMENT_TYPE ScoredLabel
#define ST_COMPARE(a, b) (((a)->score > (b)->score) - ((a)->score < (b)->score))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/* Area under the ROC curve by ranks (Mann-Whitney), ties averaged */
static double
RocAuc(ScoredLabel *s, int64 n)
{
	int64		npos = 0;
	double		ranksum = 0.0;

	sort_scored_labels(s, n);
	for (int64 i = 0; i < n;)
	{
		int64		j = i;
		double		avg;

		while (j + 1 < n && s[j + 1].score == s[i].score)
			j++;
		avg = (i + j) / 2.0 + 1.0;
		for (int64 k = i; k <= j; k++)
			if (s[k].positive)
			{
				ranksum += avg;
				npos++;
			}
		i = j + 1;
	}
	if (npos == 0 || npos == n)
		return NAN;
	return (ranksum - npos * (npos + 1) / 2.0) / ((double) npos * (n - npos));
}

/*
 * Class index of each code of the target column (-1: a class the model
 * never saw).
 */
static int *
ClassMap(const MlopsModel *model, const MlopsColumnData *target)
{
	int		   *map = palloc(sizeof(int) * Max(target->ncodes, 1));

	for (int c = 0; c < target->ncodes; c++)
	{
		map[c] = -1;
		for (int k = 0; k < model->nclasses; k++)
			if (strcmp(target->code_text[c], model->classes[k]) == 0)
			{
				map[c] = k;
				break;
			}
	}
	return map;
}

/* see metrics.h */
Jsonb *
MlopsEvaluateData(const MlopsModel *model, const MlopsTrainData *data,
				  const int *featcol, int targetcol, const bool *rowmask)
{
	FeatureMap *maps = BuildFeatureMaps(model, data, featcol);
	int			nout = MlopsModelOutputs(model);
	double	   *x = palloc(sizeof(double) * Max(model->ncols, 1));
	double	   *out = palloc(sizeof(double) * nout);
	const MlopsColumnData *target = targetcol >= 0 ? &data->columns[targetcol] : NULL;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int64		n = 0;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	if (model->task == MLOPS_TASK_REGRESSION)
	{
		double		sse = 0.0,
					sae = 0.0,
					sy = 0.0,
					syy = 0.0;

		if (target->kind == MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" is not numeric", target->name)));
		for (int64 i = 0; i < data->nrows; i++)
		{
			double		y = target->num[i];
			double		e;

			if ((rowmask && !rowmask[i]) || isnan(y))
				continue;
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			EncodeMapped(model, data, maps, i, x);
			MlopsModelPredictDesign(model, x, out);
			e = y - out[0];
			sse += e * e;
			sae += fabs(e);
			sy += y;
			syy += y * y;
			n++;
		}
		if (n > 0)
		{
			double		sst = syy - sy * sy / n;

			PushNumber(&state, "r2", sst > 0 ? 1.0 - sse / sst : NAN);
			PushNumber(&state, "rmse", sqrt(sse / n));
			PushNumber(&state, "mae", sae / n);
		}
	}
	else if (model->task == MLOPS_TASK_CLASSIFICATION)
	{
		int			K = model->nclasses;
		int		   *cmap = ClassMap(model, target);
		int64	   *tp = palloc0(sizeof(int64) * K);
		int64	   *predcount = palloc0(sizeof(int64) * K);
		int64	   *truecount = palloc0(sizeof(int64) * K);
		int64		correct = 0;
		double		logloss = 0.0;
		ScoredLabel *scores = NULL;

		if (target->kind != MLOPS_KIND_CATEGORICAL)
			elog(ERROR, "classification target must be loaded as categorical");
		if (K == 2)
			scores = palloc_extended(sizeof(ScoredLabel) * Max(data->nrows, 1), MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < data->nrows; i++)
		{
			int32		code = target->code[i];
			int			truth;
			int			best = 0;

			if ((rowmask && !rowmask[i]) || code < 0)
				continue;
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			truth = cmap[code];
			EncodeMapped(model, data, maps, i, x);
			MlopsModelPredictDesign(model, x, out);
			for (int k = 1; k < K; k++)
				if (out[k] > out[best])
					best = k;
			predcount[best]++;
			if (truth >= 0)
			{
				truecount[truth]++;
				if (best == truth)
				{
					tp[truth]++;
					correct++;
				}
			}
			logloss -= log(Max(truth >= 0 ? out[truth] : 0.0, 1e-15));
			if (scores)
			{
				scores[n].score = out[1];
				scores[n].positive = (truth == 1);
			}
			n++;
		}
		if (n > 0)
		{
			double		sp = 0.0,
						sr = 0.0,
						sf = 0.0;

			for (int k = 0; k < K; k++)
			{
				double		p = predcount[k] ? (double) tp[k] / predcount[k] : 0.0;
				double		r = truecount[k] ? (double) tp[k] / truecount[k] : 0.0;

				sp += p;
				sr += r;
				sf += (p + r) > 0 ? 2 * p * r / (p + r) : 0.0;
			}
			PushNumber(&state, "accuracy", (double) correct / n);
			PushNumber(&state, "precision", sp / K);
			PushNumber(&state, "recall", sr / K);
			PushNumber(&state, "f1", sf / K);
			if (scores)
				PushNumber(&state, "roc_auc", RocAuc(scores, n));
			PushNumber(&state, "log_loss", logloss / n);
		}
	}
	else
	{
		double		inertia = 0.0;

		for (int64 i = 0; i < data->nrows; i++)
		{
			if (rowmask && !rowmask[i])
				continue;
			EncodeMapped(model, data, maps, i, x);
			MlopsModelPredictDesign(model, x, out);
			/* clustering algorithms report the squared distance second */
			inertia += out[nout > 1 ? 1 : 0];
			n++;
		}
		PushNumber(&state, "inertia", inertia);
	}

	PushNumber(&state, "rows", (double) n);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Is a better than b on this metric?  NaN is never better. */
bool
MlopsMetricBetter(const char *key_metric, double a, double b)
{
	if (isnan(a))
		return false;
	if (isnan(b))
		return true;
	if (strcmp(key_metric, "inertia") == 0)
		return a < b;
	return a > b;
}
