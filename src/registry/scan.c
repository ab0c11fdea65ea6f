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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "registry/registry.h"

/* Column numbers of mlops.model_versions, looked up by name once per scan */
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
		elog(ERROR, "column mlops.model_versions.%s is missing", name);
	return att;
}

/*
 * Find a version of a project as the active snapshot sees it: the one
 * numbered version when version > 0, else the production version.  On
 * success fills *found_version, a copy of the model's sha256 (32 bytes, in
 * sha) and, when model is not NULL, a detoasted copy of the model bytes.
 * Returns false when there is no such version (the caller says why).
 */
bool
MlopsScanVersion(const char *project, int version, int *found_version,
				 uint8 *sha, bytea **model)
{
	Relation	rel = table_open(MlopsRegistryRelid("model_versions"), AccessShareLock);
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

	/* the primary key is (project, version) */
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(project));
	if (version > 0)
	{
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(version));
		nkeys = 2;
	}
	scan = systable_beginscan(rel, MlopsRegistryRelid("model_versions_pkey"), true,
							  ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot(),
							  nkeys, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;
		bytea	   *digest;

		if (version == 0)
		{
			char	   *status = TextDatumGetCString(heap_getattr(tup, col.status, desc, &isnull));

			if (strcmp(status, "production") != 0)
				continue;
		}
		found = true;
		*found_version = DatumGetInt32(heap_getattr(tup, col.version, desc, &isnull));
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
	table_close(rel, AccessShareLock);
	return found;
}
