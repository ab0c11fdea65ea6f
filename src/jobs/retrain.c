/*-------------------------------------------------------------------------
 *
 * retrain.c
 *	  The queue bookkeeping of mlops.retrain: claiming a queued retrain of a
 *	  project, and ending it with the champion/challenger decision.
 *
 * mlops.retrain (src/sql/60_jobs.sql) runs as its caller, so that training
 * reads the relation with the caller's privileges.  Its two C helpers,
 * mlops.retrain_claim and mlops.retrain_finish, check that the caller may
 * retrain the project and make the queue writes as the registry owner.
 * They are called by mlops.retrain, itself called by a job worker
 * (job_worker.c) or directly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/util.h"
#include "registry/registry.h"
#include "train/metrics.h"

PG_FUNCTION_INFO_V1(mlops_retrain_claim);
PG_FUNCTION_INFO_V1(mlops_retrain_finish);

/*
 * Error out unless the current user may retrain the project: a retrain
 * trains and may deploy, so it needs both privileges.
 */
static void
CheckMayRetrain(const char *project)
{
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_TRAIN);
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_DEPLOY);
}

/*
 * Take the project's lock, then whether a retrain of it is running: the
 * one place that decides that at most one retrain of a project runs.
 */
static bool
LockAndCheckRunning(const char *project)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(project);
	MlopsLockProject(project);
	MlopsExecOrError("SELECT 1 FROM mlops.retrain_queue"
					 " WHERE project = $1 AND status = 'running'",
					 1, argtypes, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * Claim the oldest queued retrain of the project, unless one is already
 * running (then with a NOTICE): its id, or 0.  As the registry owner.
 */
static int64
ClaimOldest(const char *project)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int64		request = 0;

	values[0] = CStringGetTextDatum(project);
	if (LockAndCheckRunning(project))
		ereport(NOTICE,
				(errmsg("a retrain of project \"%s\" is already running", project)));
	else
	{
		MlopsExecOrError("UPDATE mlops.retrain_queue"
						 "   SET status = 'running', started_at = now()"
						 " WHERE id = (SELECT id FROM mlops.retrain_queue"
						 "              WHERE project = $1 AND status = 'queued'"
						 "              ORDER BY id LIMIT 1"
						 "              FOR UPDATE SKIP LOCKED)"
						 " RETURNING id",
						 1, argtypes, values, NULL, SPI_OK_UPDATE_RETURNING);
		if (SPI_processed == 1)
			request = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	}
	return request;
}

/*
 * ERROR unless the running retrain request was claimed by the run of this
 * very worker: only that run may go on with it.
 */
static void
CheckOwnClaim(int64 request)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];

	values[0] = Int64GetDatum(request);
	values[1] = Int32GetDatum(MyProcPid);
	MlopsExecOrError("SELECT 1 FROM mlops.job_runs"
					 " WHERE retrain_request = $1 AND pid = $2"
					 "   AND status = 'running'",
					 2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retrain request " INT64_FORMAT " is already running", request)));
}

/*
 * Claim the given retrain request of the project: a queued one unless
 * another retrain of the project runs, a running one only when this
 * worker's run claimed it.  As the registry owner.
 */
static void
ClaimRequest(const char *project, int64 request)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	char	   *status;

	values[0] = CStringGetTextDatum(project);
	values[1] = Int64GetDatum(request);
	MlopsExecOrError("SELECT status FROM mlops.retrain_queue"
					 " WHERE project = $1 AND id = $2 FOR UPDATE",
					 2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("retrain request " INT64_FORMAT " of project \"%s\" does not exist",
						request, project)));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(status, "queued") == 0)
	{
		if (LockAndCheckRunning(project))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a retrain of project \"%s\" is already running", project),
					 errhint("Retry once it has ended.")));
		MlopsExecOrError("UPDATE mlops.retrain_queue"
						 "   SET status = 'running', started_at = now()"
						 " WHERE project = $1 AND id = $2",
						 2, argtypes, values, NULL, SPI_OK_UPDATE);
	}
	else if (strcmp(status, "running") == 0)
		CheckOwnClaim(request);
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retrain request " INT64_FORMAT " has already ended (%s)",
						request, status)));
}

/*
 * mlops.retrain_claim(project, request): mark a queued retrain of the
 * project running and return its id.  With request NULL: the oldest queued
 * one, or NULL (with a NOTICE) when none is queued or one is already
 * running.  With a request: that one, which may already be running only
 * when the scheduled run of this very worker claimed it for this call; a
 * queued one is refused while another retrain of the project runs.
 *
 * The project's row is locked (MlopsLockProject) before looking for a
 * running retrain of it and claiming one: without this, two callers (two
 * workers, or a worker and a manual mlops.retrain) could both see none
 * running under READ COMMITTED, and the second claim would break the
 * one-running-per-project index.  Only claims take it, so a retrain that is
 * running (and training, in the transaction of its own claim or not) does
 * not hold off the checks of other jobs for long; a manual retrain holds it
 * until it commits.
 */
Datum
mlops_retrain_claim(PG_FUNCTION_ARGS)
{
	char	   *project;
	MlopsUserSwitch saved;
	int64		request;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	CheckMayRetrain(project);

	MlopsBecomeRegistryOwner(&saved);
	if (PG_ARGISNULL(1))
		request = ClaimOldest(project);
	else
	{
		request = PG_GETARG_INT64(1);
		ClaimRequest(project, request);
	}
	MlopsRestoreUser(&saved);
	SPI_finish();

	if (request == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(request);
}

/* A retrain being ended by mlops.retrain_finish, and its outcome */
typedef struct RetrainEnd
{
	int64		request;
	char	   *project;
	MlopsProject *proj;
	const char *status;			/* deployed, rejected or failed */
	char	   *outcome;		/* in words */
	int			champ_version;	/* 0 when none was in production */
	int			chall_version;	/* 0 when none was trained */
	double		champ_score;	/* NaN when unknown */
	double		chall_score;	/* NaN when unknown */
} RetrainEnd;

/*
 * Look up the running retrain request re->request and its project; ERROR
 * when there is none, when the caller may not retrain the project, or when
 * the request is not running.
 */
static void
FinishOpenRequest(RetrainEnd *re)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(re->request)};
	char	   *current;

	MlopsExecOrError("SELECT project, status FROM mlops.retrain_queue WHERE id = $1",
					 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("retrain request " INT64_FORMAT " does not exist", re->request)));
	re->project = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	current = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	CheckMayRetrain(re->project);
	re->proj = MlopsGetProject(re->project, false);
	if (strcmp(current, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retrain request " INT64_FORMAT " is not running (%s)",
						re->request, current)));
}

/*
 * The challenger's key metric on its held-out rows, and the champion's on
 * the same rows when the challenger was scored against the version still
 * in production (else re->champ_score stays the production version's
 * stored score).
 */
static void
FinishReadScores(RetrainEnd *re)
{
	Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		values[3];
	Datum		d;
	bool		isnull;

	values[0] = CStringGetTextDatum(re->project);
	values[1] = Int32GetDatum(re->chall_version);
	values[2] = CStringGetTextDatum(re->proj->key_metric);
	MlopsExecOrError("SELECT (metrics ->> $3)::float8,"
					 "       (metrics -> 'champion' ->> 'version')::integer,"
					 "       (metrics -> 'champion' ->> $3)::float8"
					 "  FROM mlops.model_versions WHERE project = $1 AND version = $2",
					 3, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		MlopsReportNoVersion(re->project, re->chall_version);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		re->chall_score = DatumGetFloat8(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull && DatumGetInt32(d) == re->champ_version)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
			re->champ_score = DatumGetFloat8(d);
	}
}

/* Deploy the challenger with strategy 'retrain', as the registry owner. */
static void
FinishDeploy(const RetrainEnd *re)
{
	Oid			dtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
	Datum		dv[5];
	MlopsUserSwitch saved;

	dv[0] = CStringGetTextDatum(re->project);
	dv[1] = Int32GetDatum(re->chall_version);
	dv[2] = CStringGetTextDatum("retrain");
	dv[3] = CStringGetTextDatum(psprintf("retrain request " INT64_FORMAT ": %s",
										 re->request, re->outcome));
	dv[4] = DirectFunctionCall1(namein,
								CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	MlopsBecomeRegistryOwner(&saved);
	MlopsExecOrError("SELECT mlops._deploy($1, $2, $3, $4, $5)",
					 5, dtypes, dv, NULL, SPI_OK_SELECT);
	MlopsRestoreUser(&saved);
}

/*
 * Compare the challenger with the champion on the key metric and deploy it
 * when it is better (or when nothing is in production).
 */
static void
FinishDecide(RetrainEnd *re)
{
	bool		better;

	FinishReadScores(re);
	better = re->champ_version == 0 ||
		MlopsMetricBetter(re->proj->key_metric, re->chall_score, re->champ_score);
	if (re->champ_version == 0)
		re->outcome = psprintf("version %d deployed: no version was in production",
							   re->chall_version);
	else
		re->outcome = psprintf("%s %.6g %s version %d's %.6g on the same held-out rows",
							   re->proj->key_metric, re->chall_score,
							   better ? "beats" : "does not beat",
							   re->champ_version, re->champ_score);
	if (better)
	{
		FinishDeploy(re);
		re->status = "deployed";
	}
	else
	{
		re->status = "rejected";
		re->outcome = psprintf("%s: version %d stays in production",
							   re->outcome, re->champ_version);
	}
}

/* Record the outcome and both scores on the queue row, as the registry owner. */
static void
FinishRecord(const RetrainEnd *re)
{
	Oid			argtypes[7] = {INT8OID, TEXTOID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	MlopsUserSwitch saved;

	values[0] = Int64GetDatum(re->request);
	values[1] = CStringGetTextDatum(re->status);
	values[2] = Int32GetDatum(re->champ_version);
	nulls[2] = re->champ_version ? ' ' : 'n';
	values[3] = Int32GetDatum(re->chall_version);
	nulls[3] = re->chall_version ? ' ' : 'n';
	values[4] = Float8GetDatum(re->champ_score);
	nulls[4] = isnan(re->champ_score) ? 'n' : ' ';
	values[5] = Float8GetDatum(re->chall_score);
	nulls[5] = isnan(re->chall_score) ? 'n' : ' ';
	values[6] = CStringGetTextDatum(re->outcome);
	MlopsBecomeRegistryOwner(&saved);
	MlopsExecOrError("UPDATE mlops.retrain_queue"
					 "   SET status = $2, finished_at = clock_timestamp(),"
					 "       champion_version = $3, challenger_version = $4,"
					 "       champion_score = $5, challenger_score = $6,"
					 "       outcome = $7"
					 " WHERE id = $1",
					 7, argtypes, values, nulls, SPI_OK_UPDATE);
	MlopsRestoreUser(&saved);
}

/*
 * mlops.retrain_finish(request, challenger_version, error): end a running
 * retrain.  With an error (or no challenger) it records failed.  Otherwise
 * the challenger, trained with deploy => 'never', is compared with the
 * champion on the key metric both were scored with on the same held-out
 * rows (the "champion" entry train put in the challenger's metrics); the
 * challenger is deployed, with strategy 'retrain' in the deployment
 * history, only when it is better.  The outcome and both scores go on the
 * queue row.
 */
Datum
mlops_retrain_finish(PG_FUNCTION_ARGS)
{
	RetrainEnd	re;
	MlopsVersion *prod;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request must not be NULL")));
	memset(&re, 0, sizeof(re));
	re.request = PG_GETARG_INT64(0);
	re.champ_score = NAN;
	re.chall_score = NAN;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	FinishOpenRequest(&re);

	prod = MlopsGetVersion(re.project, 0, true);
	if (prod)
	{
		re.champ_version = prod->version;
		re.champ_score = MlopsJsonbGetFloat(prod->metrics, re.proj->key_metric);
	}

	if (!PG_ARGISNULL(2) || PG_ARGISNULL(1))
	{
		re.status = "failed";
		re.outcome = PG_ARGISNULL(2) ? pstrdup("no challenger was trained")
			: text_to_cstring(PG_GETARG_TEXT_PP(2));
	}
	else
	{
		re.chall_version = PG_GETARG_INT32(1);
		FinishDecide(&re);
	}

	FinishRecord(&re);
	SPI_finish();
	PG_RETURN_VOID();
}
