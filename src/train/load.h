/*-------------------------------------------------------------------------
 *
 * load.h
 *	  Loading a relation or query into column arrays in one pass (load.c):
 *	  what training, evaluation and drift checks read their rows with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LOAD_H
#define MLOPS_LOAD_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "model/preprocess.h"

/*
 * One loaded column.  Numeric and boolean columns become doubles (NaN marks
 * NULL); everything categorical becomes a code into code_text (-1 marks NULL).
 */
typedef struct MlopsColumnData
{
	char	   *name;
	Oid			typid;
	char	   *type_name;		/* format_type_be() of typid */
	MlopsFeatureKind kind;
	double	   *num;			/* nrows values, NaN = NULL (numeric, boolean) */
	int32	   *code;			/* nrows codes, -1 = NULL (categorical) */
	int			ncodes;			/* distinct non-NULL values seen */
	char	  **code_text;		/* ncodes texts, in order of first appearance */
	int64	   *code_count;		/* rows per code */
	int64		nnull;
} MlopsColumnData;

/*
 * A relation (or query) loaded in one pass.  After MlopsLoadQuery() the rows
 * are sorted by their content hash, so everything computed from them is
 * independent of the physical order of the source.
 */
typedef struct MlopsTrainData
{
	int64		nrows;
	int			ncolumns;
	MlopsColumnData *columns;
	uint64	   *rowhash;		/* nrows content hashes (ascending if sorted) */
	uint64		content_hash;	/* sum of rowhash, modulo 2^64 */
} MlopsTrainData;

/* How a column of the query should be read */
typedef struct MlopsLoadSpec
{
	const char *name;			/* column name, as in the query's output */
	MlopsFeatureKind kind;		/* 0 = decide from the type */
	bool		reject_nonfinite;	/* error on NaN / Infinity */
} MlopsLoadSpec;

/* MlopsLoadQuery flags */
#define MLOPS_LOAD_HASH		0x01	/* compute rowhash and content_hash */
#define MLOPS_LOAD_SORT		0x02	/* sort rows by rowhash (implies HASH) */

/* Receives each loaded row: its hash, and its values in spec order */
typedef void (*MlopsRowSink) (void *arg, uint64 rowhash,
							  const Datum *values, const bool *isnull);

/* load.c */
extern MlopsTrainData *MlopsLoadQuery(const char *sql, int nspecs,
									  const MlopsLoadSpec *specs,
									  const char *what, int flags);
extern MlopsTrainData *MlopsLoadQuerySink(const char *sql, int nspecs,
										  const MlopsLoadSpec *specs,
										  const char *what, int flags,
										  MlopsRowSink sink, void *sink_arg);
extern int	MlopsDataColumn(const MlopsTrainData *data, const char *name);
extern void MlopsCheckLoadEstimate(Oid relid, int ncolumns, const char *what);

#endif							/* MLOPS_LOAD_H */
