/*-------------------------------------------------------------------------
 *
 * access.c
 *	  Who may do what with a project: its owner (a role, by OID), the
 *	  privileges its owner granted (mlops.project_grants), superusers.
 *
 * One rule, used by every C entry point and, through
 * mlops.has_project_privilege, by the row-level security policies on the
 * registry tables (src/sql/01_access.sql):
 *
 *	- superusers and members of the owning role hold every privilege, and
 *	  are the project's owners;
 *	- a role holds a granted privilege when it has the privileges of the
 *	  grantee (has_privs_of_role, as for PostgreSQL's own objects);
 *	- train and deploy imply read.
 *
 * The project row and its grants are read by direct index scans: no SPI, no role switch and no row-level security in the
 * way, so the check is cheap enough for a policy evaluated per row and
 * safe in a parallel worker (the predict family is PARALLEL SAFE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "core/util.h"
#include "registry/registry.h"

PG_FUNCTION_INFO_V1(mlops_has_project_privilege);
PG_FUNCTION_INFO_V1(mlops_grant);
PG_FUNCTION_INFO_V1(mlops_revoke);
PG_FUNCTION_INFO_V1(mlops_reassign_owner);

/* The privileges by name, in the order the documentation lists them */
static const struct
{
	const char *name;
	uint32		bit;
}			privilege_names[] =
{
	{"read", MLOPS_PRIV_READ},
	{"score", MLOPS_PRIV_SCORE},
	{"train", MLOPS_PRIV_TRAIN},
	{"deploy", MLOPS_PRIV_DEPLOY},
};

#define NPRIVILEGES ((int) lengthof(privilege_names))

/*
 * The bit of a privilege name; "owner" only where allow_owner (it can be
 * asked about, not granted).  ERROR for anything else.
 */
static uint32
PrivilegeFromName(const char *name, bool allow_owner)
{
	for (int i = 0; i < NPRIVILEGES; i++)
		if (strcmp(name, privilege_names[i].name) == 0)
			return privilege_names[i].bit;
	if (allow_owner && strcmp(name, "owner") == 0)
		return MLOPS_PRIV_OWNER;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized project privilege \"%s\"", name),
			 errhint(allow_owner
					 ? "Valid privileges are read, score, train, deploy and owner."
					 : "Valid privileges are read, score, train and deploy.")));
	return 0;					/* keep compiler quiet */
}

/* The name of a single privilege bit, for messages */
static const char *
PrivilegeName(uint32 bit)
{
	for (int i = 0; i < NPRIVILEGES; i++)
		if (privilege_names[i].bit == bit)
			return privilege_names[i].name;
	return "owner";
}

/* OID of a relation of schema mlops; ERROR when the extension is broken */
Oid
MlopsRegistryRelid(const char *name)
{
	Oid			relid = get_relname_relid(name, MlopsSchemaOid());

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"mlops.%s\" does not exist", name),
				 errhint("The mlops extension is damaged: drop and create it again.")));
	return relid;
}

/*
 * The snapshot privileges are read with: a fresh one, so that a grant,
 * revoke or new project is seen at once (our own transaction's writes
 * included, such as the project row training has just inserted).  In
 * parallel mode no new snapshot may be taken; the statement's is used.
 * Callers register it for the length of their scan: the latest snapshot
 * is a static that the next GetLatestSnapshot() overwrites.
 */
static Snapshot
RegistrySnapshot(void)
{
	if (IsInParallelMode())
		return GetActiveSnapshot();
	return GetLatestSnapshot();
}

/*
 * The owner of a project, read from mlops.projects by its primary key.
 * false when there is no such project (as of the active snapshot).
 */
bool
MlopsProjectOwner(const char *project, Oid *owner)
{
	Relation	rel = table_open(MlopsRegistryRelid("projects"), AccessShareLock);
	AttrNumber	owner_att = get_attnum(RelationGetRelid(rel), "owner");
	ScanKeyData key;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(project));
	snap = RegisterSnapshot(RegistrySnapshot());
	scan = systable_beginscan(rel, MlopsRegistryRelid("projects_pkey"), true,
							  snap, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, owner_att, RelationGetDescr(rel), &isnull);

		*owner = isnull ? InvalidOid : DatumGetObjectId(d);
		found = true;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/* The privileges roleid holds through the grants of a project */
static uint32
GrantedPrivileges(const char *project, Oid roleid)
{
	Relation	rel = table_open(MlopsRegistryRelid("project_grants"), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	grantee_att = get_attnum(RelationGetRelid(rel), "grantee");
	AttrNumber	privilege_att = get_attnum(RelationGetRelid(rel), "privilege");
	ScanKeyData key;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	uint32		privs = 0;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(project));
	snap = RegisterSnapshot(RegistrySnapshot());
	scan = systable_beginscan(rel, MlopsRegistryRelid("project_grants_pkey"), true,
							  snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Oid			grantee;
		char	   *privilege;

		grantee = DatumGetObjectId(heap_getattr(tup, grantee_att, desc, &isnull));
		if (isnull || !has_privs_of_role(roleid, grantee))
			continue;
		privilege = TextDatumGetCString(heap_getattr(tup, privilege_att, desc, &isnull));
		for (int i = 0; i < NPRIVILEGES; i++)
			if (strcmp(privilege, privilege_names[i].name) == 0)
				privs |= privilege_names[i].bit;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return privs;
}

/*
 * Every privilege roleid holds on a project (MLOPS_PRIV_* bits), or 0 when
 * there is no such project; *exists says which.
 */
uint32
MlopsProjectPrivileges(const char *project, Oid roleid, bool *exists)
{
	Oid			owner;
	uint32		privs;

	*exists = MlopsProjectOwner(project, &owner);
	if (!*exists)
		return 0;
	if (superuser_arg(roleid) ||
		(OidIsValid(owner) && has_privs_of_role(roleid, owner)))
		return MLOPS_PRIV_ALL | MLOPS_PRIV_OWNER;
	privs = GrantedPrivileges(project, roleid);
	if (privs & (MLOPS_PRIV_TRAIN | MLOPS_PRIV_DEPLOY))
		privs |= MLOPS_PRIV_READ;
	return privs;
}

/* The one error for a project that does not exist */
void
MlopsReportNoProject(const char *project)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("project \"%s\" does not exist", project),
			 errhint("Train a first model with mlops.train('%s', ...).", project)));
}

/*
 * The one error for a version that does not exist: version > 0 that one,
 * 0 the production version of an existing project
 */
void
MlopsReportNoVersion(const char *project, int version)
{
	if (version > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of project \"%s\" does not exist", version, project)));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("project \"%s\" has no deployed version", project),
			 errhint("Deploy one with mlops.deploy('%s', version), or pass a version.", project)));
}

/*
 * ERROR unless the current user holds privilege (one MLOPS_PRIV_* bit) on
 * the project; also when the project does not exist.
 */
void
MlopsCheckProjectPrivilege(const char *project, uint32 privilege)
{
	bool		exists;
	uint32		privs = MlopsProjectPrivileges(project, GetUserId(), &exists);

	if (!exists)
		MlopsReportNoProject(project);
	if ((privs & privilege) == privilege)
		return;
	if (privilege == MLOPS_PRIV_OWNER)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for project \"%s\"", project),
				 errdetail("Only the project's owner, members of its role and superusers may do this.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for project \"%s\"", project),
			 errdetail("This needs the %s privilege on the project.", PrivilegeName(privilege)),
			 errhint("The project's owner can give it with mlops.grant('%s', role, '%s').",
					 project, PrivilegeName(privilege))));
}

/*
 * mlops.has_project_privilege(project, privilege): the check of the current
 * role, for users and for the registry's row-level security policies.
 */
Datum
mlops_has_project_privilege(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint32		wanted = PrivilegeFromName(text_to_cstring(PG_GETARG_TEXT_PP(1)), true);
	bool		exists;

	PG_RETURN_BOOL((MlopsProjectPrivileges(project, GetUserId(), &exists) & wanted) == wanted);
}

/* Run one registry write as the registry owner; returns the rows it processed */
static uint64
ExecAsOwner(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	uint64		processed;
	int			ret;

	SPI_connect();
	ret = MlopsExecAsRegistryOwner(sql, nargs, types, values, NULL, MLOPS_OWNER_WRITE);
	if (ret != expected)
		elog(ERROR, "mlops: SPI returned %d for \"%s\"", ret, sql);
	processed = SPI_processed;
	SPI_finish();
	return processed;
}

/* ERROR unless role names a role that exists (a regrole may hold any OID) */
static void
CheckRoleExists(Oid role)
{
	if (GetUserNameFromId(role, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
}

/*
 * Delete the grants held by roles that were dropped.  DROP ROLE cannot be
 * hooked, so they are collected whenever grants change: an OID that the
 * system later gives to a new role must not come with them.
 */
static void
ForgetDroppedGrantees(void)
{
	(void) ExecAsOwner("DELETE FROM mlops.project_grants g WHERE NOT EXISTS "
					   "(SELECT 1 FROM pg_catalog.pg_authid a WHERE a.oid OPERATOR(pg_catalog.=) g.grantee)",
					   0, NULL, NULL, SPI_OK_DELETE);
}

/* mlops.grant(project, role, privilege) */
Datum
mlops_grant(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			grantee = PG_GETARG_OID(1);
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Oid			types[4] = {TEXTOID, OIDOID, TEXTOID, NAMEOID};
	Datum		values[4];

	(void) PrivilegeFromName(privilege, false);
	CheckRoleExists(grantee);
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_OWNER);
	ForgetDroppedGrantees();
	values[0] = CStringGetTextDatum(project);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = CStringGetTextDatum(privilege);
	values[3] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	(void) ExecAsOwner("INSERT INTO mlops.project_grants (project, grantee, privilege, granted_by) "
					   "VALUES ($1, $2, $3, $4) "
					   "ON CONFLICT (project, grantee, privilege) DO NOTHING",
					   4, types, values, SPI_OK_INSERT);
	PG_RETURN_VOID();
}

/* mlops.revoke(project, role, privilege); a notice when there was nothing */
Datum
mlops_revoke(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			grantee = PG_GETARG_OID(1);
	char	   *privilege = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *grantee_name = GetUserNameFromId(grantee, true);
	Oid			types[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];

	(void) PrivilegeFromName(privilege, false);
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_OWNER);
	ForgetDroppedGrantees();
	values[0] = CStringGetTextDatum(project);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = CStringGetTextDatum(privilege);
	if (ExecAsOwner("DELETE FROM mlops.project_grants "
					"WHERE project = $1 AND grantee = $2 AND privilege = $3",
					3, types, values, SPI_OK_DELETE) == 0)
		ereport(NOTICE,
				(errmsg("role \"%s\" holds no %s privilege on project \"%s\"",
						grantee_name ? grantee_name : "?", privilege, project)));
	PG_RETURN_VOID();
}

/*
 * mlops.reassign_owner(project, new_owner).  As for ALTER ... OWNER TO, a
 * role that is not a superuser must own the project and be able to act as
 * the new owner: nobody is handed a project they could not have created.
 */
Datum
mlops_reassign_owner(PG_FUNCTION_ARGS)
{
	char	   *project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			new_owner = PG_GETARG_OID(1);
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];

	CheckRoleExists(new_owner);
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_OWNER);
	if (!superuser() && !has_privs_of_role(GetUserId(), new_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to give project \"%s\" to role \"%s\"",
						project, GetUserNameFromId(new_owner, false)),
				 errdetail("Only superusers and members of the new owner's role may give it a project.")));
	values[0] = CStringGetTextDatum(project);
	values[1] = ObjectIdGetDatum(new_owner);
	/* the project row lock serialises this with trains and deploys */
	(void) ExecAsOwner("UPDATE mlops.projects SET owner = $2 WHERE name = $1",
					   2, types, values, SPI_OK_UPDATE);
	PG_RETURN_VOID();
}
