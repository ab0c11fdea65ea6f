/*-------------------------------------------------------------------------
 *
 * algorithm.h
 *	  The interface every training algorithm implements, and the table of
 *	  algorithms (algorithm.c).  Adding an algorithm is one new file
 *	  algo_<name>.c defining a const MlopsAlgorithm, plus one line in the
 *	  table in algorithm.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_ALGORITHM_H
#define MLOPS_ALGORITHM_H

#include "core/moments.h"
#include "model/model.h"

/* Tasks an algorithm supports, as a bit mask */
#define MLOPS_SUPPORTS(task)	(1u << (task))

/* A hyperparameter: every one is a number, validated against its range */
typedef struct MlopsHyperparam
{
	const char *name;
	double		defval;
	double		min;			/* inclusive */
	double		max;			/* inclusive */
	bool		integer;
	const char *doc;
} MlopsHyperparam;

/*
 * Training data as the algorithm sees it: the design matrix already encoded
 * and, when the algorithm asks for it, standardised (model->center/scale).
 */
typedef struct MlopsDesign
{
	int64		nrows;
	int			ncols;
	const double *X;			/* column-major: X[j * nrows + i] */
	const double *y;			/* regression: value; classification: class index */
	int			nclasses;
} MlopsDesign;

/* One row of mlops.explain() */
typedef struct MlopsExplainRow
{
	const char *term;			/* "intercept", a feature, or "feature=value" */
	const char *class_label;	/* NULL unless per-class */
	double		coefficient;	/* on the original scale of the encoded input */
	double		std_error;		/* NaN when not defined */
	double		statistic;		/* t or z; NaN when not defined */
	double		p_value;		/* NaN when not defined */
	double		importance;		/* NaN when not defined */
	/* trees: XGBoost's importances of the column; NaN for other models */
	double		gain;			/* mean gain of the splits on it */
	double		cover;			/* mean cover of the splits on it */
	double		weight;			/* number of splits on it */
} MlopsExplainRow;

typedef struct MlopsAlgorithm
{
	const char *name;
	uint16		id;				/* stored in the model bytes: never reuse one */
	uint32		tasks;			/* MLOPS_SUPPORTS(...) | ... */
	bool		standardize;	/* wants centred and scaled inputs */

	/*
	 * Learns where missing values go: the driver keeps NULLs of numeric and
	 * boolean features as NaN (impute value NaN) instead of the mean.
	 */
	bool		handles_missing;
	int			nhyper;
	const MlopsHyperparam *hyper;

	/*
	 * Fit on the training design.  Sets model->nparams and model->params
	 * (palloc'd in the current memory context).  Coefficients are kept on the
	 * standardised scale; predict() applies model->center/scale itself via
	 * the x it is given (already standardised by the caller).
	 */
	void		(*fit) (MlopsModel *model, const MlopsDesign *train);

	/*
	 * Optional: fit n models that differ only in their hyperparameters on
	 * the same design, sharing the work that does not depend on them (ridge:
	 * the design's moments, once for every alpha).  Each models[i] is set up
	 * as for fit().  A hyperparameter search uses it when set, fit() per
	 * candidate otherwise; the result must equal fit()'s.
	 */
	void		(*fit_many) (MlopsModel **models, int n, const MlopsDesign *train);

	/*
	 * Optional: fit n models that differ only in their hyperparameters from
	 * the exact moments of the training rows, missing values imputed
	 * (core/moments.h), instead of from the design matrix.  mlops.train
	 * takes this path when every feature is numeric or boolean: the model
	 * then depends on nothing but the exact moments, so neither on the
	 * order of the rows nor on where they were summed (parallel or Citus
	 * workers).  Each models[i] has its features, impute values, center and
	 * scale set.
	 */
	void		(*fit_moments) (MlopsModel **models, int n, const MlopsImputed *train);

	/*
	 * With fit_moments: the sum of squared errors of a fitted model over the
	 * rows whose moments are given, exact but for one rounding (to score a
	 * search's folds from their moments).
	 */
	double		(*sse_moments) (const MlopsModel *model, const MlopsImputed *rows);

	/*
	 * Predict one row; x is the standardised design row (ncols).  out gets
	 * one value for regression and clustering (prediction, cluster), or
	 * nclasses probabilities for classification.
	 */
	void		(*predict) (const MlopsModel *model, const double *x, double *out);

	/* Rows for mlops.explain(); returns the count, *rows palloc'd */
	int			(*explain) (const MlopsModel *model, MlopsExplainRow **rows);

	/*
	 * The number of fitted parameters of a model of this shape (ncols,
	 * nclasses, nfeatures): predict() and explain() index params by that
	 * layout, so the model reader refuses bytes that disagree.
	 */
	int64		(*nparams) (const MlopsModel *model);

	/*
	 * Optional: build model->compiled from the stored params after the
	 * bytes are decoded (the per-backend model cache keeps the result).
	 */
	void		(*load) (MlopsModel *model);

	/*
	 * Each design column's contribution to the prediction of one design
	 * row x (standardised like predict's), into contrib[nout * (ncols + 1)]:
	 * per output the ncols contributions, then the bias.  Per output they
	 * sum to the prediction in margin space: the value (regression), the
	 * log-odds of the last class (binary), or a class score whose softmax
	 * is predict_proba.  Returns nout: 1, or the scored classes, which are
	 * the last nout classes.
	 */
	int			(*contributions) (const MlopsModel *model, const double *x, double *contrib);

	/*
	 * Optional: the prediction of the library that trained the model
	 * (XGBoost), as predict() returns it; for tests of predict().
	 */
	void		(*reference_predict) (const MlopsModel *model, const double *x, double *out);

	/*
	 * Optional: whether this model's columns are standardised at training,
	 * when a hyperparameter decides it (standardize must then be true: a
	 * model that is not gets center 0 and scale 1).  NULL: standardize.
	 */
	bool		(*standardizes) (const MlopsModel *model);
} MlopsAlgorithm;

/* algorithm.c */
extern const MlopsAlgorithm *MlopsAlgorithmByName(const char *name, MlopsTask task);
extern const MlopsAlgorithm *MlopsAlgorithmById(uint16 id);
extern const char *MlopsDefaultAlgorithm(MlopsTask task);
extern MlopsModel *MlopsModelDeserialize(const bytea *bytes);
extern void MlopsModelSetAlgorithm(MlopsModel *model, const MlopsAlgorithm *algo);
extern bool MlopsModelStandardizes(const MlopsModel *model);
extern void MlopsModelPredictDesign(const MlopsModel *model, double *x, double *out);
extern int	MlopsModelContributions(const MlopsModel *model, double *x, double *contrib);
extern void MlopsModelReferencePredict(const MlopsModel *model, double *x, double *out);

/* The algorithms (one file each) */
extern const MlopsAlgorithm mlops_algo_linear;
extern const MlopsAlgorithm mlops_algo_ridge;
extern const MlopsAlgorithm mlops_algo_lasso;
extern const MlopsAlgorithm mlops_algo_elastic_net;
extern const MlopsAlgorithm mlops_algo_logistic;
extern const MlopsAlgorithm mlops_algo_naive_bayes;
extern const MlopsAlgorithm mlops_algo_gbt;
extern const MlopsAlgorithm mlops_algo_random_forest;
extern const MlopsAlgorithm mlops_algo_kmeans;

/* GUC mlops.training_threads (algo_trees.c), registered by _PG_init */
extern PGDLLIMPORT int mlops_training_threads;

#endif							/* MLOPS_ALGORITHM_H */
