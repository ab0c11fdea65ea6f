/*-------------------------------------------------------------------------
 *
 * algo_trees.c
 *	  Gradient-boosted trees ("gbt") and random forests ("random_forest"),
 *	  for regression and binary and multiclass classification, trained by
 *	  XGBoost's C API (tree_method hist) and scored by our own compiled
 *	  trees (tree_model.c).
 *
 * Training feeds XGBoost the design matrix as it is: NULLs of numeric
 * features stay NaN (the algorithms have handles_missing, so the driver
 * does not impute them) and each split learns where missing values go;
 * categorical features are one-hot columns.  The rows arrive in
 * content-hash order and XGBoost is seeded with the model's seed, so the
 * same data gives the same model bytes; the thread count does not change
 * them (measured, docs/algorithms.md) but is recorded with the version.
 *
 * A random forest is XGBoost's forest mode: one round of n_estimators
 * parallel trees, each on a subsample of the rows and columns, learning
 * rate 1, so that the trees' average is the prediction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "algorithms/tree_model.h"
#include "algorithms/xgb.h"
#include "core/util.h"

/* GUC mlops.training_threads; registered by _PG_init (mlops.c) */
int			mlops_training_threads = 1;

/* XGBoost keeps about five float32 copies of the input while it trains */
#define XGB_BYTES_PER_VALUE		(5 * sizeof(float))

static const MlopsHyperparam gbt_hyper[] = {
	{"n_estimators", 100, 1, 10000, true, "boosting rounds (trees per class)"},
	{"max_depth", 6, 1, 30, true, "maximum depth of a tree"},
	{"learning_rate", 0.1, 1e-6, 1, false, "shrinkage of each tree's contribution"},
	{"min_child_weight", 1, 0, 1e9, false, "minimum sum of hessians in a leaf"},
	{"subsample", 1, 0.01, 1, false, "share of the rows each tree sees"},
	{"colsample_bytree", 1, 0.01, 1, false, "share of the design columns each tree sees"},
	{"reg_lambda", 1, 0, 1e9, false, "L2 penalty on leaf values"},
	{"reg_alpha", 0, 0, 1e9, false, "L1 penalty on leaf values"},
	{"max_bin", 256, 2, 4096, true, "histogram bins per column"},
	{"early_stopping_rounds", 0, 0, 10000, true,
	"stop after this many rounds without improvement on the validation rows; 0 = off"},
	{"validation_fraction", 0.1, 0.01, 0.5, false,
	"share of the training rows held out for early stopping"},
	{"nthread", 0, 0, 64, true,
	"XGBoost threads; 0 = mlops.training_threads; recorded as the count used"},
	{"rounds_kept", 0, 0, 10000, true,
	"recorded: the rounds in the model (fewer than n_estimators after early stopping); ignored on input"},
};

static const MlopsHyperparam random_forest_hyper[] = {
	{"n_estimators", 100, 1, 10000, true, "trees (per class)"},
	{"max_depth", 6, 1, 30, true, "maximum depth of a tree"},
	{"learning_rate", 1, 1e-6, 1, false, "shrinkage of the forest (1: the mean of the trees)"},
	{"min_child_weight", 1, 0, 1e9, false, "minimum sum of hessians in a leaf"},
	{"subsample", 0.8, 0.01, 1, false, "share of the rows each tree sees (without replacement)"},
	{"colsample_bynode", 0.8, 0.01, 1, false, "share of the design columns each split considers"},
	{"colsample_bytree", 1, 0.01, 1, false, "share of the design columns each tree sees"},
	{"reg_lambda", 1, 0, 1e9, false, "L2 penalty on leaf values"},
	{"reg_alpha", 0, 0, 1e9, false, "L1 penalty on leaf values"},
	{"max_bin", 256, 2, 4096, true, "histogram bins per column"},
	{"nthread", 0, 0, 64, true,
	"XGBoost threads; 0 = mlops.training_threads; recorded as the count used"},
};

/* Index of hyperparameter name in the model's algorithm, or -1 */
static int
HyperIndex(const MlopsModel *model, const char *name)
{
	for (int i = 0; i < model->algo->nhyper; i++)
		if (strcmp(model->algo->hyper[i].name, name) == 0)
			return i;
	return -1;
}

/* The value of hyperparameter name, or dflt when the algorithm has none */
static double
Hyper(const MlopsModel *model, const char *name, double dflt)
{
	int			i = HyperIndex(model, name);

	return i >= 0 ? model->hyper[i] : dflt;
}

/* Set a numeric booster parameter from a hyperparameter */
static void
SetHyper(MlopsXgb *xgb, BoosterHandle b, const MlopsModel *model,
		 const char *xgbname, const char *name)
{
	int			i = HyperIndex(model, name);

	if (i >= 0)
		MlopsXgbSetParam(xgb, b, xgbname, psprintf("%.17g", model->hyper[i]));
}

/*
 * Booster parameters: objective, tree growth, penalties, sampling, seed.
 * base_score starts the boosting from the training mean (regression) or
 * the positive share (binary), as later XGBoost releases do by default.
 */
static void
SetBoosterParams(MlopsXgb *xgb, BoosterHandle b, const MlopsModel *model,
				 const float *label, int64 n, bool forest)
{
	double		mean = 0.0;

	MlopsXgbSetParam(xgb, b, "validate_parameters", "1");
	MlopsXgbSetParam(xgb, b, "tree_method", "hist");
	MlopsXgbSetParam(xgb, b, "seed", psprintf("%llu", (unsigned long long) (model->seed & 0x7FFFFFFF)));
	for (int64 i = 0; i < n; i++)
		mean += label[i];
	mean /= Max(n, 1);
	if (model->task == MLOPS_TASK_REGRESSION)
	{
		MlopsXgbSetParam(xgb, b, "objective", "reg:squarederror");
		MlopsXgbSetParam(xgb, b, "base_score", psprintf("%.9g", mean));
	}
	else if (model->nclasses == 2)
	{
		MlopsXgbSetParam(xgb, b, "objective", "binary:logistic");
		MlopsXgbSetParam(xgb, b, "base_score",
						 psprintf("%.9g", Min(Max(mean, 1e-6), 1 - 1e-6)));
	}
	else
	{
		MlopsXgbSetParam(xgb, b, "objective", "multi:softprob");
		MlopsXgbSetParam(xgb, b, "num_class", psprintf("%d", model->nclasses));
	}
	SetHyper(xgb, b, model, "max_depth", "max_depth");
	SetHyper(xgb, b, model, "eta", "learning_rate");
	SetHyper(xgb, b, model, "min_child_weight", "min_child_weight");
	SetHyper(xgb, b, model, "subsample", "subsample");
	SetHyper(xgb, b, model, "colsample_bytree", "colsample_bytree");
	SetHyper(xgb, b, model, "colsample_bynode", "colsample_bynode");
	SetHyper(xgb, b, model, "lambda", "reg_lambda");
	SetHyper(xgb, b, model, "alpha", "reg_alpha");
	SetHyper(xgb, b, model, "max_bin", "max_bin");
	if (forest)
		SetHyper(xgb, b, model, "num_parallel_tree", "n_estimators");
}

/* The number at the end of XGBoost's evaluation line "[3]\tval-rmse:0.25" */
static double
EvalScore(const char *line)
{
	const char *colon = strrchr(line, ':');

	if (colon == NULL)
		elog(ERROR, "unexpected XGBoost evaluation \"%s\"", line);
	return strtod(colon + 1, NULL);
}

/*
 * Boost up to rounds rounds, checking for a cancel between rounds.  With
 * dval, stop after patience rounds without a lower validation loss and
 * keep the best rounds.  Returns the booster to save; *kept its rounds.
 */
static BoosterHandle
Boost(MlopsXgb *xgb, BoosterHandle b, DMatrixHandle dtrain, DMatrixHandle dval,
	  int rounds, int patience, int *kept)
{
	double		best = INFINITY;
	int			best_round = 0;
	int			done = 0;

	for (int it = 0; it < rounds; it++)
	{
		CHECK_FOR_INTERRUPTS();
		MLOPS_XGB(xgb, XGBoosterUpdateOneIter(b, it, dtrain));
		done = it + 1;
		if (dval)
		{
			const char *names[1] = {"val"};
			const char *line = NULL;
			double		score;

			MLOPS_XGB(xgb, XGBoosterEvalOneIter(b, it, &dval, names, 1, &line));
			score = EvalScore(line);
			if (score < best)
			{
				best = score;
				best_round = it;
			}
			else if (it - best_round >= patience)
				break;
		}
	}
	*kept = done;
	if (dval && best_round + 1 < done)
	{
		BoosterHandle sliced = NULL;

		MLOPS_XGB(xgb, XGBoosterSlice(b, 0, best_round + 1, 1, &sliced));
		*kept = best_round + 1;
		return MlopsXgbAdoptBooster(xgb, sliced);
	}
	return b;
}

/*
 * XGBoost's importances of each design column, into imp[3 p]: splits on
 * it, their total gain and their total cover.  Columns never split on are
 * left out of XGBoost's answer and get zeros.
 */
static void
Importances(MlopsXgb *xgb, BoosterHandle b, int p, double *imp)
{
	static const char *const types[3] = {"weight", "total_gain", "total_cover"};

	memset(imp, 0, sizeof(double) * 3 * p);
	for (int k = 0; k < 3; k++)
	{
		char	   *config = psprintf("{\"importance_type\": \"%s\"}", types[k]);
		bst_ulong	nf = 0;
		const char **names = NULL;
		bst_ulong	dim = 0;
		const bst_ulong *shape = NULL;
		const float *scores = NULL;

		MLOPS_XGB(xgb, XGBoosterFeatureScore(b, config, &nf, &names, &dim, &shape, &scores));
		for (bst_ulong i = 0; i < nf; i++)
		{
			/* without feature names XGBoost calls column j "fj" */
			int			j = names[i][0] == 'f' ? atoi(names[i] + 1) : -1;

			if (j < 0 || j >= p)
				elog(ERROR, "unexpected XGBoost feature name \"%s\"", names[i]);
			imp[3 * j + k] = scores[i];
		}
	}
}

/*
 * The rows fitted and the rows validated on (early stopping): a row is a
 * validation row when it starts a new share of fraction in the rows'
 * order, which is content-hash order, so that the validation rows are an
 * even, deterministic sample.  Copies the columns (column-major) into *Xt
 * and *Xv and the labels into *yt and *yv; returns the validation count.
 */
static int64
SplitValidation(const MlopsDesign *train, double fraction, double **Xt, float **yt,
				double **Xv, float **yv)
{
	int64		n = train->nrows;
	int			p = train->ncols;
	bool	   *val = palloc(sizeof(bool) * Max(n, 1));
	int64		nv = 0,
				nt;

	for (int64 i = 0; i < n; i++)
	{
		val[i] = floor((i + 1) * fraction) > floor(i * fraction);
		nv += val[i];
	}
	nt = n - nv;
	if (nv == 0 || nt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few training rows for early stopping: %lld", (long long) n),
				 errhint("Train on more rows, or set early_stopping_rounds to 0.")));
	*Xt = palloc_extended(sizeof(double) * nt * p, MCXT_ALLOC_HUGE);
	*Xv = palloc_extended(sizeof(double) * nv * p, MCXT_ALLOC_HUGE);
	*yt = palloc_extended(sizeof(float) * nt, MCXT_ALLOC_HUGE);
	*yv = palloc_extended(sizeof(float) * nv, MCXT_ALLOC_HUGE);
	for (int j = 0; j < p; j++)
	{
		const double *col = train->X + (Size) j * n;
		int64		it = 0,
					iv = 0;

		CHECK_FOR_INTERRUPTS();
		for (int64 i = 0; i < n; i++)
		{
			if (val[i])
				(*Xv)[(Size) j * nv + iv++] = col[i];
			else
				(*Xt)[(Size) j * nt + it++] = col[i];
		}
	}
	for (int64 i = 0, it = 0, iv = 0; i < n; i++)
	{
		if (val[i])
			(*yv)[iv++] = (float) train->y[i];
		else
			(*yt)[it++] = (float) train->y[i];
	}
	pfree(val);
	return nv;
}

/*
 * Fit a tree ensemble: XGBoost trains on the design, the model keeps
 * XGBoost's bytes (UBJSON) as its blob and our flat trees as its params.
 */
static void
TreesFit(MlopsModel *model, const MlopsDesign *train)
{
	bool		forest = model->algo == &mlops_algo_random_forest;
	int			p = train->ncols;
	int64		n = train->nrows;
	int			patience = forest ? 0 : (int) Hyper(model, "early_stopping_rounds", 0);
	int			nthread = (int) Hyper(model, "nthread", 0);
	const double *Xt = train->X;
	double	   *Xv = NULL;
	float	   *yt;
	float	   *yv = NULL;
	int64		nt = n,
				nv = 0;
	MlopsXgb   *xgb;
	DMatrixHandle dm[2];
	BoosterHandle b;
	int			kept;
	Size		len;
	char	   *json;
	double	   *imp = palloc(sizeof(double) * 3 * Max(p, 1));

	if (nthread == 0)
		nthread = mlops_training_threads;
	model->hyper[HyperIndex(model, "nthread")] = nthread;
	MlopsCheckMemory((Size) n * p * (sizeof(double) * (patience > 0 ? 2 : 1) + XGB_BYTES_PER_VALUE) +
					 (Size) n * sizeof(double),
					 "the training design matrix and XGBoost's copy of it");

	if (patience > 0)
	{
		double	   *Xfit;

		nv = SplitValidation(train, Hyper(model, "validation_fraction", 0.1),
							 &Xfit, &yt, &Xv, &yv);
		Xt = Xfit;
		nt = n - nv;
	}
	else
	{
		yt = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
		for (int64 i = 0; i < n; i++)
			yt[i] = (float) train->y[i];
	}

	xgb = MlopsXgbBegin(nthread);
	dm[0] = MlopsXgbDMatrix(xgb, Xt, nt, p, 1, nt, yt);
	if (nv > 0)
		dm[1] = MlopsXgbDMatrix(xgb, Xv, nv, p, 1, nv, yv);
	b = MlopsXgbBooster(xgb, dm, nv > 0 ? 2 : 1);
	SetBoosterParams(xgb, b, model, yt, nt, forest);
	b = Boost(xgb, b, dm[0], nv > 0 ? dm[1] : NULL,
			  forest ? 1 : (int) Hyper(model, "n_estimators", 100), patience, &kept);
	if (HyperIndex(model, "rounds_kept") >= 0)
		model->hyper[HyperIndex(model, "rounds_kept")] = kept;

	Importances(xgb, b, p, imp);
	model->blob = MlopsXgbSave(xgb, b, "ubj", &len);
	model->nblob = (uint32) len;
	json = MlopsXgbSave(xgb, b, "json", &len);
	MlopsXgbEnd(xgb);

	MlopsTreesFromXgboostJson(model, json, kept, imp);
	pfree(json);
	MlopsTreesLoad(model);
}

/* XGBoost's booster of a loaded model, with the session that owns it */
typedef struct TreesLibrary
{
	MlopsXgb   *xgb;
	BoosterHandle booster;
} TreesLibrary;

/*
 * XGBoost's booster for a model, read from the model's blob on first use
 * and kept with the loaded model (in the per-backend model cache, for as
 * long as the model stays there).  One thread: it scores single rows.
 */
static TreesLibrary *
ModelLibrary(const MlopsModel *model)
{
	MemoryContext cxt;
	void	  **slot = MlopsTreesLibrarySlot(model, &cxt);
	MemoryContext old;
	TreesLibrary *lib;

	if (*slot != NULL)
		return *slot;
	if (model->nblob == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("tree model has no XGBoost model in its bytes")));
	old = MemoryContextSwitchTo(cxt);
	lib = palloc0(sizeof(TreesLibrary));
	lib->xgb = MlopsXgbBegin(1);
	PG_TRY();
	{
		lib->booster = MlopsXgbLoadBooster(lib->xgb, model->blob, model->nblob);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MlopsXgbEnd(lib->xgb);
		pfree(lib);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	*slot = lib;
	return lib;
}

/*
 * XGBoost's own prediction of one design row (XGBoosterPredictFromDense),
 * in the form predict() returns: the value, or the class probabilities.
 */
static void
TreesReferencePredict(const MlopsModel *model, const double *x, double *out)
{
	TreesLibrary *lib = ModelLibrary(model);
	Size		n;
	float	   *pred = MlopsXgbPredict(lib->xgb, lib->booster, x, 1, model->ncols, 0, &n);

	if (model->task == MLOPS_TASK_CLASSIFICATION && model->nclasses == 2 && n == 1)
	{
		out[1] = pred[0];
		out[0] = 1.0 - (double) pred[0];
	}
	else if (n == (Size) MlopsModelOutputs(model))
	{
		for (Size k = 0; k < n; k++)
			out[k] = pred[k];
	}
	else
		elog(ERROR, "XGBoost returned %zu predictions for one row", n);
	pfree(pred);
}

/*
 * Contributions (explain_row): XGBoost's TreeSHAP values of one design row
 * (one call for one row), per output group the ncols columns then the
 * bias, which sum to the margin: the value, the log-odds of the second
 * class, or a class score.
 */
static int
TreesContributions(const MlopsModel *model, const double *x, double *contrib)
{
	TreesLibrary *lib = ModelLibrary(model);
	int			G = MlopsTreesOutputGroups(model);
	Size		n;
	float	   *c = MlopsXgbPredict(lib->xgb, lib->booster, x, 1, model->ncols, 2, &n);

	if (n != (Size) G * (model->ncols + 1))
		elog(ERROR, "XGBoost returned %zu contributions for one row", n);
	for (Size i = 0; i < n; i++)
		contrib[i] = c[i];
	pfree(c);
	return G;
}

const MlopsAlgorithm mlops_algo_gbt = {
	.name = "gbt",
	.id = 7,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION) | MLOPS_SUPPORTS(MLOPS_TASK_CLASSIFICATION),
	.standardize = false,
	.handles_missing = true,
	.nhyper = lengthof(gbt_hyper),
	.hyper = gbt_hyper,
	.fit = TreesFit,
	.predict = MlopsTreesPredict,
	.explain = MlopsTreesExplain,
	.nparams = MlopsTreesNParams,
	.load = MlopsTreesLoad,
	.contributions = TreesContributions,
	.reference_predict = TreesReferencePredict,
};

const MlopsAlgorithm mlops_algo_random_forest = {
	.name = "random_forest",
	.id = 8,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION) | MLOPS_SUPPORTS(MLOPS_TASK_CLASSIFICATION),
	.standardize = false,
	.handles_missing = true,
	.nhyper = lengthof(random_forest_hyper),
	.hyper = random_forest_hyper,
	.fit = TreesFit,
	.predict = MlopsTreesPredict,
	.explain = MlopsTreesExplain,
	.nparams = MlopsTreesNParams,
	.load = MlopsTreesLoad,
	.contributions = TreesContributions,
	.reference_predict = TreesReferencePredict,
};
