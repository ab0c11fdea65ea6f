/*-------------------------------------------------------------------------
 *
 * train.c
 *	  mlops.train and mlops.reproduce: from a relation (or a snapshot) to a
 *	  registered, possibly deployed, model version.
 *
 * One pass loads the training columns (load.c) with each row's content
 * hash; rows are sorted by that hash so training is independent of the
 * heap's order, and the hash also decides each row's side of the split.
 * Preprocessing is learned on the training side only: imputation means,
 * vocabularies, classes, standardisation.  The algorithm fits the encoded
 * design matrix, the held-out side gives the metrics, the production
 * version (the champion) is scored on the same held-out rows, and the new
 * version is registered as the registry owner in the caller's transaction:
 * an error or a cancel leaves the registry as it was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "algorithms/algorithm.h"
#include "train/metrics.h"
#include "registry/registry.h"
#include "core/rowhash.h"
#include "train/baseline.h"
#include "snapshot/snapshot.h"
#include "train/load.h"
#include "core/relation.h"
#include "core/util.h"

PG_FUNCTION_INFO_V1(mlops_train);
PG_FUNCTION_INFO_V1(mlops_reproduce);

#define DEFAULT_MAX_CATEGORIES	100
#define INT_TARGET_MAX_CLASSES	20

/* What to train */
typedef struct TrainSpec
{
	const char *project_name;
	MlopsProject *project;		/* NULL for a new project */
	Oid			relid;			/* source relation, or InvalidOid */
	const char *source_sql;		/* used when relid is invalid */
	const char *relation_text;	/* as recorded in the registry */
	char	   *target;			/* NULL only for clustering */
	Oid			target_typid;	/* InvalidOid when unknown (snapshot source) */
	MlopsTask	task;			/* 0 = infer */
	const char *algo_name;		/* NULL = default for the task */
	Jsonb	   *hyperparams;
	List	   *features;		/* feature names, in order */
	double		test_size;
} TrainSpec;

/* What training produced */
typedef struct TrainResult
{
	MlopsModel *model;
	bytea	   *bytes;
	Jsonb	   *metrics;
	const char *key_metric;
	double		key_value;
	char	   *features_json;
	char	   *hyper_json;
	int64		ntrain;
	int64		ntest;
	MlopsTrainData *data;
	bool	   *heldout;		/* the rows the metrics are computed on */
	List	   *colnames;		/* features then target, as loaded */
	Jsonb	   *baseline;
	MlopsSnapshotBuilder *snapshot;	/* first snapshot, fed by the load */
} TrainResult;

/* MlopsRowSink feeding a first snapshot from training's own read */
static void
SnapshotSink(void *arg, uint64 rowhash, const Datum *values, const bool *isnull)
{
	MlopsSnapshotAddRow((MlopsSnapshotBuilder *) arg, rowhash, values, isnull);
}

/*
 * A project name as mlops.projects' CHECK accepts it: a letter or "_", then
 * letters, digits, "_", "." or "-", at most 63 in all.
 */
static bool
ValidProjectName(const char *name)
{
	size_t		len = strlen(name);

	return len > 0 && len < 64 &&
		(isalpha((unsigned char) name[0]) || name[0] == '_') &&
		strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

static bool
IsIntegerType(Oid base)
{
	return base == INT2OID || base == INT4OID || base == INT8OID;
}

/* ---------------------------------------------------------------------------
 * Arguments and hyperparameters
 * ---------------------------------------------------------------------------
 */

static MlopsTask
ParseTask(const char *s)
{
	if (strcmp(s, "regression") == 0)
		return MLOPS_TASK_REGRESSION;
	if (strcmp(s, "classification") == 0)
		return MLOPS_TASK_CLASSIFICATION;
	if (strcmp(s, "clustering") == 0)
		return MLOPS_TASK_CLUSTERING;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown task \"%s\"", s),
			 errhint("Valid tasks are regression, classification and clustering.")));
	return 0;					/* keep compiler quiet */
}

static const char *
KeyMetricFor(MlopsTask task, int nclasses)
{
	if (task == MLOPS_TASK_REGRESSION)
		return "r2";
	if (task == MLOPS_TASK_CLUSTERING)
		return "inertia";
	return nclasses == 2 ? "roc_auc" : "f1";
}

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
static void
ParseHyperparams(MlopsModel *model, Jsonb *hp, int *max_categories)
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

static char *
HyperJson(const MlopsModel *model, int max_categories)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < model->nhyper; i++)
		appendStringInfo(&buf, "\"%s\": %.17g, ", model->algo->hyper[i].name, model->hyper[i]);
	appendStringInfo(&buf, "\"max_categories\": %d}", max_categories);
	return buf.data;
}

/* ---------------------------------------------------------------------------
 * Preprocessing learned from the training rows
 * ---------------------------------------------------------------------------
 */

/* sort state for ordering a categorical column's codes */
typedef struct CodeOrder
{
	const MlopsColumnData *col;
	const int64 *count;
} CodeOrder;

static int
CodeByCountCmp(const void *a, const void *b, void *arg)
{
	const CodeOrder *o = arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (o->count[x] != o->count[y])
		return o->count[x] > o->count[y] ? -1 : 1;
	return strcmp(o->col->code_text[x], o->col->code_text[y]);
}

static int
CodeByValueCmp(const void *a, const void *b, void *arg)
{
	const CodeOrder *o = arg;
	const char *x = o->col->code_text[*(const int32 *) a];
	const char *y = o->col->code_text[*(const int32 *) b];

	if (o->count == NULL)
	{
		/* numeric labels sort as numbers */
		double		dx = strtod(x, NULL);
		double		dy = strtod(y, NULL);

		if (dx != dy)
			return dx < dy ? -1 : 1;
	}
	return strcmp(x, y);
}

/*
 * Learn feature i's encoding from the training rows (the positions in
 * trainrow); ERROR for a feature that is NULL everywhere or constant.
 */
static void
FitFeature(MlopsFeature *f, const MlopsColumnData *col, const int64 *trainrow,
		   int64 ntrain, int max_categories)
{
	f->name = col->name;
	f->type_name = col->type_name;
	f->kind = col->kind;

	if (col->kind != MLOPS_KIND_CATEGORICAL)
	{
		double		sum = 0.0,
					min = INFINITY,
					max = -INFINITY;
		int64		n = 0;

		for (int64 k = 0; k < ntrain; k++)
		{
			double		v = col->num[trainrow[k]];

			if (isnan(v))
				continue;
			sum += v;
			min = Min(min, v);
			max = Max(max, v);
			n++;
		}
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave it out with the features argument.")));
		if (min == max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is constant in the training rows", col->name),
					 errdetail("Every non-NULL value is %g.", min),
					 errhint("A constant column carries no information; leave it out with the features argument.")));
		f->impute = sum / n;
		f->nvocab = 0;
		f->vocab = NULL;
	}
	else
	{
		int64	   *count = palloc0(sizeof(int64) * Max(col->ncodes, 1));
		int32	   *order = palloc(sizeof(int32) * Max(col->ncodes, 1));
		int			nseen = 0;
		int64		nnull = 0;
		CodeOrder	o = {col, count};

		for (int64 k = 0; k < ntrain; k++)
		{
			int32		code = col->code[trainrow[k]];

			if (code < 0)
				nnull++;
			else
				count[code]++;
		}
		for (int c = 0; c < col->ncodes; c++)
			if (count[c] > 0)
				order[nseen++] = c;
		if (nseen == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave it out with the features argument.")));
		if (nseen == 1 && nnull == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is constant in the training rows", col->name),
					 errdetail("Every value is \"%s\".", col->code_text[order[0]]),
					 errhint("A constant column carries no information; leave it out with the features argument.")));
		qsort_arg(order, nseen, sizeof(int32), CodeByCountCmp, &o);
		f->nvocab = Min(nseen, max_categories);
		f->vocab = palloc(sizeof(char *) * f->nvocab);
		for (int v = 0; v < f->nvocab; v++)
			f->vocab[v] = col->code_text[order[v]];
		f->impute = 0.0;
	}
}

/* features as stored in mlops.model_versions.features */
static char *
FeaturesJson(const MlopsModel *model)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		escape_json(&buf, f->name);
		appendStringInfoString(&buf, ", \"type\": ");
		escape_json(&buf, f->type_name);
		appendStringInfo(&buf, ", \"kind\": \"%s\"", MlopsKindName(f->kind));
		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			appendStringInfoString(&buf, ", \"encoding\": \"one_hot\", \"vocabulary\": [");
			for (int v = 0; v < f->nvocab; v++)
			{
				if (v > 0)
					appendStringInfoString(&buf, ", ");
				escape_json(&buf, f->vocab[v]);
			}
			appendStringInfoString(&buf, "], \"unseen\": \"other\"");
		}
		else if (isnan(f->impute))
			appendStringInfoString(&buf, ", \"encoding\": \"number\", \"impute\": null");
		else
			appendStringInfo(&buf, ", \"encoding\": \"number\", \"impute\": %.17g", f->impute);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* ---------------------------------------------------------------------------
 * The training pipeline
 * ---------------------------------------------------------------------------
 */

/*
 * Resolve the algorithm for the task, ERROR when the task has none yet.
 */
static const MlopsAlgorithm *
ResolveAlgorithm(const TrainSpec *spec, MlopsTask task)
{
	const char *name = spec->algo_name ? spec->algo_name : MlopsDefaultAlgorithm(task);

	return MlopsAlgorithmByName(name, task);
}

/*
 * Train per spec; nothing is written.  The caller registers the result.
 */
static TrainResult *
TrainCore(TrainSpec *spec)
{
	TrainResult *res = palloc0(sizeof(TrainResult));
	int			nf = list_length(spec->features);
	int			ncolumns = nf + (spec->target ? 1 : 0);
	MlopsLoadSpec *lspecs = palloc0(sizeof(MlopsLoadSpec) * ncolumns);
	MlopsTrainData *data;
	MlopsTask	task = spec->task;
	bool		int_target = false;
	bool	   *train;
	bool	   *test;
	int64	   *trainrow;
	int64		ntrain = 0,
				ntest = 0,
				nusable = 0;
	MlopsModel *model;
	int			max_categories;
	MlopsColumnData *tcol = NULL;
	int		   *class_of_code = NULL;
	double	   *X;
	double	   *y = NULL;
	int			ncols;
	int64		r;
	int		   *featcol;
	MlopsDesign design;
	ListCell   *lc;
	int			i;
	const char *sql;

	/* fail fast on an unknown algorithm when the task is already known */
	if (task != 0)
		(void) ResolveAlgorithm(spec, task);

	i = 0;
	foreach(lc, spec->features)
	{
		lspecs[i].name = lfirst(lc);
		lspecs[i].kind = MLOPS_KIND_AUTO;
		lspecs[i].reject_nonfinite = true;
		res->colnames = lappend(res->colnames, lfirst(lc));
		i++;
	}
	if (spec->target)
	{
		Oid			base = OidIsValid(spec->target_typid) ? getBaseType(spec->target_typid) : InvalidOid;
		bool		numeric_type = (base == FLOAT4OID || base == FLOAT8OID || base == NUMERICOID ||
									IsIntegerType(base));

		if (task == 0)
		{
			if (!OidIsValid(base))
				elog(ERROR, "task must be known when the target type is not");
			if (IsIntegerType(base))
				task = 0;		/* decided from the data below */
			else if (numeric_type)
				task = MLOPS_TASK_REGRESSION;
			else
				task = MLOPS_TASK_CLASSIFICATION;
		}
		if (task == MLOPS_TASK_REGRESSION && OidIsValid(base) && !numeric_type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" has type %s, but regression needs a numeric target",
							spec->target, format_type_be(spec->target_typid)),
					 errhint("Use task => 'classification', or cast the target in a view.")));
		lspecs[nf].name = spec->target;
		lspecs[nf].kind = task == MLOPS_TASK_REGRESSION ? MLOPS_KIND_NUMERIC : MLOPS_KIND_CATEGORICAL;
		lspecs[nf].reject_nonfinite = true;
		res->colnames = lappend(res->colnames, spec->target);
	}

	sql = OidIsValid(spec->relid) ? MlopsSelectColumnsSQL(spec->relid, res->colnames) : spec->source_sql;
	/* a relation's first snapshot is taken from this same read */
	if (OidIsValid(spec->relid))
		res->snapshot = MlopsSnapshotBeginFirst(spec->relid, res->colnames);
	data = MlopsLoadQuerySink(sql, ncolumns, lspecs, "training data", MLOPS_LOAD_SORT,
							  res->snapshot ? SnapshotSink : NULL, res->snapshot);
	res->data = data;
	/* integer labels sort as numbers; the loaded column (of a relation or a snapshot) tells */
	int_target = spec->target && IsIntegerType(getBaseType(data->columns[nf].typid));

	if (data->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no rows to train on", spec->relation_text)));

	if (spec->target)
	{
		tcol = &data->columns[nf];
		if (task == 0)
			task = tcol->ncodes <= INT_TARGET_MAX_CLASSES ? MLOPS_TASK_CLASSIFICATION
				: MLOPS_TASK_REGRESSION;
		if (task == MLOPS_TASK_REGRESSION && tcol->kind == MLOPS_KIND_CATEGORICAL)
		{
			/* an integer target loaded as labels: turn it back into numbers */
			double	   *num = palloc_extended(sizeof(double) * data->nrows, MCXT_ALLOC_HUGE);

			for (r = 0; r < data->nrows; r++)
				num[r] = tcol->code[r] < 0 ? NAN : strtod(tcol->code_text[tcol->code[r]], NULL);
			tcol->num = num;
			tcol->kind = MLOPS_KIND_NUMERIC;
		}
	}

	model = palloc0(sizeof(MlopsModel));
	model->task = task;
	MlopsModelSetAlgorithm(model, ResolveAlgorithm(spec, task));
	ParseHyperparams(model, spec->hyperparams, &max_categories);
	model->seed = 0;

	/* split by content hash; rows without a target take no part */
	train = palloc_extended(sizeof(bool) * data->nrows, MCXT_ALLOC_HUGE);
	test = palloc_extended(sizeof(bool) * data->nrows, MCXT_ALLOC_HUGE);
	for (r = 0; r < data->nrows; r++)
	{
		bool		usable = true;

		if (tcol)
			usable = tcol->kind == MLOPS_KIND_CATEGORICAL ? tcol->code[r] >= 0 : !isnan(tcol->num[r]);
		test[r] = usable && MlopsRowIsTest(data->rowhash[r], spec->test_size);
		train[r] = usable && !test[r];
		ntrain += train[r];
		ntest += test[r];
		nusable += usable;
	}
	if (nusable == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" is NULL in every row", spec->target)));
	/* the training rows' positions, so that loops over them do not branch */
	trainrow = palloc_extended(sizeof(int64) * (ntrain + 1), MCXT_ALLOC_HUGE);
	{
		int64		k = 0;

		/* written for every row, kept for training rows: one slot spare */
		for (r = 0; r < data->nrows; r++)
		{
			trainrow[k] = r;
			k += train[r];
		}
	}
	if (ntrain < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few rows to train on: %lld in the training split",
						(long long) ntrain),
				 errhint("Train on more rows, or lower test_size.")));
	if (ntest == 0)
		ereport(WARNING,
				(errmsg("the held-out split is empty; metrics are computed on the training rows"),
				 errhint("Train on more rows, or raise test_size.")));

	/* preprocessing */
	model->nfeatures = nf;
	model->features = palloc0(sizeof(MlopsFeature) * Max(nf, 1));
	for (i = 0; i < nf; i++)
	{
		FitFeature(&model->features[i], &data->columns[i], trainrow, ntrain, max_categories);
		/* an algorithm that learns where missing values go sees them as NaN */
		if (model->algo->handles_missing && model->features[i].kind != MLOPS_KIND_CATEGORICAL)
			model->features[i].impute = NAN;
	}
	MlopsModelPrepare(model);
	ncols = 0;
	for (i = 0; i < nf; i++)
		ncols += model->features[i].width;
	model->ncols = ncols;

	if (task == MLOPS_TASK_CLASSIFICATION)
	{
		int32	   *order = palloc(sizeof(int32) * Max(tcol->ncodes, 1));
		int64	   *seen = palloc0(sizeof(int64) * Max(tcol->ncodes, 1));
		int			nseen = 0;
		CodeOrder	o = {tcol, int_target ? NULL : seen};

		for (int64 k = 0; k < ntrain; k++)
			seen[tcol->code[trainrow[k]]]++;
		for (int c = 0; c < tcol->ncodes; c++)
			if (seen[c] > 0)
				order[nseen++] = c;
		if (nseen < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target column \"%s\" has only one class in the training rows",
							spec->target),
					 errdetail("Every training row has the label \"%s\".", tcol->code_text[order[0]]),
					 errhint("Classification needs at least two classes.")));
		qsort_arg(order, nseen, sizeof(int32), CodeByValueCmp, &o);
		model->nclasses = nseen;
		model->classes = palloc(sizeof(char *) * nseen);
		class_of_code = palloc(sizeof(int) * Max(tcol->ncodes, 1));
		for (int c = 0; c < tcol->ncodes; c++)
			class_of_code[c] = -1;
		for (int k = 0; k < nseen; k++)
		{
			model->classes[k] = tcol->code_text[order[k]];
			class_of_code[order[k]] = k;
		}
	}

	/* the design matrix of the training rows, column-major */
	MlopsCheckMemory((Size) ntrain * (ncols + 1) * sizeof(double), "the training design matrix");
	X = palloc_extended((Size) ntrain * ncols * sizeof(double), MCXT_ALLOC_HUGE);
	if (tcol)
		y = palloc_extended((Size) ntrain * sizeof(double), MCXT_ALLOC_HUGE);
	for (i = 0; i < nf; i++)
	{
		const MlopsFeature *f = &model->features[i];
		const MlopsColumnData *col = &data->columns[i];
		int64		row;

		CHECK_FOR_INTERRUPTS();
		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			int		   *pos = palloc(sizeof(int) * Max(col->ncodes, 1));
			double	   *base = X + (Size) f->offset * ntrain;

			memset(base, 0, sizeof(double) * (Size) ntrain * f->width);

			for (int c = 0; c < col->ncodes; c++)
				pos[c] = MlopsVocabPosition(f, col->code_text[c]);
			for (row = 0; row < ntrain; row++)
			{
				int32		code = col->code[trainrow[row]];

				base[(Size) (code < 0 ? f->nvocab : pos[code]) * ntrain + row] = 1.0;
			}
		}
		else
		{
			double	   *dst = X + (Size) f->offset * ntrain;

			for (row = 0; row < ntrain; row++)
			{
				double		v = col->num[trainrow[row]];

				dst[row] = isnan(v) ? f->impute : v;
			}
		}
	}
	if (tcol)
	{
		for (int64 row = 0; row < ntrain; row++)
		{
			r = trainrow[row];
			y[row] = task == MLOPS_TASK_CLASSIFICATION ? (double) class_of_code[tcol->code[r]]
				: tcol->num[r];
		}
	}

	/* standardisation, learned on the training rows */
	model->center = palloc(sizeof(double) * Max(ncols, 1));
	model->scale = palloc(sizeof(double) * Max(ncols, 1));
	for (int j = 0; j < ncols; j++)
	{
		model->center[j] = 0.0;
		model->scale[j] = 1.0;
		if (model->algo->standardize)
		{
			double	   *col = X + (Size) j * ntrain;
			double		mean = 0.0,
						ss = 0.0;

			for (r = 0; r < ntrain; r++)
				mean += col[r];
			mean /= ntrain;
			for (r = 0; r < ntrain; r++)
				ss += (col[r] - mean) * (col[r] - mean);
			model->center[j] = mean;
			if (ss / ntrain > 1e-24)
				model->scale[j] = sqrt(ss / ntrain);
			for (r = 0; r < ntrain; r++)
				col[r] = (col[r] - mean) / model->scale[j];
		}
	}

	design.nrows = ntrain;
	design.ncols = ncols;
	design.X = X;
	design.y = y;
	design.nclasses = model->nclasses;
	model->algo->fit(model, &design);
	pfree(X);
	if (y)
		pfree(y);

	/* metrics on the held-out rows */
	featcol = palloc(sizeof(int) * Max(nf, 1));
	for (i = 0; i < nf; i++)
		featcol[i] = i;
	res->heldout = ntest > 0 ? test : train;
	res->metrics = MlopsEvaluateData(model, data, featcol, tcol ? nf : -1, res->heldout);
	res->key_metric = KeyMetricFor(task, model->nclasses);
	res->key_value = MlopsJsonbGetFloat(res->metrics, res->key_metric);

	res->model = model;
	res->bytes = MlopsModelSerialize(model);
	res->features_json = FeaturesJson(model);
	res->hyper_json = HyperJson(model, max_categories);
	res->ntrain = ntrain;
	res->ntest = ntest;
	res->baseline = MlopsBaselineBuild(data, nf, spec->target, res->key_metric, res->key_value);
	return res;
}

/*
 * Key metric of the production version on the new held-out rows, or NaN
 * when it cannot be scored on them (different features).
 */
static double
ChampionScore(const TrainResult *res, MlopsModel *champ, const char *key_metric, int nf)
{
	int		   *featcol = palloc(sizeof(int) * Max(champ->nfeatures, 1));
	Jsonb	   *m;

	for (int i = 0; i < champ->nfeatures; i++)
	{
		featcol[i] = MlopsDataColumn(res->data, champ->features[i].name);
		if (featcol[i] < 0 || featcol[i] >= nf ||
			(champ->features[i].kind == MLOPS_KIND_CATEGORICAL) !=
			(res->data->columns[featcol[i]].kind == MLOPS_KIND_CATEGORICAL))
			return NAN;
	}
	m = MlopsEvaluateData(champ, res->data, featcol, res->data->ncolumns > nf ? nf : -1,
						  res->heldout);
	return MlopsJsonbGetFloat(m, key_metric);
}

/* ---------------------------------------------------------------------------
 * SQL entry points
 * ---------------------------------------------------------------------------
 */

static char *
ArgText(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * mlops.train(project, relation, target, task, algorithm, hyperparams,
 *			   features, test_size, search, deploy)
 *	  RETURNS SETOF mlops.model_versions (one row)
 */
Datum
mlops_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz start = GetCurrentTimestamp();
	TrainSpec	spec;
	TrainResult *res;
	char	   *task_arg = ArgText(fcinfo, 3);
	char	   *deploy = PG_ARGISNULL(9) ? "if_better" : ArgText(fcinfo, 9);
	List	   *relcols;
	List	   *reltypes;
	char	   *me;
	Datum		me_name;
	int64		snapshot = 0;
	int			champ_version = 0;
	double		champ_score = NAN;
	MlopsVersion *champ_info = NULL;
	MlopsUserSwitch sw;
	int			version;
	bool		do_deploy;
	char	   *reason;
	long		secs;
	int			usecs;
	MemoryContext traincxt;
	MemoryContext oldcxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	memset(&spec, 0, sizeof(spec));
	spec.project_name = ArgText(fcinfo, 0);
	spec.relid = PG_GETARG_OID(1);
	spec.target = ArgText(fcinfo, 2);
	spec.algo_name = ArgText(fcinfo, 4);
	spec.hyperparams = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	spec.test_size = PG_ARGISNULL(7) ? 0.25 : PG_GETARG_FLOAT8(7);
	if (!(spec.test_size > 0.0 && spec.test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be between 0 and 1 (exclusive), not %g", spec.test_size)));
	if (!PG_ARGISNULL(8))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hyperparameter search is not available in this version of mlops"),
				 errhint("Train once per setting and compare them in mlops.leaderboard.")));
	if (strcmp(deploy, "if_better") != 0 && strcmp(deploy, "always") != 0 &&
		strcmp(deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy policy \"%s\"", deploy),
				 errhint("Valid policies are if_better, always and never.")));
	if (task_arg)
		spec.task = ParseTask(task_arg);
	if (spec.task == MLOPS_TASK_CLUSTERING)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("clustering is not available in this version of mlops")));

	InitMaterializedSRF(fcinfo, 0);
	me = GetUserNameFromId(GetUserId(), false);
	me_name = DirectFunctionCall1(namein, CStringGetDatum(me));

	traincxt = AllocSetContextCreate(CurrentMemoryContext, "mlops train", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(traincxt);

	SPI_connect();

	/* the project, when it exists, fixes task and target */
	spec.project = MlopsGetProject(spec.project_name, true);
	if (spec.project)
	{
		MlopsTask	ptask = ParseTask(spec.project->task);

		MlopsCheckProjectWriter(spec.project);
		if (spec.task != 0 && spec.task != ptask)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" is a %s project, not %s",
							spec.project_name, spec.project->task, task_arg)));
		spec.task = ptask;
		if (spec.target == NULL)
			spec.target = spec.project->target;
		else if (spec.project->target && strcmp(spec.target, spec.project->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" predicts \"%s\", not \"%s\"",
							spec.project_name, spec.project->target, spec.target),
					 errhint("Use a new project name for a different target.")));
	}
	else if (!ValidProjectName(spec.project_name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid project name \"%s\"", spec.project_name),
				 errdetail("A project name starts with a letter or underscore and has at most 63 letters, digits, underscores, dots and dashes.")));

	spec.relation_text = MlopsQualifiedRelname(spec.relid);
	MlopsRelationColumns(spec.relid, &relcols, &reltypes);

	if (spec.target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a target column is required"),
				 errhint("Name the column to predict: mlops.train('%s', '%s', 'column').",
						 spec.project_name, spec.relation_text)));
	if (MlopsNamePosition(relcols, spec.target) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s", spec.target, spec.relation_text)));
	spec.target_typid = list_nth_oid(reltypes, MlopsNamePosition(relcols, spec.target));

	if (PG_ARGISNULL(6))
	{
		ListCell   *lc;

		foreach(lc, relcols)
			if (strcmp(lfirst(lc), spec.target) != 0)
			{
				(void) MlopsKindForType(list_nth_oid(reltypes, foreach_current_index(lc)),
										lfirst(lc));
				spec.features = lappend(spec.features, lfirst(lc));
			}
	}
	else
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(6);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *name;
			int			pos;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature names must not be NULL")));
			name = TextDatumGetCString(elems[i]);
			pos = MlopsNamePosition(relcols, name);
			if (pos < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" does not exist in relation %s", name, spec.relation_text)));
			if (strcmp(name, spec.target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the target column \"%s\" cannot also be a feature", name)));
			if (MlopsNamePosition(spec.features, name) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is listed twice", name)));
			(void) MlopsKindForType(list_nth_oid(reltypes, pos), name);
			spec.features = lappend(spec.features, name);
		}
	}
	if (spec.features == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 errdetail("Relation %s has no column besides the target \"%s\".",
						   spec.relation_text, spec.target)));

	res = TrainCore(&spec);

	/* the champion, scored on the same held-out rows */
	champ_info = MlopsGetVersion(spec.project_name, 0, true);
	if (spec.project && champ_info)
	{
		MlopsModel *champ = MlopsModelDeserialize(champ_info->model);

		champ_version = champ_info->version;
		champ_score = ChampionScore(res, champ, res->key_metric, list_length(spec.features));
		if (isnan(champ_score))
			champ_score = MlopsJsonbGetFloat(champ_info->metrics, res->key_metric);
	}

	if (res->snapshot)
		snapshot = MlopsSnapshotFinish(res->snapshot);
	else if (OidIsValid(spec.relid))
		snapshot = MlopsSnapshotForTraining(spec.relid, res->colnames,
											res->data->content_hash, res->data->nrows);

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);

	/* register, as the registry owner */
	MlopsBecomeRegistryOwner(&sw);
	{
		Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID};
		Datum		args[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		bool		isnull;
		Datum		d;
		MlopsProject *locked;

		args[0] = CStringGetTextDatum(spec.project_name);
		args[1] = CStringGetTextDatum(MlopsTaskName(res->model->task));
		args[2] = CStringGetTextDatum(spec.target);
		args[3] = CStringGetTextDatum(res->key_metric);
		args[4] = CStringGetTextDatum(spec.relation_text);
		args[5] = ObjectIdGetDatum(sw.saved_uid);
		MlopsExecOrError("INSERT INTO mlops.projects (name, task, target, key_metric, relation, owner) "
						 "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
						 6, argtypes, args, nulls, SPI_OK_INSERT);
		/* lock the project: versions and deployments of it serialise here */
		MlopsExecOrError("SELECT 1 FROM mlops.projects WHERE name = $1 FOR UPDATE",
						 1, argtypes, args, nulls, SPI_OK_SELECT);
		locked = MlopsGetProject(spec.project_name, false);
		/* the project may have been created by another role meanwhile */
		if (!superuser_arg(sw.saved_uid) &&
			!(OidIsValid(locked->owner) && has_privs_of_role(sw.saved_uid, locked->owner)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for project \"%s\"", spec.project_name),
					 errdetail("Only the project's owner, members of its role and superusers may train or deploy it.")));
		if (strcmp(locked->task, MlopsTaskName(res->model->task)) != 0 ||
			(locked->target && strcmp(locked->target, spec.target) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("project \"%s\" was created concurrently with another task or target",
							spec.project_name)));
		MlopsExecOrError("UPDATE mlops.projects SET relation = $5 WHERE name = $1",
						 5, argtypes, args, nulls, SPI_OK_UPDATE);

		/* a production version deployed meanwhile is compared by its stored metric */
		{
			MlopsVersion *now = MlopsGetVersionFresh(spec.project_name, 0, true);

			if (now == NULL)
			{
				champ_version = 0;
				champ_score = NAN;
			}
			else if (now->version != champ_version)
			{
				champ_version = now->version;
				champ_score = MlopsJsonbGetFloat(now->metrics, res->key_metric);
			}
		}

		{
			Oid			vtypes[19] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
				TEXTARRAYOID, JSONBOID, TEXTOID, INT8OID, INT8OID,
				INT8OID, FLOAT8OID, FLOAT8OID, NAMEOID, TEXTOID,
			JSONBOID, BYTEAOID, INT4OID, FLOAT8OID};
			Datum		v[19];
			char		vn[19];
			Datum	   *classes = NULL;

			memset(vn, ' ', sizeof(vn));
			v[0] = CStringGetTextDatum(spec.project_name);
			v[1] = CStringGetTextDatum(res->model->algo->name);
			v[2] = CStringGetTextDatum(res->hyper_json);
			v[3] = CStringGetTextDatum(res->features_json);
			v[4] = CStringGetTextDatum(spec.target);
			if (res->model->nclasses > 0)
			{
				classes = palloc(sizeof(Datum) * res->model->nclasses);
				for (int k = 0; k < res->model->nclasses; k++)
					classes[k] = CStringGetTextDatum(res->model->classes[k]);
				v[5] = PointerGetDatum(construct_array(classes, res->model->nclasses, TEXTOID,
													   -1, false, TYPALIGN_INT));
			}
			else
				vn[5] = 'n';
			v[6] = JsonbPGetDatum(res->metrics);
			v[7] = CStringGetTextDatum(spec.relation_text);
			v[8] = Int64GetDatum(snapshot);
			vn[8] = snapshot ? ' ' : 'n';
			v[9] = Int64GetDatum(res->ntrain);
			v[10] = Int64GetDatum(res->ntest);
			v[11] = Float8GetDatum(spec.test_size);
			v[12] = Float8GetDatum(secs + usecs / 1e6);
			v[13] = me_name;
			v[14] = CStringGetTextDatum(MLOPS_EXTENSION_VERSION);
			v[15] = res->baseline ? JsonbPGetDatum(res->baseline) : (Datum) 0;
			vn[15] = res->baseline ? ' ' : 'n';
			v[16] = PointerGetDatum(res->bytes);
			v[17] = Int32GetDatum(champ_version);
			vn[17] = champ_version ? ' ' : 'n';
			v[18] = Float8GetDatum(champ_score);
			vn[18] = (champ_version && !isnan(champ_score)) ? ' ' : 'n';

			MlopsExecOrError("INSERT INTO mlops.model_versions (project, version, algorithm, hyperparams, "
							 "  features, target, classes, metrics, relation, snapshot, train_rows, test_rows, "
							 "  test_size, seed, training_seconds, trained_by, extension_version, baseline, "
							 "  model, model_sha256) "
							 "SELECT $1, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4::jsonb, $5, $6, "
							 "  CASE WHEN $18 IS NULL THEN $7 ELSE $7 || jsonb_build_object('champion', "
							 "    jsonb_build_object('version', $18, (SELECT key_metric FROM mlops.projects WHERE name = $1), $19)) END, "
							 "  $8, $9, $10, $11, $12, 0, $13, $14, $15, $16, $17, sha256($17) "
							 "FROM mlops.model_versions WHERE project = $1 RETURNING version",
							 19, vtypes, v, vn, SPI_OK_INSERT_RETURNING);
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			version = DatumGetInt32(d);
		}

		/* deployment policy */
		if (strcmp(deploy, "always") == 0)
		{
			do_deploy = true;
			reason = psprintf("deploy => 'always' (%s %.6g)", res->key_metric, res->key_value);
		}
		else if (strcmp(deploy, "never") == 0)
		{
			do_deploy = false;
			reason = NULL;
		}
		else if (champ_version == 0)
		{
			do_deploy = true;
			reason = psprintf("first version in production (%s %.6g)", res->key_metric, res->key_value);
		}
		else
		{
			do_deploy = MlopsMetricBetter(res->key_metric, res->key_value, champ_score);
			reason = psprintf("%s %.6g beats version %d's %.6g on the same held-out rows",
							  res->key_metric, res->key_value, champ_version, champ_score);
			if (!do_deploy)
				ereport(NOTICE,
						(errmsg("version %d is not deployed: %s %.6g does not beat production version %d (%.6g)",
								version, res->key_metric, res->key_value, champ_version, champ_score)));
		}
		if (do_deploy)
		{
			Oid			dtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
			Datum		dv[5];

			dv[0] = CStringGetTextDatum(spec.project_name);
			dv[1] = Int32GetDatum(version);
			dv[2] = CStringGetTextDatum(strcmp(deploy, "always") == 0 ? "always" : "if_better");
			dv[3] = CStringGetTextDatum(reason);
			dv[4] = me_name;
			MlopsExecOrError("SELECT mlops._deploy($1, $2, $3, $4, $5)",
							 5, dtypes, dv, NULL, SPI_OK_SELECT);
		}

		/* the row to return */
		{
			Oid			rtypes[2] = {TEXTOID, INT4OID};
			Datum		rv[2];

			rv[0] = CStringGetTextDatum(spec.project_name);
			rv[1] = Int32GetDatum(version);
			if (SPI_execute_with_args("SELECT * FROM mlops.model_versions WHERE project = $1 AND version = $2",
									  2, rtypes, rv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "could not read back version %d", version);
			MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
			tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[0]);
			MemoryContextSwitchTo(traincxt);
		}
	}
	MlopsRestoreUser(&sw);
	SPI_finish();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(traincxt);
	return (Datum) 0;
}

/*
 * mlops.reproduce(project, version): retrain a version from its snapshot,
 * stored hyperparameters and seed, never reading the live relation, and
 * compare model bytes and metrics with the stored ones.
 */
Datum
mlops_reproduce(PG_FUNCTION_ARGS)
{
	char	   *project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			version = PG_GETARG_INT32(1);
	TupleDesc	tupdesc;
	MlopsProject *project;
	MlopsVersion *v;
	TrainSpec	spec;
	TrainResult *res;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	HeapTuple	tuple;
	MemoryContext callercxt = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SPI_connect();
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_TRAIN);
	project = MlopsGetProject(project_name, false);
	v = MlopsGetVersion(project_name, version, false);
	if (v->snapshot == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of project \"%s\" has no snapshot of its training data",
						version, project_name)));
	memset(&spec, 0, sizeof(spec));
	spec.project_name = project_name;
	spec.project = project;
	spec.relid = InvalidOid;
	spec.source_sql = MlopsSnapshotSelectSQL(v->snapshot);
	spec.relation_text = psprintf("snapshot %lld", (long long) v->snapshot);
	spec.target = project->target;
	spec.task = ParseTask(project->task);
	spec.algo_name = v->algorithm;
	spec.hyperparams = v->hyperparams;
	spec.test_size = v->test_size;
	/* the feature list from the registry, so that damaged bytes can be reported */
	{
		Oid			argtypes[2] = {TEXTOID, INT4OID};
		Datum		args[2];
		args[0] = CStringGetTextDatum(project_name);
		args[1] = Int32GetDatum(version);
		if (SPI_execute_with_args("SELECT f ->> 'name' FROM mlops.model_versions v, "
								  "jsonb_array_elements(v.features) WITH ORDINALITY AS e(f, n) "
								  "WHERE v.project = $1 AND v.version = $2 ORDER BY e.n",
								  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the features of version %d", version);
		for (uint64 i = 0; i < SPI_processed; i++)
			spec.features = lappend(spec.features,
									SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}

	res = TrainCore(&spec);

	{
		Oid			types[4] = {BYTEAOID, BYTEAOID, JSONBOID, JSONBOID};
		Datum		args[4];
		bool		isnull;
		HeapTuple	row;
		TupleDesc	desc;

		args[0] = PointerGetDatum(v->model);
		args[1] = PointerGetDatum(res->bytes);
		args[2] = JsonbPGetDatum(v->metrics);
		args[3] = JsonbPGetDatum(res->metrics);
		if (SPI_execute_with_args("SELECT $1 = $2, ($3 - 'champion') = $4, sha256($1), sha256($2)",
								  4, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not compare models");
		row = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		values[0] = Int64GetDatum(v->snapshot);
		values[1] = SPI_getbinval(row, desc, 1, &isnull);
		values[2] = SPI_getbinval(row, desc, 2, &isnull);
		values[3] = SPI_datumTransfer(SPI_getbinval(row, desc, 3, &isnull), false, -1);
		values[4] = SPI_datumTransfer(SPI_getbinval(row, desc, 4, &isnull), false, -1);
	}
	{
		MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

		values[5] = PointerGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(v->metrics)));
		values[6] = PointerGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(res->metrics)));
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();

	tuple = heap_form_tuple(tupdesc, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
