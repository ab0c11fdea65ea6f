/*-------------------------------------------------------------------------
 *
 * preprocess.h
 *	  Feature kinds and the encoding of SQL values into model inputs:
 *	  numbers and booleans as numbers, NULL imputed with the training mean,
 *	  categorical values one-hot over the training vocabulary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_PREPROCESS_H
#define MLOPS_PREPROCESS_H

#include "fmgr.h"

typedef enum MlopsFeatureKind
{
	MLOPS_KIND_AUTO = 0,
	MLOPS_KIND_NUMERIC = 1,
	MLOPS_KIND_BOOLEAN = 2,
	MLOPS_KIND_CATEGORICAL = 3
} MlopsFeatureKind;

/* Reads values of one column type as numbers or as text */
typedef struct MlopsValueReader
{
	Oid			typid;
	MlopsFeatureKind kind;
	bool		is_text;		/* text, varchar, bpchar, name: no output call */
	FmgrInfo	outfn;			/* other categorical types */
} MlopsValueReader;

extern MlopsFeatureKind MlopsTypeKind(Oid typid);
extern MlopsFeatureKind MlopsKindForType(Oid typid, const char *colname);
extern void MlopsValueReaderInit(MlopsValueReader *r, Oid typid, MlopsFeatureKind kind);
extern double MlopsReadNumber(const MlopsValueReader *r, Datum value);
extern char *MlopsReadText(MlopsValueReader *r, Datum value);
extern const char *MlopsKindName(MlopsFeatureKind kind);

#endif							/* MLOPS_PREPROCESS_H */
