/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Acting as the registry owner: who it is, switching to it and back, and
 *	  running one of our own SQL statements as it.
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

#include "access/htup_details.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "core/util.h"

#include "registry/registry.h"

/*
 * Role that owns the registry (the owner of schema mlops).  Registry writes
 * are made as this role, after the calling function has checked that the
 * caller may make them.
 */
Oid
MlopsRegistryOwner(void)
{
	Oid			nsp = MlopsSchemaOid();
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Act as the registry owner until MlopsRestoreUser().  The search_path is
 * pinned to pg_catalog meanwhile: the owner is usually a superuser, and an
 * operator or function found through the caller's search_path would run
 * with its rights.
 */
void
MlopsBecomeRegistryOwner(MlopsUserSwitch *sw)
{
	Oid			owner = MlopsRegistryOwner();

	GetUserIdAndSecContext(&sw->saved_uid, &sw->saved_sec);
	sw->guc_nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, sw->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* Back to the caller's identity and search_path. */
void
MlopsRestoreUser(const MlopsUserSwitch *sw)
{
	SetUserIdAndSecContext(sw->saved_uid, sw->saved_sec);
	AtEOXact_GUC(false, sw->guc_nest);
}

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
