/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Reading projects and versions of the model registry, and the
 *	  SQL-callable deployment functions.  Acting as the registry owner is
 *	  owner.c's; who may do what, access.c's.
 *
 * The folder src/registry/ owns the registry tables: reads, deploys,
 * access control (access.c), acting as the registry owner (owner.c),
 * version writes (versions.c) and scoring's direct read (scan.c).  Its
 * header registry.h is what the folders above use.
 *
 * Nobody but the registry owner writes the registry.  A function that
 * changes it first checks the caller's privilege on the project (access.c),
 * then switches to the registry owner for the write only.  Registry rows are
 * read as the registry owner too, since row-level security shows users only
 * the projects they may read.  User data is never read while switched.  The deployment logic itself is the PL/pgSQL function
 * mlops._deploy (src/sql/20_deploy.sql), so that every path (manual
 * deploy, training, the retrain loop) records history the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "algorithms/algorithm.h"
#include "core/util.h"
#include "model/integrity.h"
#include "registry/registry.h"

PG_FUNCTION_INFO_V1(mlops_deploy_version);
PG_FUNCTION_INFO_V1(mlops_deploy_strategy);

static MlopsVersion *MlopsGetVersionSnapshot(const char *project, int version,
											 bool missing_ok, bool read_only);

static char *
GetText(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * The project row, or NULL (missing_ok) / ERROR when there is none.  Read
 * as the registry owner: row-level security would hide it from a role that
 * holds a privilege other than read, and callers check privileges
 * themselves (MlopsCheckProjectPrivilege).
 */
MlopsProject *
MlopsGetProject(const char *name, bool missing_ok)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	MlopsProject *p;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			ret;

	args[0] = CStringGetTextDatum(name);
	ret = MlopsExecAsRegistryOwner("SELECT name, task, target, key_metric, relation, owner "
								   "FROM mlops.projects WHERE name = $1",
								   1, argtypes, args, NULL, MLOPS_OWNER_WRITE);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read mlops.projects");
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		MlopsReportNoProject(name);
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	p = palloc0(sizeof(MlopsProject));
	p->name = GetText(tup, desc, 1);
	p->task = GetText(tup, desc, 2);
	p->target = GetText(tup, desc, 3);
	p->key_metric = GetText(tup, desc, 4);
	p->relation = GetText(tup, desc, 5);
	p->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
	return p;
}

/*
 * A version of a project: version > 0 that one, 0 the production version.
 */
MlopsVersion *
MlopsGetVersion(const char *project, int version, bool missing_ok)
{
	return MlopsGetVersionSnapshot(project, version, missing_ok, true);
}

/*
 * The same with a new snapshot, to see what other transactions committed
 * since the statement started (after taking a lock, say).
 */
MlopsVersion *
MlopsGetVersionFresh(const char *project, int version, bool missing_ok)
{
	return MlopsGetVersionSnapshot(project, version, missing_ok, false);
}

static MlopsVersion *
MlopsGetVersionSnapshot(const char *project, int version, bool missing_ok, bool read_only)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	MlopsVersion *v;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	const char *sql;
	int			ret;

	args[0] = CStringGetTextDatum(project);
	args[1] = Int32GetDatum(version);
	sql = version > 0
		? "SELECT version, algorithm, status, model, metrics, hyperparams, snapshot, "
		"test_size, model_sha256 FROM mlops.model_versions WHERE project = $1 AND version = $2"
		: "SELECT version, algorithm, status, model, metrics, hyperparams, snapshot, "
		"test_size, model_sha256 FROM mlops.model_versions WHERE project = $1 "
		"AND status = 'production' AND $2 = 0";
	/* as the registry owner, as MlopsGetProject */
	ret = MlopsExecAsRegistryOwner(sql, 2, argtypes, args, NULL,
								   read_only ? MLOPS_OWNER_READ : MLOPS_OWNER_WRITE);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read mlops.model_versions");
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		/* say whether the project itself is missing */
		(void) MlopsGetProject(project, false);
		MlopsReportNoVersion(project, version);
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	v = palloc0(sizeof(MlopsVersion));
	v->version = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	v->algorithm = GetText(tup, desc, 2);
	v->status = GetText(tup, desc, 3);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	v->model = (bytea *) PG_DETOAST_DATUM_COPY(d);
	d = SPI_getbinval(tup, desc, 5, &isnull);
	v->metrics = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	v->hyperparams = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(tup, desc, 7, &isnull);
	v->snapshot = isnull ? 0 : DatumGetInt64(d);
	v->test_size = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
	d = SPI_getbinval(tup, desc, 9, &isnull);
	memcpy(v->model_sha256, VARDATA_ANY(DatumGetByteaPP(d)), 32);
	return v;
}

/*
 * The model of a version (0 = production), deserialised once its bytes are
 * checked against the stored sha256 (read with the same snapshot).
 */
MlopsModel *
MlopsFetchModel(const char *project, int version, MlopsVersion **info)
{
	MlopsVersion *v = MlopsGetVersion(project, version, false);

	if (info)
		*info = v;
	return MlopsVersionModel(project, v);
}

/*
 * A version's model bytes, checked against their sha256 and decoded: how
 * every path that uses a stored model gets it (mlops.reproduce compares the
 * bytes without decoding them, and so reports damaged bytes as different).
 */
MlopsModel *
MlopsVersionModel(const char *project, const MlopsVersion *v)
{
	MlopsVerifyModelBytes(project, v->version, v->model, v->model_sha256);
	return MlopsModelDeserialize(v->model);
}

/*
 * Run mlops._deploy as the registry owner after checking the caller's
 * right, and return the deployment row.
 */
static Datum
CallDeploy(const char *project, Datum version, bool version_null, const char *strategy)
{
	Oid			argtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
	Datum		args[5];
	char		nulls[5] = {' ', version_null ? 'n' : ' ', ' ', 'n', ' '};	/* reason: _deploy's own */
	MlopsUserSwitch sw;
	Datum		result;
	char	   *me;

	me = GetUserNameFromId(GetUserId(), false);
	SPI_connect();
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_DEPLOY);

	args[0] = CStringGetTextDatum(project);
	args[1] = version;
	args[2] = CStringGetTextDatum(strategy);
	args[3] = (Datum) 0;
	args[4] = DirectFunctionCall1(namein, CStringGetDatum(me));

	MlopsBecomeRegistryOwner(&sw);
	if (SPI_execute_with_args("SELECT d FROM mlops._deploy($1, $2, $3, $4, $5) d",
							  5, argtypes, args, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "mlops._deploy returned no row");
	MlopsRestoreUser(&sw);

	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		result = SPI_datumTransfer(d, false, -1);
	}
	SPI_finish();
	return result;
}

/* mlops.deploy(project text, version int) */
Datum
mlops_deploy_version(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_DATUM(CallDeploy(project, PG_GETARG_DATUM(1), false, "manual"));
}

/* mlops.deploy(project text, strategy text): best, latest, rollback */
Datum
mlops_deploy_strategy(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *strategy = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (strcmp(strategy, "best") != 0 && strcmp(strategy, "latest") != 0 &&
		strcmp(strategy, "rollback") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deployment strategy \"%s\"", strategy),
				 errhint("Valid strategies are best, latest and rollback, or pass a version number.")));
	PG_RETURN_DATUM(CallDeploy(project, (Datum) 0, true, strategy));
}
