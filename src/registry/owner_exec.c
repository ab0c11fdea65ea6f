/*-------------------------------------------------------------------------
 *
 * owner_exec.c
 *	  Running one of our own SQL statements as the registry owner.
 *
 * Registry tables are written by the registry owner only (registry.c): the
 * calling C function first decides that the caller may make the change,
 * then runs the statement here.  This is the one place that switches
 * identity for a single statement, so that every subsystem switches back
 * the same way, keeps its memory context across SPI, and turns an SPI
 * failure into an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/snapmgr.h"

#include "registry/registry.h"

/*
 * Run sql (with nargs parameters, as SPI_execute_with_args takes them) as
 * the registry owner, with search_path pinned to pg_catalog, between the
 * caller's SPI_connect and SPI_finish.  mode says how it sees the data:
 *
 *	 MLOPS_OWNER_WRITE        an ordinary statement that may write;
 *	 MLOPS_OWNER_READ         read-only, with the calling statement's snapshot;
 *	 MLOPS_OWNER_READ_LATEST  read-only, with a new snapshot (to see what
 *							  other transactions committed before a lock
 *							  the caller now holds).
 *
 * Returns the SPI result code; SPI_tuptable and SPI_processed hold the
 * result.  The caller's memory context is current again on return.
 */
int
MlopsExecAsRegistryOwner(const char *sql, int nargs, Oid *types, Datum *values,
						 const char *nulls, MlopsOwnerMode mode)
{
	MlopsUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	int			ret;

	MlopsBecomeRegistryOwner(&sw);
	if (mode == MLOPS_OWNER_READ_LATEST)
	{
		PushActiveSnapshot(GetLatestSnapshot());
		ret = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);
		PopActiveSnapshot();
	}
	else
		ret = SPI_execute_with_args(sql, nargs, types, values, nulls,
									mode == MLOPS_OWNER_READ, 0);
	MlopsRestoreUser(&sw);
	/* SPI leaves its procedure context current: keep the caller's */
	MemoryContextSwitchTo(cxt);
	if (ret < 0)
		elog(ERROR, "registry statement failed: %s: %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}
