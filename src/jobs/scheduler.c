/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  The job launcher background worker, and the SQL functions that
 *	  schedule, unschedule and cancel jobs.
 *
 * The folder src/jobs/ is the background work: this launcher, the per-run
 * worker (job_worker.c) and the closed loop's retrain (retrain.c).  It is
 * the top layer below src/mlops.c.
 *
 * With shared_preload_libraries = 'mlops', _PG_init registers the launcher.
 * It starts once recovery has finished (so never on a standby), connects to
 * the database named by mlops.database as the bootstrap superuser, and every
 * mlops.naptime seconds does one tick in one transaction:
 *
 *	 - runs left "starting" or "running" by a worker that no longer exists
 *	   (crash, kill, server restart) are marked failed, with the retrain
 *	   they had claimed;
 *	 - runs older than mlops.history_days are pruned;
 *	 - for each due job a run row is inserted, unless the previous run of
 *	   the job is still going (that tick is skipped), and unless
 *	   mlops.max_workers runs are already in flight (the job stays due).
 *
 * After the commit a dynamic background worker (job_worker.c) is started
 * for each new run; it connects as the job's owner.  The launcher never
 * runs user code itself, so a failing job cannot take it down, and an
 * error in a tick is logged and the next tick tries again.  When the
 * extension is not (yet) installed in mlops.database the launcher simply
 * waits for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "registry/registry.h"
#include "jobs/scheduler.h"
#include "core/util.h"

bool		mlops_scheduler_enabled = true;
int			mlops_naptime = 60;
int			mlops_max_workers = 2;
int			mlops_history_days = 30;
char	   *mlops_database = NULL;
bool		mlops_preloaded = false;

PG_FUNCTION_INFO_V1(mlops_schedule_drift_check);
PG_FUNCTION_INFO_V1(mlops_unschedule);
PG_FUNCTION_INFO_V1(mlops_cancel_run);
PG_FUNCTION_INFO_V1(mlops_scheduler_preloaded);

/* seconds before the postmaster restarts a launcher that exited on error */
#define LAUNCHER_RESTART_SECONDS	5

/* A worker this launcher started, and the run it works on */
typedef struct LaunchedRun
{
	int64		run;
	BackgroundWorkerHandle *handle;
} LaunchedRun;

/* A run inserted by a tick, to be started once the tick has committed */
typedef struct RunToStart
{
	int64		run;
	Oid			role;
} RunToStart;

/* launcher state, in TopMemoryContext */
static List *launched_runs = NIL;
static bool said_waiting = false;

static void LauncherTick(void);
static bool LauncherExtensionReady(void);
static void LauncherReapRuns(void);
static void LauncherPruneHistory(void);
static List *LauncherCreateDueRuns(void);
static void LauncherStartWorker(int64 run, Oid role);
static void LauncherFailRun(int64 run, const char *error);
static bool LauncherRunIsAlive(int64 run, int pid, bool pid_known,
							   TimestampTz started_at, bool started_known, Oid role);
static void LauncherForgetStopped(void);
static Oid	LockOwnedRow(const char *sql, int64 id, MlopsUserSwitch *saved);
static bool MayManage(Oid owner, const MlopsUserSwitch *saved);
static void CheckRunAsMay(const char *project, Oid role, const char *rolename, bool retrain);


/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------
 */

/*
 * Make this session's commits durable even when synchronous_commit is off:
 * a run recorded as started must survive a crash, or the restarted
 * launcher would neither mark it failed nor know it ran, and would run it
 * again.  It costs one WAL flush per bookkeeping step.
 */
void
MlopsDurableCommits(void)
{
	if (synchronous_commit == SYNCHRONOUS_COMMIT_OFF)
		SetConfigOption("synchronous_commit", "local", PGC_USERSET, PGC_S_SESSION);
}

/* Name of the current user. */
static char *
CurrentUserName(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/*
 * Connect SPI, become the registry owner (*saved says whom to restore) and
 * run sql, a SELECT ... FOR UPDATE of one registry row whose $1 is the int8
 * id and whose first column is its owner's OID.  Returns that owner, or
 * InvalidOid when there is no such row; the row's other columns stay in
 * SPI_tuptable.
 */
static Oid
LockOwnedRow(const char *sql, int64 id, MlopsUserSwitch *saved)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	MlopsBecomeRegistryOwner(saved);
	MlopsExecOrError(sql, 1, argtypes, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		return isnull ? InvalidOid : DatumGetObjectId(d);
	}
	return InvalidOid;
}

/*
 * ERROR when a job running as role could not check drift on the project
 * (runs need the train privilege) or, for a job that retrains, deploy the
 * new version (deploy as well).  A project that does not exist yet is
 * accepted; its runs fail until it does.
 */
static void
CheckRunAsMay(const char *project, Oid role, const char *rolename, bool retrain)
{
	bool		exists;
	uint32		privs = MlopsProjectPrivileges(project, role, &exists);

	if (exists && (privs & MLOPS_PRIV_TRAIN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not check drift on project \"%s\"", rolename, project),
				 errdetail("Scheduled drift checks need the train privilege on the project."),
				 errhint("The project's owner can give it with mlops.grant('%s', '%s', 'train').",
						 project, rolename)));
	if (exists && retrain && (privs & MLOPS_PRIV_DEPLOY) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not retrain project \"%s\"", rolename, project),
				 errdetail("A job that retrains may deploy the new version, which needs the deploy privilege as well as train."),
				 errhint("Grant deploy with mlops.grant('%s', '%s', 'deploy'), or schedule with retrain => false.",
						 project, rolename)));
}

/*
 * Whether the caller (the user saved before the switch to the registry
 * owner) may manage a row of owner: a member of the owning role, or a
 * superuser.
 */
static bool
MayManage(Oid owner, const MlopsUserSwitch *saved)
{
	return OidIsValid(owner) &&
		(superuser_arg(saved->saved_uid) || has_privs_of_role(saved->saved_uid, owner));
}


/* ------------------------------------------------------------------------
 * The launcher
 * ------------------------------------------------------------------------
 */

/*
 * Register the launcher; called by _PG_init when the library is preloaded.
 * It starts after recovery and is restarted by the postmaster when it exits
 * with an error or crashes.  Not under pg_upgrade.
 */
void
MlopsRegisterLauncher(void)
{
	BackgroundWorker worker;

	/* pg_upgrade's servers must not run jobs */
	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = LAUNCHER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "mlops", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "mlops_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, MLOPS_LAUNCHER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, MLOPS_LAUNCHER_TYPE, BGW_MAXLEN);
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Entry point of the launcher: one tick every mlops.naptime seconds (and
 * whenever one of its workers starts or stops, which sets its latch), until
 * SIGTERM or postmaster death.
 */
void
mlops_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(mlops_database, NULL, 0);

	/* the launcher's own statements resolve nothing through search_path */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("application_name", MLOPS_LAUNCHER_TYPE, PGC_USERSET, PGC_S_SESSION);
	MlopsDurableCommits();

	ereport(LOG,
			(errmsg("mlops launcher started in database \"%s\"", mlops_database)));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		PG_TRY();
		{
			LauncherTick();
		}
		PG_CATCH();
		{
			/* log it, clean up, and try again at the next tick */
			HOLD_INTERRUPTS();
			EmitErrorReport();
			AbortCurrentTransaction();
			FlushErrorState();
			pgstat_report_activity(STATE_IDLE, NULL);
			RESUME_INTERRUPTS();
		}
		PG_END_TRY();

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 mlops_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * One tick: bookkeeping and new runs in one transaction, then the workers
 * for the new runs (a worker must not look for its run before it is
 * committed).
 */
static void
LauncherTick(void)
{
	List	   *to_start = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING,
						   mlops_scheduler_enabled ? "mlops launcher: tick"
						   : "mlops launcher: tick (mlops.scheduler_enabled is off)");

	if (LauncherExtensionReady())
	{
		LauncherReapRuns();
		LauncherPruneHistory();
		if (mlops_scheduler_enabled)
			to_start = LauncherCreateDueRuns();
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	LauncherForgetStopped();
	foreach(lc, to_start)
	{
		RunToStart *r = (RunToStart *) lfirst(lc);

		LauncherStartWorker(r->run, r->role);
	}
	list_free_deep(to_start);
}

/*
 * Whether the extension (with the tables of this version) is installed in
 * this database.  Says once in the log that the launcher is waiting for it.
 */
static bool
LauncherExtensionReady(void)
{
	Oid			nsp = get_namespace_oid("mlops", true);

	if (OidIsValid(get_extension_oid("mlops", true)) && OidIsValid(nsp) &&
		OidIsValid(get_relname_relid("jobs", nsp)) &&
		OidIsValid(get_relname_relid("job_runs", nsp)))
	{
		said_waiting = false;
		return true;
	}
	if (!said_waiting)
		ereport(LOG,
				(errmsg("mlops launcher is waiting for the extension to be installed in database \"%s\"",
						mlops_database),
				 errhint("Run CREATE EXTENSION mlops in database \"%s\".", mlops_database)));
	said_waiting = true;
	return false;
}

/*
 * Whether the worker of a run in flight is still there: through the
 * handle when this launcher started it, else through the process id the
 * worker recorded (a run still "starting" without a handle was started by
 * a launcher that is gone, and its worker with it).  A process id may have
 * been reused by another backend since (after a restart, say), so the
 * process must also be connected to this database as the run's owner, and
 * have started no later than the run did, which itself cannot be before
 * the postmaster started.
 */
static bool
LauncherRunIsAlive(int64 run, int pid, bool pid_known,
				   TimestampTz started_at, bool started_known, Oid role)
{
	ListCell   *lc;
	PGPROC	   *proc;
	int			nbackends;
	int			i;

	foreach(lc, launched_runs)
	{
		LaunchedRun *l = (LaunchedRun *) lfirst(lc);
		pid_t		wpid;

		if (l->run != run)
			continue;
		switch (GetBackgroundWorkerPid(l->handle, &wpid))
		{
			case BGWH_STARTED:
			case BGWH_NOT_YET_STARTED:
				return true;
			default:
				return false;
		}
	}
	if (!pid_known || !started_known || started_at < PgStartTime)
		return false;
	proc = BackendPidGetProc(pid);
	if (proc == NULL || proc->databaseId != MyDatabaseId ||
		!OidIsValid(role) || proc->roleId != role)
		return false;

	/* a process that started after the run is not the run's worker */
	nbackends = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= nbackends; i++)
	{
#if PG_VERSION_NUM >= 170000
		LocalPgBackendStatus *local = pgstat_get_local_beentry_by_index(i);
#else
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
#endif

		if (local != NULL && local->backendStatus.st_procpid == pid)
			return local->backendStatus.st_proc_start_timestamp <= started_at;
	}
	return true;
}

/*
 * Mark failed the runs in flight whose worker is gone without recording an
 * outcome (it crashed, was terminated, or the server restarted), and the
 * retrain each had claimed, so that it is not left "running" forever.
 */
static void
LauncherReapRuns(void)
{
	int64	   *runs;
	int		   *pids;
	bool	   *pid_known;
	bool	   *starting;
	TimestampTz *started_at;
	bool	   *started_known;
	Oid		   *roles;
	int			n,
				i;

	MlopsExecOrError("SELECT r.id, r.pid, r.status = 'starting', r.started_at,"
				"       (SELECT a.oid FROM pg_catalog.pg_authid a WHERE a.oid = r.owner)"
				"  FROM mlops.job_runs r"
				" WHERE r.status IN ('starting', 'running') ORDER BY r.id",
				0, NULL, NULL, NULL, SPI_OK_SELECT);
	n = (int) SPI_processed;
	if (n == 0)
		return;
	runs = palloc(sizeof(int64) * n);
	pids = palloc(sizeof(int) * n);
	pid_known = palloc(sizeof(bool) * n);
	starting = palloc(sizeof(bool) * n);
	started_at = palloc(sizeof(TimestampTz) * n);
	started_known = palloc(sizeof(bool) * n);
	roles = palloc(sizeof(Oid) * n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		runs[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		pid_known[i] = !isnull;
		pids[i] = isnull ? 0 : DatumGetInt32(d);
		starting[i] = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		d = SPI_getbinval(tup, desc, 4, &isnull);
		started_known[i] = !isnull;
		started_at[i] = isnull ? 0 : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		roles[i] = isnull ? InvalidOid : DatumGetObjectId(d);
	}

	for (i = 0; i < n; i++)
	{
		const char *error;
		Oid			argtypes[2] = {INT8OID, TEXTOID};
		Datum		values[2];

		if (LauncherRunIsAlive(runs[i], pids[i], pid_known[i],
							   started_at[i], started_known[i], roles[i]))
			continue;

		error = starting[i]
			? "the worker exited before starting the run (see the server log)"
			: "the worker ended without recording an outcome (it crashed, was terminated, or the server restarted)";
		values[0] = Int64GetDatum(runs[i]);
		values[1] = CStringGetTextDatum(error);

		/* the worker may have recorded its outcome since we looked */
		MlopsExecOrError("UPDATE mlops.job_runs"
					"   SET status = 'failed', finished_at = clock_timestamp(), error = $2"
					" WHERE id = $1 AND status IN ('starting', 'running')",
					2, argtypes, values, NULL, SPI_OK_UPDATE);
		if (SPI_processed == 0)
			continue;
		MlopsExecOrError("UPDATE mlops.retrain_queue q"
					"   SET status = 'failed', finished_at = clock_timestamp(),"
					"       outcome = 'retrain interrupted: ' || $2"
					"  FROM mlops.job_runs r"
					" WHERE r.id = $1 AND q.id = r.retrain_request"
					"   AND q.status = 'running'",
					2, argtypes, values, NULL, SPI_OK_UPDATE);
		ereport(LOG,
				(errmsg("mlops job run " INT64_FORMAT " marked failed: %s", runs[i], error)));
	}
}

/* Delete the runs that ended more than mlops.history_days days ago. */
static void
LauncherPruneHistory(void)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	if (mlops_history_days <= 0)
		return;
	values[0] = Int32GetDatum(mlops_history_days);
	MlopsExecOrError("DELETE FROM mlops.job_runs"
				" WHERE finished_at < now() - make_interval(days => $1)",
				1, argtypes, values, NULL, SPI_OK_DELETE);
}

/*
 * Insert a run for each due job and return the runs to start (allocated in
 * TopMemoryContext).  A job whose previous run is still going skips this
 * tick; beyond mlops.max_workers runs in flight, due jobs wait for the next
 * tick.  A run whose role is gone, may not log in or is (now) a superuser
 * fails at once, without a worker.
 */
static List *
LauncherCreateDueRuns(void)
{
	List	   *to_start = NIL;
	int64		in_flight;
	int			n,
				i;
	bool		isnull;
	int64	   *jobs;
	char	  **owners;
	Oid		   *roles;
	bool	   *canlogin;
	bool	   *busy;
	bool	   *issuper;

	MlopsExecOrError("SELECT count(*) FROM mlops.job_runs"
				" WHERE status IN ('starting', 'running')",
				0, NULL, NULL, NULL, SPI_OK_SELECT);
	in_flight = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));

	MlopsExecOrError("SELECT j.id, coalesce(a.rolname::text, j.owner::oid::text), a.oid, a.rolcanlogin,"
				"       EXISTS (SELECT 1 FROM mlops.job_runs r"
				"                WHERE r.job = j.id"
				"                  AND r.status IN ('starting', 'running')),"
				"       a.rolsuper"
				"  FROM mlops.jobs j"
				"  LEFT JOIN pg_catalog.pg_authid a ON a.oid = j.owner"
				" WHERE j.next_run_at <= now()"
				" ORDER BY j.next_run_at, j.id",
				0, NULL, NULL, NULL, SPI_OK_SELECT);
	n = (int) SPI_processed;
	if (n == 0)
		return NIL;
	jobs = palloc(sizeof(int64) * n);
	owners = palloc(sizeof(char *) * n);
	roles = palloc(sizeof(Oid) * n);
	canlogin = palloc(sizeof(bool) * n);
	busy = palloc(sizeof(bool) * n);
	issuper = palloc(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d;

		jobs[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		owners[i] = SPI_getvalue(tup, desc, 2);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		roles[i] = isnull ? InvalidOid : DatumGetObjectId(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		canlogin[i] = !isnull && DatumGetBool(d);
		busy[i] = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		d = SPI_getbinval(tup, desc, 6, &isnull);
		issuper[i] = !isnull && DatumGetBool(d);
	}

	for (i = 0; i < n; i++)
	{
		Oid			argtypes[2] = {INT8OID, TEXTOID};
		Datum		values[2];
		int64		run;
		char	   *error = NULL;

		values[0] = Int64GetDatum(jobs[i]);

		if (busy[i])
		{
			/* the previous run is still going: skip this tick */
			MlopsExecOrError("UPDATE mlops.jobs SET next_run_at = now() + every"
						" WHERE id = $1",
						1, argtypes, values, NULL, SPI_OK_UPDATE);
			elog(DEBUG1, "mlops job " INT64_FORMAT " skipped: its previous run is still going",
				 jobs[i]);
			continue;
		}
		if (in_flight >= mlops_max_workers)
			continue;			/* stays due until a worker is free */

		MlopsExecOrError("WITH j AS (UPDATE mlops.jobs"
					"              SET next_run_at = now() + every, last_run_at = now()"
					"            WHERE id = $1"
					"        RETURNING id, project, relation, retrain, owner)"
					" INSERT INTO mlops.job_runs (job, project, relation, retrain, owner)"
					" SELECT id, project, relation, retrain, owner FROM j"
					" RETURNING id",
					1, argtypes, values, NULL, SPI_OK_INSERT_RETURNING);
		if (SPI_processed != 1)
			continue;			/* unscheduled meanwhile */
		run = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));

		if (!OidIsValid(roles[i]))
			error = psprintf("role with OID %s does not exist", owners[i]);
		else if (issuper[i])
			error = psprintf("role \"%s\" is a superuser, and jobs never run as a superuser",
							 owners[i]);
#if PG_VERSION_NUM < 170000
		else if (!canlogin[i])
			error = psprintf("role \"%s\" is not permitted to log in, which a job worker needs",
							 owners[i]);
#endif
		if (error)
		{
			values[0] = Int64GetDatum(run);
			values[1] = CStringGetTextDatum(error);
			MlopsExecOrError("UPDATE mlops.job_runs"
						"   SET status = 'failed', finished_at = clock_timestamp(), error = $2"
						" WHERE id = $1",
						2, argtypes, values, NULL, SPI_OK_UPDATE);
			continue;
		}

		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			RunToStart *r = palloc(sizeof(RunToStart));

			r->run = run;
			r->role = roles[i];
			to_start = lappend(to_start, r);
			MemoryContextSwitchTo(old);
		}
		in_flight++;
	}
	return to_start;
}

/*
 * Start the dynamic worker of a committed run.  Without a free background
 * worker slot the run fails at once, saying so.
 */
static void
LauncherStartWorker(int64 run, Oid role)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MlopsJobWorkerArgs args;
	MemoryContext old;
	LaunchedRun *l;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "mlops", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "mlops_job_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "mlops job run " INT64_FORMAT, run);
	strlcpy(worker.bgw_type, MLOPS_WORKER_TYPE, BGW_MAXLEN);
#if SIZEOF_DATUM == 8
	worker.bgw_main_arg = Int64GetDatum(run);
#else
	worker.bgw_main_arg = (Datum) 0;
#endif
	args.run = run;
	args.database = MyDatabaseId;
	args.role = role;
	StaticAssertStmt(sizeof(MlopsJobWorkerArgs) <= BGW_EXTRALEN,
					 "MlopsJobWorkerArgs does not fit in bgw_extra");
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(old);
		LauncherFailRun(run, "no background worker slot was free; raise max_worker_processes");
		return;
	}
	l = palloc(sizeof(LaunchedRun));
	l->run = run;
	l->handle = handle;
	launched_runs = lappend(launched_runs, l);
	MemoryContextSwitchTo(old);
}

/* Mark a run failed in a transaction of its own. */
static void
LauncherFailRun(int64 run, const char *error)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	ereport(LOG,
			(errmsg("mlops job run " INT64_FORMAT " failed: %s", run, error)));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	values[0] = Int64GetDatum(run);
	values[1] = CStringGetTextDatum(error);
	MlopsExecOrError("UPDATE mlops.job_runs"
				"   SET status = 'failed', finished_at = clock_timestamp(), error = $2"
				" WHERE id = $1 AND status IN ('starting', 'running')",
				2, argtypes, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Drop the handles of workers that have exited and whose runs the last
 * tick has seen ended (the tick reaps the others first).
 */
static void
LauncherForgetStopped(void)
{
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, launched_runs)
	{
		LaunchedRun *l = (LaunchedRun *) lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(l->handle, &pid) == BGWH_STOPPED)
		{
			pfree(l->handle);
			pfree(l);
		}
		else
			keep = lappend(keep, l);
	}
	list_free(launched_runs);
	launched_runs = keep;
	MemoryContextSwitchTo(old);
}


/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */

/*
 * mlops.schedule_drift_check(project, relation, every, retrain, run_as)
 *
 * Records a job that checks relation for drift against the project's
 * production version every interval, as run_as (the caller by default;
 * another role needs superuser), first run at the next tick.  The role must
 * be able to read the relation.  Says so (NOTICE) when nothing will run the
 * job in this setup.
 */
Datum
mlops_schedule_drift_check(PG_FUNCTION_ARGS)
{
	text	   *project;
	Oid			relid;
	Interval   *every;
	Interval	one_second = {0};
	bool		retrain;
	char	   *me = CurrentUserName();
	char	   *owner;
	Oid			owner_oid;
	char		relkind;
	char	   *relname;
	MlopsUserSwitch saved;
	Oid			argtypes[6] = {TEXTOID, TEXTOID, INTERVALOID, BOOLOID, OIDOID, NAMEOID};
	Datum		values[6];
	bool		isnull;
	int64		job;
	char	   *dbname;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project, relation, every and retrain must not be NULL")));
	project = PG_GETARG_TEXT_PP(0);
	relid = PG_GETARG_OID(1);
	every = PG_GETARG_INTERVAL_P(2);
	retrain = PG_GETARG_BOOL(3);
	owner = PG_ARGISNULL(4) ? me : NameStr(*PG_GETARG_NAME(4));

	one_second.time = USECS_PER_SEC;
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(every),
										 IntervalPGetDatum(&one_second))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a job must run at most once per second"),
				 errdetail("The interval given is %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(every))))));

	owner_oid = get_role_oid(owner, false);
	if (superuser_arg(owner_oid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a job cannot run as superuser \"%s\"", owner),
				 errdetail("Scheduled runs never run with superuser privileges."),
				 errhint("Pass run_as => a role that is not a superuser, for example the project's owner.")));
	if (strcmp(owner, me) != 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to schedule a job for role \"%s\"", owner),
				 errdetail("Only superusers may schedule jobs that run as another role.")));

	CheckRunAsMay(text_to_cstring(project), owner_oid, owner, retrain);

	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view",
						get_rel_name(relid))));
	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	if (pg_class_aclcheck(relid, owner_oid, ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, owner_oid, ACL_SELECT, ACLMASK_ANY) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot read relation %s", owner, relname),
				 errdetail("Scheduled runs read the relation with the privileges of the role they run as.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mlops: SPI_connect failed");
	values[0] = PointerGetDatum(project);
	values[1] = CStringGetTextDatum(relname);
	values[2] = IntervalPGetDatum(every);
	values[3] = BoolGetDatum(retrain);
	values[4] = ObjectIdGetDatum(owner_oid);
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(me));
	MlopsBecomeRegistryOwner(&saved);
	MlopsExecOrError("INSERT INTO mlops.jobs (project, relation, every, retrain, owner, created_by)"
				" VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
				6, argtypes, values, NULL, SPI_OK_INSERT_RETURNING);
	MlopsRestoreUser(&saved);
	job = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	/* say so when nothing will run the job */
	dbname = get_database_name(MyDatabaseId);
	if (!mlops_preloaded)
		ereport(NOTICE,
				(errmsg("job " INT64_FORMAT " is recorded, but nothing will run it until mlops is preloaded", job),
				 errhint("Add mlops to shared_preload_libraries, set mlops.database, and restart the server.")));
	else if (mlops_database == NULL || strcmp(dbname, mlops_database) != 0)
		ereport(NOTICE,
				(errmsg("job " INT64_FORMAT " is recorded, but the mlops launcher runs jobs of database \"%s\" only",
						job, mlops_database ? mlops_database : ""),
				 errhint("Set mlops.database = '%s' and restart the server, or schedule the job in database \"%s\".",
						 dbname, mlops_database ? mlops_database : "")));
	else if (!mlops_scheduler_enabled)
		ereport(NOTICE,
				(errmsg("job " INT64_FORMAT " is recorded, but mlops.scheduler_enabled is off", job),
				 errhint("Set mlops.scheduler_enabled = on and reload the configuration.")));

	PG_RETURN_INT64(job);
}

/*
 * mlops.unschedule(job): remove a job (its owner or a superuser).  A run in
 * progress goes on; the history stays.  Jobs of other roles are reported
 * as missing, as row-level security hides them.
 */
Datum
mlops_unschedule(PG_FUNCTION_ARGS)
{
	int64		job = PG_GETARG_INT64(0);
	MlopsUserSwitch saved;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	Oid			owner;

	owner = LockOwnedRow("SELECT owner::oid FROM mlops.jobs WHERE id = $1 FOR UPDATE",
						 job, &saved);
	if (!MayManage(owner, &saved))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job),
				 errhint("mlops.jobs lists your jobs.")));
	values[0] = Int64GetDatum(job);
	MlopsExecOrError("DELETE FROM mlops.jobs WHERE id = $1",
				1, argtypes, values, NULL, SPI_OK_DELETE);
	MlopsRestoreUser(&saved);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * mlops.cancel_run(run): cancel a run (its owner or a superuser).  A run
 * still starting is marked canceled at once (its worker then does
 * nothing); a running one gets a query cancel (SIGINT), which interrupts
 * even a long training, and records canceled itself.  Returns false, with
 * a NOTICE, when the run has already ended.
 */
Datum
mlops_cancel_run(PG_FUNCTION_ARGS)
{
	int64		run = PG_GETARG_INT64(0);
	char	   *me = CurrentUserName();
	MlopsUserSwitch saved;
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	Oid			owner;
	char	   *status = NULL;
	int			pid = 0;
	bool		pid_known = false;
	bool		result = false;

	owner = LockOwnedRow("SELECT owner::oid, status, pid FROM mlops.job_runs"
						 " WHERE id = $1 FOR UPDATE",
						 run, &saved);
	if (OidIsValid(owner))
	{
		bool		isnull;
		Datum		d;

		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		pid_known = !isnull;
		pid = isnull ? 0 : DatumGetInt32(d);
	}
	if (!MayManage(owner, &saved))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job run " INT64_FORMAT " does not exist", run),
				 errhint("mlops.job_runs lists the runs of your jobs.")));

	values[0] = Int64GetDatum(run);
	if (strcmp(status, "starting") == 0)
	{
		values[1] = CStringGetTextDatum(psprintf("canceled by %s before it started", me));
		MlopsExecOrError("UPDATE mlops.job_runs"
					"   SET status = 'canceled', finished_at = clock_timestamp(), error = $2"
					" WHERE id = $1",
					2, argtypes, values, NULL, SPI_OK_UPDATE);
		result = true;
	}
	else if (strcmp(status, "running") == 0)
	{
		PGPROC	   *proc = pid_known ? BackendPidGetProc(pid) : NULL;

		/* the process must still be this run's worker, not a reused pid */
		if (proc != NULL &&
			(proc->databaseId != MyDatabaseId || proc->roleId != owner))
			proc = NULL;
		if (proc != NULL && kill(pid, SIGINT) == 0)
			result = true;
		else
			ereport(NOTICE,
					(errmsg("the worker of job run " INT64_FORMAT " has already exited", run),
					 errdetail("The launcher records the run as failed at its next tick.")));
	}
	else
		ereport(NOTICE,
				(errmsg("job run " INT64_FORMAT " has already ended (%s)", run, status)));
	MlopsRestoreUser(&saved);
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/*
 * mlops.scheduler_preloaded(): whether the library was loaded through
 * shared_preload_libraries, so that a launcher exists.
 */
Datum
mlops_scheduler_preloaded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mlops_preloaded);
}
