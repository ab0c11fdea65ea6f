/*-------------------------------------------------------------------------
 *
 * util.h
 *	  Helpers every subsystem may use (core/util.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_CORE_UTIL_H
#define MLOPS_CORE_UTIL_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* the extension version recorded on every model version */
#define MLOPS_EXTENSION_VERSION "0.1"

extern PGDLLIMPORT int mlops_max_training_memory;	/* kB */

extern void MlopsExecOrError(const char *sql, int nargs, Oid *argtypes,
							 Datum *values, const char *nulls, int expected);
extern Oid	MlopsSchemaOid(void);
extern void MlopsCheckMemory(Size bytes, const char *what);
extern void MlopsSortDoubles(double *values, size_t n);
extern void MlopsAppendJsonDouble(StringInfo buf, double v);
extern double MlopsJsonbGetFloat(Jsonb *j, const char *key);

#endif							/* MLOPS_CORE_UTIL_H */
