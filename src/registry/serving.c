/*-------------------------------------------------------------------------
 *
 * serving.c
 *	  Where the models of a Citus worker come from: mlops.serving_models,
 *	  the reference table that mlops.citus_setup() creates and the registry's
 *	  triggers keep in step (src/sql/35_serving.sql).
 *
 * A worker has an empty registry of its own; the predict family falls back
 * to this table when the project is not in the local registry.  Citus keeps
 * a reference table's rows in a shard named after it plus a shard id
 * (serving_models_102008), beside an empty "shell" table of the plain name,
 * so the rows are read from the shard when there is one.  The relation is
 * looked up once per backend and forgotten on any relcache invalidation.
 *
 * Who may score is decided here as in access.c, by the role names the
 * table carries (OIDs differ between nodes): superusers, and roles with the
 * privileges of the owner or of a grantee of score.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "core/util.h"
#include "registry/registry.h"

PG_FUNCTION_INFO_V1(mlops_serving_invalidate);

#define SERVING_TABLE	"serving_models"

static Oid	serving_relid = InvalidOid;
static Oid	serving_shell = InvalidOid;
static bool serving_known = false;
static bool serving_callback = false;

/* Relcache callback: look again after a change of either relation */
static void
ServingForget(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == serving_relid || relid == serving_shell)
		serving_known = false;
}

/* true when name is SERVING_TABLE "_" digits: a Citus shard of it */
static bool
IsServingShardName(const char *name)
{
	size_t		len = strlen(SERVING_TABLE);

	if (strncmp(name, SERVING_TABLE "_", len + 1) != 0 || name[len + 1] == '\0')
		return false;
	for (const char *p = name + len + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/*
 * The relation holding the serving rows on this node, or InvalidOid when
 * mlops.citus_setup() never ran in this database.
 */
Oid
MlopsServingRelid(void)
{
	Oid			nsp;
	Oid			shell;
	Oid			shard = InvalidOid;
	Relation	pgclass;
	SysScanDesc scan;
	HeapTuple	tup;

	if (serving_known)
		return serving_relid;
	if (!serving_callback)
	{
		CacheRegisterRelcacheCallback(ServingForget, (Datum) 0);
		serving_callback = true;
	}
	nsp = MlopsSchemaOid();
	shell = get_relname_relid(SERVING_TABLE, nsp);
	if (OidIsValid(shell))
	{
		/* the schema's tables are few: a scan of pg_class by name is cheap */
		pgclass = table_open(RelationRelationId, AccessShareLock);
		scan = systable_beginscan(pgclass, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

			if (form->relnamespace == nsp && form->relkind == RELKIND_RELATION &&
				IsServingShardName(NameStr(form->relname)))
				shard = form->oid;
		}
		systable_endscan(scan);
		table_close(pgclass, AccessShareLock);
	}
	serving_relid = OidIsValid(shard) ? shard : shell;
	serving_shell = shell;
	/* a table created later is noticed by its creation's invalidation */
	serving_known = OidIsValid(shell);
	return serving_relid;
}

/*
 * ERROR unless the current user may score with a project whose serving row
 * lists scorers (the owner first); the messages are access.c's.
 */
void
MlopsServingCheckScore(const char *project, ArrayType *scorers)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;

	if (superuser())
		return;
	deconstruct_array(scorers, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		Oid			role;

		if (nulls[i])
			continue;
		role = get_role_oid(TextDatumGetCString(names[i]), true);
		if (OidIsValid(role) && has_privs_of_role(GetUserId(), role))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for project \"%s\"", project),
			 errdetail("This needs the score privilege on the project."),
			 errhint("The project's owner can give it with mlops.grant('%s', role, 'score').",
					 project)));
}

/*
 * mlops._serving_invalidate(): make every cached plan that calls the
 * predict family be planned again, in every backend of this node, once the
 * calling transaction commits.  Plans with tickets (predict.c) have their
 * version resolved in them, so a deploy, a rollback or a change of who may
 * score must reach them.  PostgreSQL's plan cache records the functions a
 * query calls; an invalidation of their pg_proc rows reaches every such
 * plan, whatever planner made it (Citus builds its final plan afresh, so a
 * dependency added to the plan itself would be lost).
 */
Datum
mlops_serving_invalidate(PG_FUNCTION_ARGS)
{
	static const char *const family[] = {
		"predict", "predict_proba", "predict_label", "_predict_columns"
	};
	Oid			nsp = MlopsSchemaOid();
	Relation	pgproc = table_open(ProcedureRelationId, AccessShareLock);

	for (int i = 0; i < (int) lengthof(family); i++)
	{
		CatCList   *list = SearchSysCacheList1(PROCNAMEARGSNSP,
											   CStringGetDatum(family[i]));

		for (int j = 0; j < list->n_members; j++)
		{
			HeapTuple	tup = &list->members[j]->tuple;

			if (((Form_pg_proc) GETSTRUCT(tup))->pronamespace == nsp)
				CacheInvalidateHeapTuple(pgproc, tup, NULL);
		}
		ReleaseSysCacheList(list);
	}
	table_close(pgproc, AccessShareLock);
	PG_RETURN_VOID();
}
