/*-------------------------------------------------------------------------
 *
 * mlops.h
 *	  Declarations shared by every part of the mlops extension: GUCs and
 *	  small helpers used across modules.
 *
 * Each concern has its own file under src/ and, where other modules call
 * into it, its own header: model.h (model format), preprocess.h (feature
 * encoding), algorithm.h (training algorithms), train.h (data loading and
 * the training driver), registry.h (registry writes), rowhash.h (content
 * hashing shared by training splits and snapshots), linalg.h (LAPACK/BLAS).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_H
#define MLOPS_H

#include "postgres.h"

#define MLOPS_EXTENSION_VERSION "0.1"

/* GUCs, defined in mlops.c */
extern bool mlops_scheduler_enabled;
extern int	mlops_naptime;
extern int	mlops_max_workers;
extern int	mlops_history_days;
extern char *mlops_database;
extern int	mlops_max_training_memory;	/* in kB */

/* true when loaded through shared_preload_libraries */
extern bool mlops_preloaded;

/* mlops.c */
extern Oid	MlopsSchemaOid(void);
extern Oid	MlopsRegistryOwner(void);
extern void MlopsCheckMemory(Size bytes, const char *what);

#endif							/* MLOPS_H */
