/*-------------------------------------------------------------------------
 *
 * algorithm.c
 *	  The table of training algorithms and the lookups the training driver,
 *	  the model reader and explain() make in it: by name for a task, by the
 *	  id stored in model bytes, the default per task, and the names of the
 *	  design-matrix columns that explain() reports.
 *
 * Ids are written into every serialised model, so an id is never reused
 * nor renumbered: 1 linear, 2 ridge, 3 lasso, 4 elastic_net, 5 logistic,
 * 6 naive_bayes, 7 gbt, 8 random_forest, 9 kmeans.  The next algorithm
 * takes 10.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "algorithms/algorithm.h"

static const MlopsAlgorithm *const mlops_algorithms[] = {
	&mlops_algo_linear,
	&mlops_algo_ridge,
	&mlops_algo_lasso,
	&mlops_algo_elastic_net,
	&mlops_algo_logistic,
	&mlops_algo_naive_bayes,
	&mlops_algo_gbt,
	&mlops_algo_random_forest,
	&mlops_algo_kmeans,
};

#define MLOPS_NALGORITHMS	((int) lengthof(mlops_algorithms))

/* "a, b, c": the algorithms that support task, for error hints */
static char *
AlgorithmListForTask(MlopsTask task)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < MLOPS_NALGORITHMS; i++)
	{
		if (!(mlops_algorithms[i]->tasks & MLOPS_SUPPORTS(task)))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, mlops_algorithms[i]->name);
	}
	return buf.data;
}

/*
 * The algorithm called name (case-insensitively) that supports task.  An
 * unknown name, or one that does not do this task, is the user's error:
 * the hint lists what would have worked.
 */
const MlopsAlgorithm *
MlopsAlgorithmByName(const char *name, MlopsTask task)
{
	const MlopsAlgorithm *found = NULL;
	char	   *valid;

	for (int i = 0; i < MLOPS_NALGORITHMS; i++)
	{
		if (pg_strcasecmp(mlops_algorithms[i]->name, name) == 0)
		{
			found = mlops_algorithms[i];
			break;
		}
	}
	if (found && (found->tasks & MLOPS_SUPPORTS(task)))
		return found;

	valid = AlgorithmListForTask(task);
	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("algorithm \"%s\" does not support %s",
						found->name, MlopsTaskName(task)),
				 valid[0] ?
				 errhint("Valid algorithms for %s are: %s.",
						 MlopsTaskName(task), valid) :
				 errhint("No algorithm supports %s yet.",
						 MlopsTaskName(task))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown algorithm \"%s\"", name),
			 valid[0] ?
			 errhint("Valid algorithms for %s are: %s.",
					 MlopsTaskName(task), valid) :
			 errhint("No algorithm supports %s yet.",
					 MlopsTaskName(task))));
	return NULL;				/* keep compiler quiet */
}

/*
 * The algorithm with this id, as stored in model bytes.  An unknown id
 * means the model was written by a newer release (or is corrupt).
 */
const MlopsAlgorithm *
MlopsAlgorithmById(uint16 id)
{
	for (int i = 0; i < MLOPS_NALGORITHMS; i++)
		if (mlops_algorithms[i]->id == id)
			return mlops_algorithms[i];
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model uses unknown algorithm id %u", (unsigned) id),
			 errhint("The model may have been trained by a newer version of mlops.")));
	return NULL;				/* keep compiler quiet */
}

/* The algorithm used when the caller names none */
const char *
MlopsDefaultAlgorithm(MlopsTask task)
{
	switch (task)
	{
		case MLOPS_TASK_REGRESSION:
			return "linear";
		case MLOPS_TASK_CLASSIFICATION:
			return "logistic";
		case MLOPS_TASK_CLUSTERING:
			return "kmeans";
	}
	elog(ERROR, "unrecognized task %d", (int) task);
	return NULL;				/* keep compiler quiet */
}

/*
 * Check what the layout alone does not: that the parts of a decoded model
 * fit together the way predict() and explain() index them.  Bytes with a
 * valid checksum can still be wrong (written by hand, or by a faulty
 * writer); scoring must refuse them rather than read past an array.
 */
static void
CheckModelShape(const MlopsModel *model)
{
	const MlopsAlgorithm *algo = model->algo;
	int64		nparams;

	if (!(algo->tasks & MLOPS_SUPPORTS(model->task)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: algorithm \"%s\" does not do %s",
						algo->name, MlopsTaskName(model->task))));
	if (model->task == MLOPS_TASK_CLASSIFICATION ? model->nclasses < 2 : model->nclasses != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: a %s model with %d classes",
						MlopsTaskName(model->task), model->nclasses)));
	for (int i = 0; i < model->nfeatures; i++)
		if (model->features[i].kind != MLOPS_KIND_CATEGORICAL && model->features[i].nvocab != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model bytes are corrupted: feature %d is not categorical but has a vocabulary",
							i + 1)));
	if (model->nhyper != algo->nhyper)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: %d hyperparameters, algorithm \"%s\" has %d",
						model->nhyper, algo->name, algo->nhyper)));
	nparams = algo->nparams(model);
	if (model->nparams != nparams)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: %d parameters where this %s model has %lld",
						model->nparams, algo->name, (long long) nparams)));
}

/*
 * Decode model bytes (model.c), bind the algorithm their id names and
 * check that the parts fit that algorithm: the model format knows
 * algorithms only by id, this table knows what they do.
 */
MlopsModel *
MlopsModelDeserialize(const bytea *bytes)
{
	MlopsModel *model = MlopsModelDecode(bytes);

	model->algo = MlopsAlgorithmById(model->algo_id);
	CheckModelShape(model);
	if (model->algo->load)
		model->algo->load(model);
	return model;
}

/* Give a model being trained its algorithm, and the id its bytes will carry */
void
MlopsModelSetAlgorithm(MlopsModel *model, const MlopsAlgorithm *algo)
{
	model->algo = algo;
	model->algo_id = algo->id;
}

/*
 * Whether the training driver standardises the design for this model:
 * the algorithm's flag, or its hyperparameter when it has one.
 */
bool
MlopsModelStandardizes(const MlopsModel *model)
{
	if (!model->algo->standardize)
		return false;
	return model->algo->standardizes ? model->algo->standardizes(model) : true;
}

/*
 * Predict from an encoded design row.  x is standardised in place when the
 * algorithm wants it, so the caller must not reuse it.
 */
void
MlopsModelPredictDesign(const MlopsModel *model, double *x, double *out)
{
	if (model->algo->standardize)
		for (int j = 0; j < model->ncols; j++)
			x[j] = (x[j] - model->center[j]) / model->scale[j];
	model->algo->predict(model, x, out);
}

/*
 * Contributions of each design column to the prediction of an encoded
 * design row (see MlopsAlgorithm.contributions); contrib must hold
 * MlopsModelOutputs(model) * (ncols + 1) values.  x is standardised in
 * place as for MlopsModelPredictDesign.  Returns the number of outputs.
 */
int
MlopsModelContributions(const MlopsModel *model, double *x, double *contrib)
{
	if (model->algo->standardize)
		for (int j = 0; j < model->ncols; j++)
			x[j] = (x[j] - model->center[j]) / model->scale[j];
	return model->algo->contributions(model, x, contrib);
}

/*
 * The prediction of the library that trained the model, for comparison
 * with MlopsModelPredictDesign; an error for models that have none.
 */
void
MlopsModelReferencePredict(const MlopsModel *model, double *x, double *out)
{
	if (model->algo->reference_predict == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("algorithm \"%s\" has no reference implementation", model->algo->name)));
	if (model->algo->standardize)
		for (int j = 0; j < model->ncols; j++)
			x[j] = (x[j] - model->center[j]) / model->scale[j];
	model->algo->reference_predict(model, x, out);
}
