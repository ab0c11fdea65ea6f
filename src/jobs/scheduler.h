/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  The job scheduler: the launcher background worker (scheduler.c) and
 *	  the dynamic worker that executes one job run (job_worker.c).
 *
 * The launcher runs in the database named by mlops.database.  Every
 * mlops.naptime seconds it inserts a row in mlops.job_runs for each due job
 * and starts a dynamic background worker for it, handing over the run id,
 * the database and the job owner's role.  The worker connects as that role,
 * does the work and records how the run ended; the launcher only does the
 * bookkeeping (and marks runs whose worker vanished as failed).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_SCHEDULER_H
#define MLOPS_SCHEDULER_H

#include "postgres.h"

/* bgw_type of the two kinds of process, as seen in pg_stat_activity */
#define MLOPS_LAUNCHER_TYPE		"mlops launcher"
#define MLOPS_WORKER_TYPE		"mlops job worker"

/*
 * What the launcher hands to a job worker, in bgw_extra.  The run id also
 * travels in bgw_main_arg where a Datum holds an int64 by value.
 */
typedef struct MlopsJobWorkerArgs
{
	int64		run;			/* mlops.job_runs.id */
	Oid			database;		/* database to connect to */
	Oid			role;			/* job owner, the role to run as */
} MlopsJobWorkerArgs;

/* GUCs of the scheduler, defined in scheduler.c and registered by _PG_init */
extern PGDLLIMPORT bool mlops_scheduler_enabled;
extern PGDLLIMPORT int mlops_naptime;
extern PGDLLIMPORT int mlops_max_workers;
extern PGDLLIMPORT int mlops_history_days;
extern PGDLLIMPORT char *mlops_database;

/* true when loaded through shared_preload_libraries (set by _PG_init) */
extern PGDLLIMPORT bool mlops_preloaded;

/* scheduler.c */
extern void MlopsRegisterLauncher(void);
extern PGDLLEXPORT void mlops_launcher_main(Datum main_arg);
extern void MlopsDurableCommits(void);

/* job_worker.c */
extern PGDLLEXPORT void mlops_job_worker_main(Datum main_arg);

#endif							/* MLOPS_SCHEDULER_H */
