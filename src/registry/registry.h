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

#include "utils/array.h"
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
	uint8		model_sha256[32];	/* as stored with the bytes */
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

/* Privileges on a project (access.c) */
#define MLOPS_PRIV_READ		0x01	/* see its registry rows */
#define MLOPS_PRIV_SCORE	0x02	/* the predict family */
#define MLOPS_PRIV_TRAIN	0x04	/* train, evaluate, check_drift, reproduce */
#define MLOPS_PRIV_DEPLOY	0x08	/* deploy, rollback, thresholds */
#define MLOPS_PRIV_ALL		0x0F
#define MLOPS_PRIV_OWNER	0x10	/* owns it: grant, revoke, reassign */

extern Oid	MlopsRegistryRelid(const char *name);
extern bool MlopsProjectOwner(const char *project, Oid *owner);
extern uint32 MlopsProjectPrivileges(const char *project, Oid roleid, bool *exists);
extern void MlopsCheckProjectPrivilege(const char *project, uint32 privilege);
extern void MlopsReportNoProject(const char *project) pg_attribute_noreturn();
extern void MlopsReportNoVersion(const char *project, int version) pg_attribute_noreturn();

/* Scoring's read of a version, without SPI (scan.c) */
extern bool MlopsScanVersion(const char *project, int version, int *found_version,
							 uint8 *sha, bytea **model);
extern bool MlopsServingScanVersion(const char *project, int version, bool fresh,
									int *found_version, uint8 *sha, bytea **model);

/* serving.c: the serving table of a Citus node */
extern Oid	MlopsServingRelid(void);
extern void MlopsServingCheckScore(const char *project, ArrayType *scorers);

/* These run SPI queries: call them between SPI_connect and SPI_finish */
extern MlopsProject *MlopsGetProject(const char *name, bool missing_ok);
extern MlopsVersion *MlopsGetVersion(const char *project, int version, bool missing_ok);
extern MlopsVersion *MlopsGetVersionFresh(const char *project, int version, bool missing_ok);
extern MlopsModel *MlopsFetchModel(const char *project, int version, MlopsVersion **info);
extern MlopsModel *MlopsVersionModel(const char *project, const MlopsVersion *v);

/* A new version, as MlopsInsertVersion records it (versions.c) */
typedef struct MlopsNewVersion
{
	const char *project;
	const char *algorithm;
	const char *hyperparams;	/* JSON text */
	const char *features;		/* JSON text */
	const char *target;
	int			nclasses;		/* 0: no classes column */
	char	  **classes;
	Jsonb	   *metrics;
	const char *relation;
	int64		snapshot;		/* 0 when none */
	int64		train_rows;
	int64		test_rows;
	double		test_size;
	double		training_seconds;
	const char *trained_by;		/* role name */
	Jsonb	   *baseline;		/* NULL when none */
	bytea	   *model;
	int			champion_version;	/* 0 when none */
	double		champion_score; /* NaN when unknown */
	Jsonb	   *search;			/* search spec, NULL when none */
	Jsonb	   *tags;			/* caller's tags, NULL when none */
} MlopsNewVersion;

/* versions.c: registry writes, as the registry owner, between SPI_connect and SPI_finish */
extern void MlopsLockProject(const char *project);
extern int	MlopsInsertVersion(const MlopsNewVersion *nv);

/* How a statement run as the registry owner sees the data (owner.c) */
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
