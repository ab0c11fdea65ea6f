/*-------------------------------------------------------------------------
 *
 * train_int.h
 *	  Declarations shared by the training modules, not used elsewhere:
 *
 *	  train.c        the SQL entry points mlops.train and mlops.reproduce
 *	  pipeline.c     the training pipeline: load, split, preprocess, fit,
 *	                 measure
 *	  train_moments.c  its path through exact moments (linear and ridge on
 *	                 numeric and boolean features)
 *	  train_agg.c    the aggregates behind that path, for where the rows are
 *	  encode.c       the feature encodings and classes learned from the
 *	                 training rows
 *	  hyperparams.c  hyperparameters: checked, defaulted, recorded
 *	  search.c       hyperparameter search with k-fold cross-validation
 *	  record.c       registering a trained version, its search's trials
 *	                 (and deploying it)
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_INT_H
#define MLOPS_TRAIN_INT_H

#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "core/moments.h"
#include "model/model.h"
#include "registry/registry.h"
#include "snapshot/snapshot.h"
#include "train/load.h"

/* What to train */
typedef struct TrainSpec
{
	const char *project_name;
	MlopsProject *project;		/* NULL for a new project */
	Oid			relid;			/* source relation, or InvalidOid */
	const char *source_sql;		/* used when relid is invalid */
	const char *relation_text;	/* as recorded in the registry */
	char	   *target;			/* NULL only for clustering */
	Oid			target_typid;	/* InvalidOid when unknown (snapshot source) */
	MlopsTask	task;			/* 0 = infer */
	const char *algo_name;		/* NULL = default for the task */
	Jsonb	   *hyperparams;
	List	   *features;		/* feature names, in order */
	double		test_size;
	Jsonb	   *search;			/* search spec, NULL for none */
	Jsonb	   *tags;			/* caller's tags, NULL for none */
} TrainSpec;

/* One candidate of a hyperparameter search */
typedef struct TrainCandidate
{
	double	   *hyper;			/* in the algorithm's order */
	char	   *hyper_json;		/* as stored in mlops.trials */
	double	   *fold_metric;	/* key metric on each fold */
	double		mean;
	double		std;
	double		seconds;		/* fitting and scoring, all folds */
} TrainCandidate;

/* A hyperparameter search: its candidates and the one chosen */
typedef struct TrainSearch
{
	int			folds;
	int			ncand;
	TrainCandidate *cand;
	int			chosen;			/* index into cand */
} TrainSearch;

/* What training produced */
typedef struct TrainResult
{
	MlopsModel *model;
	bytea	   *bytes;
	Jsonb	   *metrics;
	const char *key_metric;
	double		key_value;
	char	   *features_json;
	char	   *hyper_json;
	int64		ntrain;
	int64		ntest;
	MlopsTrainData *data;
	bool	   *heldout;		/* the rows the metrics are computed on */
	List	   *colnames;		/* features then target, as loaded */
	Jsonb	   *baseline;
	MlopsSnapshotBuilder *snapshot;	/* first snapshot, fed by the load */
	TrainSearch *search;		/* NULL without search */
} TrainResult;

/* What mlops.train registers besides the training result */
typedef struct TrainRecord
{
	const char *deploy;			/* policy: if_better, always or never */
	const char *me;				/* the caller, who trains and deploys */
	Datum		me_name;		/* the same, as a name */
	int64		snapshot;		/* of the training rows, 0 when none */
	double		seconds;		/* how long training took */
	int			champ_version;	/* the production version, 0 when none */
	double		champ_score;	/* its key metric on the held-out rows, or NaN */
	int			version;		/* the version registered */
} TrainRecord;

/*
 * The state of one run of the training pipeline, shared by its phases
 * (pipeline.c, and train_moments.c for the moments path)
 */
typedef struct TrainState
{
	TrainSpec  *spec;
	TrainResult *res;			/* what the run produces */
	int			nf;				/* feature columns, loaded first */
	int			ncolumns;		/* nf, and the target's (column nf) if any */
	MlopsTask	task;			/* 0 until known */
	MlopsTrainData *data;		/* the loaded rows, in content-hash order */
	MlopsColumnData *tcol;		/* the target column, NULL for clustering */
	bool		int_target;		/* integer target: labels sort as numbers */
	MlopsModel *model;
	int			max_categories;
	bool	   *train;			/* per row: in the training split */
	bool	   *test;			/* per row: in the held-out split */
	int64	   *trainrow;		/* the training rows' positions */
	int64		ntrain;
	int64		ntest;
	int		   *class_of_code;	/* target code -> class, for classification */
	double	   *X;				/* training design matrix, column-major */
	double	   *y;				/* training targets, NULL without a target */
	TrainSearch *search;		/* the hyperparameter search, NULL for none */
	bool		moments;		/* fitted from exact moments (train_moments.c) */
	bool		pushdown;		/* ... added up by aggregate queries over the source */
} TrainState;

/* pipeline.c */
extern TrainResult *TrainPipeline(TrainSpec *spec);
extern double TrainChampionScore(const TrainResult *res, MlopsModel *champ,
								 const char *key_metric, int nf);

/* encode.c */
extern void TrainFitFeature(MlopsFeature *f, const MlopsColumnData *col,
							const int64 *trainrow, int64 ntrain, int max_categories);
extern int *TrainFitClasses(MlopsModel *model, const MlopsColumnData *tcol,
							const int64 *trainrow, int64 ntrain, bool int_target,
							const char *target);
extern char *TrainFeaturesJson(const MlopsModel *model);

/* train_moments.c */
extern bool TrainMomentsApplies(const TrainState *st);
extern void TrainFromMoments(TrainState *st);
extern Jsonb *TrainMomentsMetrics(const TrainState *st, bool on_test);

/* search.c */
extern TrainSearch *TrainSearchParse(Jsonb *spec, const MlopsModel *model);
extern int *TrainSearchFolds(const TrainSearch *s, const MlopsTrainData *data,
							 const int64 *trainrow, int64 ntrain);
extern void TrainSearchRunMoments(TrainSearch *s, MlopsModel *model, MlopsMoments **folds,
								  const double *impute, const char *key_metric,
								  int max_categories);
extern void TrainSearchRun(TrainSearch *s, MlopsModel *model, const MlopsTrainData *data,
						   int nf, const int64 *trainrow, int64 ntrain, const double *X,
						   const double *y, const char *key_metric, int max_categories);

/* record.c */
extern void TrainCheckPrivileges(const char *project, const char *deploy);
extern void TrainRegister(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec,
						  ReturnSetInfo *rsinfo);

#endif							/* MLOPS_TRAIN_INT_H */
