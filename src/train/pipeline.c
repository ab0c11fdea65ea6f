/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *	  The training pipeline: from a training spec to a fitted, measured
 *	  model, nothing written.  mlops.train and mlops.reproduce (train.c)
 *	  both run it; mlops.train then registers the result (record.c).
 *
 * One pass loads the training columns (load.c) with each row's content
 * hash; rows are sorted by that hash so training is independent of the
 * heap's order, and the hash also decides each row's side of the split.
 * Preprocessing is learned on the training side only: imputation means,
 * vocabularies, classes (encode.c), standardisation.  The algorithm fits
 * the encoded design matrix (after a hyperparameter search over it, when
 * asked: search.c), and the held-out side gives the metrics, on
 * which the production version (the champion) is scored too.  Linear and
 * ridge models of numeric and boolean features take another path from
 * the split on: preprocessing, search and fit from the exact moments of
 * the training rows (train_moments.c).
 *
 * Each phase is a function on the run's TrainState, called in order by
 * TrainPipeline.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "algorithms/algorithm.h"
#include "core/relation.h"
#include "core/rowhash.h"
#include "core/util.h"
#include "train/baseline.h"
#include "train/hyperparams.h"
#include "train/metrics.h"
#include "train/train_int.h"
#include "train/train_moments.h"

#define INT_TARGET_MAX_CLASSES	20

/* MlopsRowSink feeding a first snapshot from training's own read */
static void
SnapshotSink(void *arg, uint64 rowhash, const Datum *values, const bool *isnull)
{
	MlopsSnapshotAddRow((MlopsSnapshotBuilder *) arg, rowhash, values, isnull);
}

/* Whether base (a base type) is one of the integer types */
static bool
IsIntegerType(Oid base)
{
	return base == INT2OID || base == INT4OID || base == INT8OID;
}

/* The metric that decides between versions of a project of this task */
static const char *
KeyMetricFor(MlopsTask task, int nclasses)
{
	if (task == MLOPS_TASK_REGRESSION)
		return "r2";
	if (task == MLOPS_TASK_CLUSTERING)
		return "silhouette";
	return nclasses == 2 ? "roc_auc" : "f1";
}

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

/*
 * Fill model->hyper from the user's jsonb (defaults for what is absent);
 * each key and value is checked by hyperparams.c.
 */
static void
ParseHyperparams(MlopsModel *model, Jsonb *hp, int *max_categories)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	MlopsHyperparamsInit(model, max_categories);
	if (hp == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparams must be a JSON object")));

	it = JsonbIteratorInit(&hp->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		double		val = 0.0;
		int			idx;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		/* the key first: an unknown one is reported whatever its value */
		idx = MlopsHyperparamIndex(model, key);
		if (v.type == jbvNumeric)
			val = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			val = v.val.boolean ? 1.0 : 0.0;
		MlopsHyperparamAssign(model, idx, key,
							  (v.type == jbvNumeric || v.type == jbvBool) ? &val : NULL,
							  max_categories);
	}
}

/* Model: the algorithm for the task and its hyperparameters. */
static void
TrainNewModel(TrainState *st)
{
	MlopsModel *model = palloc0(sizeof(MlopsModel));

	model->task = st->task;
	MlopsModelSetAlgorithm(model, ResolveAlgorithm(st->spec, st->task));
	ParseHyperparams(model, st->spec->hyperparams, &st->max_categories);
	model->seed = 0;
	st->model = model;
	if (st->spec->search)
		st->search = TrainSearchParse(st->spec->search, model);
}

/*
 * Search: with a search spec, cross-validate its candidates on the
 * training design and keep the best one's hyperparameters (search.c).
 */
static void
TrainSearchBest(TrainState *st)
{
	if (st->search == NULL)
		return;
	TrainSearchRun(st->search, st->model, st->data, st->nf, st->trainrow, st->ntrain,
				   st->X, st->y, KeyMetricFor(st->task, st->model->nclasses),
				   st->max_categories);
	st->res->search = st->search;
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

/*
 * Preprocess: each feature's encoding and, for classification, the classes,
 * learned on the training rows.
 */
static void
TrainPreprocess(TrainState *st)
{
	MlopsModel *model = st->model;
	int			nf = st->nf;
	int			ncols;

	model->nfeatures = nf;
	model->features = palloc0(sizeof(MlopsFeature) * Max(nf, 1));
	for (int i = 0; i < nf; i++)
	{
		TrainFitFeature(&model->features[i], &st->data->columns[i], st->trainrow, st->ntrain,
						st->max_categories);
		/* an algorithm that learns where missing values go sees them as NaN */
		if (model->algo->handles_missing && model->features[i].kind != MLOPS_KIND_CATEGORICAL)
			model->features[i].impute = NAN;
	}
	MlopsModelPrepare(model);
	ncols = 0;
	for (int i = 0; i < nf; i++)
		ncols += model->features[i].width;
	model->ncols = ncols;

	if (st->task == MLOPS_TASK_CLASSIFICATION)
		st->class_of_code = TrainFitClasses(model, st->tcol, st->trainrow, st->ntrain,
											st->int_target, st->spec->target);
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
		if (MlopsModelStandardizes(model))
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
	res->model = model;
	res->bytes = MlopsModelSerialize(model);
	res->heldout = st->ntest > 0 ? st->test : st->train;
	if (st->moments && st->pushdown)
		res->metrics = TrainMomentsMetrics(st, st->ntest > 0);
	else
		res->metrics = MlopsEvaluateData(model, st->data, featcol, st->tcol ? nf : -1,
										 res->heldout);
	res->key_metric = KeyMetricFor(st->task, model->nclasses);
	res->key_value = MlopsJsonbGetFloat(res->metrics, res->key_metric);

	res->features_json = TrainFeaturesJson(model);
	res->hyper_json = MlopsHyperparamsJson(model, st->max_categories);
	res->ntrain = st->ntrain;
	res->ntest = st->ntest;
	res->baseline = MlopsBaselineBuild(st->data, nf, st->spec->target, res->key_metric,
									   res->key_value);
}

/*
 * Train per spec; nothing is written.  The caller registers the result.
 */
TrainResult *
TrainPipeline(TrainSpec *spec)
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
	if (TrainMomentsApplies(&st))
		TrainFromMoments(&st);	/* train_moments.c */
	else
	{
		TrainPreprocess(&st);
		TrainDesign(&st);
		TrainStandardise(&st);
		TrainSearchBest(&st);
		TrainFit(&st);
	}
	TrainMeasure(&st);
	return st.res;
}

/*
 * Key metric of the production version on the new held-out rows, or NaN
 * when it cannot be scored on them (different features).
 */
double
TrainChampionScore(const TrainResult *res, MlopsModel *champ, const char *key_metric, int nf)
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
