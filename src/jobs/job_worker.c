/*-------------------------------------------------------------------------
 *
 * job_worker.c
 *	  The dynamic background worker that executes one job run.
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
 *		deploy only if better, record the outcome on the queue row (its
 *		queue bookkeeping is in retrain.c);
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

#include "registry/registry.h"
#include "jobs/scheduler.h"
#include "core/util.h"

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
static bool WorkerTakeRun(void);
static void WorkerCheckDrift(void);
static void WorkerClaimRetrain(void);
static void WorkerRetrain(char **status, char **outcome, char **error);
static void WorkerStartTransaction(void);
static void WorkerCommitTransaction(void);
static void WorkerBeginStep(const char *activity);
static void WorkerEndStep(void);
static void WorkerRecordEnd(const char *status, const char *outcome, const char *error);
static Oid	WorkerResolveRelation(const char *relation);
static char *CopyValue(int col);


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

/*
 * Step 1: take the run (starting -> running, with our pid).  False when it
 * was canceled before it started, or reaped: nothing to do.  ERROR when the
 * job's role has become a superuser.
 */
static bool
WorkerTakeRun(void)
{
	Oid			argtypes[2] = {INT8OID, INT4OID};
	Datum		values[2];
	MlopsUserSwitch saved;
	char	   *superuser_name = NULL;

	WorkerBeginStep("mlops job: taking the run");
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
		WorkerEndStep();
		return false;
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
	return true;
}

/* Step 2: mlops.check_drift(project, relation), as the job owner. */
static void
WorkerCheckDrift(void)
{
	Oid			argtypes[2] = {TEXTOID, REGCLASSOID};
	Datum		values[2];
	Oid			relid;

	WorkerBeginStep(psprintf("mlops job: drift check of project %s on %s",
							 ws.project, ws.relation));
	relid = WorkerResolveRelation(ws.relation);
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
}

/*
 * Step 3: claim the project's queued retrain, unless one is already
 * running; the claim goes on the run's row.
 */
static void
WorkerClaimRetrain(void)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	char		nulls[2] = {' ', 'n'};
	MlopsUserSwitch saved;
	char	   *claimed;

	WorkerBeginStep(psprintf("mlops job: looking for a queued retrain of project %s",
							 ws.project));
	values[0] = CStringGetTextDatum(ws.project);
	MlopsExecOrError("SELECT CASE WHEN EXISTS (SELECT 1 FROM mlops.retrain_queue"
					 "                          WHERE project = $1 AND status = 'queued')"
					 "       THEN mlops.retrain_claim($1, $2) END",
					 2, argtypes, values, nulls, SPI_OK_SELECT);
	claimed = CopyValue(1);
	if (claimed)
	{
		ws.request = pg_strtoint64(claimed);
		argtypes[0] = INT8OID;
		values[0] = Int64GetDatum(ws.run);
		values[1] = Int64GetDatum(ws.request);
		MlopsBecomeRegistryOwner(&saved);
		MlopsExecOrError("UPDATE mlops.job_runs SET retrain_request = $2"
						 " WHERE id = $1",
						 2, argtypes, values, NULL, SPI_OK_UPDATE);
		MlopsRestoreUser(&saved);
	}
	WorkerEndStep();
}

/*
 * Step 4: mlops.retrain(project, request), as the job owner.  Adds its
 * outcome to *outcome; a failed retrain fails the run.
 */
static void
WorkerRetrain(char **status, char **outcome, char **error)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	char	   *rstatus;
	char	   *routcome;

	WorkerBeginStep(psprintf("mlops job: retraining project %s (request " INT64_FORMAT ")",
							 ws.project, ws.request));
	values[0] = CStringGetTextDatum(ws.project);
	values[1] = Int64GetDatum(ws.request);
	MlopsExecOrError("SELECT status, outcome FROM mlops.retrain($1, $2)",
					 2, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "mlops: mlops.retrain returned no row");
	rstatus = CopyValue(1);
	routcome = CopyValue(2);
	WorkerEndStep();

	*outcome = psprintf("%s; retrain " INT64_FORMAT " %s: %s", *outcome, ws.request,
						rstatus ? rstatus : "?", routcome ? routcome : "");
	if (rstatus == NULL || strcmp(rstatus, "failed") == 0)
	{
		*status = "failed";
		*error = psprintf("retrain " INT64_FORMAT " failed: %s", ws.request,
						  routcome ? routcome : "no outcome recorded");
	}
}

/* Steps 1 to 5 (see the file header). */
static void
WorkerRun(void)
{
	char	   *status = "succeeded";
	char	   *outcome;
	char	   *error = NULL;

	if (!WorkerTakeRun())
		return;

	WorkerCheckDrift();
	if (ws.verdict)
		outcome = psprintf("drift check: %s (report " INT64_FORMAT ")", ws.verdict, ws.report);
	else
		outcome = "drift check done";

	if (ws.retrain)
		WorkerClaimRetrain();

	if (ws.request != 0)
		WorkerRetrain(&status, &outcome, &error);
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
