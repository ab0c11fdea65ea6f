/*-------------------------------------------------------------------------
 *
 * preprocess.c
 *	  How SQL values become model inputs: which column types are features
 *	  of which kind, and reading values of those types as numbers or text.
 *
 * Numeric types and booleans are read as numbers; text-like types and
 * enums are categorical and read as text (one-hot encoded against the
 * training vocabulary by model.c).  Anything else is refused by name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "model/preprocess.h"

/*
 * Kind of feature a column of type typid makes, or MLOPS_KIND_AUTO for a
 * type mlops cannot use.
 */
MlopsFeatureKind
MlopsTypeKind(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return MLOPS_KIND_NUMERIC;
		case BOOLOID:
			return MLOPS_KIND_BOOLEAN;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case CHAROID:
			return MLOPS_KIND_CATEGORICAL;
		default:
			return type_is_enum(base) ? MLOPS_KIND_CATEGORICAL : MLOPS_KIND_AUTO;
	}
}

/*
 * Kind of feature a column of type typid makes; ERROR for types mlops
 * cannot use, naming the column.
 */
MlopsFeatureKind
MlopsKindForType(Oid typid, const char *colname)
{
	MlopsFeatureKind kind = MlopsTypeKind(typid);

	if (kind == MLOPS_KIND_AUTO)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s, which mlops cannot use as a feature",
						colname, format_type_be(typid)),
				 errhint("Use numeric, boolean, text or enum columns, cast the column in a view, or leave it out with the features argument.")));
	return kind;
}

const char *
MlopsKindName(MlopsFeatureKind kind)
{
	switch (kind)
	{
		case MLOPS_KIND_NUMERIC:
			return "numeric";
		case MLOPS_KIND_BOOLEAN:
			return "boolean";
		case MLOPS_KIND_CATEGORICAL:
			return "categorical";
		default:
			return "auto";
	}
}

/* Prepare to read values of typid as kind. */
void
MlopsValueReaderInit(MlopsValueReader *r, Oid typid, MlopsFeatureKind kind)
{
	Oid			base = getBaseType(typid);

	r->typid = base;
	r->kind = kind;
	r->is_text = (base == TEXTOID || base == VARCHAROID || base == BPCHAROID);
	if (kind == MLOPS_KIND_CATEGORICAL && !r->is_text)
	{
		Oid			outfn;
		bool		isvarlena;

		getTypeOutputInfo(base, &outfn, &isvarlena);
		fmgr_info(outfn, &r->outfn);
	}
}

/* A non-NULL numeric or boolean value as a double. */
double
MlopsReadNumber(const MlopsValueReader *r, Datum value)
{
	switch (r->typid)
	{
		case FLOAT8OID:
			return DatumGetFloat8(value);
		case FLOAT4OID:
			return (double) DatumGetFloat4(value);
		case INT4OID:
			return (double) DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case INT2OID:
			return (double) DatumGetInt16(value);
		case BOOLOID:
			return DatumGetBool(value) ? 1.0 : 0.0;
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, value));
		default:
			elog(ERROR, "type %u is not numeric", r->typid);
	}
	return 0.0;					/* keep compiler quiet */
}

/* A non-NULL categorical value as a palloc'd C string. */
char *
MlopsReadText(MlopsValueReader *r, Datum value)
{
	if (r->is_text)
		return TextDatumGetCString(value);
	if (r->typid == BOOLOID)
		return pstrdup(DatumGetBool(value) ? "true" : "false");
	return OutputFunctionCall(&r->outfn, value);
}
