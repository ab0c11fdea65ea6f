/*-------------------------------------------------------------------------
 *
 * job_worker.c
 *	  The dynamic background worker that executes one job run, and the
 *	  queue bookkeeping of mlops.retrain.
 *
 * The launcher (scheduler.c) starts one worker per run, connected to its
 * database as the job's owner (BackgroundWorkerInitializeConnectionByOid:
 * no libpq, so pg_hba.conf does not matter), so user data is read with
 * exactly that role's privileges.  The run goes in steps, each its own
 * transaction, so that what is done stays done:
 *
 *	 1. take the run (starting -> running, with our pid);
 *	 2. mlops.check_drift(project, relation): a drift report and, on drift,
 *		a queued retrain;
 *	 3. when the job may retrain: claim the project's queued retrain
 *		(queued -> running), unless one is already running;
 *	 4. mlops.retrain(project, request): train with the production settings,
 *		deploy only if better, record the outcome on the queue row;
 *	 5. record how the run ended.
 *
 * An error anywhere (including a cancel from mlops.cancel_run) is caught,
 * and the run, and the retrain it had claimed, record failed or canceled
 * with the message.  SIGTERM ends the worker at once (die); the launcher
 * then records the run as failed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"

#include "train/metrics.h"
#include "registry/registry.h"
#include "jobs/scheduler.h"
#include "core/util.h"

PG_FUNCTION_INFO_V1(mlops_retrain_claim);
PG_FUNCTION_INFO_V1(mlops_retrain_finish);

/*
 * What the run has done so far; static so that it survives the longjmp of
 * an error into the handler that records the outcome.
 */
typedef struct WorkerState
{
	int64		run;
	bool		taken;			/* step 1 done: the run is ours */
	char	   *project;
	char	   *relation;
	bool		retrain;
	int64		report;			/* drift report written, 0 if none */
	char	   *verdict;
	int64		request;		/* retrain claimed, 0 if none */
} WorkerState;

static WorkerState ws;
static MemoryContext worker_context = NULL;

static void WorkerRun(void);
static void WorkerStartTransaction(void);
static void WorkerCommitTransaction(void);
static void WorkerBeginStep(const char *activity);
static void WorkerEndStep(void);
static void WorkerRecordEnd(const char *status, const char *outcome, const char *error);
static Oid	WorkerResolveRelation(const char *relation);
static char *CopyValue(int col);
static void CheckMayRetrain(const char *project);


/*
 * Entry point of a job worker: run id from bgw_main_arg (bgw_extra on
 * platforms where a Datum cannot hold an int64), database and role from
 * bgw_extra.
 */
void
mlops_job_worker_main(Datum main_arg)
{
	MlopsJobWorkerArgs args;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	memset(&ws, 0, sizeof(ws));
#if SIZEOF_DATUM == 8
	ws.run = DatumGetInt64(main_arg);
#else
	ws.run = args.run;
#endif

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

#if PG_VERSION_NUM >= 170000
	BackgroundWorkerInitializeConnectionByOid(args.database, args.role,
											  BGWORKER_BYPASS_ROLELOGINCHECK);
#else
	BackgroundWorkerInitializeConnectionByOid(args.database, args.role, 0);
#endif

	/*
	 * Our own statements are schema-qualified; resolve nothing else through
	 * the owner's search_path.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("application_name", MLOPS_WORKER_TYPE, PGC_USERSET, PGC_S_SESSION);
	MlopsDurableCommits();

	worker_context = AllocSetContextCreate(TopMemoryContext, "mlops job worker",
										   ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		WorkerRun();
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		canceled;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(worker_context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		canceled = (edata->sqlerrcode == ERRCODE_QUERY_CANCELED);
		ereport(LOG,
				(errmsg("mlops job run " INT64_FORMAT " %s: %s", ws.run,
						canceled ? "canceled" : "failed", edata->message)));
		if (ws.taken)
			WorkerRecordEnd(canceled ? "canceled" : "failed", NULL,
							canceled ? psprintf("canceled: %s", edata->message) : edata->message);
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();

	proc_exit(0);
}

/* Steps 1 to 5 (see the file header). */
static void
WorkerRun(void)
{
	Oid			argtypes[2];
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	MlopsUserSwitch saved;
	Oid			relid;
	char	   *status = "succeeded";
	char	   *outcome;
	char	   *error = NULL;
	char	   *superuser_name = NULL;

	/* 1. take the run */
	WorkerBeginStep("mlops job: taking the run");
	argtypes[0] = INT8OID;
	argtypes[1] = INT4OID;
	values[0] = Int64GetDatum(ws.run);
	values[1] = Int32GetDatum(MyProcPid);
	MlopsBecomeRegistryOwner(&saved);
	MlopsExecOrError("UPDATE mlops.job_runs"
					 "   SET status = 'running', pid = $2, started_at = now()"
					 " WHERE id = $1 AND status = 'starting'"
					 " RETURNING project, relation, retrain",
					 2, argtypes, values, NULL, SPI_OK_UPDATE_RETURNING);
	MlopsRestoreUser(&saved);
	if (SPI_processed == 0)
	{
		/* canceled before it started, or reaped: nothing to do */
		WorkerEndStep();
		return;
	}
	ws.project = CopyValue(1);
	ws.relation = CopyValue(2);
	ws.retrain = strcmp(CopyValue(3), "t") == 0;

	/*
	 * Jobs never run as a superuser: the launcher refuses such runs, but the
	 * role may have become one since.  Checked (in a transaction, for the
	 * catalog lookups) before any user code runs.
	 */
	if (superuser())
		superuser_name = MemoryContextStrdup(worker_context,
											 GetUserNameFromId(GetUserId(), false));
	WorkerEndStep();
	ws.taken = true;
	if (superuser_name)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is a superuser, and jobs never run as a superuser",
						superuser_name)));

	/* 2. the drift check, as the job owner */
	WorkerBeginStep(psprintf("mlops job: drift check of project %s on %s",
							 ws.project, ws.relation));
	relid = WorkerResolveRelation(ws.relation);
	argtypes[0] = TEXTOID;
	argtypes[1] = REGCLASSOID;
	values[0] = CStringGetTextDatum(ws.project);
	values[1] = ObjectIdGetDatum(relid);
	MlopsExecOrError("SELECT id, verdict FROM mlops.check_drift($1, $2)",
					 2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		ws.report = pg_strtoint64(CopyValue(1));
		ws.verdict = CopyValue(2);
	}
	WorkerEndStep();

	if (ws.verdict)
		outcome = psprintf("drift check: %s (report " INT64_FORMAT ")", ws.verdict, ws.report);
	else
		outcome = "drift check done";

	/* 3. claim a queued retrain, unless one is already running */
	if (ws.retrain)
	{
		WorkerBeginStep(psprintf("mlops job: looking for a queued retrain of project %s",
								 ws.project));
		argtypes[0] = TEXTOID;
		argtypes[1] = INT8OID;
		values[0] = CStringGetTextDatum(ws.project);
		nulls[1] = 'n';
		MlopsExecOrError("SELECT CASE WHEN EXISTS (SELECT 1 FROM mlops.retrain_queue"
						 "                          WHERE project = $1 AND status = 'queued')"
						 "       THEN mlops.retrain_claim($1, $2) END",
						 2, argtypes, values, nulls, SPI_OK_SELECT);
		{
			char	   *claimed = CopyValue(1);

			if (claimed)
			{
				ws.request = pg_strtoint64(claimed);
				argtypes[0] = INT8OID;
				values[0] = Int64GetDatum(ws.run);
				values[1] = Int64GetDatum(ws.request);
				nulls[1] = ' ';
				MlopsBecomeRegistryOwner(&saved);
				MlopsExecOrError("UPDATE mlops.job_runs SET retrain_request = $2"
								 " WHERE id = $1",
								 2, argtypes, values, NULL, SPI_OK_UPDATE);
				MlopsRestoreUser(&saved);
			}
		}
		WorkerEndStep();
	}

	/* 4. the retrain, as the job owner */
	if (ws.request != 0)
	{
		char	   *rstatus;
		char	   *routcome;

		WorkerBeginStep(psprintf("mlops job: retraining project %s (request " INT64_FORMAT ")",
								 ws.project, ws.request));
		argtypes[0] = TEXTOID;
		argtypes[1] = INT8OID;
		values[0] = CStringGetTextDatum(ws.project);
		values[1] = Int64GetDatum(ws.request);
		MlopsExecOrError("SELECT status, outcome FROM mlops.retrain($1, $2)",
						 2, argtypes, values, NULL, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "mlops: mlops.retrain returned no row");
		rstatus = CopyValue(1);
		routcome = CopyValue(2);
		WorkerEndStep();

		outcome = psprintf("%s; retrain " INT64_FORMAT " %s: %s", outcome, ws.request,
						   rstatus ? rstatus : "?", routcome ? routcome : "");
		if (rstatus == NULL || strcmp(rstatus, "failed") == 0)
		{
			status = "failed";
			error = psprintf("retrain " INT64_FORMAT " failed: %s", ws.request,
							 routcome ? routcome : "no outcome recorded");
		}
	}
	else if (ws.retrain && ws.verdict && strcmp(ws.verdict, "drift") == 0)
		outcome = psprintf("%s; no retrain to run (none queued, or one already running)", outcome);

	/* 5. done */
	WorkerRecordEnd(status, outcome, error);
}

/* Open a transaction with SPI connected and a snapshot pushed. */
static void
WorkerStartTransaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

/* Close what WorkerStartTransaction opened, committing the transaction. */
static void
WorkerCommitTransaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Start a step: a transaction, SPI, a snapshot, and what we are doing. */
static void
WorkerBeginStep(const char *activity)
{
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	WorkerStartTransaction();
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* End a step: commit what it did. */
static void
WorkerEndStep(void)
{
	WorkerCommitTransaction();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Record how the run ended, and end the retrain it had claimed when the run
 * failed or was canceled before the retrain recorded its own outcome.
 */
static void
WorkerRecordEnd(const char *status, const char *outcome, const char *error)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	MlopsUserSwitch saved;

	WorkerStartTransaction();

	values[0] = Int64GetDatum(ws.run);
	values[1] = CStringGetTextDatum(status);
	if (outcome)
		values[2] = CStringGetTextDatum(outcome);
	else
		nulls[2] = 'n';
	if (error)
		values[3] = CStringGetTextDatum(error);
	else
		nulls[3] = 'n';
	if (ws.report != 0)
		values[4] = Int64GetDatum(ws.report);
	else
		nulls[4] = 'n';

	MlopsBecomeRegistryOwner(&saved);
	MlopsExecOrError("UPDATE mlops.job_runs"
					 "   SET status = $2, finished_at = clock_timestamp(), outcome = $3,"
					 "       error = $4, drift_report = $5"
					 " WHERE id = $1 AND status = 'running'",
					 5, argtypes, values, nulls, SPI_OK_UPDATE);
	if (ws.request != 0 && strcmp(status, "succeeded") != 0)
	{
		values[0] = Int64GetDatum(ws.request);
		MlopsExecOrError("UPDATE mlops.retrain_queue"
						 "   SET status = $2, finished_at = clock_timestamp(),"
						 "       outcome = coalesce($4, $2)"
						 " WHERE id = $1 AND status = 'running'",
						 4, argtypes, values, nulls, SPI_OK_UPDATE);
	}
	MlopsRestoreUser(&saved);

	WorkerCommitTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * OID of the job's relation, which the job owner (the current user) must be
 * able to read: a clear "permission denied" before anything reads it.  The
 * relation stays locked (ACCESS SHARE) until the check's transaction ends,
 * so that it cannot be dropped or rewritten under the check.
 */
static Oid
WorkerResolveRelation(const char *relation)
{
	Oid			relid;

	relid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(relation)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	LockRelationOid(relid, AccessShareLock);
	return relid;
}

/* Column col of the first SPI result row as text in the worker's context. */
static char *
CopyValue(int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(worker_context, v) : NULL;
}


/* ------------------------------------------------------------------------
 * Queue bookkeeping of mlops.retrain (SQL-callable, internal)
 * ------------------------------------------------------------------------
 */

/*
 * Error out unless the current user may retrain the project: the same rule
 * as for training and deploying it (its owner, members of its role,
 * superusers).
 */
static void
CheckMayRetrain(const char *project)
{
	MlopsCheckProjectWriter(MlopsGetProject(project, false));
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
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		isnull;
	int64		request = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	project = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	CheckMayRetrain(project);

	values[0] = CStringGetTextDatum(project);
	MlopsBecomeRegistryOwner(&saved);
	if (PG_ARGISNULL(1))
	{
		MlopsLockProject(project);
		MlopsExecOrError("SELECT 1 FROM mlops.retrain_queue"
						 " WHERE project = $1 AND status = 'running'",
						 1, argtypes, values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
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
	}
	else
	{
		char	   *status;

		request = PG_GETARG_INT64(1);
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
			MlopsLockProject(project);
			MlopsExecOrError("SELECT 1 FROM mlops.retrain_queue"
							 " WHERE project = $1 AND status = 'running'",
							 1, argtypes, values, NULL, SPI_OK_SELECT);
			if (SPI_processed > 0)
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
		{
			Oid			ownargtypes[2] = {INT8OID, INT4OID};
			Datum		ownvalues[2];

			/* only the run of this worker that claimed it may go on with it */
			ownvalues[0] = Int64GetDatum(request);
			ownvalues[1] = Int32GetDatum(MyProcPid);
			MlopsExecOrError("SELECT 1 FROM mlops.job_runs"
							 " WHERE retrain_request = $1 AND pid = $2"
							 "   AND status = 'running'",
							 2, ownargtypes, ownvalues, NULL, SPI_OK_SELECT);
			if (SPI_processed == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("retrain request " INT64_FORMAT " is already running", request)));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("retrain request " INT64_FORMAT " has already ended (%s)",
							request, status)));
	}
	MlopsRestoreUser(&saved);
	SPI_finish();

	if (request == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(request);
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
	int64		request;
	char	   *project;
	char	   *current;
	MlopsProject *proj;
	MlopsVersion *prod;
	MlopsUserSwitch saved;
	const char *status;
	char	   *outcome;
	int			champ_version = 0;
	int			chall_version = 0;
	double		champ_score = NAN;
	double		chall_score = NAN;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("request must not be NULL")));
	request = PG_GETARG_INT64(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(request)};

		MlopsExecOrError("SELECT project, status FROM mlops.retrain_queue WHERE id = $1",
						 1, argtypes, values, NULL, SPI_OK_SELECT);
	}
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("retrain request " INT64_FORMAT " does not exist", request)));
	project = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	current = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	proj = MlopsGetProject(project, false);
	MlopsCheckProjectWriter(proj);
	if (strcmp(current, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retrain request " INT64_FORMAT " is not running (%s)", request, current)));

	prod = MlopsGetVersion(project, 0, true);
	if (prod)
	{
		champ_version = prod->version;
		champ_score = MlopsJsonbGetFloat(prod->metrics, proj->key_metric);
	}

	if (!PG_ARGISNULL(2) || PG_ARGISNULL(1))
	{
		status = "failed";
		outcome = PG_ARGISNULL(2) ? pstrdup("no challenger was trained")
			: text_to_cstring(PG_GETARG_TEXT_PP(2));
	}
	else
	{
		Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTOID};
		Datum		values[3];
		Datum		d;
		bool		better;

		chall_version = PG_GETARG_INT32(1);
		values[0] = CStringGetTextDatum(project);
		values[1] = Int32GetDatum(chall_version);
		values[2] = CStringGetTextDatum(proj->key_metric);
		MlopsExecOrError("SELECT (metrics ->> $3)::float8,"
						 "       (metrics -> 'champion' ->> 'version')::integer,"
						 "       (metrics -> 'champion' ->> $3)::float8"
						 "  FROM mlops.model_versions WHERE project = $1 AND version = $2",
						 3, argtypes, values, NULL, SPI_OK_SELECT);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of project \"%s\" does not exist", chall_version, project)));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			chall_score = DatumGetFloat8(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		/*
		 * The champion's score on the challenger's held-out rows, when it is
		 * still the production version; else the production version's
		 * stored score.
		 */
		if (!isnull && DatumGetInt32(d) == champ_version)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
			if (!isnull)
				champ_score = DatumGetFloat8(d);
		}

		better = champ_version == 0 || MlopsMetricBetter(proj->key_metric, chall_score, champ_score);
		if (champ_version == 0)
			outcome = psprintf("version %d deployed: no version was in production", chall_version);
		else
			outcome = psprintf("%s %.6g %s version %d's %.6g on the same held-out rows",
							   proj->key_metric, chall_score,
							   better ? "beats" : "does not beat",
							   champ_version, champ_score);
		if (better)
		{
			Oid			dtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
			Datum		dv[5];

			dv[0] = CStringGetTextDatum(project);
			dv[1] = Int32GetDatum(chall_version);
			dv[2] = CStringGetTextDatum("retrain");
			dv[3] = CStringGetTextDatum(psprintf("retrain request " INT64_FORMAT ": %s",
												 request, outcome));
			dv[4] = DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
			MlopsBecomeRegistryOwner(&saved);
			MlopsExecOrError("SELECT mlops._deploy($1, $2, $3, $4, $5)",
							 5, dtypes, dv, NULL, SPI_OK_SELECT);
			MlopsRestoreUser(&saved);
			status = "deployed";
		}
		else
		{
			status = "rejected";
			outcome = psprintf("%s: version %d stays in production", outcome, champ_version);
		}
	}

	{
		Oid			argtypes[7] = {INT8OID, TEXTOID, INT4OID, INT4OID, FLOAT8OID, FLOAT8OID, TEXTOID};
		Datum		values[7];
		char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = Int64GetDatum(request);
		values[1] = CStringGetTextDatum(status);
		values[2] = Int32GetDatum(champ_version);
		nulls[2] = champ_version ? ' ' : 'n';
		values[3] = Int32GetDatum(chall_version);
		nulls[3] = chall_version ? ' ' : 'n';
		values[4] = Float8GetDatum(champ_score);
		nulls[4] = isnan(champ_score) ? 'n' : ' ';
		values[5] = Float8GetDatum(chall_score);
		nulls[5] = isnan(chall_score) ? 'n' : ' ';
		values[6] = CStringGetTextDatum(outcome);
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
	SPI_finish();
	PG_RETURN_VOID();
}
