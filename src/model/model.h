/*-------------------------------------------------------------------------
 *
 * model.h
 *	  The in-memory model and its versioned binary format (model.c).
 *
 * A model is everything scoring needs: the task, the algorithm, the
 * preprocessing learned at training (features, imputation values,
 * vocabularies, standardisation), the classes, and the algorithm's
 * parameters as a flat array of doubles whose layout the algorithm defines.
 * docs/model-format.md describes the bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MODEL_H
#define MLOPS_MODEL_H

#include "lib/stringinfo.h"

#include "model/preprocess.h"

#define MLOPS_MODEL_MAGIC			"MLOPSMDL"
/*
 * Format 2 adds the algorithm's opaque bytes (blob) after the params.  A
 * model without a blob is still written as format 1, which older readers
 * understand.
 */
#define MLOPS_MODEL_FORMAT_VERSION	2

typedef enum MlopsTask
{
	MLOPS_TASK_REGRESSION = 1,
	MLOPS_TASK_CLASSIFICATION = 2,
	MLOPS_TASK_CLUSTERING = 3
} MlopsTask;

/* One input feature and how it maps onto design-matrix columns */
typedef struct MlopsFeature
{
	char	   *name;
	char	   *type_name;		/* SQL type at training, for messages and drift */
	MlopsFeatureKind kind;
	double		impute;			/* numeric/boolean: training mean, used for NULL */
	int			nvocab;			/* categorical: vocabulary size */
	char	  **vocab;			/* categorical: one column each, then "other" */
	int			offset;			/* first design column */
	int			width;			/* 1, or nvocab + 1 for categorical */
	/* built at load time, not stored: vocab indexes sorted by text */
	int		   *vocab_sorted;
} MlopsFeature;

struct MlopsAlgorithm;

typedef struct MlopsModel
{
	MlopsTask	task;
	uint16		algo_id;		/* stored in the bytes (see algorithm.h) */
	const struct MlopsAlgorithm *algo;	/* bound by the algorithms layer */
	int			nfeatures;
	MlopsFeature *features;
	int			ncols;			/* width of the design matrix */
	double	   *center;			/* ncols: subtracted before the algorithm sees x */
	double	   *scale;			/* ncols: divided after centering (1 = none) */
	int			nclasses;		/* classification: number of classes */
	char	  **classes;		/* class labels as text, sorted */
	int			nhyper;
	double	   *hyper;			/* hyperparameters, in the algorithm's order */
	int			nparams;
	double	   *params;			/* the algorithm's fitted parameters */
	uint64		seed;
	uint32		nblob;			/* length of blob; 0 = none */
	char	   *blob;			/* the algorithm's opaque bytes (format 2) */
	/* built at load time by the algorithm, not stored */
	void	   *compiled;
} MlopsModel;

/* model.c */
extern bytea *MlopsModelSerialize(const MlopsModel *model);
extern MlopsModel *MlopsModelDecode(const bytea *bytes);
extern void MlopsModelPrepare(MlopsModel *model);
extern int	MlopsModelOutputs(const MlopsModel *model);
extern void MlopsEncodeFeatureNumber(const MlopsFeature *f, double v, bool isnull, double *x);
extern int	MlopsVocabPosition(const MlopsFeature *f, const char *s);
extern void MlopsEncodeFeatureText(const MlopsFeature *f, const char *s, double *x);
extern const char *MlopsTaskName(MlopsTask task);
extern char *MlopsDesignColumnName(const MlopsModel *model, int col);

#endif							/* MLOPS_MODEL_H */
