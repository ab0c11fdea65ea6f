/*-------------------------------------------------------------------------
 *
 * train_agg.c
 *	  The SQL side of training where the rows are: the aggregates
 *	  mlops.linear_moments (exact moments for linear and ridge models) and
 *	  mlops.regression_metrics (exact sums of a model's errors), and
 *	  mlops.split_side (a row's side of the train/test split and its
 *	  cross-validation fold, from its content).
 *
 * The aggregates are shaped so that PostgreSQL's parallel workers and Citus
 * workers can run them: a bytea state (text I/O, so Citus ships it as
 * text), a combine function, and arguments of fixed types.  While rows
 * arrive the state is an expanded object (utils/expandeddatum.h) in a
 * memory context under the aggregate's, updated in place: nodeAgg and
 * Citus keep such a state without copying it, and call the transition
 * function with a fresh function-call cache per row under Citus, so
 * everything a state needs (the decoded model of regression_metrics)
 * lives in the state.  Flattened, the state is its canonical serialised
 * form (core/moments.c, train/metrics.c): equal sums, equal bytes.  A
 * flat state reaching the combine or final function may have been typed
 * by a user, and is validated before use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/expandeddatum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "algorithms/algorithm.h"
#include "core/moments.h"
#include "core/rowhash.h"
#include "train/metrics.h"

PG_FUNCTION_INFO_V1(mlops_linear_moments_trans);
PG_FUNCTION_INFO_V1(mlops_linear_moments_combine);
PG_FUNCTION_INFO_V1(mlops_linear_moments_final);
PG_FUNCTION_INFO_V1(mlops_regression_metrics_trans);
PG_FUNCTION_INFO_V1(mlops_regression_metrics_combine);
PG_FUNCTION_INFO_V1(mlops_regression_metrics_final);
PG_FUNCTION_INFO_V1(mlops_split_side);

/* A transition state being filled (see the file header) */
typedef struct StateObject
{
	ExpandedObjectHeader hdr;
	bytea	   *flat;			/* serialised form, NULL when out of date */
	double	   *x;				/* scratch: one row's x */
	/* linear_moments */
	MlopsMoments *moments;
	/* regression_metrics */
	MlopsErrorSums errors;
	bytea	   *model_bytes;	/* the model the rows are scored with */
	MlopsModel *model;
	double	   *design;			/* scratch: one row encoded */
	double	   *out;			/* scratch: its prediction */
} StateObject;

static Size StateFlatSize(ExpandedObjectHeader *eohptr);
static void StateFlatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods moments_methods = {StateFlatSize, StateFlatten};
static const ExpandedObjectMethods errors_methods = {StateFlatSize, StateFlatten};

/*
 * The serialised form of a state, kept in the state until it changes:
 * nodeAgg and Citus ask for the size, then for the bytes.
 */
static Size
StateFlatSize(ExpandedObjectHeader *eohptr)
{
	StateObject *obj = (StateObject *) eohptr;

	if (obj->flat == NULL)
	{
		MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "mlops state flatten",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext old = MemoryContextSwitchTo(tmp);
		bytea	   *b = eohptr->eoh_methods == &moments_methods
			? MlopsMomentsSerialize(obj->moments) : MlopsErrorSumsSerialize(&obj->errors);

		obj->flat = MemoryContextAlloc(eohptr->eoh_context, VARSIZE(b));
		memcpy(obj->flat, b, VARSIZE(b));
		MemoryContextSwitchTo(old);
		MemoryContextDelete(tmp);
	}
	return VARSIZE(obj->flat);
}

static void
StateFlatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	StateObject *obj = (StateObject *) eohptr;

	Assert(obj->flat != NULL && allocated_size == VARSIZE(obj->flat));
	memcpy(result, obj->flat, allocated_size);
}

/* The state d points to when it is one of ours of this kind, else NULL */
static StateObject *
OurState(Datum d, const ExpandedObjectMethods *methods)
{
	if (VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods == methods)
			return (StateObject *) eoh;
	}
	return NULL;
}

/* A new, empty state of this kind in a context of its own under parent */
static StateObject *
NewState(MemoryContext parent, const ExpandedObjectMethods *methods)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops aggregate state",
											  ALLOCSET_DEFAULT_SIZES);
	StateObject *obj = MemoryContextAllocZero(cxt, sizeof(StateObject));

	EOH_init_header(&obj->hdr, methods, cxt);
	if (methods == &errors_methods)
		MlopsErrorSumsInit(&obj->errors, cxt);
	return obj;
}

/* ERROR unless called as part of an aggregate; its context in *aggcxt */
static void
CheckAggregate(FunctionCallInfo fcinfo, MemoryContext *aggcxt, const char *fn)
{
	if (!AggCheckCallContext(fcinfo, aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", fn)));
}

/*
 * A row's x array into obj->x (NaN for NULL elements); ERROR for an array
 * of another length than p (when p >= 0), of more than one dimension, or
 * with a value that is not finite.  Returns the length.
 */
static int
ReadX(StateObject *obj, ArrayType *arr, int p, const char *fn)
{
	int			n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	/* ARR_DATA_PTR, without its mixed-signedness conditional */
	Size		off = ARR_HASNULL(arr) ? (Size) arr->dataoffset : ARR_OVERHEAD_NONULLS(ARR_NDIM(arr));
	const float8 *data = (const float8 *) ((const char *) arr + off);
	const bits8 *nulls = ARR_NULLBITMAP(arr);

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s takes a one-dimensional x array", fn)));
	if (p >= 0 && n != p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s got x arrays of %d and %d elements", fn, p, n),
				 errdetail("Every row must have the same number of x values.")));
	if (n > MLOPS_MOMENTS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s takes at most %d x values, not %d", fn, MLOPS_MOMENTS_MAX_FEATURES, n)));
	if (obj->x == NULL)
		obj->x = MemoryContextAlloc(obj->hdr.eoh_context, sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			obj->x[i] = NAN;
		else
		{
			obj->x[i] = *data++;
			if (!isfinite(obj->x[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s input contains %s", fn,
								isnan(obj->x[i]) ? "NaN" : "an infinite value"),
						 errhint("Pass NULL for a missing value.")));
		}
	}
	return n;
}

/* ERROR when y is not finite */
static void
CheckY(double y, const char *fn)
{
	if (!isfinite(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s input contains %s", fn, isnan(y) ? "NaN" : "an infinite value")));
}

/*
 * mlops.linear_moments(x float8[], y float8) transition: add the row to the
 * exact moments (a row with a NULL x array or y is skipped, NULL elements
 * of x are missing values).
 */
Datum
mlops_linear_moments_trans(PG_FUNCTION_ARGS)
{
	const char *fn = "mlops.linear_moments";
	MemoryContext aggcxt;
	StateObject *obj;
	ArrayType  *arr;
	double		y;

	CheckAggregate(fcinfo, &aggcxt, fn);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	arr = PG_GETARG_ARRAYTYPE_P(1);
	y = PG_GETARG_FLOAT8(2);
	CheckY(y, fn);
	obj = PG_ARGISNULL(0) ? NULL : OurState(PG_GETARG_DATUM(0), &moments_methods);
	if (obj == NULL)
	{
		obj = NewState(aggcxt, &moments_methods);
		if (PG_ARGISNULL(0))
			obj->moments = MlopsMomentsCreate(ReadX(obj, arr, -1, fn), obj->hdr.eoh_context);
		else
		{
			bytea	   *b = PG_GETARG_BYTEA_PP(0);

			obj->moments = MlopsMomentsDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
												   obj->hdr.eoh_context);
		}
	}
	(void) ReadX(obj, arr, obj->moments->p, fn);
	MlopsMomentsAddRow(obj->moments, obj->x, y);
	obj->flat = NULL;
	PG_RETURN_DATUM(EOHPGetRWDatum(&obj->hdr));
}

/*
 * Argument n, a state: the moments of a state of ours when share is true
 * (the caller only reads them), else validated moments read from the
 * serialised form into the current context.
 */
static MlopsMoments *
MomentsArg(FunctionCallInfo fcinfo, int n, bool share)
{
	StateObject *obj = OurState(PG_GETARG_DATUM(n), &moments_methods);
	bytea	   *b;

	if (obj && share)
		return obj->moments;
	b = PG_GETARG_BYTEA_PP(n);
	return MlopsMomentsDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), CurrentMemoryContext);
}

/*
 * mlops.linear_moments combine: add state b to state a.  Inside an
 * aggregate a is updated in place; called directly (to combine the
 * moments of two sets of rows by hand) it returns the combined state in
 * its serialised form.  Either may be a serialised state, which is
 * validated.
 */
Datum
mlops_linear_moments_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	StateObject *obj;
	MlopsMoments *b;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcxt))
	{
		MlopsMoments *a = PG_ARGISNULL(0) ? NULL : MomentsArg(fcinfo, 0, false);

		b = PG_ARGISNULL(1) ? NULL : MomentsArg(fcinfo, 1, false);
		if (a && b)
			MlopsMomentsMerge(a, b);
		PG_RETURN_BYTEA_P(MlopsMomentsSerialize(a ? a : b));
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	b = MomentsArg(fcinfo, 1, true);
	obj = PG_ARGISNULL(0) ? NULL : OurState(PG_GETARG_DATUM(0), &moments_methods);
	if (obj == NULL)
	{
		obj = NewState(aggcxt, &moments_methods);
		obj->moments = MlopsMomentsCreate(b->p, obj->hdr.eoh_context);
		if (!PG_ARGISNULL(0))
			MlopsMomentsMerge(obj->moments, MomentsArg(fcinfo, 0, false));
	}
	MlopsMomentsMerge(obj->moments, b);
	obj->flat = NULL;
	PG_RETURN_DATUM(EOHPGetRWDatum(&obj->hdr));
}

/*
 * mlops.linear_moments final: the state in its canonical serialised form
 * (a serialised state is validated and written again).
 */
Datum
mlops_linear_moments_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(MlopsMomentsSerialize(MomentsArg(fcinfo, 0, true)));
}

/*
 * Decode the model of a regression_metrics state (the first row's) and
 * check that it scores numeric and boolean features of a regression.
 */
static void
StateModel(StateObject *obj, bytea *model_bytes, int nx, const char *fn)
{
	MemoryContext old = MemoryContextSwitchTo(obj->hdr.eoh_context);
	MlopsModel *model;

	obj->model_bytes = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(model_bytes));
	model = obj->model = MlopsModelDeserialize(obj->model_bytes);
	if (model->task != MLOPS_TASK_REGRESSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s takes a regression model, not a %s model", fn,
						MlopsTaskName(model->task))));
	for (int i = 0; i < model->nfeatures; i++)
		if (model->features[i].kind == MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s takes models of numeric and boolean features only", fn),
					 errdetail("Feature \"%s\" is categorical.", model->features[i].name)));
	if (nx != model->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s got %d x values for a model of %d features", fn, nx,
						model->nfeatures)));
	obj->design = palloc(sizeof(double) * Max(model->ncols, 1));
	obj->out = palloc(sizeof(double) * MlopsModelOutputs(model));
	MemoryContextSwitchTo(old);
}

/*
 * mlops.regression_metrics(model bytea, x float8[], y float8) transition:
 * score the row with the model (x in the model's feature order, NULL for
 * missing values, imputed as at training) and add its error exactly; rows
 * with a NULL x array or y are skipped.  Every row must pass the same
 * model, which the state decodes once.
 */
Datum
mlops_regression_metrics_trans(PG_FUNCTION_ARGS)
{
	const char *fn = "mlops.regression_metrics";
	MemoryContext aggcxt;
	StateObject *obj;
	bytea	   *model_bytes;
	int			nx;
	double		y;

	CheckAggregate(fcinfo, &aggcxt, fn);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs a model", fn)));
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	obj = PG_ARGISNULL(0) ? NULL : OurState(PG_GETARG_DATUM(0), &errors_methods);
	if (obj == NULL)
	{
		obj = NewState(aggcxt, &errors_methods);
		if (!PG_ARGISNULL(0))
		{
			bytea	   *b = PG_GETARG_BYTEA_PP(0);

			MlopsErrorSumsDeserialize(&obj->errors, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
									  obj->hdr.eoh_context);
		}
	}
	model_bytes = PG_GETARG_BYTEA_PP(1);
	nx = ReadX(obj, PG_GETARG_ARRAYTYPE_P(2), obj->model ? obj->model->nfeatures : -1, fn);
	if (obj->model == NULL)
		StateModel(obj, model_bytes, nx, fn);
	else if (VARSIZE_ANY_EXHDR(model_bytes) != VARSIZE_ANY_EXHDR(obj->model_bytes) ||
			 memcmp(VARDATA_ANY(model_bytes), VARDATA_ANY(obj->model_bytes),
					VARSIZE_ANY_EXHDR(model_bytes)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs the same model in every row", fn)));
	y = PG_GETARG_FLOAT8(3);
	CheckY(y, fn);
	for (int i = 0; i < nx; i++)
		MlopsEncodeFeatureNumber(&obj->model->features[i], obj->x[i], false, obj->design);
	MlopsModelPredictDesign(obj->model, obj->design, obj->out);
	MlopsErrorSumsAdd(&obj->errors, y, obj->out[0]);
	obj->flat = NULL;
	PG_RETURN_DATUM(EOHPGetRWDatum(&obj->hdr));
}

/* Argument n, a state, as error sums: as MomentsArg */
static MlopsErrorSums *
ErrorsArg(FunctionCallInfo fcinfo, int n, bool share)
{
	StateObject *obj = OurState(PG_GETARG_DATUM(n), &errors_methods);
	MlopsErrorSums *s;
	bytea	   *b;

	if (obj && share)
		return &obj->errors;
	b = PG_GETARG_BYTEA_PP(n);
	s = palloc(sizeof(MlopsErrorSums));
	MlopsErrorSumsDeserialize(s, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), CurrentMemoryContext);
	return s;
}

/* mlops.regression_metrics combine: as mlops.linear_moments' */
Datum
mlops_regression_metrics_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	StateObject *obj;
	MlopsErrorSums *b;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcxt))
	{
		MlopsErrorSums *a = PG_ARGISNULL(0) ? NULL : ErrorsArg(fcinfo, 0, false);

		b = PG_ARGISNULL(1) ? NULL : ErrorsArg(fcinfo, 1, false);
		if (a && b)
			MlopsErrorSumsMerge(a, b);
		PG_RETURN_BYTEA_P(MlopsErrorSumsSerialize(a ? a : b));
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	b = ErrorsArg(fcinfo, 1, true);
	obj = PG_ARGISNULL(0) ? NULL : OurState(PG_GETARG_DATUM(0), &errors_methods);
	if (obj == NULL)
	{
		obj = NewState(aggcxt, &errors_methods);
		if (!PG_ARGISNULL(0))
			MlopsErrorSumsMerge(&obj->errors, ErrorsArg(fcinfo, 0, false));
	}
	MlopsErrorSumsMerge(&obj->errors, b);
	obj->flat = NULL;
	PG_RETURN_DATUM(EOHPGetRWDatum(&obj->hdr));
}

/*
 * mlops.regression_metrics final: {"r2", "rmse", "mae", "rows"}, as
 * mlops.train and mlops.evaluate compute them.
 */
Datum
mlops_regression_metrics_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(MlopsRegressionMetrics(ErrorsArg(fcinfo, 0, true)));
}

/* The row type of split_side's argument, cached per call site */
typedef struct SplitCache
{
	Oid			typid;
	int32		typmod;
	TupleDesc	desc;
	int			ncols;			/* attributes not dropped */
	int		   *attno;			/* their positions */
	MlopsHashColumn *cols;
	Datum	   *values;
	bool	   *isnull;
	Datum	   *hvalues;
	bool	   *hnulls;
} SplitCache;

/* Cache what hashing rows of this type needs, in fn_mcxt */
static SplitCache *
SplitCacheFor(FunctionCallInfo fcinfo, Oid typid, int32 typmod)
{
	SplitCache *c = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	TupleDesc	desc;

	if (c && c->typid == typid && c->typmod == typmod)
		return c;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c = palloc0(sizeof(SplitCache));
	desc = lookup_rowtype_tupdesc(typid, typmod);
	c->desc = CreateTupleDescCopy(desc);
	ReleaseTupleDesc(desc);
	c->typid = typid;
	c->typmod = typmod;
	c->attno = palloc(sizeof(int) * Max(c->desc->natts, 1));
	c->cols = palloc(sizeof(MlopsHashColumn) * Max(c->desc->natts, 1));
	for (int a = 0; a < c->desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(c->desc, a);

		if (att->attisdropped)
			continue;
		c->attno[c->ncols] = a;
		c->cols[c->ncols].typid = att->atttypid;
		c->cols[c->ncols].typlen = att->attlen;
		c->cols[c->ncols].typbyval = att->attbyval;
		c->ncols++;
	}
	c->values = palloc(sizeof(Datum) * Max(c->desc->natts, 1));
	c->isnull = palloc(sizeof(bool) * Max(c->desc->natts, 1));
	c->hvalues = palloc(sizeof(Datum) * Max(c->ncols, 1));
	c->hnulls = palloc(sizeof(bool) * Max(c->ncols, 1));
	fcinfo->flinfo->fn_extra = c;
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * mlops.split_side(r record, test_size float8, folds int DEFAULT 1): -1
 * when the row is held out by mlops.train with this test_size, else its
 * cross-validation fold, 0 .. folds - 1.  r is the training columns in
 * mlops.train's order (the features, then the target), as
 * ROW(f1, f2, ..., target): the row's content hash is the one training
 * computes, so the split is the same on any node and in any order.
 */
Datum
mlops_split_side(PG_FUNCTION_ARGS)
{
	HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(0);
	double		test_size = PG_GETARG_FLOAT8(1);
	int32		folds = PG_GETARG_INT32(2);
	SplitCache *c;
	HeapTupleData tuple;
	uint64		h;

	if (!(test_size >= 0.0 && test_size <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be between 0 and 1, not %g", test_size)));
	if (folds < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("folds must be at least 1, not %d", folds)));
	c = SplitCacheFor(fcinfo, HeapTupleHeaderGetTypeId(td), HeapTupleHeaderGetTypMod(td));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, c->desc, c->values, c->isnull);
	for (int i = 0; i < c->ncols; i++)
	{
		c->hvalues[i] = c->values[c->attno[i]];
		c->hnulls[i] = c->isnull[c->attno[i]];
	}
	h = MlopsRowHash(c->cols, c->ncols, c->hvalues, c->hnulls);
	if (MlopsRowIsTest(h, test_size))
		PG_RETURN_INT32(-1);
	PG_RETURN_INT32((int32) (MlopsHashMix(h) % (uint64) folds));
}
