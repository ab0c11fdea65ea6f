/*-------------------------------------------------------------------------
 *
 * mlops.c
 *	  Module entry point: _PG_init and the GUCs.  It is the top of the
 *	  include graph: nothing includes a header of this file's.
 *
 * Everything but the background workers works when the library is loaded
 * on first use.  When it is loaded through shared_preload_libraries, the
 * launcher background worker is registered as well (scheduler.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "algorithms/algorithm.h"
#include "core/util.h"
#include "jobs/scheduler.h"
#include "train/train_moments.h"

PG_MODULE_MAGIC;

/* provided by OpenBLAS */
extern void openblas_set_num_threads(int num_threads);


void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * PostgreSQL's parallel workers are our parallelism; BLAS threads would
	 * only compete with them (and do not survive fork in the postmaster).
	 */
	openblas_set_num_threads(1);

	DefineCustomBoolVariable("mlops.scheduler_enabled",
							 "Runs scheduled mlops jobs (drift checks, retrains).",
							 "When off, the launcher stays up but starts no job.",
							 &mlops_scheduler_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.naptime",
							"Time between two scheduler ticks.",
							NULL,
							&mlops_naptime,
							60, 1, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.max_workers",
							"Maximum number of mlops job workers running at once.",
							"Each takes a slot of max_worker_processes.",
							&mlops_max_workers,
							2, 1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.history_days",
							"Days of job run history kept in mlops.job_runs.",
							"Older runs are pruned by the launcher; 0 keeps everything.",
							&mlops_history_days,
							30, 0, 36500,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("mlops.database",
							   "Database in which the mlops launcher runs scheduled jobs.",
							   NULL,
							   &mlops_database,
							   "postgres",
	/* PGC_POSTMASTER variables can only be created at server start */
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("mlops.max_training_memory",
							"Largest in-memory training data set mlops.train will build.",
							"Training refuses, with the size it would need, beyond this.",
							&mlops_max_training_memory,
							4 * 1024 * 1024, 1024, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	/*
	 * Every backend that trains trees runs its own OpenMP thread pool, so
	 * the default is one thread: N concurrent trainings then use N cores,
	 * not N times the cores.  Only read when training; nothing here starts
	 * a thread.
	 */
	DefineCustomIntVariable("mlops.training_threads",
							"Threads XGBoost uses to train a tree model (gbt, random_forest).",
							"Each training backend runs its own thread pool; more threads pay only on large data.",
							&mlops_training_threads,
							1, 1, 64,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	/*
	 * Off by default: training reads its rows anyway (for the snapshot and
	 * the drift baseline), so summing them where they are only pays when
	 * they are elsewhere (Citus) or the machine has cores to spare.
	 */
	DefineCustomBoolVariable("mlops.pushdown_moments",
							 "Computes linear and ridge training's moments and metrics with aggregate queries over the training relation.",
							 "Parallel workers and Citus workers run them where the rows are; off, training sums the rows it has read, except from a Citus table. The model is the same either way.",
							 &mlops_pushdown_moments,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("mlops");

	if (process_shared_preload_libraries_in_progress)
	{
		mlops_preloaded = true;
		MlopsRegisterLauncher();
	}
}

