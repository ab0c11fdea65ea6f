/*-------------------------------------------------------------------------
 *
 * train_moments.c
 *	  Training from exact moments: the pipeline's path for linear and ridge
 *	  models whose features are all numeric or boolean.
 *
 * The training rows are reduced to exact moments (core/moments.h), one
 * state per cross-validation fold (one in all without a search), and the
 * model is made from them alone: each feature's imputation mean and the
 * checks for features NULL everywhere or constant, the standardisation,
 * the search's fold scores and the fit.  Exact sums do not depend on the
 * order of the rows or on where they were added up, so the moments, and
 * the model bytes, are the same whether this backend adds up the rows it
 * has read or the aggregate mlops.linear_moments does it in PostgreSQL's
 * parallel workers or on Citus workers, grouped by mlops.split_side.  With
 * mlops.pushdown_moments on, training runs those aggregate queries over
 * its source (and takes the held-out metrics from mlops.regression_metrics
 * the same way): the path a distributed table needs.  Either way the rows
 * are still read once by the pipeline, for the snapshot, the drift
 * baseline and the champion's score.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "algorithms/algorithm.h"
#include "core/relation.h"
#include "core/rowhash.h"
#include "core/util.h"
#include "train/train_int.h"
#include "train/train_moments.h"

/*
 * The most features the moments path takes: each row adds (p + 1)(p + 2)/2
 * exact products, a few nanoseconds each, where the design path's BLAS
 * does far less work per product; past this, the design path is kept.
 */
#define MOMENTS_MAX_FEATURES	32

bool		mlops_pushdown_moments = false;

/*
 * Whether this run trains from moments: a regression whose algorithm fits
 * from moments, every feature numeric or boolean, and not too many.
 */
bool
TrainMomentsApplies(const TrainState *st)
{
	if (st->task != MLOPS_TASK_REGRESSION || st->model->algo->fit_moments == NULL ||
		st->nf > MOMENTS_MAX_FEATURES)
		return false;
	for (int i = 0; i < st->nf; i++)
		if (st->data->columns[i].kind == MLOPS_KIND_CATEGORICAL)
			return false;
	return true;
}

/* Folds: the search's, or one */
static int
FoldCount(const TrainState *st)
{
	return st->search ? st->search->folds : 1;
}

/*
 * The moments of each fold's training rows, added up from the rows the
 * pipeline has read.
 */
static MlopsMoments **
AddUpRows(const TrainState *st, const int *foldof)
{
	int			nfolds = FoldCount(st);
	MlopsMoments **folds = palloc(sizeof(MlopsMoments *) * nfolds);
	double	   *x = palloc(sizeof(double) * Max(st->nf, 1));

	for (int k = 0; k < nfolds; k++)
		folds[k] = MlopsMomentsCreate(st->nf, CurrentMemoryContext);
	for (int64 i = 0; i < st->ntrain; i++)
	{
		int64		r = st->trainrow[i];

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int a = 0; a < st->nf; a++)
			x[a] = st->data->columns[a].num[r];
		MlopsMomentsAddRow(folds[foldof ? foldof[i] : 0], x, st->tcol->num[r]);
	}
	return folds;
}

/*
 * SQL for the training columns of the source as arguments: every column,
 * in order, for mlops.split_side into *cols, and the row as the float8
 * array (features, then the target) of the aggregates into *z.
 */
static void
ArgumentsSQL(const TrainState *st, char **cols, char **z)
{
	StringInfoData c;
	StringInfoData a;
	ListCell   *lc;

	initStringInfo(&c);
	initStringInfo(&a);
	appendStringInfoString(&a, "ARRAY[");
	foreach(lc, st->res->colnames)
	{
		int			i = foreach_current_index(lc);
		const char *col = quote_identifier(lfirst(lc));
		bool		boolean = i < st->nf && st->data->columns[i].kind == MLOPS_KIND_BOOLEAN;

		appendStringInfo(&c, "%ss.%s", i > 0 ? ", " : "", col);
		appendStringInfo(&a, "%ss.%s%s::float8", i > 0 ? ", " : "", col,
						 boolean ? "::int4" : "");
	}
	appendStringInfoString(&a, "]::float8[]");
	*cols = c.data;
	*z = a.data;
}

/* The source as a subquery: the relation's training columns, or the SQL */
static char *
SourceSQL(const TrainState *st)
{
	const TrainSpec *spec = st->spec;

	return OidIsValid(spec->relid) ? MlopsSelectColumnsSQL(spec->relid, st->res->colnames)
		: (char *) spec->source_sql;
}

/*
 * The moments of each fold's training rows from mlops.linear_moments over
 * the source, by mlops.split_side (the training rows, or grouped by fold):
 * one query that parallel workers or Citus workers can split.  The source
 * is read again, so each fold's row count is checked against the rows the
 * pipeline read: a table changed in between (READ COMMITTED) is an error,
 * not a model of other rows.
 */
static MlopsMoments **
QueryMoments(const TrainState *st, const int *foldof)
{
	int			nfolds = FoldCount(st);
	MlopsMoments **folds = palloc0(sizeof(MlopsMoments *) * nfolds);
	int64	   *expected = palloc0(sizeof(int64) * nfolds);
	MemoryContext callercxt = CurrentMemoryContext;
	char	   *cols,
			   *z;
	char	   *sql;
	Oid			argtypes[2] = {FLOAT8OID, INT4OID};
	Datum		args[2];

	ArgumentsSQL(st, &cols, &z);
	if (nfolds == 1)
		sql = psprintf("SELECT 0, mlops.linear_moments(%s) FROM (%s) s "
					   "WHERE mlops.split_side($1, $2, %s) >= 0", z, SourceSQL(st), cols);
	else
		sql = psprintf("SELECT mlops.split_side($1, $2, %s), mlops.linear_moments(%s) "
					   "FROM (%s) s GROUP BY 1", cols, z, SourceSQL(st));
	args[0] = Float8GetDatum(st->spec->test_size);
	args[1] = Int32GetDatum(nfolds);
	for (int64 i = 0; i < st->ntrain; i++)
		expected[foldof ? foldof[i] : 0]++;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not compute the training moments");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int			side = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		bytea	   *b;

		if (side < 0 || isnull)
			continue;			/* the held-out rows, or no usable row */
		b = DatumGetByteaPP(d);
		folds[side] = MlopsMomentsDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), callercxt);
	}
	SPI_finish();
	for (int k = 0; k < nfolds; k++)
	{
		if (folds[k] == NULL)
			folds[k] = MlopsMomentsCreate(st->nf, callercxt);
		if (folds[k]->n != expected[k])
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("relation \"%s\" changed while it was read for training",
							st->spec->relation_text),
					 errdetail("The moments query saw %lld training rows where the first read saw %lld.",
							   (long long) folds[k]->n, (long long) expected[k]),
					 errhint("Train again, or train in a REPEATABLE READ transaction.")));
	}
	return folds;
}

/*
 * Features from the moments of every training row: name, type and kind
 * from the loaded column, the imputation value the mean of the present
 * values (rounded once from the exact sum, then divided); ERROR for a
 * feature NULL in every training row or constant (exactly) in them.
 * Returns the imputation values.
 */
static double *
MomentsFeatures(TrainState *st, const MlopsMoments *all)
{
	MlopsModel *model = st->model;
	double	   *impute = palloc(sizeof(double) * Max(st->nf, 1));

	model->nfeatures = st->nf;
	model->features = palloc0(sizeof(MlopsFeature) * Max(st->nf, 1));
	for (int i = 0; i < st->nf; i++)
	{
		MlopsFeature *f = &model->features[i];
		const MlopsColumnData *col = &st->data->columns[i];

		f->name = col->name;
		f->type_name = col->type_name;
		f->kind = col->kind;
		if (MlopsMomentsPresent(all, i) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave it out with the features argument.")));
		impute[i] = f->impute = MlopsMomentsMean(all, i);
		if (!isfinite(f->impute))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the mean of feature column \"%s\" is out of range for double precision",
							col->name),
					 errhint("Scale the column down.")));
		if (MlopsMomentsConstant(all, i))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is constant in the training rows", col->name),
					 errdetail("Every non-NULL value is %g.", f->impute),
					 errhint("A constant column carries no information; leave it out with the features argument.")));
	}
	MlopsModelPrepare(model);
	model->ncols = st->nf;
	return impute;
}

/*
 * Standardisation from the exact moments: each column's center its mean,
 * its scale the population standard deviation (1 for a column constant
 * after imputation), both from values rounded once; 0 and 1 for a model
 * that is not standardised.
 */
static void
MomentsStandardise(TrainState *st, const MlopsImputed *im)
{
	MlopsModel *model = st->model;
	int			p = model->ncols;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *G = palloc(sizeof(double) * Max(p * p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double		ymean;
	double		yss;
	bool		standardise = MlopsModelStandardizes(model);

	MlopsImputedCentred(im, xmean, G, Xty, &ymean, &yss);
	model->center = palloc(sizeof(double) * Max(p, 1));
	model->scale = palloc(sizeof(double) * Max(p, 1));
	for (int j = 0; j < p; j++)
	{
		double		var = G[j * p + j] / (double) im->n;

		model->center[j] = standardise ? xmean[j] : 0.0;
		model->scale[j] = standardise && var > 1e-24 ? sqrt(var) : 1.0;
	}
}

/*
 * The moments path: the moments of the training rows (added up here, or by
 * the aggregate query), then features, standardisation, search and fit
 * from them.
 */
void
TrainFromMoments(TrainState *st)
{
	int			nfolds = FoldCount(st);
	int		   *foldof = st->search ? TrainSearchFolds(st->search, st->data, st->trainrow,
													   st->ntrain) : NULL;
	MlopsMoments **folds;
	MlopsMoments *all;
	MlopsImputed *im;
	double	   *impute;

	/* a Citus table's rows are added up where they live */
	st->pushdown = mlops_pushdown_moments || MlopsRelationIsDistributed(st->spec->relid);
	folds = st->pushdown ? QueryMoments(st, foldof) : AddUpRows(st, foldof);
	all = MlopsMomentsCreate(st->nf, CurrentMemoryContext);

	for (int k = 0; k < nfolds; k++)
		MlopsMomentsMerge(all, folds[k]);
	impute = MomentsFeatures(st, all);
	im = MlopsMomentsImpute(all, impute);
	MomentsStandardise(st, im);
	if (st->search)
	{
		TrainSearchRunMoments(st->search, st->model, folds, impute, "r2", st->max_categories);
		st->res->search = st->search;
	}
	st->model->algo->fit_moments(&st->model, 1, im);
	st->moments = true;
}

/*
 * The held-out metrics of the model from mlops.regression_metrics over the
 * source (with mlops.pushdown_moments): the rows of the test side, or of
 * the training side when on_test is false.  They equal what
 * MlopsEvaluateData computes on the rows the pipeline read.
 */
Jsonb *
TrainMomentsMetrics(const TrainState *st, bool on_test)
{
	char	   *cols,
			   *z;
	char	   *sql;
	Oid			argtypes[2] = {BYTEAOID, FLOAT8OID};
	Datum		args[2];
	bool		isnull;
	Datum		d;
	Jsonb	   *metrics = NULL;
	MemoryContext callercxt = CurrentMemoryContext;

	ArgumentsSQL(st, &cols, &z);
	sql = psprintf("SELECT mlops.regression_metrics($1, %s) FROM (%s) s "
				   "WHERE mlops.split_side($2, 1, %s) %s", z, SourceSQL(st), cols,
				   on_test ? "< 0" : ">= 0");
	args[0] = PointerGetDatum(st->res->bytes);
	args[1] = Float8GetDatum(st->spec->test_size);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not compute the held-out metrics");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		/* a fresh copy with a full header, in the caller's context */
		MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

		metrics = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	if (metrics == NULL ||
		MlopsJsonbGetFloat(metrics, "rows") != (double) (on_test ? st->ntest : st->ntrain))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("relation \"%s\" changed while it was read for training",
						st->spec->relation_text),
				 errdetail("The metrics query saw other held-out rows than the first read."),
				 errhint("Train again, or train in a REPEATABLE READ transaction.")));
	return metrics;
}
