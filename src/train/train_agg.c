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
 * text), a combine function, and arguments of fixed types; a row is one
 * float8 array z = (x_1, ..., x_p, y), a single argument, which Citus
 * passes to the transition function as it is (several arguments it wraps
 * in a row, built and taken apart again for every row).  While rows
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

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/expandeddatum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

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
	double	   *z;				/* scratch: one row (x, y) */
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

/* Length of a float8[] argument, ERROR unless it has one dimension (or none) */
static int
RowLength(ArrayType *arr, const char *fn)
{
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s takes a one-dimensional array", fn)));
	return ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
}

/* Whether the last element of a one-dimensional array of n elements is NULL */
static bool
LastIsNull(ArrayType *arr, int n)
{
	const bits8 *nulls = ARR_NULLBITMAP(arr);

	return n > 0 && nulls && !(nulls[(n - 1) / 8] & (1 << ((n - 1) % 8)));
}

/*
 * A row's array z = (x_1, ..., x_p, y) into obj->z (NaN for NULL
 * elements); ERROR for an array without y, of another length than the
 * state's first row (n, when n >= 0), too long, or with a value that is
 * not finite.  Returns the length.
 */
static int
ReadRow(StateObject *obj, ArrayType *arr, int n, const char *fn)
{
	int			len = RowLength(arr, fn);

	/* ARR_DATA_PTR, without its mixed-signedness conditional */
	Size		off = ARR_HASNULL(arr) ? (Size) arr->dataoffset : ARR_OVERHEAD_NONULLS(ARR_NDIM(arr));
	const float8 *data = (const float8 *) ((const char *) arr + off);
	const bits8 *nulls = ARR_NULLBITMAP(arr);

	if (len < 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s takes arrays of the x values and then y, not an empty array", fn)));
	if (n >= 0 && len != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s got arrays of %d and %d elements", fn, n, len),
				 errdetail("Every row must have the same number of values.")));
	if (len > MLOPS_MOMENTS_MAX_FEATURES + 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s takes at most %d x values, not %d", fn, MLOPS_MOMENTS_MAX_FEATURES,
						len - 1)));
	if (obj->z == NULL)
		obj->z = MemoryContextAlloc(obj->hdr.eoh_context, sizeof(double) * len);
	for (int i = 0; i < len; i++)
	{
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			obj->z[i] = NAN;
		else
		{
			obj->z[i] = *data++;
			if (!isfinite(obj->z[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s input contains %s", fn,
								isnan(obj->z[i]) ? "NaN" : "an infinite value"),
						 errhint("Pass NULL for a missing value.")));
		}
	}
	return len;
}

/*
 * mlops.linear_moments(z float8[]) transition: add the row z = (x_1, ...,
 * x_p, y) to the exact moments.  NULL elements of x are missing values; a
 * row whose z or y is NULL is skipped.
 */
Datum
mlops_linear_moments_trans(PG_FUNCTION_ARGS)
{
	const char *fn = "mlops.linear_moments";
	MemoryContext aggcxt;
	StateObject *obj;
	ArrayType  *arr = NULL;
	int			len = 0;

	CheckAggregate(fcinfo, &aggcxt, fn);
	if (!PG_ARGISNULL(1))
	{
		arr = PG_GETARG_ARRAYTYPE_P(1);
		len = RowLength(arr, fn);
	}
	if (arr == NULL || LastIsNull(arr, len))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	obj = PG_ARGISNULL(0) ? NULL : OurState(PG_GETARG_DATUM(0), &moments_methods);
	if (obj == NULL)
	{
		obj = NewState(aggcxt, &moments_methods);
		if (!PG_ARGISNULL(0))
		{
			bytea	   *b = PG_GETARG_BYTEA_PP(0);

			obj->moments = MlopsMomentsDeserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
												   obj->hdr.eoh_context);
		}
	}
	len = ReadRow(obj, arr, obj->moments ? obj->moments->p + 1 : -1, fn);
	if (obj->moments == NULL)
		obj->moments = MlopsMomentsCreate(len - 1, obj->hdr.eoh_context);
	MlopsMomentsAddRow(obj->moments, obj->z, obj->z[len - 1]);
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
 * check that it scores p numeric and boolean features of a regression.
 */
static void
StateModel(StateObject *obj, bytea *model_bytes, int p, const char *fn)
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
	if (p != model->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s got %d x values for a model of %d features", fn, p,
						model->nfeatures)));
	obj->design = palloc(sizeof(double) * Max(model->ncols, 1));
	obj->out = palloc(sizeof(double) * MlopsModelOutputs(model));
	MemoryContextSwitchTo(old);
}

/*
 * mlops.regression_metrics(model bytea, z float8[]) transition: score the
 * row z = (x_1, ..., x_p, y) with the model (x in the model's feature
 * order, NULL for missing values, imputed as at training) and add its
 * error exactly; a row whose z or y is NULL is skipped.  Every row must
 * pass the same model, which the state decodes once.
 */
Datum
mlops_regression_metrics_trans(PG_FUNCTION_ARGS)
{
	const char *fn = "mlops.regression_metrics";
	MemoryContext aggcxt;
	StateObject *obj;
	bytea	   *model_bytes;
	ArrayType  *arr = NULL;
	int			len = 0;

	CheckAggregate(fcinfo, &aggcxt, fn);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs a model", fn)));
	if (!PG_ARGISNULL(2))
	{
		arr = PG_GETARG_ARRAYTYPE_P(2);
		len = RowLength(arr, fn);
	}
	if (arr == NULL || LastIsNull(arr, len))
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
	len = ReadRow(obj, arr, obj->model ? obj->model->nfeatures + 1 : -1, fn);
	if (obj->model == NULL)
		StateModel(obj, model_bytes, len - 1, fn);
	else if (VARSIZE_ANY_EXHDR(model_bytes) != VARSIZE_ANY_EXHDR(obj->model_bytes) ||
			 memcmp(VARDATA_ANY(model_bytes), VARDATA_ANY(obj->model_bytes),
					VARSIZE_ANY_EXHDR(model_bytes)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs the same model in every row", fn)));
	for (int i = 0; i < len - 1; i++)
		MlopsEncodeFeatureNumber(&obj->model->features[i], obj->z[i], false, obj->design);
	MlopsModelPredictDesign(obj->model, obj->design, obj->out);
	MlopsErrorSumsAdd(&obj->errors, obj->z[len - 1], obj->out[0]);
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

/* What hashing split_side's columns needs, cached per call site */
typedef struct SplitCache
{
	int			ncols;
	MlopsHashColumn *cols;
	Datum	   *values;
	bool	   *isnull;
} SplitCache;

/* The columns' types (from the call's expression), in fn_mcxt */
static SplitCache *
SplitCacheFor(FunctionCallInfo fcinfo)
{
	SplitCache *c = fcinfo->flinfo->fn_extra;
	MemoryContext cxt = fcinfo->flinfo->fn_mcxt;
	int			ncols = PG_NARGS() - 2;

	if (c != NULL)
		return c;
	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mlops.split_side takes the row's columns as arguments, not an array")));
	c = MemoryContextAllocZero(cxt, sizeof(SplitCache));
	c->ncols = ncols;
	c->cols = MemoryContextAlloc(cxt, sizeof(MlopsHashColumn) * Max(ncols, 1));
	c->values = MemoryContextAlloc(cxt, sizeof(Datum) * Max(ncols, 1));
	c->isnull = MemoryContextAlloc(cxt, sizeof(bool) * Max(ncols, 1));
	for (int i = 0; i < ncols; i++)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, i + 2);

		if (!OidIsValid(typid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not determine the type of argument %d of mlops.split_side",
							i + 3)));
		c->cols[i].typid = typid;
		get_typlenbyval(typid, &c->cols[i].typlen, &c->cols[i].typbyval);
	}
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/*
 * mlops.split_side(test_size float8, folds int, VARIADIC "any"): -1 when
 * mlops.train with this test_size holds the row out, else its
 * cross-validation fold, 0 .. folds - 1 (0 for folds 1).  The variadic
 * arguments are the training columns in mlops.train's order, the features
 * and then the target, with their own types: the row's content hash is
 * the one training computes, so the split is the same on any node and in
 * any order.  NULL when test_size or folds is.
 */
Datum
mlops_split_side(PG_FUNCTION_ARGS)
{
	SplitCache *c;
	double		test_size;
	int32		folds;
	uint64		h;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	test_size = PG_GETARG_FLOAT8(0);
	folds = PG_GETARG_INT32(1);
	if (!(test_size >= 0.0 && test_size <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be between 0 and 1, not %g", test_size)));
	if (folds < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("folds must be at least 1, not %d", folds)));
	c = SplitCacheFor(fcinfo);
	for (int i = 0; i < c->ncols; i++)
	{
		c->isnull[i] = PG_ARGISNULL(i + 2);
		c->values[i] = c->isnull[i] ? (Datum) 0 : PG_GETARG_DATUM(i + 2);
	}
	h = MlopsRowHash(c->cols, c->ncols, c->values, c->isnull);
	if (MlopsRowIsTest(h, test_size))
		PG_RETURN_INT32(-1);
	PG_RETURN_INT32((int32) (MlopsHashMix(h) % (uint64) folds));
}
