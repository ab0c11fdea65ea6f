/*-------------------------------------------------------------------------
 *
 * version_baseline.h
 *	  A version's stored drift baseline and model, read as the registry
 *	  owner (version_baseline.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_DRIFT_VERSION_BASELINE_H
#define MLOPS_DRIFT_VERSION_BASELINE_H

#include "utils/jsonb.h"

/* A stored version, as far as drift needs it */
typedef struct MlopsDriftVersion
{
	int			version;
	Jsonb	   *baseline;		/* NULL: none stored */
	bytea	   *model;			/* NULL: none stored, or not asked for */
} MlopsDriftVersion;

/* Runs an SPI query: call it between SPI_connect and SPI_finish */
extern MlopsDriftVersion *MlopsDriftReadVersion(const char *project, int version,
												bool any_version, bool with_model,
												MemoryContext ctx);

#endif							/* MLOPS_DRIFT_VERSION_BASELINE_H */
