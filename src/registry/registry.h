/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  Reading and writing the model registry (registry.c): projects,
 *	  versions, deployments.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_REGISTRY_H
#define MLOPS_REGISTRY_H

#include "utils/jsonb.h"

#include "model/model.h"

typedef struct MlopsProject
{
	char	   *name;
	char	   *task;
	char	   *target;			/* NULL for clustering */
	char	   *key_metric;
	char	   *relation;
	Oid			owner;
} MlopsProject;

/* A stored version, as read from mlops.model_versions */
typedef struct MlopsVersion
{
	int			version;
	char	   *algorithm;
	char	   *status;
	bytea	   *model;
	Jsonb	   *metrics;
	Jsonb	   *hyperparams;
	int64		snapshot;		/* 0 when none */
	double		test_size;
} MlopsVersion;

/* Saved user identity while acting as the registry owner */
typedef struct MlopsUserSwitch
{
	Oid			saved_uid;
	int			saved_sec;
	int			guc_nest;		/* GUC nesting level of the safe search_path */
} MlopsUserSwitch;

extern Oid	MlopsRegistryOwner(void);
extern void MlopsBecomeRegistryOwner(MlopsUserSwitch *sw);
extern void MlopsRestoreUser(const MlopsUserSwitch *sw);

/* These run SPI queries: call them between SPI_connect and SPI_finish */
extern MlopsProject *MlopsGetProject(const char *name, bool missing_ok);
extern void MlopsCheckProjectWriter(const MlopsProject *project);
extern MlopsVersion *MlopsGetVersion(const char *project, int version, bool missing_ok);
extern MlopsVersion *MlopsGetVersionFresh(const char *project, int version, bool missing_ok);
extern MlopsModel *MlopsFetchModel(const char *project, int version, MlopsVersion **info);

/* How a statement run as the registry owner sees the data (owner_exec.c) */
typedef enum MlopsOwnerMode
{
	MLOPS_OWNER_WRITE,			/* may write; ordinary snapshot rules */
	MLOPS_OWNER_READ,			/* read-only, the calling statement's snapshot */
	MLOPS_OWNER_READ_LATEST		/* read-only, a new snapshot */
} MlopsOwnerMode;

/* Run one statement of ours as the registry owner; errors on SPI failure */
extern int	MlopsExecAsRegistryOwner(const char *sql, int nargs, Oid *types,
									 Datum *values, const char *nulls,
									 MlopsOwnerMode mode);

#endif							/* MLOPS_REGISTRY_H */
