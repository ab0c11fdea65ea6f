/*-------------------------------------------------------------------------
 *
 * search.c
 *	  Hyperparameter search with k-fold cross-validation: mlops.train's
 *	  search argument turned into candidates (a grid, or random draws from
 *	  ranges), each scored on the folds of the training rows, the best kept.
 *
 * A training row's fold is MlopsHashMix(its content hash) % folds, so the
 * folds, like the train/test split, do not depend on the physical order of
 * the rows, and mlops.reproduce draws the same ones.  Random draws come
 * from a splitmix64 generator seeded with the spec's "seed".
 *
 * The rows are loaded, encoded and standardised once (pipeline.c): every
 * candidate and fold reuses that design matrix, of which each fold copies
 * its k-1 training folds once for all candidates; only the fit and the
 * fold's scoring repeat.  An algorithm with fit_many (ridge) fits all
 * candidates of a fold together, sharing the fold's moments.  On the
 * moments path of training (train_moments.c) there is no design matrix:
 * TrainSearchRunMoments fits from the exact moments of the other folds and
 * scores by r2 from the fold's own.  The encoding (imputation means, vocabularies,
 * standardisation) is therefore learned on all training rows, not per
 * fold, which is also why max_categories cannot be searched.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "algorithms/algorithm.h"
#include "core/rowhash.h"
#include "core/util.h"
#include "train/hyperparams.h"
#include "train/metrics.h"
#include "train/train_int.h"

/* Most candidates a search may have: a grid's size, or random trials */
#define SEARCH_MAX_CANDIDATES	1000
#define SEARCH_DEFAULT_FOLDS	5
#define SEARCH_DEFAULT_TRIALS	10

/* How a random search draws one hyperparameter */
typedef enum DrawKind
{
	DRAW_UNIFORM,
	DRAW_LOG,
	DRAW_INT,
	DRAW_CHOICE
} DrawKind;

/* One searched hyperparameter: its grid values, or its random range */
typedef struct SearchParam
{
	const char *name;
	int			idx;			/* in the algorithm's table */
	DrawKind	kind;
	double		low;
	double		high;
	int			nvalues;		/* grid and choice: the values */
	double	   *values;
} SearchParam;

/* Error for a malformed search spec, with the shape of a valid one */
#define SEARCH_HINT "Give {\"grid\": {\"alpha\": [0.1, 1, 10]}, \"folds\": 5} or {\"random\": {\"alpha\": {\"log\": [0.01, 10]}}, \"trials\": 20, \"seed\": 1}."

/* A JSON number (or boolean, as 1 and 0) as a double; false otherwise */
static bool
JsonNumber(const JsonbValue *v, double *out)
{
	if (v->type == jbvNumeric)
		*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvBool)
		*out = v->val.boolean ? 1.0 : 0.0;
	else
		return false;
	return true;
}

/*
 * The elements of a JSON array of numbers, into *values; returns how many,
 * -1 when v is not such an array.
 */
static int
JsonNumberArray(const JsonbValue *v, double **values)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return -1;
	*values = palloc(sizeof(double) * Max(JsonContainerSize(v->val.binary.data), 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (!JsonNumber(&e, &(*values)[n]))
			return -1;
		n++;
	}
	return n;
}

/* Check value for the searched hyperparameter p, as hyperparams would */
static void
CheckValue(MlopsModel *scratch, const SearchParam *p, double value)
{
	int			maxcat = MLOPS_DEFAULT_MAX_CATEGORIES;

	MlopsHyperparamAssign(scratch, p->idx, p->name, &value, &maxcat);
}

/*
 * The hyperparameter named key, checked against the algorithm (ERROR for
 * an unknown one, and for max_categories, which the encoding depends on).
 */
static int
SearchIndex(const MlopsModel *model, const char *key)
{
	int			idx = MlopsHyperparamIndex(model, key);

	if (idx == MLOPS_HYPER_MAX_CATEGORIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" cannot be searched", key),
				 errdetail("Cross-validation reuses one encoding of the training rows."),
				 errhint("Set it in hyperparams instead.")));
	return idx;
}

/*
 * One random range, {"uniform"|"log"|"int": [low, high]}, or a list of
 * values to choose from, into p.
 */
static void
ParseRange(MlopsModel *scratch, SearchParam *p, const JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *kind = NULL;
	double	   *bounds = NULL;
	int			nkeys = 0;
	int			nb = -1;

	p->nvalues = JsonNumberArray(v, &p->values);
	if (p->nvalues >= 0)
	{
		p->kind = DRAW_CHOICE;
		if (p->nvalues == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search values for \"%s\" are empty", p->name),
					 errhint(SEARCH_HINT)));
		for (int i = 0; i < p->nvalues; i++)
			CheckValue(scratch, p, p->values[i]);
		return;
	}
	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				kind = pnstrdup(e.val.string.val, e.val.string.len);
				nkeys++;
			}
			else if (tok == WJB_VALUE)
				nb = JsonNumberArray(&e, &bounds);
		}
	}
	if (nkeys != 1 || nb != 2 ||
		(strcmp(kind, "uniform") != 0 && strcmp(kind, "log") != 0 && strcmp(kind, "int") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search range for \"%s\" must be {\"uniform\", \"log\" or \"int\": [low, high]} or a list of values",
						p->name),
				 errhint(SEARCH_HINT)));
	p->kind = strcmp(kind, "log") == 0 ? DRAW_LOG : strcmp(kind, "int") == 0 ? DRAW_INT : DRAW_UNIFORM;
	p->low = bounds[0];
	p->high = bounds[1];
	if (!(p->low <= p->high) || (p->kind == DRAW_LOG && !(p->low > 0)) ||
		(p->kind == DRAW_INT && (p->low != floor(p->low) || p->high != floor(p->high))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search range [%g, %g] for \"%s\" is not a valid %s range",
						p->low, p->high, p->name, kind),
				 errhint("low must not exceed high; a log range needs low > 0, an int range whole bounds.")));
	CheckValue(scratch, p, p->low);
	CheckValue(scratch, p, p->high);
}

/*
 * The searched hyperparameters of a grid (value lists) or of a random
 * search (ranges), in the jsonb object's key order; returns how many.
 */
static int
ParseParams(MlopsModel *scratch, const JsonbValue *obj, bool grid, SearchParam **params)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;
	SearchParam *p = NULL;

	if (obj->type != jbvBinary || !JsonContainerIsObject(obj->val.binary.data) ||
		JsonContainerSize(obj->val.binary.data) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search %s must be a non-empty JSON object of hyperparameters",
						grid ? "grid" : "random"),
				 errhint(SEARCH_HINT)));
	*params = palloc0(sizeof(SearchParam) * JsonContainerSize(obj->val.binary.data));
	it = JsonbIteratorInit(obj->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			p = &(*params)[n++];
			p->name = pnstrdup(e.val.string.val, e.val.string.len);
			p->idx = SearchIndex(scratch, p->name);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (!grid)
		{
			ParseRange(scratch, p, &e);
			continue;
		}
		p->kind = DRAW_CHOICE;
		p->nvalues = JsonNumberArray(&e, &p->values);
		if (p->nvalues <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search grid for \"%s\" must be a non-empty array of numbers", p->name),
					 errhint(SEARCH_HINT)));
		for (int i = 0; i < p->nvalues; i++)
			CheckValue(scratch, p, p->values[i]);
	}
	return n;
}

/* An integer setting of the search spec, in [min, max] */
static int
SpecInt(const char *key, const JsonbValue *v, double min, double max)
{
	double		d;

	if (!JsonNumber(v, &d) || v->type != jbvNumeric || d != floor(d) || d < min || d > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search \"%s\" must be an integer between %g and %g", key, min, max),
				 errhint(SEARCH_HINT)));
	return (int) d;
}

/* The next number of a splitmix64 generator, uniform in [0, 1) */
static double
NextUniform(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94d049bb133111eb);
	z ^= z >> 31;
	return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

/* A random search's value of p, drawn from state */
static double
Draw(const MlopsModel *model, const SearchParam *p, uint64 *state)
{
	double		u = NextUniform(state);
	double		v;

	switch (p->kind)
	{
		case DRAW_CHOICE:
			return p->values[Min((int) (u * p->nvalues), p->nvalues - 1)];
		case DRAW_INT:
			return Min(p->low + floor(u * (p->high - p->low + 1)), p->high);
		case DRAW_LOG:
			v = exp(log(p->low) + u * (log(p->high) - log(p->low)));
			break;
		default:
			v = p->low + u * (p->high - p->low);
			break;
	}
	/* an integer hyperparameter takes the nearest whole value */
	if (model->algo->hyper[p->idx].integer)
		v = round(v);
	return Min(Max(v, p->low), p->high);
}

/*
 * The candidates: every combination of a grid (the last hyperparameter
 * varying fastest) or trials random draws, each a copy of model->hyper
 * with the searched values set.
 */
static void
MakeCandidates(TrainSearch *s, const MlopsModel *model, SearchParam *params, int nparams,
			   bool grid, int trials, uint64 seed)
{
	uint64		state = seed;

	if (grid)
	{
		int64		n = 1;

		for (int i = 0; i < nparams; i++)
		{
			n *= params[i].nvalues;
			if (n > SEARCH_MAX_CANDIDATES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("search grid has more than %d candidates", SEARCH_MAX_CANDIDATES),
						 errhint("Search fewer values, or use a random search with trials.")));
		}
		trials = (int) n;
	}
	s->ncand = trials;
	s->cand = palloc0(sizeof(TrainCandidate) * trials);
	for (int c = 0; c < trials; c++)
	{
		TrainCandidate *cand = &s->cand[c];
		int			rest = c;

		cand->hyper = palloc(sizeof(double) * Max(model->nhyper, 1));
		memcpy(cand->hyper, model->hyper, sizeof(double) * model->nhyper);
		for (int i = nparams - 1; i >= 0; i--)
		{
			if (grid)
			{
				cand->hyper[params[i].idx] = params[i].values[rest % params[i].nvalues];
				rest /= params[i].nvalues;
			}
		}
		for (int i = 0; i < nparams && !grid; i++)
			cand->hyper[params[i].idx] = Draw(model, &params[i], &state);
	}
}

/*
 * Parse a search spec against the model's algorithm (whose hyper holds the
 * user's fixed hyperparameters and the defaults): the candidates to try.
 * ERROR (22023) for a malformed spec.
 */
TrainSearch *
TrainSearchParse(Jsonb *spec, const MlopsModel *model)
{
	TrainSearch *s = palloc0(sizeof(TrainSearch));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue	space = {0};
	bool		have_grid = false,
				have_random = false,
				have_trials = false,
				have_seed = false;
	int			trials = SEARCH_DEFAULT_TRIALS;
	int			seed = 0;
	char	   *key = NULL;
	MlopsModel	scratch = *model;
	SearchParam *params;
	int			nparams;

	scratch.hyper = palloc(sizeof(double) * Max(model->nhyper, 1));
	s->folds = SEARCH_DEFAULT_FOLDS;
	if (!JB_ROOT_IS_OBJECT(spec) || JB_ROOT_IS_SCALAR(spec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search must be a JSON object"),
				 errhint(SEARCH_HINT)));
	it = JsonbIteratorInit(&spec->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "grid") == 0 || strcmp(key, "random") == 0)
		{
			have_grid |= key[0] == 'g';
			have_random |= key[0] == 'r';
			space = v;
		}
		else if (strcmp(key, "folds") == 0)
			s->folds = SpecInt(key, &v, 2, 1000);
		else if (strcmp(key, "trials") == 0)
			trials = SpecInt(key, &v, 1, SEARCH_MAX_CANDIDATES), have_trials = true;
		else if (strcmp(key, "seed") == 0)
			seed = SpecInt(key, &v, 0, PG_INT32_MAX), have_seed = true;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown search key \"%s\"", key),
					 errhint("Valid keys are grid, random, folds, trials and seed.")));
	}
	if (have_grid == have_random)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search needs exactly one of \"grid\" and \"random\""),
				 errhint(SEARCH_HINT)));
	if (have_grid && (have_trials || have_seed))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search keys \"trials\" and \"seed\" apply to a random search only"),
				 errhint("A grid search tries every combination of the grid.")));
	nparams = ParseParams(&scratch, &space, have_grid, &params);
	MakeCandidates(s, model, params, nparams, have_grid, trials, (uint64) seed);
	return s;
}

/* The fold's context for fitting and scoring candidates */
typedef struct FoldRun
{
	const MlopsModel *model;	/* the encoded model, hyperparameters apart */
	const MlopsDesign *design;	/* the fold's k-1 training folds */
	const MlopsTrainData *data;
	const int  *featcol;
	int			targetcol;
	const bool *mask;			/* the fold's rows in data */
	const char *key_metric;
	int			fold;
} FoldRun;

/* Seconds since start */
static double
SecondsSince(TimestampTz start)
{
	long		secs;
	int			usecs;

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	return secs + usecs / 1e6;
}

/* m: a copy of the encoded model with hyperparameters hyper, not fitted */
static void
CandidateModel(MlopsModel *m, const MlopsModel *model, double *hyper)
{
	*m = *model;
	m->hyper = hyper;
	m->nparams = 0;
	m->params = NULL;
	m->nblob = 0;
	m->blob = NULL;
	m->compiled = NULL;
}

/* The key metric of the fitted candidate m on the fold's rows */
static double
ScoreFold(const FoldRun *f, const MlopsModel *m)
{
	return MlopsJsonbGetFloat(MlopsEvaluateData(m, f->data, f->featcol, f->targetcol, f->mask),
							  f->key_metric);
}

/*
 * Fit and score every candidate on one fold.  An algorithm with fit_many
 * fits them all at once (the shared time split evenly between them);
 * otherwise each is fitted alone and its allocations freed before the
 * next.  Everything goes in cxt, reset before returning.
 */
static void
RunFold(TrainSearch *s, const FoldRun *f, MemoryContext cxt)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

	if (f->model->algo->fit_many)
	{
		MlopsModel *models = palloc(sizeof(MlopsModel) * s->ncand);
		MlopsModel **ptrs = palloc(sizeof(MlopsModel *) * s->ncand);
		TimestampTz start = GetCurrentTimestamp();
		double		shared;

		for (int c = 0; c < s->ncand; c++)
		{
			CandidateModel(&models[c], f->model, s->cand[c].hyper);
			ptrs[c] = &models[c];
		}
		f->model->algo->fit_many(ptrs, s->ncand, f->design);
		shared = SecondsSince(start) / s->ncand;
		for (int c = 0; c < s->ncand; c++)
		{
			CHECK_FOR_INTERRUPTS();
			start = GetCurrentTimestamp();
			s->cand[c].fold_metric[f->fold] = ScoreFold(f, &models[c]);
			s->cand[c].seconds += shared + SecondsSince(start);
		}
	}
	else
	{
		for (int c = 0; c < s->ncand; c++)
		{
			TimestampTz start = GetCurrentTimestamp();
			MlopsModel	m;

			CHECK_FOR_INTERRUPTS();
			CandidateModel(&m, f->model, s->cand[c].hyper);
			m.algo->fit(&m, f->design);
			s->cand[c].fold_metric[f->fold] = ScoreFold(f, &m);
			s->cand[c].seconds += SecondsSince(start);
			MemoryContextReset(cxt);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(cxt);
}

/*
 * The training rows' folds (position in trainrow -> fold), ERROR when the
 * folds outnumber the rows or one of them is empty.
 */
int *
TrainSearchFolds(const TrainSearch *s, const MlopsTrainData *data, const int64 *trainrow,
				 int64 ntrain)
{
	int		   *foldof = palloc_extended(sizeof(int) * Max(ntrain, 1), MCXT_ALLOC_HUGE);
	int64	   *count = palloc0(sizeof(int64) * s->folds);

	if (s->folds > ntrain)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("search folds (%d) exceed the %lld training rows", s->folds, (long long) ntrain),
				 errhint("Use fewer folds, or train on more rows.")));
	for (int64 i = 0; i < ntrain; i++)
	{
		foldof[i] = (int) (MlopsHashMix(data->rowhash[trainrow[i]]) % (uint64) s->folds);
		count[foldof[i]]++;
	}
	for (int k = 0; k < s->folds; k++)
		if (count[k] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("search fold %d of %d has no training row", k + 1, s->folds),
					 errhint("Use fewer folds, or train on more rows.")));
	return foldof;
}

/*
 * The design of fold k's training part: the rows of X (column-major,
 * ntrain rows) outside fold k, copied into Xf and yf.
 */
static void
FoldDesign(MlopsDesign *d, const double *X, const double *y, int64 ntrain, int ncols,
		   const int *foldof, int k, double *Xf, double *yf)
{
	int64		n = 0;

	for (int64 i = 0; i < ntrain; i++)
		n += foldof[i] != k;
	for (int j = 0; j < ncols; j++)
	{
		const double *src = X + (Size) j * ntrain;
		double	   *dst = Xf + (Size) j * n;
		int64		r = 0;

		for (int64 i = 0; i < ntrain; i++)
			if (foldof[i] != k)
				dst[r++] = src[i];
	}
	if (y)
	{
		int64		r = 0;

		for (int64 i = 0; i < ntrain; i++)
			if (foldof[i] != k)
				yf[r++] = y[i];
	}
	d->nrows = n;
	d->ncols = ncols;
	d->X = Xf;
	d->y = y ? yf : NULL;
}

/* Each candidate's mean and (population) standard deviation; the best */
static void
Summarise(TrainSearch *s, const char *key_metric)
{
	s->chosen = 0;
	for (int c = 0; c < s->ncand; c++)
	{
		TrainCandidate *cand = &s->cand[c];
		double		sum = 0.0,
					ss = 0.0;

		for (int k = 0; k < s->folds; k++)
			sum += cand->fold_metric[k];
		cand->mean = sum / s->folds;
		for (int k = 0; k < s->folds; k++)
			ss += (cand->fold_metric[k] - cand->mean) * (cand->fold_metric[k] - cand->mean);
		cand->std = sqrt(ss / s->folds);
		/* ties keep the first candidate; a NaN mean never wins */
		if (c > 0 && MlopsMetricBetter(key_metric, cand->mean, s->cand[s->chosen].mean))
			s->chosen = c;
	}
}

/*
 * Summarise the candidates, record each one's hyperparameters as text and
 * give model the chosen one's.
 */
static void
Choose(TrainSearch *s, MlopsModel *model, const char *key_metric, int max_categories)
{
	Summarise(s, key_metric);
	for (int c = 0; c < s->ncand; c++)
	{
		MlopsModel	m = *model;

		m.hyper = s->cand[c].hyper;
		s->cand[c].hyper_json = MlopsHyperparamsJson(&m, max_categories);
	}
	memcpy(model->hyper, s->cand[s->chosen].hyper, sizeof(double) * model->nhyper);
}

/*
 * Run the search: every candidate fitted on each fold's k-1 other folds of
 * the training design (X, y: ntrain rows, encoded and standardised) and
 * scored on the fold with the key metric.  The best candidate's
 * hyperparameters become model->hyper, for the final fit on every training
 * row.
 */
void
TrainSearchRun(TrainSearch *s, MlopsModel *model, const MlopsTrainData *data, int nf,
			   const int64 *trainrow, int64 ntrain, const double *X, const double *y,
			   const char *key_metric, int max_categories)
{
	int		   *foldof = TrainSearchFolds(s, data, trainrow, ntrain);
	bool	   *mask = palloc_extended(sizeof(bool) * Max(data->nrows, 1),
								   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int		   *featcol = palloc(sizeof(int) * Max(nf, 1));
	int			ncols = model->ncols;
	double	   *Xf;
	double	   *yf;
	MemoryContext fitcxt;

	MlopsCheckMemory((Size) ntrain * (ncols + 1) * sizeof(double), "the cross-validation design matrix");
	Xf = palloc_extended((Size) Max(ntrain, 1) * Max(ncols, 1) * sizeof(double), MCXT_ALLOC_HUGE);
	yf = palloc_extended((Size) Max(ntrain, 1) * sizeof(double), MCXT_ALLOC_HUGE);
	for (int i = 0; i < nf; i++)
		featcol[i] = i;
	for (int c = 0; c < s->ncand; c++)
		s->cand[c].fold_metric = palloc(sizeof(double) * s->folds);
	fitcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops search fit", ALLOCSET_DEFAULT_SIZES);

	for (int k = 0; k < s->folds; k++)
	{
		MlopsDesign design;
		FoldRun		f;

		FoldDesign(&design, X, y, ntrain, ncols, foldof, k, Xf, yf);
		design.nclasses = model->nclasses;
		for (int64 i = 0; i < ntrain; i++)
			mask[trainrow[i]] = foldof[i] == k;
		f.model = model;
		f.design = &design;
		f.data = data;
		f.featcol = featcol;
		f.targetcol = data->ncolumns > nf ? nf : -1;
		f.mask = mask;
		f.key_metric = key_metric;
		f.fold = k;
		RunFold(s, &f, fitcxt);
	}
	MemoryContextDelete(fitcxt);
	pfree(Xf);
	pfree(yf);

	Choose(s, model, key_metric, max_categories);
}

/*
 * Run the search from exact moments (the moments path of training,
 * train_moments.c): folds[k] holds the moments of fold k's training rows.
 * Each candidate is fitted on the moments of the k - 1 other folds, with
 * the imputation values, center and scale of model (learned on every
 * training row, as the design path does), and scored on fold k by its r2
 * from fold k's moments: 1 - SSE / SST, the SSE exact for the fitted
 * coefficients.  Nothing depends on the order of the rows, so the search
 * chooses the same wherever the moments were summed.
 */
void
TrainSearchRunMoments(TrainSearch *s, MlopsModel *model, MlopsMoments **folds,
					  const double *impute, const char *key_metric, int max_categories)
{
	MemoryContext fitcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops search fit",
												 ALLOCSET_DEFAULT_SIZES);

	if (strcmp(key_metric, "r2") != 0)
		elog(ERROR, "a search from moments scores by r2, not %s", key_metric);
	for (int c = 0; c < s->ncand; c++)
		s->cand[c].fold_metric = palloc(sizeof(double) * s->folds);
	for (int k = 0; k < s->folds; k++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fitcxt);
		TimestampTz start = GetCurrentTimestamp();
		MlopsMoments *rest = MlopsMomentsCreate(model->ncols, fitcxt);
		MlopsModel *models = palloc(sizeof(MlopsModel) * s->ncand);
		MlopsModel **ptrs = palloc(sizeof(MlopsModel *) * s->ncand);
		MlopsImputed *fold;
		double		sst;
		double		shared;

		for (int j = 0; j < s->folds; j++)
			if (j != k)
				MlopsMomentsMerge(rest, folds[j]);
		for (int c = 0; c < s->ncand; c++)
		{
			CandidateModel(&models[c], model, s->cand[c].hyper);
			ptrs[c] = &models[c];
		}
		model->algo->fit_moments(ptrs, s->ncand, MlopsMomentsImpute(rest, impute));
		fold = MlopsMomentsImpute(folds[k], impute);
		sst = MlopsImputedYSS(fold);
		shared = SecondsSince(start) / s->ncand;
		for (int c = 0; c < s->ncand; c++)
		{
			CHECK_FOR_INTERRUPTS();
			start = GetCurrentTimestamp();
			s->cand[c].fold_metric[k] = sst > 0 ? 1.0 - model->algo->sse_moments(&models[c], fold) / sst
				: NAN;
			s->cand[c].seconds += shared + SecondsSince(start);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(fitcxt);
	}
	MemoryContextDelete(fitcxt);
	Choose(s, model, key_metric, max_categories);
}
