/*-------------------------------------------------------------------------
 *
 * version_baseline.c
 *	  A version's stored drift baseline (and model): the version a drift
 *	  check compares with, and mlops._version_baseline behind mlops.baseline().
 *
 * The baseline holds a sample of training rows, so PUBLIC cannot select
 * mlops.model_versions.baseline: it is read as the registry owner, once the
 * caller is known to be allowed to act on the project.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/util.h"
#include "model/integrity.h"
#include "registry/registry.h"
#include "drift/version_baseline.h"

PG_FUNCTION_INFO_V1(mlops_version_baseline);

/*
 * The given version of a project or, with any_version, its production
 * version, else its latest; NULL when there is none.  The caller must have
 * checked that the current user may read the project
 * (MlopsCheckProjectPrivilege).  The result is copied into ctx.
 */
MlopsDriftVersion *
MlopsDriftReadVersion(const char *project, int version, bool any_version,
					  bool with_model, MemoryContext ctx)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	char		nulls[2] = {' ', any_version ? 'n' : ' '};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	MlopsDriftVersion *v;
	MemoryContext old;

	args[0] = CStringGetTextDatum(project);
	args[1] = Int32GetDatum(version);
	if (MlopsExecAsRegistryOwner("SELECT version, baseline, model, model_sha256 FROM mlops.model_versions "
								 "WHERE project = $1 AND ($2 IS NULL OR version = $2) "
								 "ORDER BY (status = 'production') DESC, version DESC LIMIT 1",
								 2, argtypes, args, nulls, MLOPS_OWNER_WRITE) != SPI_OK_SELECT)
		elog(ERROR, "could not read mlops.model_versions");
	if (SPI_processed == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	old = MemoryContextSwitchTo(ctx);
	v = palloc0(sizeof(MlopsDriftVersion));
	v->version = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	v->baseline = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	v->model = isnull || !with_model ? NULL : DatumGetByteaPCopy(d);
	MemoryContextSwitchTo(old);
	if (v->model)
		MlopsVerifyModelBytes(project, v->version, v->model,
							  (const uint8 *) VARDATA_ANY(DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull))));
	return v;
}

/*
 * mlops._version_baseline(project, version): the stored baseline of a
 * version (NULL: production, else the latest), for mlops.baseline().  Only
 * those who may act on the project read it.
 */
Datum
mlops_version_baseline(PG_FUNCTION_ARGS)
{
	MemoryContext callctx = CurrentMemoryContext;
	TupleDesc	tupdesc;
	char	   *project_name;
	MlopsDriftVersion *v;
	Datum		values[2];
	bool		isnull[2] = {false, false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* it holds a sample of raw training values: owners only, not read */
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_OWNER);
	v = MlopsDriftReadVersion(project_name, PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1),
							  PG_ARGISNULL(1), false, callctx);
	SPI_finish();
	if (v == NULL)
		PG_RETURN_NULL();
	values[0] = Int32GetDatum(v->version);
	values[1] = v->baseline ? JsonbPGetDatum(v->baseline) : (Datum) 0;
	isnull[1] = v->baseline == NULL;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, isnull)));
}
