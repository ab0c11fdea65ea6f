/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Reading a model version for scoring by a direct index scan of
 *	  mlops.model_versions under the active snapshot.
 *
 * The predict family is PARALLEL SAFE and resolves its version inside
 * parallel workers too, where neither a role switch nor SPI's own GUC
 * handling is allowed, and it must read rows that row-level security hides
 * from a role holding only the score privilege.  A direct scan needs none
 * of that: the caller has checked the privilege (MlopsCheckProjectPrivilege)
 * and reads exactly the version the query's snapshot sees.
 *
 * On a Citus worker the same scan reads the serving table (serving.c),
 * whose rows carry the names of the roles that may score.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "registry/registry.h"

/* Column numbers of a versions relation, looked up by name once per scan */
typedef struct VersionColumns
{
	AttrNumber	version;
	AttrNumber	status;
	AttrNumber	model;
	AttrNumber	sha;
} VersionColumns;

static AttrNumber
ColumnOf(Relation rel, const char *name)
{
	AttrNumber	att = get_attnum(RelationGetRelid(rel), name);

	if (att == InvalidAttrNumber)
		elog(ERROR, "column %s.%s is missing", RelationGetRelationName(rel), name);
	return att;
}

/*
 * Find a version of a project in rel (mlops.model_versions or the serving
 * table, which share these columns) through its primary-key index
 * (project, version) with snap: the one numbered version when version > 0,
 * else the production version.  On success fills *found_version, a copy of
 * the model's sha256 (32 bytes, in sha) and, when model is not NULL, a
 * detoasted copy of the model bytes.  When scorers is not NULL, the first
 * row of the project has its scorers checked (MlopsServingCheckScore) before
 * anything about its versions is looked at; *project_seen tells whether
 * the project has any row at all.
 */
static bool
ScanVersionIn(Relation rel, Oid indexid, Snapshot snap, const char *project,
			  int version, int *found_version, uint8 *sha, bytea **model,
			  AttrNumber scorers, bool *project_seen)
{
	TupleDesc	desc = RelationGetDescr(rel);
	VersionColumns col;
	ScanKeyData key[2];
	int			nkeys = 1;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	col.version = ColumnOf(rel, "version");
	col.status = ColumnOf(rel, "status");
	col.model = ColumnOf(rel, "model");
	col.sha = ColumnOf(rel, "model_sha256");
	if (project_seen)
		*project_seen = false;

	/* the primary key is (project, version); the checks need the project's first row */
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(project));
	if (version > 0 && scorers == InvalidAttrNumber)
	{
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(version));
		nkeys = 2;
	}
	scan = systable_beginscan(rel, indexid, true, snap, nkeys, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;
		bytea	   *digest;

		if (project_seen && !*project_seen)
		{
			*project_seen = true;
			d = heap_getattr(tup, scorers, desc, &isnull);
			if (isnull)
				elog(ERROR, "serving row of project \"%s\" has no scorers", project);
			MlopsServingCheckScore(project, DatumGetArrayTypeP(d));
		}
		*found_version = DatumGetInt32(heap_getattr(tup, col.version, desc, &isnull));
		if (version > 0 && *found_version != version)
			continue;
		if (version == 0)
		{
			char	   *status = TextDatumGetCString(heap_getattr(tup, col.status, desc, &isnull));

			if (strcmp(status, "production") != 0)
				continue;
		}
		found = true;
		d = heap_getattr(tup, col.sha, desc, &isnull);
		digest = DatumGetByteaPP(d);
		if (isnull || VARSIZE_ANY_EXHDR(digest) != 32)
			elog(ERROR, "model_sha256 of version %d of project \"%s\" is not 32 bytes",
				 *found_version, project);
		memcpy(sha, VARDATA_ANY(digest), 32);
		if (model)
			*model = DatumGetByteaPCopy(heap_getattr(tup, col.model, desc, &isnull));
	}
	systable_endscan(scan);
	return found;
}

/*
 * Find a version of a project in the registry as the active snapshot sees
 * it (see ScanVersionIn).  Returns false when there is no such version
 * (the caller says why).
 */
bool
MlopsScanVersion(const char *project, int version, int *found_version,
				 uint8 *sha, bytea **model)
{
	Relation	rel = table_open(MlopsRegistryRelid("model_versions"), AccessShareLock);
	bool		found;

	found = ScanVersionIn(rel, MlopsRegistryRelid("model_versions_pkey"),
						  ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot(),
						  project, version, found_version, sha, model,
						  InvalidAttrNumber, NULL);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Find a version of a project in the serving table of a Citus node
 * (serving.c), after checking that the current user may score with it.
 * With fresh, reads with the latest snapshot (a version committed on the
 * coordinator after this statement began may have just arrived), else with
 * the active one.  Returns false when there is no such version; ERROR when
 * the project is not there at all.
 */
bool
MlopsServingScanVersion(const char *project, int version, bool fresh,
						int *found_version, uint8 *sha, bytea **model)
{
	Relation	rel = table_open(MlopsServingRelid(), AccessShareLock);
	Snapshot	snap;
	bool		seen;
	bool		found;

	if (fresh && !IsInParallelMode())
		snap = RegisterSnapshot(GetLatestSnapshot());
	else
		snap = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	found = ScanVersionIn(rel, RelationGetPrimaryKeyIndex(rel), snap, project, version,
						  found_version, sha, model, ColumnOf(rel, "scorers"), &seen);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	if (!seen)
		MlopsReportNoProject(project);
	return found;
}
