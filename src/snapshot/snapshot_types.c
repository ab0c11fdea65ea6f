/*-------------------------------------------------------------------------
 *
 * snapshot_types.c
 *	  The types snapshot columns are stored in, and converting values to
 *	  them and back.
 *
 * A store table must not depend on anything a user can drop or replace.
 * Otherwise a user's DROP TYPE ... CASCADE would drop a column of a
 * registry table, and a type dropped and created again under the same name
 * would have the stored bytes read as another type (a crash, not just a
 * wrong value).  So every column is stored in a built-in type: a domain in
 * its base type, and a type defined outside the built-in catalog (an enum,
 * a composite or range type, an extension's type, arrays of them) as its
 * text output.
 *
 * The snapshot keeps each column's original SQL type by name, to restore
 * it.  Reading a store back first decides, for each column, how a stored
 * value becomes a value of the type the reader asks for, and refuses a type
 * that cannot hold it, before any value is read:
 *
 *	 same type          the value as stored;
 *	 a domain over it   the value, checked against the domain's constraints;
 *	 from text          the type's input function (domains check themselves).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/tupdesc.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "snapshot/snapshot_int.h"

/* How a stored value becomes a value of the reader's type */
#define FROM_SAME		's'
#define FROM_DOMAIN		'd'
#define FROM_INPUT		'i'

/* Conversion of the values read from a relation into stored values */
struct SnapToStore
{
	int			ncols;
	bool		any;			/* some column is stored as text */
	bool	   *as_text;
	FmgrInfo   *out;			/* output function of each such column */
};

/* Conversion of stored values into the reader's types */
struct SnapFromStore
{
	int			ncols;
	bool		any;			/* some column is not passed as stored */
	char	   *how;			/* FROM_* per column */
	Oid		   *types;			/* the reader's type per column */
	int32	   *typmods;
	FmgrInfo   *in;				/* FROM_INPUT: input function */
	Oid		   *ioparams;
	void	  **domain_extra;	/* FROM_DOMAIN: domain_check's cache */
	Datum	   *buf;			/* the converted row */
	MemoryContext cxt;			/* where the caches live */
};

/* Types a snapshot cannot store or restore faithfully. */
bool
SnapTypeIsSupported(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			elem;

	if (get_typtype(base) == TYPTYPE_PSEUDO)
		return false;
	switch (base)
	{
		case PG_NODE_TREEOID:
		case PG_NDISTINCTOID:
		case PG_DEPENDENCIESOID:
		case PG_MCV_LISTOID:
		case PG_BRIN_BLOOM_SUMMARYOID:
		case PG_BRIN_MINMAX_MULTI_SUMMARYOID:
			/* no input function: a dump could not load them */
			return false;
		default:
			break;
	}
	elem = get_element_type(base);
	if (OidIsValid(elem))
		return SnapTypeIsSupported(elem);
	return true;
}

/*
 * SQL text of a type with its modifier, independent of search_path: types
 * outside pg_catalog are schema-qualified.
 */
static char *
TypeText(Oid typid, int32 typmod)
{
	bits16		flags = FORMAT_TYPE_TYPEMOD_GIVEN;
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	if (((Form_pg_type) GETSTRUCT(tup))->typnamespace != PG_CATALOG_NAMESPACE)
		flags |= FORMAT_TYPE_FORCE_QUALIFY;
	ReleaseSysCache(tup);
	return format_type_extended(typid, typmod, flags);
}

/*
 * Fill in the SQL text of a column's type and the built-in type its values
 * are stored in: the base type of a domain, or text for a type created
 * after initdb (by a user or an extension), which could be dropped.  The
 * store type has no modifier: the values already fit the column's.
 */
void
SnapColumnTypes(SnapColumn *col)
{
	Oid			base = getBaseType(col->typid);

	col->type_text = TypeText(col->typid, col->typmod);
	col->as_text = (base >= FirstNormalObjectId);
	col->store_typid = col->as_text ? TEXTOID : base;
	col->store_type_text = TypeText(col->store_typid, -1);
}

/* Prepare the conversion of rows of cols into their stored form. */
SnapToStore *
SnapToStoreBegin(int ncols, const SnapColumn *cols)
{
	SnapToStore *ts = palloc0(sizeof(SnapToStore));

	ts->ncols = ncols;
	ts->as_text = palloc0(sizeof(bool) * ncols);
	ts->out = palloc0(sizeof(FmgrInfo) * ncols);
	for (int i = 0; i < ncols; i++)
	{
		Oid			outfn;
		bool		isvarlena;

		if (!cols[i].as_text)
			continue;
		ts->any = true;
		ts->as_text[i] = true;
		getTypeOutputInfo(cols[i].typid, &outfn, &isvarlena);
		fmgr_info(outfn, &ts->out[i]);
	}
	return ts;
}

/*
 * The stored form of a row: values itself when no column needs converting,
 * else a new array in the current memory context.
 */
Datum *
SnapToStoreRow(SnapToStore *ts, Datum *values, const bool *isnull)
{
	Datum	   *out;

	if (!ts->any)
		return values;
	out = palloc(sizeof(Datum) * ts->ncols);
	for (int i = 0; i < ts->ncols; i++)
	{
		out[i] = values[i];
		if (ts->as_text[i] && !isnull[i])
			out[i] = CStringGetTextDatum(OutputFunctionCall(&ts->out[i], values[i]));
	}
	return out;
}

/*
 * The types a snapshot's columns were taken with, looked up by name now;
 * InvalidOid for a type that no longer exists.
 */
void
SnapResolveTypes(const SnapInfo *info, Oid *types, int32 *typmods)
{
	for (int i = 0; i < info->ncols; i++)
		parseTypeString(info->coltypes[i], &types[i], &typmods[i], true);
}

/* How a value stored as stored becomes a value of type target, or 0. */
static char
FromHow(Oid stored, Oid target)
{
	if (target == stored)
		return FROM_SAME;
	if (!OidIsValid(target))
		return 0;
	if (get_typtype(target) == TYPTYPE_DOMAIN && getBaseType(target) == stored)
		return FROM_DOMAIN;
	if (stored == TEXTOID)
		return FROM_INPUT;
	return 0;
}

/*
 * Prepare reading a snapshot's store as values of types (with typmods),
 * one per column.  A type that cannot hold what is stored is an error; with
 * lenient, that column is read as stored instead.  Errors when the store
 * table does not have the snapshot's columns.
 */
SnapFromStore *
SnapFromStoreBegin(const SnapInfo *info, TupleDesc store_desc, const Oid *types,
				   const int32 *typmods, bool lenient)
{
	SnapFromStore *fs = palloc0(sizeof(SnapFromStore));
	int			n = info->ncols;

	if (store_desc->natts != n + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the store of snapshot " INT64_FORMAT " has %d columns, the snapshot %d",
						info->id, store_desc->natts - 1, n)));
	fs->ncols = n;
	fs->how = palloc(n);
	fs->types = palloc(sizeof(Oid) * n);
	fs->typmods = palloc(sizeof(int32) * n);
	fs->in = palloc0(sizeof(FmgrInfo) * n);
	fs->ioparams = palloc0(sizeof(Oid) * n);
	fs->domain_extra = palloc0(sizeof(void *) * n);
	fs->buf = palloc(sizeof(Datum) * Max(n, 1));
	fs->cxt = CurrentMemoryContext;
	for (int i = 0; i < n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(store_desc, i + 1);
		char		how = FromHow(att->atttypid, types[i]);

		fs->types[i] = types[i];
		fs->typmods[i] = typmods[i];
		if (how == 0 && lenient)
		{
			how = FROM_SAME;
			fs->types[i] = att->atttypid;
			fs->typmods[i] = -1;
		}
		if (how == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of snapshot " INT64_FORMAT " cannot be read as type %s",
							info->colnames[i], info->id,
							OidIsValid(types[i]) ? format_type_be(types[i]) : info->coltypes[i]),
					 errdetail("The snapshot stores it as %s. The type \"%s\" it was taken with has changed since.",
							   format_type_be(att->atttypid), info->coltypes[i]),
					 errhint("Create type %s again over %s to read this snapshot.",
							 info->coltypes[i], format_type_be(att->atttypid))));
		fs->how[i] = how;
		if (how != FROM_SAME)
			fs->any = true;
		if (how == FROM_INPUT)
		{
			Oid			infn;

			getTypeInputInfo(types[i], &infn, &fs->ioparams[i]);
			fmgr_info(infn, &fs->in[i]);
		}
	}
	return fs;
}

/* The reader's type of column col (0-based). */
Oid
SnapFromStoreType(const SnapFromStore *fs, int col)
{
	return fs->types[col];
}

/*
 * A stored row (values after row_hash) as values of the reader's types:
 * values itself when nothing changes, else a buffer that the next call
 * overwrites.  New values are allocated in the current memory context.
 */
Datum *
SnapFromStoreRow(SnapFromStore *fs, Datum *values, const bool *isnull)
{
	if (!fs->any)
		return values;
	for (int i = 0; i < fs->ncols; i++)
	{
		fs->buf[i] = values[i];
		switch (fs->how[i])
		{
			case FROM_DOMAIN:
				domain_check(values[i], isnull[i], fs->types[i],
							 &fs->domain_extra[i], fs->cxt);
				break;
			case FROM_INPUT:
				fs->buf[i] = InputFunctionCall(&fs->in[i],
											   isnull[i] ? NULL : TextDatumGetCString(values[i]),
											   fs->ioparams[i], fs->typmods[i]);
				break;
			default:
				break;
		}
	}
	return fs->buf;
}
