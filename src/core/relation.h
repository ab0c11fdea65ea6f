/*-------------------------------------------------------------------------
 *
 * relation.h
 *	  Catalog helpers for user relations (core/relation.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CORE_RELATION_H
#define MLOPS_CORE_RELATION_H

#include "nodes/pg_list.h"

extern char *MlopsQualifiedRelname(Oid relid);
extern char *MlopsSelectColumnsSQL(Oid relid, List *colnames);
extern void MlopsRelationColumns(Oid relid, List **names, List **types);
extern int	MlopsNamePosition(List *names, const char *name);
extern bool MlopsRelationIsDistributed(Oid relid);

#endif							/* MLOPS_CORE_RELATION_H */
