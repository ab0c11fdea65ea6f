/*-------------------------------------------------------------------------
 *
 * integrity.h
 *	  Checking model bytes against the sha256 the registry stored with
 *	  them (integrity.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_INTEGRITY_H
#define MLOPS_INTEGRITY_H

#include "common/sha2.h"

extern void MlopsVerifyModelBytes(const char *project, int version,
								  const bytea *bytes, const uint8 *sha256);

#endif							/* MLOPS_INTEGRITY_H */
