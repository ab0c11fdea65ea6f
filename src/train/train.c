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

/* The state of one run of the training pipeline, shared by its phases */
typedef struct TrainState
{
	TrainSpec  *spec;
	TrainResult *res;			/* what the run produces */
	int			nf;				/* feature columns, loaded first */
	int			ncolumns;		/* nf, and the target's (column nf) if any */
	MlopsTask	task;			/* 0 until known */
	MlopsTrainData *data;		/* the loaded rows, in content-hash order */
	MlopsColumnData *tcol;		/* the target column, NULL for clustering */
	bool		int_target;		/* integer target: labels sort as numbers */
	MlopsModel *model;
	int			max_categories;
	bool	   *train;			/* per row: in the training split */
	bool	   *test;			/* per row: in the held-out split */
	int64	   *trainrow;		/* the training rows' positions */
	int64		ntrain;
	int64		ntest;
	int		   *class_of_code;	/* target code -> class, for classification */
	double	   *X;				/* training design matrix, column-major */
	double	   *y;				/* training targets, NULL without a target */
} TrainState;

/*
 * Resolve: how to load each column, and the task from the target's type
 * when the caller left it open (an integer target waits for the data).
 */
static MlopsLoadSpec *
TrainLoadSpecs(TrainState *st)
{
	TrainSpec  *spec = st->spec;
	TrainResult *res = st->res;
	int			nf = st->nf;
	MlopsLoadSpec *lspecs = palloc0(sizeof(MlopsLoadSpec) * st->ncolumns);
	ListCell   *lc;
	int			i;

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

		if (st->task == 0)
		{
			if (!OidIsValid(base))
				elog(ERROR, "task must be known when the target type is not");
			if (IsIntegerType(base))
				st->task = 0;	/* decided from the data below */
			else if (numeric_type)
				st->task = MLOPS_TASK_REGRESSION;
			else
				st->task = MLOPS_TASK_CLASSIFICATION;
		}
		if (st->task == MLOPS_TASK_REGRESSION && OidIsValid(base) && !numeric_type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" has type %s, but regression needs a numeric target",
							spec->target, format_type_be(spec->target_typid)),
					 errhint("Use task => 'classification', or cast the target in a view.")));
		lspecs[nf].name = spec->target;
		lspecs[nf].kind = st->task == MLOPS_TASK_REGRESSION ? MLOPS_KIND_NUMERIC : MLOPS_KIND_CATEGORICAL;
		lspecs[nf].reject_nonfinite = true;
		res->colnames = lappend(res->colnames, spec->target);
	}
	return lspecs;
}

/*
 * Load: one pass over the source, which also feeds a relation's first
 * snapshot; ERROR when there is no row.
 */
static void
TrainLoad(TrainState *st, MlopsLoadSpec *lspecs)
{
	TrainSpec  *spec = st->spec;
	TrainResult *res = st->res;
	const char *sql;

	sql = OidIsValid(spec->relid) ? MlopsSelectColumnsSQL(spec->relid, res->colnames) : spec->source_sql;
	/* a relation's first snapshot is taken from this same read */
	if (OidIsValid(spec->relid))
		res->snapshot = MlopsSnapshotBeginFirst(spec->relid, res->colnames);
	st->data = MlopsLoadQuerySink(sql, st->ncolumns, lspecs, "training data", MLOPS_LOAD_SORT,
								  res->snapshot ? SnapshotSink : NULL, res->snapshot);
	res->data = st->data;
	/* integer labels sort as numbers; the loaded column (of a relation or a snapshot) tells */
	st->int_target = spec->target && IsIntegerType(getBaseType(st->data->columns[st->nf].typid));

	if (st->data->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no rows to train on", spec->relation_text)));
}

/*
 * Target: an integer target's task from its number of distinct values, and
 * an integer target loaded as labels turned back into numbers for
 * regression.
 */
static void
TrainTarget(TrainState *st)
{
	MlopsTrainData *data = st->data;
	MlopsColumnData *tcol;

	if (!st->spec->target)
		return;
	tcol = st->tcol = &data->columns[st->nf];
	if (st->task == 0)
		st->task = tcol->ncodes <= INT_TARGET_MAX_CLASSES ? MLOPS_TASK_CLASSIFICATION
			: MLOPS_TASK_REGRESSION;
	if (st->task == MLOPS_TASK_REGRESSION && tcol->kind == MLOPS_KIND_CATEGORICAL)
	{
		/* an integer target loaded as labels: turn it back into numbers */
		double	   *num = palloc_extended(sizeof(double) * data->nrows, MCXT_ALLOC_HUGE);

		for (int64 r = 0; r < data->nrows; r++)
			num[r] = tcol->code[r] < 0 ? NAN : strtod(tcol->code_text[tcol->code[r]], NULL);
		tcol->num = num;
		tcol->kind = MLOPS_KIND_NUMERIC;
	}
}

/* Model: the algorithm for the task and its hyperparameters. */
static void
TrainNewModel(TrainState *st)
{
	MlopsModel *model = palloc0(sizeof(MlopsModel));

	model->task = st->task;
	model->algo = ResolveAlgorithm(st->spec, st->task);
	ParseHyperparams(model, st->spec->hyperparams, &st->max_categories);
	model->seed = 0;
	st->model = model;
}

/*
 * Split: by content hash, rows without a target taking no part; ERROR with
 * too few training rows, WARNING with no held-out row.
 */
static void
TrainSplit(TrainState *st)
{
	MlopsTrainData *data = st->data;
	MlopsColumnData *tcol = st->tcol;
	bool	   *train;
	bool	   *test;
	int64	   *trainrow;
	int64		ntrain = 0,
				ntest = 0,
				nusable = 0;
	int64		r;

	train = palloc_extended(sizeof(bool) * data->nrows, MCXT_ALLOC_HUGE);
	test = palloc_extended(sizeof(bool) * data->nrows, MCXT_ALLOC_HUGE);
	for (r = 0; r < data->nrows; r++)
	{
		bool		usable = true;

		if (tcol)
			usable = tcol->kind == MLOPS_KIND_CATEGORICAL ? tcol->code[r] >= 0 : !isnan(tcol->num[r]);
		test[r] = usable && MlopsRowIsTest(data->rowhash[r], st->spec->test_size);
		train[r] = usable && !test[r];
		ntrain += train[r];
		ntest += test[r];
		nusable += usable;
	}
	if (nusable == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" is NULL in every row", st->spec->target)));
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
	st->train = train;
	st->test = test;
	st->trainrow = trainrow;
	st->ntrain = ntrain;
	st->ntest = ntest;
}

/* Preprocess: each feature's encoding, learned on the training rows. */
static void
TrainFitFeatures(TrainState *st)
{
	MlopsModel *model = st->model;
	int			nf = st->nf;
	int			ncols;

	model->nfeatures = nf;
	model->features = palloc0(sizeof(MlopsFeature) * Max(nf, 1));
	for (int i = 0; i < nf; i++)
		FitFeature(&model->features[i], &st->data->columns[i], st->trainrow, st->ntrain,
				   st->max_categories);
	MlopsModelPrepare(model);
	ncols = 0;
	for (int i = 0; i < nf; i++)
		ncols += model->features[i].width;
	model->ncols = ncols;
}

/*
 * Classes: the labels seen in the training rows, sorted (integer labels as
 * numbers), and each target code's class; ERROR for a single class.
 */
static void
TrainClasses(TrainState *st)
{
	MlopsModel *model = st->model;
	MlopsColumnData *tcol = st->tcol;
	int32	   *order = palloc(sizeof(int32) * Max(tcol->ncodes, 1));
	int64	   *seen = palloc0(sizeof(int64) * Max(tcol->ncodes, 1));
	int			nseen = 0;
	CodeOrder	o = {tcol, st->int_target ? NULL : seen};
	int		   *class_of_code;

	for (int64 k = 0; k < st->ntrain; k++)
		seen[tcol->code[st->trainrow[k]]]++;
	for (int c = 0; c < tcol->ncodes; c++)
		if (seen[c] > 0)
			order[nseen++] = c;
	if (nseen < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" has only one class in the training rows",
						st->spec->target),
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
	st->class_of_code = class_of_code;
}

/* Design: the encoded training rows (column-major) and their targets. */
static void
TrainDesign(TrainState *st)
{
	MlopsModel *model = st->model;
	MlopsTrainData *data = st->data;
	MlopsColumnData *tcol = st->tcol;
	const int64 *trainrow = st->trainrow;
	int64		ntrain = st->ntrain;
	int			ncols = model->ncols;
	double	   *X;
	double	   *y = NULL;

	MlopsCheckMemory((Size) ntrain * (ncols + 1) * sizeof(double), "the training design matrix");
	X = palloc_extended((Size) ntrain * ncols * sizeof(double), MCXT_ALLOC_HUGE);
	if (tcol)
		y = palloc_extended((Size) ntrain * sizeof(double), MCXT_ALLOC_HUGE);
	for (int i = 0; i < st->nf; i++)
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
			int64		r = trainrow[row];

			y[row] = st->task == MLOPS_TASK_CLASSIFICATION ? (double) st->class_of_code[tcol->code[r]]
				: tcol->num[r];
		}
	}
	st->X = X;
	st->y = y;
}

/*
 * Standardise: each design column's center and scale, learned on the
 * training rows and applied to them (center 0, scale 1 for an algorithm
 * that does not standardise).
 */
static void
TrainStandardise(TrainState *st)
{
	MlopsModel *model = st->model;
	int64		ntrain = st->ntrain;
	int			ncols = model->ncols;
	int64		r;

	model->center = palloc(sizeof(double) * Max(ncols, 1));
	model->scale = palloc(sizeof(double) * Max(ncols, 1));
	for (int j = 0; j < ncols; j++)
	{
		model->center[j] = 0.0;
		model->scale[j] = 1.0;
		if (model->algo->standardize)
		{
			double	   *col = st->X + (Size) j * ntrain;
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
}

/* Fit: the algorithm on the design matrix, which is then freed. */
static void
TrainFit(TrainState *st)
{
	MlopsDesign design;

	design.nrows = st->ntrain;
	design.ncols = st->model->ncols;
	design.X = st->X;
	design.y = st->y;
	design.nclasses = st->model->nclasses;
	st->model->algo->fit(st->model, &design);
	pfree(st->X);
	if (st->y)
		pfree(st->y);
	st->X = NULL;
	st->y = NULL;
}

/*
 * Measure: the metrics on the held-out rows (the training rows when there
 * is none), the serialised model and what the registry records of it.
 */
static void
TrainMeasure(TrainState *st)
{
	TrainResult *res = st->res;
	MlopsModel *model = st->model;
	int			nf = st->nf;
	int		   *featcol;

	featcol = palloc(sizeof(int) * Max(nf, 1));
	for (int i = 0; i < nf; i++)
		featcol[i] = i;
	res->heldout = st->ntest > 0 ? st->test : st->train;
	res->metrics = MlopsEvaluateData(model, st->data, featcol, st->tcol ? nf : -1, res->heldout);
	res->key_metric = KeyMetricFor(st->task, model->nclasses);
	res->key_value = MlopsJsonbGetFloat(res->metrics, res->key_metric);

	res->model = model;
	res->bytes = MlopsModelSerialize(model);
	res->features_json = FeaturesJson(model);
	res->hyper_json = HyperJson(model, st->max_categories);
	res->ntrain = st->ntrain;
	res->ntest = st->ntest;
	res->baseline = MlopsBaselineBuild(st->data, nf, st->spec->target, res->key_metric,
									   res->key_value);
}

/*
 * Train per spec; nothing is written.  The caller registers the result.
 */
static TrainResult *
TrainCore(TrainSpec *spec)
{
	TrainState	st;
	MlopsLoadSpec *lspecs;

	memset(&st, 0, sizeof(st));
	st.spec = spec;
	st.res = palloc0(sizeof(TrainResult));
	st.nf = list_length(spec->features);
	st.ncolumns = st.nf + (spec->target ? 1 : 0);
	st.task = spec->task;

	/* fail fast on an unknown algorithm when the task is already known */
	if (st.task != 0)
		(void) ResolveAlgorithm(spec, st.task);

	lspecs = TrainLoadSpecs(&st);
	TrainLoad(&st, lspecs);
	TrainTarget(&st);
	TrainNewModel(&st);
	TrainSplit(&st);
	TrainFitFeatures(&st);
	if (st.task == MLOPS_TASK_CLASSIFICATION)
		TrainClasses(&st);
	TrainDesign(&st);
	TrainStandardise(&st);
	TrainFit(&st);
	TrainMeasure(&st);
	return st.res;
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
 * Registering a trained version
 * ---------------------------------------------------------------------------
 */

/* What mlops.train registers besides the training result */
typedef struct TrainRecord
{
	const char *deploy;			/* policy: if_better, always or never */
	const char *me;				/* the caller, who trains and deploys */
	Datum		me_name;		/* the same, as a name */
	int64		snapshot;		/* of the training rows, 0 when none */
	double		seconds;		/* how long training took */
	int			champ_version;	/* the production version, 0 when none */
	double		champ_score;	/* its key metric on the held-out rows, or NaN */
	int			version;		/* the version registered */
} TrainRecord;

/*
 * The project row: created when new, locked (versions and deployments of
 * the project serialise here), checked again, and pointed at the relation
 * just trained on.  Runs as the registry owner, sw saving the caller.
 */
static void
RecordProject(const TrainSpec *spec, const TrainResult *res, const TrainRecord *rec,
			  MlopsUserSwitch *sw)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	MlopsProject *locked;

	args[0] = CStringGetTextDatum(spec->project_name);
	args[1] = CStringGetTextDatum(MlopsTaskName(res->model->task));
	args[2] = CStringGetTextDatum(spec->target);
	args[3] = CStringGetTextDatum(res->key_metric);
	args[4] = CStringGetTextDatum(spec->relation_text);
	args[5] = rec->me_name;
	MlopsExecOrError("INSERT INTO mlops.projects (name, task, target, key_metric, relation, owner) "
					 "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
					 6, argtypes, args, nulls, SPI_OK_INSERT);
	MlopsLockProject(spec->project_name);
	locked = MlopsGetProject(spec->project_name, false);

	/*
	 * The project may have been created by another role meanwhile.  The
	 * check is the caller's, so it is made as the caller.
	 */
	MlopsRestoreUser(sw);
	MlopsCheckProjectWriter(locked);
	MlopsBecomeRegistryOwner(sw);
	if (strcmp(locked->task, MlopsTaskName(res->model->task)) != 0 ||
		(locked->target && strcmp(locked->target, spec->target) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("project \"%s\" was created concurrently with another task or target",
						spec->project_name)));
	MlopsExecOrError("UPDATE mlops.projects SET relation = $5 WHERE name = $1",
					 5, argtypes, args, nulls, SPI_OK_UPDATE);
}

/*
 * A production version deployed since the champion was scored is compared
 * by its stored metric; none left in production means no champion.
 */
static void
RecordRefreshChampion(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec)
{
	MlopsVersion *now = MlopsGetVersionFresh(spec->project_name, 0, true);

	if (now == NULL)
	{
		rec->champ_version = 0;
		rec->champ_score = NAN;
	}
	else if (now->version != rec->champ_version)
	{
		rec->champ_version = now->version;
		rec->champ_score = MlopsJsonbGetFloat(now->metrics, res->key_metric);
	}
}

/* The new version's row in mlops.model_versions; returns its number. */
static int
RecordVersion(const TrainSpec *spec, const TrainResult *res, const TrainRecord *rec)
{
	MlopsNewVersion nv;

	nv.project = spec->project_name;
	nv.algorithm = res->model->algo->name;
	nv.hyperparams = res->hyper_json;
	nv.features = res->features_json;
	nv.target = spec->target;
	nv.nclasses = res->model->nclasses;
	nv.classes = res->model->classes;
	nv.metrics = res->metrics;
	nv.relation = spec->relation_text;
	nv.snapshot = rec->snapshot;
	nv.train_rows = res->ntrain;
	nv.test_rows = res->ntest;
	nv.test_size = spec->test_size;
	nv.training_seconds = rec->seconds;
	nv.trained_by = rec->me;
	nv.baseline = res->baseline;
	nv.model = res->bytes;
	nv.champion_version = rec->champ_version;
	nv.champion_score = rec->champ_score;
	return MlopsInsertVersion(&nv);
}

/*
 * The deployment policy: whether to deploy the new version, and why
 * (*reason NULL with deploy => 'never').  if_better deploys a first version,
 * or one that beats the champion; otherwise it says so in a NOTICE.
 */
static bool
DeployPolicy(const TrainResult *res, const TrainRecord *rec, char **reason)
{
	bool		do_deploy;

	if (strcmp(rec->deploy, "always") == 0)
	{
		do_deploy = true;
		*reason = psprintf("deploy => 'always' (%s %.6g)", res->key_metric, res->key_value);
	}
	else if (strcmp(rec->deploy, "never") == 0)
	{
		do_deploy = false;
		*reason = NULL;
	}
	else if (rec->champ_version == 0)
	{
		do_deploy = true;
		*reason = psprintf("first version in production (%s %.6g)", res->key_metric, res->key_value);
	}
	else
	{
		do_deploy = MlopsMetricBetter(res->key_metric, res->key_value, rec->champ_score);
		*reason = psprintf("%s %.6g beats version %d's %.6g on the same held-out rows",
						   res->key_metric, res->key_value, rec->champ_version, rec->champ_score);
		if (!do_deploy)
			ereport(NOTICE,
					(errmsg("version %d is not deployed: %s %.6g does not beat production version %d (%.6g)",
							rec->version, res->key_metric, res->key_value,
							rec->champ_version, rec->champ_score)));
	}
	return do_deploy;
}

/* Deploy the new version through mlops._deploy, with the policy's reason. */
static void
RecordDeploy(const TrainSpec *spec, const TrainRecord *rec, const char *reason)
{
	Oid			dtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
	Datum		dv[5];

	dv[0] = CStringGetTextDatum(spec->project_name);
	dv[1] = Int32GetDatum(rec->version);
	dv[2] = CStringGetTextDatum(strcmp(rec->deploy, "always") == 0 ? "always" : "if_better");
	dv[3] = CStringGetTextDatum(reason);
	dv[4] = rec->me_name;
	MlopsExecOrError("SELECT mlops._deploy($1, $2, $3, $4, $5)",
					 5, dtypes, dv, NULL, SPI_OK_SELECT);
}

/* The new version's row, read back into the function's result. */
static void
RecordReturnRow(const TrainSpec *spec, const TrainRecord *rec, ReturnSetInfo *rsinfo)
{
	Oid			rtypes[2] = {TEXTOID, INT4OID};
	Datum		rv[2];
	MemoryContext oldcxt;

	rv[0] = CStringGetTextDatum(spec->project_name);
	rv[1] = Int32GetDatum(rec->version);
	if (SPI_execute_with_args("SELECT * FROM mlops.model_versions WHERE project = $1 AND version = $2",
							  2, rtypes, rv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read back version %d", rec->version);
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[0]);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Register the trained version as the registry owner: the project row, the
 * version row, its deployment per the policy, and the row to return.
 */
static void
TrainRegister(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec,
			  ReturnSetInfo *rsinfo)
{
	MlopsUserSwitch sw;
	char	   *reason;

	MlopsBecomeRegistryOwner(&sw);
	RecordProject(spec, res, rec, &sw);
	RecordRefreshChampion(spec, res, rec);
	rec->version = RecordVersion(spec, res, rec);
	if (DeployPolicy(res, rec, &reason))
		RecordDeploy(spec, rec, reason);
	RecordReturnRow(spec, rec, rsinfo);
	MlopsRestoreUser(&sw);
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
 * Arguments: what mlops.train was asked, into spec (but the project, the
 * target and the features, resolved later), *task_arg and *deploy; ERROR
 * for a NULL project or relation and for a value out of range.
 */
static void
TrainArgs(FunctionCallInfo fcinfo, TrainSpec *spec, char **task_arg, const char **deploy)
{
	*task_arg = ArgText(fcinfo, 3);
	*deploy = PG_ARGISNULL(9) ? "if_better" : ArgText(fcinfo, 9);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	memset(spec, 0, sizeof(*spec));
	spec->project_name = ArgText(fcinfo, 0);
	spec->relid = PG_GETARG_OID(1);
	spec->target = ArgText(fcinfo, 2);
	spec->algo_name = ArgText(fcinfo, 4);
	spec->hyperparams = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	spec->test_size = PG_ARGISNULL(7) ? 0.25 : PG_GETARG_FLOAT8(7);
	if (!(spec->test_size > 0.0 && spec->test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be between 0 and 1 (exclusive), not %g", spec->test_size)));
	if (!PG_ARGISNULL(8))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hyperparameter search is not available in this version of mlops"),
				 errhint("Train once per setting and compare them in mlops.leaderboard.")));
	if (strcmp(*deploy, "if_better") != 0 && strcmp(*deploy, "always") != 0 &&
		strcmp(*deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy policy \"%s\"", *deploy),
				 errhint("Valid policies are if_better, always and never.")));
	if (*task_arg)
		spec->task = ParseTask(*task_arg);
	if (spec->task == MLOPS_TASK_CLUSTERING)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("clustering is not available in this version of mlops")));
}

/*
 * Resolve the project: an existing one fixes the task and the target (and
 * the caller must be allowed to train it); a new one needs a valid name.
 */
static void
TrainResolveProject(TrainSpec *spec, const char *task_arg)
{
	spec->project = MlopsGetProject(spec->project_name, true);
	if (spec->project)
	{
		MlopsTask	ptask = ParseTask(spec->project->task);

		MlopsCheckProjectWriter(spec->project);
		if (spec->task != 0 && spec->task != ptask)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" is a %s project, not %s",
							spec->project_name, spec->project->task, task_arg)));
		spec->task = ptask;
		if (spec->target == NULL)
			spec->target = spec->project->target;
		else if (spec->project->target && strcmp(spec->target, spec->project->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" predicts \"%s\", not \"%s\"",
							spec->project_name, spec->project->target, spec->target),
					 errhint("Use a new project name for a different target.")));
	}
	else if (!ValidProjectName(spec->project_name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid project name \"%s\"", spec->project_name),
				 errdetail("A project name starts with a letter or underscore and has at most 63 letters, digits, underscores, dots and dashes.")));
}

/* Resolve the target: a column of the relation, whose type is recorded. */
static void
TrainResolveTarget(TrainSpec *spec, List *relcols, List *reltypes)
{
	if (spec->target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a target column is required"),
				 errhint("Name the column to predict: mlops.train('%s', '%s', 'column').",
						 spec->project_name, spec->relation_text)));
	if (MlopsNamePosition(relcols, spec->target) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s", spec->target, spec->relation_text)));
	spec->target_typid = list_nth_oid(reltypes, MlopsNamePosition(relcols, spec->target));
}

/*
 * Resolve the features: the columns named in arr, or (arr NULL) every
 * column but the target; each must have a type that can be a feature.
 */
static void
TrainResolveFeatures(TrainSpec *spec, List *relcols, List *reltypes, ArrayType *arr)
{
	if (arr == NULL)
	{
		ListCell   *lc;

		foreach(lc, relcols)
			if (strcmp(lfirst(lc), spec->target) != 0)
			{
				(void) MlopsKindForType(list_nth_oid(reltypes, foreach_current_index(lc)),
										lfirst(lc));
				spec->features = lappend(spec->features, lfirst(lc));
			}
	}
	else
	{
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
						 errmsg("column \"%s\" does not exist in relation %s", name, spec->relation_text)));
			if (strcmp(name, spec->target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the target column \"%s\" cannot also be a feature", name)));
			if (MlopsNamePosition(spec->features, name) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is listed twice", name)));
			(void) MlopsKindForType(list_nth_oid(reltypes, pos), name);
			spec->features = lappend(spec->features, name);
		}
	}
	if (spec->features == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 errdetail("Relation %s has no column besides the target \"%s\".",
						   spec->relation_text, spec->target)));
}

/*
 * The champion: the production version of an existing project, scored on
 * the new held-out rows (its stored metric when it cannot be).
 */
static void
TrainScoreChampion(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec)
{
	MlopsVersion *champ_info = MlopsGetVersion(spec->project_name, 0, true);

	rec->champ_version = 0;
	rec->champ_score = NAN;
	if (spec->project && champ_info)
	{
		MlopsModel *champ = MlopsModelDeserialize(champ_info->model);

		rec->champ_version = champ_info->version;
		rec->champ_score = ChampionScore(res, champ, res->key_metric, list_length(spec->features));
		if (isnan(rec->champ_score))
			rec->champ_score = MlopsJsonbGetFloat(champ_info->metrics, res->key_metric);
	}
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
	TrainRecord rec;
	char	   *task_arg;
	List	   *relcols;
	List	   *reltypes;
	long		secs;
	int			usecs;
	MemoryContext traincxt;
	MemoryContext oldcxt;

	memset(&rec, 0, sizeof(rec));
	TrainArgs(fcinfo, &spec, &task_arg, &rec.deploy);

	InitMaterializedSRF(fcinfo, 0);
	rec.me = GetUserNameFromId(GetUserId(), false);
	rec.me_name = DirectFunctionCall1(namein, CStringGetDatum(rec.me));

	traincxt = AllocSetContextCreate(CurrentMemoryContext, "mlops train", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(traincxt);

	SPI_connect();

	TrainResolveProject(&spec, task_arg);
	spec.relation_text = MlopsQualifiedRelname(spec.relid);
	MlopsRelationColumns(spec.relid, &relcols, &reltypes);
	TrainResolveTarget(&spec, relcols, reltypes);
	TrainResolveFeatures(&spec, relcols, reltypes,
						 PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6));

	res = TrainCore(&spec);

	TrainScoreChampion(&spec, res, &rec);
	if (res->snapshot)
		rec.snapshot = MlopsSnapshotFinish(res->snapshot);
	else if (OidIsValid(spec.relid))
		rec.snapshot = MlopsSnapshotForTraining(spec.relid, res->colnames,
												res->data->content_hash, res->data->nrows);

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	rec.seconds = secs + usecs / 1e6;

	TrainRegister(&spec, res, &rec, rsinfo);
	SPI_finish();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(traincxt);
	return (Datum) 0;
}

/*
 * The feature names of a version, in order, from its registry row (not its
 * model bytes, so that damaged bytes can be reported).
 */
static List *
ReproduceFeatures(const char *project_name, int version)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	List	   *features = NIL;

	args[0] = CStringGetTextDatum(project_name);
	args[1] = Int32GetDatum(version);
	if (SPI_execute_with_args("SELECT f ->> 'name' FROM mlops.model_versions v, "
							  "jsonb_array_elements(v.features) WITH ORDINALITY AS e(f, n) "
							  "WHERE v.project = $1 AND v.version = $2 ORDER BY e.n",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the features of version %d", version);
	for (uint64 i = 0; i < SPI_processed; i++)
		features = lappend(features,
						   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return features;
}

/*
 * Compare the stored version v with its retrained result: values[0..4] of
 * mlops.reproduce's row (snapshot, same bytes, same metrics, both hashes).
 */
static void
ReproduceCompare(const MlopsVersion *v, const TrainResult *res, Datum *values)
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
	spec.features = ReproduceFeatures(project_name, version);

	res = TrainCore(&spec);

	ReproduceCompare(v, res, values);
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
