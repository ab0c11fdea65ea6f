/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Score a model on loaded rows and compute its quality metrics.
 *
 * One function serves the held-out split at training, mlops.evaluate on
 * any relation, the champion/challenger comparison, and concept drift, so
 * a metric means the same thing everywhere.  Regression metrics come from
 * exact sums (MlopsErrorSums, core/moments.c), which the aggregate
 * mlops.regression_metrics (train_agg.c) fills the same way where the rows
 * are: the metrics do not depend on the order of the rows or on how they
 * were split.
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

/* At most this many rows enter the silhouette, which is quadratic */
#define SILHOUETTE_ROWS		2000


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

/* A row's position and content hash, to pick the silhouette sample */
typedef struct HashedRow
{
	uint64		hash;
	int64		row;
} HashedRow;

static int
HashedRowCmp(const void *a, const void *b)
{
	const HashedRow *x = a;
	const HashedRow *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->row > y->row) - (x->row < y->row);
}

/*
 * The silhouette sample: up to SILHOUETTE_ROWS of the selected rows, those
 * with the smallest content hashes (in row order when data has no hashes),
 * so that the sample does not depend on the physical order of the rows.
 * Returns the count; *rows gets their positions.
 */
static int
SilhouetteSample(const MlopsTrainData *data, const bool *rowmask, int64 **rows)
{
	HashedRow  *hr;
	int64		m = 0;
	int			take;

	hr = palloc_extended(sizeof(HashedRow) * Max(data->nrows, 1), MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < data->nrows; i++)
		if (!rowmask || rowmask[i])
		{
			hr[m].hash = data->rowhash ? data->rowhash[i] : 0;
			hr[m].row = i;
			m++;
		}
	if (data->rowhash)
		qsort(hr, m, sizeof(HashedRow), HashedRowCmp);
	take = (int) Min(m, (int64) SILHOUETTE_ROWS);
	*rows = palloc(sizeof(int64) * Max(take, 1));
	for (int i = 0; i < take; i++)
		(*rows)[i] = hr[i].row;
	pfree(hr);
	return take;
}

/*
 * Mean silhouette of m points (row-major m x p, Euclidean distance) with
 * their clusters in label (k clusters): for each point, a the mean
 * distance to the other points of its cluster, b the smallest mean
 * distance to the points of another cluster, s = (b - a) / max(a, b), and
 * 0 for a point alone in its cluster (as scikit-learn).  NaN unless at
 * least two clusters have points.
 */
static double
Silhouette(const double *pts, const int *label, int m, int p, int k)
{
	double	   *sumd = palloc(sizeof(double) * k);
	int		   *cnt = palloc0(sizeof(int) * k);
	int			used = 0;
	double		total = 0.0;

	for (int i = 0; i < m; i++)
		used += (cnt[label[i]]++ == 0);
	if (used < 2)
		return NAN;
	for (int i = 0; i < m; i++)
	{
		int			ci = label[i];
		double		a,
					b = INFINITY;

		CHECK_FOR_INTERRUPTS();
		if (cnt[ci] < 2)
			continue;			/* s = 0 */
		memset(sumd, 0, sizeof(double) * k);
		for (int l = 0; l < m; l++)
		{
			double		d2 = 0.0;

			for (int j = 0; j < p; j++)
			{
				double		d = pts[(Size) i * p + j] - pts[(Size) l * p + j];

				d2 += d * d;
			}
			sumd[label[l]] += sqrt(d2);
		}
		a = sumd[ci] / (cnt[ci] - 1);
		for (int c = 0; c < k; c++)
			if (c != ci && cnt[c] > 0)
				b = Min(b, sumd[c] / cnt[c]);
		if (Max(a, b) > 0.0)
			total += (b - a) / Max(a, b);
	}
	return total / m;
}

/*
 * Clustering metrics of the selected rows: inertia (the sum of squared
 * distances to the assigned centres, on the scale the model clusters),
 * and the silhouette of the sample chosen by SilhouetteSample, on the
 * same scale.  Returns the number of rows.
 */
static int64
EvaluateClustering(const MlopsModel *model, const MlopsTrainData *data,
				   const FeatureMap *maps, const bool *rowmask, JsonbParseState **state)
{
	int			p = model->ncols;
	double	   *x = palloc(sizeof(double) * Max(p, 1));
	double		out[2];
	double		inertia = 0.0;
	int64		n = 0;
	int64	   *sample;
	int			m = SilhouetteSample(data, rowmask, &sample);
	double	   *pts = palloc(sizeof(double) * Max((Size) m * p, 1));
	int		   *label = palloc(sizeof(int) * Max(m, 1));
	int			k = 0;

	for (int64 i = 0; i < data->nrows; i++)
	{
		if (rowmask && !rowmask[i])
			continue;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		EncodeMapped(model, data, maps, i, x);
		MlopsModelPredictDesign(model, x, out);
		inertia += out[1];
		n++;
	}
	for (int s = 0; s < m; s++)
	{
		EncodeMapped(model, data, maps, sample[s], x);
		MlopsModelPredictDesign(model, x, out);
		/* x is now on the model's scale */
		memcpy(pts + (Size) s * p, x, sizeof(double) * p);
		label[s] = (int) out[0];
		k = Max(k, label[s] + 1);
	}
	PushNumber(state, "inertia", inertia);
	PushNumber(state, "silhouette", m > 0 ? Silhouette(pts, label, m, p, k) : NAN);
	PushNumber(state, "silhouette_rows", (double) m);
	return n;
}

/*
 * The regression metrics of the rows (MlopsErrorSumsMetrics) as jsonb:
 * {"r2", "rmse", "mae", "rows"}, NULL metrics when a prediction was not
 * finite, none without rows.
 */
Jsonb *
MlopsRegressionMetrics(const MlopsErrorSums *s)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (s->n > 0)
	{
		double		r2,
					rmse,
					mae;

		MlopsErrorSumsMetrics(s, &r2, &rmse, &mae);
		PushNumber(&state, "r2", r2);
		PushNumber(&state, "rmse", rmse);
		PushNumber(&state, "mae", mae);
	}
	PushNumber(&state, "rows", (double) s->n);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
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
		MlopsErrorSums sums;

		if (target->kind == MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" is not numeric", target->name)));
		MlopsErrorSumsInit(&sums, CurrentMemoryContext);
		for (int64 i = 0; i < data->nrows; i++)
		{
			double		y = target->num[i];

			if ((rowmask && !rowmask[i]) || isnan(y))
				continue;
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
			EncodeMapped(model, data, maps, i, x);
			MlopsModelPredictDesign(model, x, out);
			MlopsErrorSumsAdd(&sums, y, out[0]);
		}
		return MlopsRegressionMetrics(&sums);
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
		n = EvaluateClustering(model, data, maps, rowmask, &state);

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
