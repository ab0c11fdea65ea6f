/*-------------------------------------------------------------------------
 *
 * baseline.c
 *	  The drift baseline of a model version: what the training data looked
 *	  like, kept with the version so that mlops.check_drift can later tell
 *	  whether live data still looks the same.
 *
 * MlopsBaselineBuild() runs once per training, in memory, on the rows the
 * training driver already loaded (one pass over the relation serves the
 * snapshot, the split, the model and this).  Per numeric column it keeps n,
 * the NULL share, min/max/mean/std, the decile edges with the share of the
 * training rows in each of the 12 bins (below min, ten deciles, above max),
 * and a bounded sample for the Kolmogorov-Smirnov test; per categorical or
 * boolean column the frequencies of the top 50 values, an "other" bucket,
 * the NULL share and the vocabulary used to recognise unseen values.
 *
 * Order statistics: the decile edges are the type-7 (interpolated)
 * quantiles of the first 20,000 non-NULL values of the column in the
 * loader's row order, which is the order of the rows' content hashes:
 * deterministic and independent of the values, so a uniform sample that the
 * same data always reproduces.  Up to 20,000 rows the edges are exact
 * quantiles; beyond, sample quantiles, each within about 0.2% (one standard
 * error) of its decile.  The bin shares are then counted over every value,
 * so the baseline is exact for the edges it has, and PSI needs no more.
 * Sorting every column instead took 60% of a 1,000,000-row linear training
 * (about 150 ms per column here); this takes one pass and a small sort.
 * The KS sample is the first 2,000 of the same values.
 *
 * MlopsBaselineParse() reads the stored jsonb back for the drift check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "train/baseline.h"
#include "core/util.h"

/* An inlined sort of doubles (NaN never reaches it) */

/* Type-7 quantile (linear interpolation, as numpy and R's default) */
static double
SortedQuantile(const double *sorted, int64 n, double p)
{
	double		h = (n - 1) * p;
	int64		lo = (int64) floor(h);

	if (lo >= n - 1)
		return sorted[n - 1];
	return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* Fields every column block starts with */
static void
AppendColumnHead(StringInfo buf, const MlopsColumnData *col, const char *kind,
				 int64 nrows)
{
	appendStringInfoString(buf, "{\"name\": ");
	escape_json(buf, col->name);
	appendStringInfoString(buf, ", \"type\": ");
	escape_json(buf, col->type_name ? col->type_name : "unknown");
	appendStringInfo(buf, ", \"kind\": \"%s\", \"rows\": " INT64_FORMAT
					 ", \"nulls\": " INT64_FORMAT ", \"null_share\": ",
					 kind, nrows, col->nnull);
	MlopsAppendJsonDouble(buf, nrows > 0 ? (double) col->nnull / nrows : 0.0);
}

/*
 * Baseline of a numeric column.  The quantile sample is the first non-NULL
 * values in row order, which is hash order: a uniform sample.  Its type-7
 * quantiles are the interior decile edges (exact when it holds every value).
 * Then one pass over every value takes the extremes, the moments (about the
 * sample mean, for accuracy) and the count of each bin, by the rule the
 * drift check applies (with the true extremes, only the interior edges
 * decide).  The KS sample is the first 2,000 values of the quantile sample.
 */
static void
BaselineNumeric(StringInfo buf, const MlopsColumnData *col, int64 nrows)
{
	int64		qcap = Min(Max(nrows, 1), MLOPS_BASELINE_QUANTILE_SAMPLE);
	double	   *qsample = MemoryContextAllocHuge(CurrentMemoryContext, qcap * sizeof(double));
	double	   *sample = palloc(MLOPS_BASELINE_SAMPLE * sizeof(double));
	int64		n = 0,
				nq = 0;
	int			nsample = 0;
	double		shift = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				mean,
				var,
				min = INFINITY,
				max = -INFINITY;
	double		edges[MLOPS_BASELINE_NEDGES];
	int64		bins[MLOPS_BASELINE_NBINS] = {0};

	for (int64 i = 0; i < nrows && nq < qcap; i++)
	{
		double		v = col->num[i];

		if (isnan(v))
			continue;
		qsample[nq++] = v;
		if (nsample < MLOPS_BASELINE_SAMPLE)
			sample[nsample++] = v;
	}

	AppendColumnHead(buf, col, "numeric", nrows);
	if (nq == 0)
	{
		appendStringInfoString(buf, ", \"min\": null, \"max\": null, \"mean\": null, "
							   "\"std\": null, \"edges\": [], \"bins\": [], \"sample\": []}");
		pfree(qsample);
		pfree(sample);
		return;
	}

	for (int64 k = 0; k < nq; k++)
		shift += qsample[k];
	shift /= nq;
	CHECK_FOR_INTERRUPTS();
	MlopsSortDoubles(qsample, nq);
	MlopsSortDoubles(sample, nsample);
	for (int k = 1; k < MLOPS_BASELINE_NEDGES - 1; k++)
		edges[k] = SortedQuantile(qsample, nq, k / 10.0);

	CHECK_FOR_INTERRUPTS();
	{
		const double e1 = edges[1],
					e2 = edges[2],
					e3 = edges[3],
					e4 = edges[4],
					e5 = edges[5],
					e6 = edges[6],
					e7 = edges[7],
					e8 = edges[8],
					e9 = edges[9];

		for (int64 i = 0; i < nrows; i++)
		{
			double		v = col->num[i];
			double		d;

			if (isnan(v))
				continue;
			n++;
			min = v < min ? v : min;
			max = v > max ? v : max;
			d = v - shift;
			s1 += d;
			s2 += d * d;
			bins[1 + (v > e1) + (v > e2) + (v > e3) + (v > e4) + (v > e5) +
				 (v > e6) + (v > e7) + (v > e8) + (v > e9)]++;
		}
	}
	edges[0] = min;
	edges[MLOPS_BASELINE_NEDGES - 1] = max;
	mean = shift + s1 / n;
	var = n > 1 ? Max(s2 - s1 * s1 / n, 0.0) / (n - 1) : 0.0;

	appendStringInfoString(buf, ", \"min\": ");
	MlopsAppendJsonDouble(buf, min);
	appendStringInfoString(buf, ", \"max\": ");
	MlopsAppendJsonDouble(buf, max);
	appendStringInfoString(buf, ", \"mean\": ");
	MlopsAppendJsonDouble(buf, mean);
	appendStringInfoString(buf, ", \"std\": ");
	MlopsAppendJsonDouble(buf, sqrt(var));
	appendStringInfo(buf, ", \"quantile_sample\": " INT64_FORMAT ", \"edges\": [", nq);
	for (int k = 0; k < MLOPS_BASELINE_NEDGES; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, ", ");
		MlopsAppendJsonDouble(buf, edges[k]);
	}
	appendStringInfoString(buf, "], \"bins\": [");
	for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, ", ");
		MlopsAppendJsonDouble(buf, (double) bins[k] / n);
	}
	appendStringInfoString(buf, "], \"sample\": [");
	for (int k = 0; k < nsample; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, ", ");
		MlopsAppendJsonDouble(buf, sample[k]);
	}
	appendStringInfoString(buf, "]}");
	pfree(qsample);
	pfree(sample);
}

/* Ordering of categories: most frequent first, then by text */
static int
CompareCodesByCount(const void *a, const void *b, void *arg)
{
	const MlopsColumnData *col = (const MlopsColumnData *) arg;
	int			ca = *(const int *) a;
	int			cb = *(const int *) b;

	if (col->code_count[ca] != col->code_count[cb])
		return col->code_count[ca] > col->code_count[cb] ? -1 : 1;
	return strcmp(col->code_text[ca], col->code_text[cb]);
}

/* Ordering of categories by text, in byte order */
static int
CompareCodesByText(const void *a, const void *b, void *arg)
{
	const MlopsColumnData *col = (const MlopsColumnData *) arg;

	return strcmp(col->code_text[*(const int *) a],
				  col->code_text[*(const int *) b]);
}

/* The frequency part of a categorical block, from values and their counts */
static void
AppendFrequencies(StringInfo buf, const MlopsColumnData *col, int64 nonnull,
				  const int *order, int nvalues, int64 distinct)
{
	int			ntop = Min(nvalues, MLOPS_BASELINE_TOP);
	int			nvocab = Min(nvalues, MLOPS_BASELINE_VOCAB);
	int64		intop = 0;
	int		   *vocab;

	appendStringInfo(buf, ", \"distinct\": " INT64_FORMAT ", \"top\": [", distinct);
	for (int k = 0; k < ntop; k++)
	{
		int			c = order[k];

		if (k > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, "{\"value\": ");
		escape_json(buf, col->code_text[c]);
		appendStringInfo(buf, ", \"count\": " INT64_FORMAT ", \"share\": ",
						 col->code_count[c]);
		MlopsAppendJsonDouble(buf, nonnull > 0 ? (double) col->code_count[c] / nonnull : 0.0);
		appendStringInfoChar(buf, '}');
		intop += col->code_count[c];
	}
	appendStringInfo(buf, "], \"other_count\": " INT64_FORMAT ", \"other_share\": ",
					 nonnull - intop);
	MlopsAppendJsonDouble(buf, nonnull > 0 ? (double) (nonnull - intop) / nonnull : 0.0);

	/* the most frequent values, sorted by text for binary search */
	vocab = palloc(Max(nvocab, 1) * sizeof(int));
	memcpy(vocab, order, nvocab * sizeof(int));
	qsort_arg(vocab, nvocab, sizeof(int), CompareCodesByText, (void *) col);
	appendStringInfoString(buf, ", \"vocabulary\": [");
	for (int k = 0; k < nvocab; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, col->code_text[vocab[k]]);
	}
	appendStringInfo(buf, "], \"vocabulary_complete\": %s}",
					 nvalues <= MLOPS_BASELINE_VOCAB ? "true" : "false");
	pfree(vocab);
}

/* Baseline of a categorical column, from the loader's codes and counts */
static void
BaselineCategorical(StringInfo buf, const MlopsColumnData *col, int64 nrows)
{
	int		   *order = palloc(Max(col->ncodes, 1) * sizeof(int));
	int64		distinct = 0;

	for (int c = 0; c < col->ncodes; c++)
	{
		order[c] = c;
		if (col->code_count[c] > 0)
			distinct++;
	}
	qsort_arg(order, col->ncodes, sizeof(int), CompareCodesByCount, (void *) col);
	AppendColumnHead(buf, col, "categorical", nrows);
	AppendFrequencies(buf, col, nrows - col->nnull, order, col->ncodes, distinct);
	pfree(order);
}

/*
 * Baseline of a boolean column (loaded as 0/1): the frequencies of "false"
 * and "true", both always listed so that neither is ever "unseen".
 */
static void
BaselineBoolean(StringInfo buf, const MlopsColumnData *col, int64 nrows)
{
	MlopsColumnData fake;
	char	   *texts[2] = {"false", "true"};
	int64		counts[2] = {0, 0};
	int64		nnull = 0;
	int			order[2];

	for (int64 i = 0; i < nrows; i++)
	{
		double		v = col->num[i];

		if (isnan(v))
			nnull++;
		else
			counts[v != 0.0]++;
	}
	fake = *col;
	fake.nnull = nnull;
	fake.ncodes = 2;
	fake.code_text = texts;
	fake.code_count = counts;
	order[0] = 0;
	order[1] = 1;
	qsort_arg(order, 2, sizeof(int), CompareCodesByCount, (void *) &fake);
	AppendColumnHead(buf, &fake, "boolean", nrows);
	AppendFrequencies(buf, &fake, nrows - nnull, order, 2,
					  (counts[0] > 0) + (counts[1] > 0));
}

/* The baseline block of one loaded column, by its kind */
static void
BaselineColumn(StringInfo buf, const MlopsColumnData *col, int64 nrows)
{
	switch (col->kind)
	{
		case MLOPS_KIND_NUMERIC:
			BaselineNumeric(buf, col, nrows);
			break;
		case MLOPS_KIND_BOOLEAN:
			BaselineBoolean(buf, col, nrows);
			break;
		case MLOPS_KIND_CATEGORICAL:
			BaselineCategorical(buf, col, nrows);
			break;
		default:
			elog(ERROR, "unexpected feature kind %d for column \"%s\"",
				 (int) col->kind, col->name);
	}
}

/*
 * The drift baseline of a freshly trained version, as jsonb for
 * mlops.model_versions.baseline.  data->columns[0..nfeatures-1] are the
 * model's features and, unless target is NULL (clustering),
 * data->columns[nfeatures] is the target.  key_metric_value is the key
 * metric on the held-out split (NaN when unknown).
 */
Jsonb *
MlopsBaselineBuild(const MlopsTrainData *data, int nfeatures,
				   const char *target, const char *key_metric,
				   double key_metric_value)
{
	StringInfoData buf;
	Jsonb	   *result;

	if (nfeatures < 0 || nfeatures + (target ? 1 : 0) > data->ncolumns)
		elog(ERROR, "baseline of %d features%s over %d loaded columns",
			 nfeatures, target ? " and a target" : "", data->ncolumns);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"format\": %d, \"rows\": " INT64_FORMAT
					 ", \"sample_size\": %d, \"features\": [",
					 MLOPS_BASELINE_FORMAT, data->nrows, MLOPS_BASELINE_SAMPLE);
	for (int j = 0; j < nfeatures; j++)
	{
		if (j > 0)
			appendStringInfoString(&buf, ", ");
		BaselineColumn(&buf, &data->columns[j], data->nrows);
	}
	appendStringInfoString(&buf, "], \"target\": ");
	if (target)
		BaselineColumn(&buf, &data->columns[nfeatures], data->nrows);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"key_metric\": ");
	if (key_metric)
		escape_json(&buf, key_metric);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"key_metric_value\": ");
	MlopsAppendJsonDouble(&buf, key_metric_value);
	appendStringInfoChar(&buf, '}');

	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	pfree(buf.data);
	return result;
}

/* ------------------------------------------------------------------------
 * Reading a stored baseline back
 * ------------------------------------------------------------------------
 */

/* Complain about a stored baseline that does not have the expected shape */
static void
BadBaseline(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("drift baseline is malformed: %s", what),
			 errhint("Retrain the version to rebuild its baseline.")));
}

/* A member of an object container, or NULL when absent or JSON null */
static JsonbValue *
GetKey(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	return v;
}

/* A JSON number as a double (NaN for null or absent) */
static double
ValueDouble(JsonbValue *v)
{
	if (v == NULL)
		return NAN;
	if (v->type != jbvNumeric)
		BadBaseline("a number was expected");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

static double
GetDouble(JsonbContainer *obj, const char *key)
{
	return ValueDouble(GetKey(obj, key));
}

static int64
GetInt64(JsonbContainer *obj, const char *key)
{
	double		d = GetDouble(obj, key);

	return isnan(d) ? 0 : (int64) d;
}

/* A string member, palloc'd (NULL when absent) */
static char *
GetString(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = GetKey(obj, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		BadBaseline("a string was expected");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A nested container member (array or object), NULL when absent */
static JsonbContainer *
GetContainer(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = GetKey(obj, key);

	if (v == NULL)
		return NULL;
	if (v->type != jbvBinary)
		BadBaseline("an array or object was expected");
	return v->val.binary.data;
}

/* Element i of an array container */
static JsonbValue *
GetElement(JsonbContainer *arr, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);

	if (v == NULL)
		BadBaseline("an array is too short");
	return v;
}

/* Read one column block */
static void
ParseColumn(JsonbContainer *obj, MlopsBaselineColumn *col)
{
	char	   *kind;

	memset(col, 0, sizeof(*col));
	col->name = GetString(obj, "name");
	col->type_name = GetString(obj, "type");
	kind = GetString(obj, "kind");
	if (col->name == NULL || kind == NULL)
		BadBaseline("a column has no name or kind");
	if (strcmp(kind, "numeric") == 0)
		col->kind = MLOPS_KIND_NUMERIC;
	else if (strcmp(kind, "boolean") == 0)
		col->kind = MLOPS_KIND_BOOLEAN;
	else if (strcmp(kind, "categorical") == 0)
		col->kind = MLOPS_KIND_CATEGORICAL;
	else
		BadBaseline("unknown column kind");
	col->rows = GetInt64(obj, "rows");
	col->nulls = GetInt64(obj, "nulls");
	col->null_share = GetDouble(obj, "null_share");

	if (col->kind == MLOPS_KIND_NUMERIC)
	{
		JsonbContainer *edges = GetContainer(obj, "edges");
		JsonbContainer *bins = GetContainer(obj, "bins");
		JsonbContainer *sample = GetContainer(obj, "sample");

		col->min = GetDouble(obj, "min");
		col->max = GetDouble(obj, "max");
		col->mean = GetDouble(obj, "mean");
		col->std = GetDouble(obj, "std");
		if (edges == NULL || bins == NULL || sample == NULL)
			BadBaseline("a numeric column has no edges, bins or sample");
		col->nedges = JsonContainerSize(edges);
		if (col->nedges != 0 && col->nedges != MLOPS_BASELINE_NEDGES)
			BadBaseline("wrong number of decile edges");
		if ((int) JsonContainerSize(bins) != (col->nedges ? MLOPS_BASELINE_NBINS : 0))
			BadBaseline("wrong number of bins");
		for (int k = 0; k < col->nedges; k++)
			col->edges[k] = ValueDouble(GetElement(edges, k));
		for (int k = 0; col->nedges && k < MLOPS_BASELINE_NBINS; k++)
			col->bins[k] = ValueDouble(GetElement(bins, k));
		col->nsample = JsonContainerSize(sample);
		col->sample = palloc(Max(col->nsample, 1) * sizeof(double));
		for (int k = 0; k < col->nsample; k++)
		{
			col->sample[k] = ValueDouble(GetElement(sample, k));
			if (isnan(col->sample[k]))
				BadBaseline("the sample holds a non-number");
		}
		/* stored sorted; sort again in case the jsonb was edited by hand */
		MlopsSortDoubles(col->sample, col->nsample);
	}
	else
	{
		JsonbContainer *top = GetContainer(obj, "top");
		JsonbContainer *vocab = GetContainer(obj, "vocabulary");
		JsonbValue *complete = GetKey(obj, "vocabulary_complete");

		if (top == NULL || vocab == NULL)
			BadBaseline("a categorical column has no top values or vocabulary");
		col->distinct = GetInt64(obj, "distinct");
		col->other_count = GetInt64(obj, "other_count");
		col->ntop = JsonContainerSize(top);
		col->top_value = palloc(Max(col->ntop, 1) * sizeof(char *));
		col->top_count = palloc(Max(col->ntop, 1) * sizeof(int64));
		for (int k = 0; k < col->ntop; k++)
		{
			JsonbValue *e = GetElement(top, k);

			if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
				BadBaseline("a top value is not an object");
			col->top_value[k] = GetString(e->val.binary.data, "value");
			col->top_count[k] = GetInt64(e->val.binary.data, "count");
			if (col->top_value[k] == NULL)
				BadBaseline("a top value has no value");
		}
		col->nvocab = JsonContainerSize(vocab);
		col->vocab = palloc(Max(col->nvocab, 1) * sizeof(char *));
		for (int k = 0; k < col->nvocab; k++)
		{
			JsonbValue *e = GetElement(vocab, k);

			if (e->type != jbvString)
				BadBaseline("a vocabulary entry is not a string");
			col->vocab[k] = pnstrdup(e->val.string.val, e->val.string.len);
			if (k > 0 && strcmp(col->vocab[k - 1], col->vocab[k]) >= 0)
				BadBaseline("the vocabulary is not sorted");
		}
		col->vocab_complete = (complete && complete->type == jbvBool &&
							   complete->val.boolean);
	}
}

/* Read a stored baseline (mlops.model_versions.baseline) */
MlopsBaseline *
MlopsBaselineParse(Jsonb *jb)
{
	JsonbContainer *root = &jb->root;
	JsonbContainer *features;
	JsonbContainer *target;
	MlopsBaseline *b = palloc0(sizeof(MlopsBaseline));

	if (!JsonContainerIsObject(root))
		BadBaseline("not an object");
	b->format = (int) GetInt64(root, "format");
	if (b->format != MLOPS_BASELINE_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("drift baseline format %d is not supported", b->format),
				 errhint("Retrain the version to rebuild its baseline.")));
	b->rows = GetInt64(root, "rows");
	features = GetContainer(root, "features");
	if (features == NULL)
		BadBaseline("no features");
	b->nfeatures = JsonContainerSize(features);
	b->features = palloc0(Max(b->nfeatures, 1) * sizeof(MlopsBaselineColumn));
	for (int j = 0; j < b->nfeatures; j++)
	{
		JsonbValue *e = GetElement(features, j);

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			BadBaseline("a feature is not an object");
		ParseColumn(e->val.binary.data, &b->features[j]);
	}
	target = GetContainer(root, "target");
	if (target)
	{
		b->target = palloc(sizeof(MlopsBaselineColumn));
		ParseColumn(target, b->target);
	}
	b->key_metric = GetString(root, "key_metric");
	b->key_metric_value = GetDouble(root, "key_metric_value");
	return b;
}
