/*-------------------------------------------------------------------------
 *
 * relation.c
 *	  Catalog helpers for the user relations we read: a relation's quoted
 *	  qualified name, its live columns and their types, a SELECT of some of
 *	  its columns.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "core/relation.h"

/* The schema-qualified, quoted name of a relation; ERROR when it is gone. */
char *
MlopsQualifiedRelname(Oid relid)
{
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));
	char	   *rel = get_rel_name(relid);

	if (nsp == NULL || rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(nsp, rel);
}

/*
 * SELECT of the named columns (a List of C strings) of a relation, with
 * every identifier quoted.
 */
char *
MlopsSelectColumnsSQL(Oid relid, List *colnames)
{
	StringInfoData buf;
	ListCell   *lc;
	char	   *relname = MlopsQualifiedRelname(relid);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	foreach(lc, colnames)
	{
		if (lc != list_head(colnames))
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier((char *) lfirst(lc)));
	}
	appendStringInfo(&buf, " FROM %s", relname);
	return buf.data;
}

/* Column names of a relation (not dropped), and their types */
void
MlopsRelationColumns(Oid relid, List **names, List **types)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	*names = NIL;
	*types = NIL;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		*names = lappend(*names, pstrdup(NameStr(att->attname)));
		*types = lappend_oid(*types, att->atttypid);
	}
	relation_close(rel, NoLock);
}

/* Position of name in a List of C strings, or -1 */
int
MlopsNamePosition(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return foreach_current_index(lc);
	return -1;
}

/*
 * Whether relid is a Citus table (distributed or reference: its rows live
 * on the workers).  Read from Citus's catalog pg_dist_partition, without
 * linking to Citus; false wherever Citus is not installed.
 */
bool
MlopsRelationIsDistributed(Oid relid)
{
	Oid			catalog;
	Relation	rel;
	AttrNumber	att;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	if (!OidIsValid(relid) || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return false;
	att = get_attnum(catalog, "logicalrelid");
	if (att == InvalidAttrNumber)
		return false;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, att, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
