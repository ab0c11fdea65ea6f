/*-------------------------------------------------------------------------
 *
 * stats_sql.c
 *	  The drift check's statistical tests as SQL functions: mlops.psi,
 *	  mlops.ks_test and mlops.chi_square_test.  They run the very code the
 *	  check runs (core/stats.c), so that it can be checked against
 *	  independent reference values.
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

#include "core/stats.h"
#include "core/util.h"

PG_FUNCTION_INFO_V1(mlops_psi);
PG_FUNCTION_INFO_V1(mlops_ks_test);
PG_FUNCTION_INFO_V1(mlops_chi_square_test);

/* A float8[] argument as a C array; NULL elements are an error */
static double *
Float8ArrayValues(ArrayType *arr, int *n, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	double	   *out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	out = palloc(Max(*n, 1) * sizeof(double));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		out[i] = DatumGetFloat8(elems[i]);
		if (isnan(out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain NaN", what)));
	}
	return out;
}

/* Two count vectors of the same length, non-negative, neither all zero */
static void
CheckCounts(const double *a, int na, const double *b, int nb)
{
	double		sa = 0.0,
				sb = 0.0;

	if (na != nb || na == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("both arrays must have the same, non-zero length"),
				 errdetail("The arrays have %d and %d elements.", na, nb)));
	for (int i = 0; i < na; i++)
	{
		if (a[i] < 0.0 || b[i] < 0.0 || isinf(a[i]) || isinf(b[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counts and shares must be finite and non-negative")));
		sa += a[i];
		sb += b[i];
	}
	if (sa <= 0.0 || sb <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each array needs a positive total")));
}

/*
 * mlops.psi(expected float8[], actual float8[]) RETURNS float8
 * PSI between two binned distributions (counts or shares), as check_drift
 * computes it.
 */
Datum
mlops_psi(PG_FUNCTION_ARGS)
{
	int			ne,
				na;
	double	   *e = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &ne, "expected");
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &na, "actual");

	CheckCounts(e, ne, a, na);
	PG_RETURN_FLOAT8(MlopsPsi(e, a, ne));
}

/* Build the composite result of a statistics function */
static Datum
StatResult(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * mlops.ks_test(a float8[], b float8[], OUT statistic, OUT p_value)
 * Two-sample KS with check_drift's code path: a plays the baseline sample,
 * b the live values.
 */
Datum
mlops_ks_test(PG_FUNCTION_ARGS)
{
	int			m,
				n;
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &m, "a");
	double	   *b = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &n, "b");
	int64	   *hist;
	MlopsKsIndex ix;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	double		d;

	if (m == 0 || n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("both samples must be non-empty")));
	MlopsSortDoubles(a, m);
	MlopsKsIndexInit(&ix, a, m);
	hist = palloc0((2 * m + 1) * sizeof(int64));
	for (int i = 0; i < n; i++)
		hist[MlopsKsCell(&ix, b[i])]++;
	d = MlopsKsStatistic(a, m, hist, n);
	values[0] = Float8GetDatum(d);
	values[1] = Float8GetDatum(MlopsKsPValue(d, m, n));
	PG_RETURN_DATUM(StatResult(fcinfo, values, nulls));
}

/*
 * mlops.chi_square_test(a float8[], b float8[], OUT statistic, OUT df,
 * OUT p_value): homogeneity of two count vectors (2 x k table).
 */
Datum
mlops_chi_square_test(PG_FUNCTION_ARGS)
{
	int			na,
				nb,
				df;
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &na, "a");
	double	   *b = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &nb, "b");
	double		stat,
				p;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	CheckCounts(a, na, b, nb);
	p = MlopsChiSquareHomogeneity(a, b, na, &stat, &df);
	values[0] = Float8GetDatum(stat);
	values[1] = Int32GetDatum(df);
	values[2] = Float8GetDatum(p);
	PG_RETURN_DATUM(StatResult(fcinfo, values, nulls));
}
