/*-------------------------------------------------------------------------
 *
 * drift_accum.c
 *	  The aggregate behind the scan of mlops.check_drift,
 *	  mlops.drift_accumulate(spec bytea, numbers float8[], categories text[]):
 *	  it reduces the live relation to what the drift statistics need (the
 *	  state of drift_state.c) in one scan that PostgreSQL can split across
 *	  parallel workers and Citus can push down to its workers.
 *
 * Citus pushes a custom aggregate down only when it has a combine function,
 * a transition type that is not a pseudo-type and fixed argument types.  So
 * the state is a bytea, and a row's values come in two arrays: numeric and
 * boolean columns as float8 (booleans 0 or 1), categorical columns as text,
 * each in the order of the spec's columns.  check.c writes the casts; the
 * two helpers at the end read numeric and non-text categorical values
 * exactly as the training loader does.
 *
 * While the aggregate runs, its bytea state is an expanded object
 * (utils/expandeddatum.h) holding the C state, the decoded spec and the row
 * buffers, changed in place.  PostgreSQL's executor, and Citus's
 * worker_partial_agg and coord_combine_agg, keep a read-write expanded
 * object whose context is a child of the aggregate context without copying
 * it; the spec lives in the state because Citus calls the transition
 * function through a new FmgrInfo for every row (no fn_extra, no fn_expr).
 * Wherever the state leaves the aggregate (a parallel worker's tuple,
 * byteaout for Citus, the final result) it is flattened; a flat state that
 * arrives at the combine function is read back into a new object.  The
 * final result is the flat state.
 *
 * Anyone can call these functions with a spec or states of their own
 * making: everything flat is validated when read (drift_state.c), and the
 * combine and final functions also work outside an aggregate, flat in and
 * flat out (tests combine states that way, as Citus does).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/memutils.h"

#include "model/preprocess.h"
#include "drift/drift_state.h"

PG_FUNCTION_INFO_V1(mlops_drift_accum_trans);
PG_FUNCTION_INFO_V1(mlops_drift_accum_trans_local);
PG_FUNCTION_INFO_V1(mlops_drift_accum_combine);
PG_FUNCTION_INFO_V1(mlops_drift_accum_final);
PG_FUNCTION_INFO_V1(mlops_drift_numbers);
PG_FUNCTION_INFO_V1(mlops_drift_categories);

/* The expanded form of the aggregate's bytea state */
typedef struct DriftExpanded
{
	ExpandedObjectHeader hdr;
	MlopsDriftState *state;
	/* with a spec: one row's values, for arrays that have NULLs */
	double	   *numbers;
	bool	   *number_null;
	const char **categories;
	int32	   *category_len;
	bool	   *category_null;
	/* drift_accumulate_local: readers of the columns, by their types */
	MlopsValueReader *readers;
} DriftExpanded;

static Size DriftGetFlatSize(ExpandedObjectHeader *eohptr);
static void DriftFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods drift_methods = {
	DriftGetFlatSize,
	DriftFlattenInto
};

/* Expanded-object method: size of the flat form */
static Size
DriftGetFlatSize(ExpandedObjectHeader *eohptr)
{
	return MlopsDriftStateFlatSize(((DriftExpanded *) eohptr)->state);
}

/* Expanded-object method: write the flat form */
static void
DriftFlattenInto(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	MlopsDriftStateFlatten(((DriftExpanded *) eohptr)->state, result, allocated_size);
}

/* A new expanded state, without its C state yet, in a child context of parent */
static DriftExpanded *
DriftNew(MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "mlops drift accumulator",
											  ALLOCSET_DEFAULT_SIZES);
	DriftExpanded *e = MemoryContextAllocZero(cxt, sizeof(DriftExpanded));

	EOH_init_header(&e->hdr, &drift_methods, cxt);
	return e;
}

/* The state a datum points to when it is an expanded state of ours, else NULL */
static DriftExpanded *
DriftFromDatum(Datum d)
{
	ExpandedObjectHeader *eoh;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		return NULL;
	eoh = DatumGetEOHP(d);
	return eoh->eoh_methods == &drift_methods ? (DriftExpanded *) eoh : NULL;
}

/*
 * The transition state in argument 0, for changing in place: itself when it
 * is a read-write state of ours, else (flat, or read-only) a copy in a new
 * object under the aggregate context; NULL when there is none yet.
 */
static DriftExpanded *
WritableState(FunctionCallInfo fcinfo, MemoryContext aggcxt)
{
	DriftExpanded *e;

	if (PG_ARGISNULL(0))
		return NULL;
	e = DriftFromDatum(PG_GETARG_DATUM(0));
	if (e != NULL && VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(PG_GETARG_DATUM(0))))
		return e;
	e = DriftNew(aggcxt);
	e->state = MlopsDriftStateRead(PG_GETARG_BYTEA_PP(0), e->hdr.eoh_context);
	return e;
}

/*
 * Give a state the spec of argument 1, decoded once into its context, and
 * the row buffers; a new state when there is none yet.
 */
static DriftExpanded *
TakeSpec(FunctionCallInfo fcinfo, DriftExpanded *e, MemoryContext aggcxt)
{
	MlopsDriftSpec *spec;
	MemoryContext cxt;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("drift accumulator spec must not be NULL")));
	if (e == NULL)
		e = DriftNew(aggcxt);
	cxt = e->hdr.eoh_context;
	spec = MlopsDriftSpecDecode(PG_GETARG_BYTEA_PP(1), cxt);
	if (e->state == NULL)
	{
		MlopsFeatureKind *kinds = palloc(Max(spec->ncols, 1) * sizeof(MlopsFeatureKind));

		for (int i = 0; i < spec->ncols; i++)
			kinds[i] = spec->cols[i].kind;
		e->state = MlopsDriftStateNew(cxt, spec->ncols, kinds);
		pfree(kinds);
	}
	MlopsDriftStateUseSpec(e->state, spec);
	e->numbers = MemoryContextAlloc(cxt, Max(spec->nnumbers, 1) * sizeof(double));
	e->number_null = MemoryContextAlloc(cxt, Max(spec->nnumbers, 1) * sizeof(bool));
	e->categories = MemoryContextAlloc(cxt, Max(spec->ncategories, 1) * sizeof(char *));
	e->category_len = MemoryContextAlloc(cxt, Max(spec->ncategories, 1) * sizeof(int32));
	e->category_null = MemoryContextAlloc(cxt, Max(spec->ncategories, 1) * sizeof(bool));
	return e;
}

/*
 * A varlena argument as a plain (4-byte header) value: detoasting only
 * when it is not one already, without a function call per row.
 */
static inline struct varlena *
Plain(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	return VARATT_IS_EXTENDED(v) ? pg_detoast_datum(v) : v;
}

/*
 * A varlena argument, detoasted when compressed or stored outside but left
 * with a short header, as PG_GETARG_TEXT_PP does, without a function call
 * per row.
 */
static inline struct varlena *
Packed(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);

	return VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v) ? pg_detoast_datum_packed(v) : v;
}

/*
 * Argument argno, an array of want elements of type elemtype (one
 * dimension; NULL is no elements).
 */
static ArrayType *
ArgArray(FunctionCallInfo fcinfo, int argno, Oid elemtype, int want, const char *what)
{
	ArrayType  *a = PG_ARGISNULL(argno) ? NULL : (ArrayType *) Plain(PG_GETARG_DATUM(argno));
	int			n = (a && ARR_NDIM(a) == 1) ? ARR_DIMS(a)[0] : 0;

	if (n != want || (a && (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != elemtype)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("drift accumulator spec describes %d %s, %d given", want, what, n)));
	return a;
}

/* The first element of an array (ARR_DATA_PTR, without a sign-compare warning) */
static inline const char *
ArrayData(const ArrayType *a)
{
	if (ARR_HASNULL(a))
		return (const char *) a + a->dataoffset;
	return (const char *) a + ARR_OVERHEAD_NONULLS(ARR_NDIM(a));
}

/*
 * Readers, in cxt, of arguments first..first+n-1 of a call with "any"
 * arguments, by their types: as numbers (numeric and boolean types only)
 * where kinds[i] is numeric or boolean, else as categories (any type); all
 * of kind when kinds is NULL.
 */
static MlopsValueReader *
ArgReaders(FunctionCallInfo fcinfo, int first, int n, const MlopsFeatureKind *kinds,
		   MlopsFeatureKind kind, MemoryContext cxt)
{
	MlopsValueReader *readers;
	MemoryContext old;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the values of the drift accumulator cannot be passed as a VARIADIC array")));
	old = MemoryContextSwitchTo(cxt);
	readers = palloc0(Max(n, 1) * sizeof(MlopsValueReader));
	for (int i = 0; i < n; i++)
	{
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, first + i);
		MlopsFeatureKind k = MlopsTypeKind(typid);
		bool		number = MlopsDriftKindIsNumber(kinds ? kinds[i] : kind);

		if (!OidIsValid(typid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not determine the type of drift accumulator value %d", i + 1)));
		if (number && k != MLOPS_KIND_NUMERIC && k != MLOPS_KIND_BOOLEAN)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("drift accumulator value %d must be numeric or boolean, not %s",
							i + 1, format_type_be(typid))));
		MlopsValueReaderInit(&readers[i], typid,
							 number ? MLOPS_KIND_NUMERIC : MLOPS_KIND_CATEGORICAL);
	}
	MemoryContextSwitchTo(old);
	return readers;
}

/* A number as training reads it (booleans 0 or 1, numeric beyond float8's range infinite) */
static inline double
ReadNumberValue(const MlopsValueReader *r, Datum value)
{
	return r->typid == FLOAT8OID ? DatumGetFloat8(value) : MlopsReadNumber(r, value);
}

/*
 * A category as training reads it: text types as they are (bpchar with its
 * padding), booleans as true and false, others by their output function.
 */
static inline void
ReadCategoryValue(MlopsValueReader *r, Datum value, const char **str, int32 *len)
{
	if (r->is_text)
	{
		struct varlena *t = Packed(value);

		*str = VARDATA_ANY(t);
		*len = VARSIZE_ANY_EXHDR(t);
	}
	else
	{
		*str = MlopsReadText(r, value);
		*len = strlen(*str);
	}
}

/* The values of the current row, from arguments 2 (numbers) and 3 (categories) */
static void
ReadRow(FunctionCallInfo fcinfo, DriftExpanded *e, MlopsDriftRow *row)
{
	const MlopsDriftSpec *spec = e->state->spec;

	memset(row, 0, sizeof(*row));
	if (spec->nnumbers > 0)
	{
		ArrayType  *a = ArgArray(fcinfo, 2, FLOAT8OID, spec->nnumbers, "numbers");
		const double *src = (const double *) ArrayData(a);
		const bits8 *nulls = ARR_NULLBITMAP(a);

		if (nulls == NULL)
			row->numbers = src; /* as they are */
		else
		{
			for (int k = 0; k < spec->nnumbers; k++)
			{
				e->number_null[k] = (nulls[k / 8] & (1 << (k % 8))) == 0;
				if (!e->number_null[k])
					e->numbers[k] = *src++;
			}
			row->numbers = e->numbers;
			row->number_null = e->number_null;
		}
	}
	if (spec->ncategories > 0)
	{
		ArrayType  *a = ArgArray(fcinfo, 3, TEXTOID, spec->ncategories, "categories");
		const char *p = ArrayData(a);
		const bits8 *nulls = ARR_NULLBITMAP(a);

		for (int k = 0; k < spec->ncategories; k++)
		{
			e->category_null[k] = nulls && (nulls[k / 8] & (1 << (k % 8))) == 0;
			if (e->category_null[k])
				continue;
			e->categories[k] = VARDATA_ANY(p);
			e->category_len[k] = VARSIZE_ANY_EXHDR(p);
			p = att_addlength_pointer(p, -1, p);
			p = (const char *) att_align_nominal(p, TYPALIGN_INT);
		}
		row->categories = e->categories;
		row->category_len = e->category_len;
		row->category_null = e->category_null;
	}
}

/*
 * mlops.drift_accumulate transition: one row.  The spec is taken from the
 * first row (later rows are read by it).
 */
Datum
mlops_drift_accum_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	DriftExpanded *e;
	MlopsDriftRow row;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mlops.drift_accumulate can only be called as an aggregate")));
	e = WritableState(fcinfo, aggcxt);
	if (e == NULL || e->state->spec == NULL)
		e = TakeSpec(fcinfo, e, aggcxt);
	ReadRow(fcinfo, e, &row);
	MlopsDriftStateAddRow(e->state, &row);
	PG_RETURN_DATUM(EOHPGetRWDatum(&e->hdr));
}

/*
 * mlops.drift_accumulate_local transition: one row, its values as arguments
 * of their own types (VARIADIC "any"), read directly: no arrays to build,
 * but Citus cannot push it down (check_drift uses it where Citus is not
 * installed).  The spec is taken from the first row.
 */
Datum
mlops_drift_accum_trans_local(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	DriftExpanded *e;
	const MlopsDriftSpec *spec;
	MlopsDriftRow row;
	int			ni = 0,
				ci = 0;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mlops.drift_accumulate_local can only be called as an aggregate")));
	e = WritableState(fcinfo, aggcxt);
	if (e == NULL || e->state->spec == NULL)
		e = TakeSpec(fcinfo, e, aggcxt);
	spec = e->state->spec;
	if (e->readers == NULL)
	{
		MlopsFeatureKind *kinds = palloc(Max(spec->ncols, 1) * sizeof(MlopsFeatureKind));

		if (PG_NARGS() - 2 != spec->ncols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("drift accumulator spec describes %d columns, %d given",
							spec->ncols, PG_NARGS() - 2)));
		for (int i = 0; i < spec->ncols; i++)
			kinds[i] = spec->cols[i].kind;
		e->readers = ArgReaders(fcinfo, 2, spec->ncols, kinds, MLOPS_KIND_AUTO,
								e->hdr.eoh_context);
	}
	for (int i = 0; i < spec->ncols; i++)
	{
		bool		isnull = PG_ARGISNULL(i + 2);

		if (MlopsDriftKindIsNumber(spec->cols[i].kind))
		{
			e->number_null[ni] = isnull;
			if (!isnull)
				e->numbers[ni] = ReadNumberValue(&e->readers[i], PG_GETARG_DATUM(i + 2));
			ni++;
		}
		else
		{
			e->category_null[ci] = isnull;
			if (!isnull)
				ReadCategoryValue(&e->readers[i], PG_GETARG_DATUM(i + 2),
								  &e->categories[ci], &e->category_len[ci]);
			ci++;
		}
	}
	row.numbers = e->numbers;
	row.number_null = e->number_null;
	row.categories = e->categories;
	row.category_len = e->category_len;
	row.category_null = e->category_null;
	MlopsDriftStateAddRow(e->state, &row);
	PG_RETURN_DATUM(EOHPGetRWDatum(&e->hdr));
}

/*
 * The combine function called on its own, not as part of an aggregate: flat
 * states in, their combination flat out.
 */
static Datum
CombineFlat(FunctionCallInfo fcinfo)
{
	MlopsDriftState *s;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	s = MlopsDriftStateRead(PG_GETARG_BYTEA_PP(PG_ARGISNULL(0) ? 1 : 0), CurrentMemoryContext);
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
		MlopsDriftStateMergeFlat(s, PG_GETARG_BYTEA_PP(1));
	PG_RETURN_BYTEA_P(MlopsDriftStateToBytea(s));
}

/*
 * mlops.drift_accumulate combine: adds the state in argument 1 (a parallel
 * worker's, a Citus worker's, flat or expanded) to the transition state.
 */
Datum
mlops_drift_accum_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	DriftExpanded *a;
	DriftExpanded *b;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		return CombineFlat(fcinfo);
	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	a = WritableState(fcinfo, aggcxt);
	if (!PG_ARGISNULL(1))
	{
		b = DriftFromDatum(PG_GETARG_DATUM(1));
		if (a == NULL)
		{
			a = DriftNew(aggcxt);
			a->state = MlopsDriftStateRead(PG_GETARG_BYTEA_PP(1), a->hdr.eoh_context);
		}
		else if (b != NULL && b != a)
			MlopsDriftStateMerge(a->state, b->state);
		else					/* flat, or the state itself (merged from a flat copy) */
			MlopsDriftStateMergeFlat(a->state, PG_GETARG_BYTEA_PP(1));
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&a->hdr));
}

/*
 * mlops.drift_accumulate result: the flat state (canonical, so that equal
 * counts give equal bytes).  A flat argument is validated and rewritten.
 */
Datum
mlops_drift_accum_final(PG_FUNCTION_ARGS)
{
	DriftExpanded *e = DriftFromDatum(PG_GETARG_DATUM(0));
	MlopsDriftState *s;

	if (e != NULL)
		s = e->state;
	else
		s = MlopsDriftStateRead(PG_GETARG_BYTEA_PP(0), CurrentMemoryContext);
	PG_RETURN_BYTEA_P(MlopsDriftStateToBytea(s));
}

/* ------------------------------------------------------------------------
 * The arrays of a row
 * ------------------------------------------------------------------------
 */

/* What a row builder keeps between rows (in fn_extra): its arguments' readers */
typedef struct RowBuilder
{
	int			nargs;
	MlopsValueReader *readers;
	const char **str;			/* categories: the current row's values */
	int32	   *len;
} RowBuilder;

/* The row builder of this call site, made on the first row */
static inline RowBuilder *
GetRowBuilder(FunctionCallInfo fcinfo, MlopsFeatureKind kind)
{
	RowBuilder *rb = (RowBuilder *) fcinfo->flinfo->fn_extra;

	if (rb != NULL && rb->nargs == PG_NARGS())
		return rb;
	rb = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowBuilder));
	rb->nargs = PG_NARGS();
	rb->readers = ArgReaders(fcinfo, 0, rb->nargs, NULL, kind, fcinfo->flinfo->fn_mcxt);
	rb->str = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, Max(rb->nargs, 1) * sizeof(char *));
	rb->len = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, Max(rb->nargs, 1) * sizeof(int32));
	fcinfo->flinfo->fn_extra = rb;
	return rb;
}

/*
 * A new one-dimensional array of n elements of elemtype, with a NULL bitmap
 * (all NULL) when hasnulls, and room for datasize bytes of data, which the
 * caller fills entirely.
 */
static ArrayType *
NewArray(Oid elemtype, int n, bool hasnulls, Size datasize)
{
	Size		offset = hasnulls ? ARR_OVERHEAD_WITHNULLS(1, n) : ARR_OVERHEAD_NONULLS(1);
	ArrayType  *a = palloc(offset + datasize);

	memset(a, 0, offset);

	SET_VARSIZE(a, offset + datasize);
	a->ndim = 1;
	a->dataoffset = hasnulls ? offset : 0;
	a->elemtype = elemtype;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	return a;
}

/*
 * mlops._drift_numbers(VARIADIC "any") RETURNS float8[]: the numeric and
 * boolean columns of a row as training reads them (booleans 0 or 1, numeric
 * beyond float8's range infinite), built directly: cheaper per row than an
 * ARRAY[] of casts.
 */
Datum
mlops_drift_numbers(PG_FUNCTION_ARGS)
{
	RowBuilder *rb = GetRowBuilder(fcinfo, MLOPS_KIND_NUMERIC);
	int			n = rb->nargs;
	int			nvalues = 0;
	ArrayType  *a;
	double	   *out;
	bits8	   *bitmap;

	for (int i = 0; i < n; i++)
		nvalues += !PG_ARGISNULL(i);
	a = NewArray(FLOAT8OID, n, nvalues < n, nvalues * sizeof(double));
	out = (double *) ArrayData(a);
	bitmap = ARR_NULLBITMAP(a);
	for (int i = 0; i < n; i++)
	{
		const MlopsValueReader *r = &rb->readers[i];

		if (PG_ARGISNULL(i))
			continue;
		if (bitmap)
			bitmap[i / 8] |= 1 << (i % 8);
		*out++ = ReadNumberValue(r, PG_GETARG_DATUM(i));
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

/*
 * mlops._drift_categories(VARIADIC "any") RETURNS text[]: the categorical
 * columns of a row as training reads them (text types as they are, bpchar
 * with its padding, booleans as true and false, others by their output
 * function), built directly.
 */
Datum
mlops_drift_categories(PG_FUNCTION_ARGS)
{
	RowBuilder *rb = GetRowBuilder(fcinfo, MLOPS_KIND_CATEGORICAL);
	int			n = rb->nargs;
	int			nvalues = 0;
	Size		datasize = 0;
	ArrayType  *a;
	char	   *out;
	bits8	   *bitmap;

	for (int i = 0; i < n; i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		nvalues++;
		ReadCategoryValue(&rb->readers[i], PG_GETARG_DATUM(i), &rb->str[i], &rb->len[i]);
		datasize += INTALIGN(VARHDRSZ + rb->len[i]);
	}
	if (!AllocSizeIsValid(datasize))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the categories of a row take more than %d bytes", (int) MaxAllocSize)));
	a = NewArray(TEXTOID, n, nvalues < n, datasize);
	out = (char *) ArrayData(a);
	bitmap = ARR_NULLBITMAP(a);
	for (int i = 0; i < n; i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		if (bitmap)
			bitmap[i / 8] |= 1 << (i % 8);
		SET_VARSIZE(out, VARHDRSZ + rb->len[i]);
		memcpy(VARDATA(out), rb->str[i], rb->len[i]);
		/* zero the padding to the next element */
		for (Size k = VARHDRSZ + rb->len[i]; k < INTALIGN(VARHDRSZ + rb->len[i]); k++)
			out[k] = 0;
		out += INTALIGN(VARHDRSZ + rb->len[i]);
	}
	PG_RETURN_ARRAYTYPE_P(a);
}
