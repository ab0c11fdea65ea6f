/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers that every subsystem uses: running our own SPI statements,
 *	  the mlops schema's OID, the training-memory cap, sorting doubles and
 *	  writing them as JSON, reading a number out of a jsonb object.
 *
 * The folder src/core/ is the bottom layer: helpers with no knowledge of
 * models or the registry (SPI, relations, row hashes, BLAS/LAPACK,
 * distributions and tests).  Its headers may be used by every other folder.
 *
 * This is the bottom layer: it includes no other file of the project.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "common/shortest_dec.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core/util.h"

/* GUC mlops.max_training_memory, in kB; registered by _PG_init (mlops.c) */
int			mlops_max_training_memory = 4 * 1024 * 1024;	/* 4 GB */

#define ST_SORT mlops_sort_doubles
#define ST_ELEMENT_TYPE double
#define ST_COMPARE(a, b) ((*(a) > *(b)) - (*(a) < *(b)))
#define ST_SCOPE static
#define ST_DECLARE
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Run one SPI statement of our own with parameters (not read-only, no row
 * limit), and turn an unexpected SPI result into an error: a can't-happen
 * case, so the message names the statement rather than explaining.
 */
void
MlopsExecOrError(const char *sql, int nargs, Oid *argtypes, Datum *values,
				 const char *nulls, int expected)
{
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "mlops: SPI_execute_with_args returned %d for \"%s\"", ret, sql);
}

/*
 * OID of the mlops schema; errors out when the extension is not installed in
 * the current database.
 */
Oid
MlopsSchemaOid(void)
{
	Oid			nsp = get_namespace_oid("mlops", true);

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"mlops\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION mlops.")));
	return nsp;
}

/*
 * Refuse an allocation of training data beyond mlops.max_training_memory,
 * saying how much it would need.
 */
void
MlopsCheckMemory(Size bytes, const char *what)
{
	if (bytes / 1024 > (Size) mlops_max_training_memory)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs %.1f MB, more than mlops.max_training_memory (%.1f MB)",
						what, bytes / (1024.0 * 1024.0), mlops_max_training_memory / 1024.0),
				 errhint("Raise mlops.max_training_memory, or train on fewer rows or features.")));
}

/* Sort doubles ascending; the values must not be NaN */
void
MlopsSortDoubles(double *values, size_t n)
{
	mlops_sort_doubles(values, n);
}

/*
 * Append a double as JSON: shortest exact decimal, null when not finite
 * (the baselines of train/baseline.c, the drift reports of drift/)
 */
void
MlopsAppendJsonDouble(StringInfo buf, double v)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(v))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	double_to_shortest_decimal_buf(v, tmp);
	appendStringInfoString(buf, tmp);
}

/* A numeric field of a jsonb object, or NaN when absent or not a number */
double
MlopsJsonbGetFloat(Jsonb *j, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	if (j == NULL || !JB_ROOT_IS_OBJECT(j))
		return NAN;
	k.type = jbvString;
	k.val.string.len = strlen(key);
	k.val.string.val = (char *) key;
	v = findJsonbValueFromContainer(&j->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		return NAN;
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}
