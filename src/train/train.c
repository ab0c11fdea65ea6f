/*-------------------------------------------------------------------------
 *
 * train.c
 *	  mlops.train and mlops.reproduce: from a relation (or a snapshot) to a
 *	  registered, possibly deployed, model version.
 *
 * mlops.train checks its arguments and resolves the project, the target
 * and the features against the relation, runs the training pipeline
 * (pipeline.c), scores the production version (the champion) on the same
 * held-out rows, finishes the snapshot of the training rows, and registers
 * the new version (record.c).  mlops.reproduce runs the same pipeline on a
 * version's snapshot with its stored settings and compares the results.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "algorithms/algorithm.h"
#include "core/relation.h"
#include "core/util.h"
#include "train/train_int.h"

PG_FUNCTION_INFO_V1(mlops_train);
PG_FUNCTION_INFO_V1(mlops_reproduce);

/*
 * A project name as mlops.projects' CHECK accepts it: a letter or "_", then
 * letters, digits, "_", "." or "-", at most 63 in all.
 */
static bool
ValidProjectName(const char *name)
{
	size_t		len = strlen(name);

	return len > 0 && len < 64 &&
		(isalpha((unsigned char) name[0]) || name[0] == '_') &&
		strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

/* The task named s; ERROR for an unknown one */
static MlopsTask
ParseTask(const char *s)
{
	if (strcmp(s, "regression") == 0)
		return MLOPS_TASK_REGRESSION;
	if (strcmp(s, "classification") == 0)
		return MLOPS_TASK_CLASSIFICATION;
	if (strcmp(s, "clustering") == 0)
		return MLOPS_TASK_CLUSTERING;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown task \"%s\"", s),
			 errhint("Valid tasks are regression, classification and clustering.")));
	return 0;					/* keep compiler quiet */
}

/* Argument n as a C string, NULL for SQL NULL */
static char *
ArgText(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * ERROR unless tags is a JSON object whose values are all strings.
 */
static void
CheckTags(Jsonb *tags)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(tags) || JB_ROOT_IS_SCALAR(tags))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a JSON object of strings"),
				 errhint("For example: tags => '{\"commit\": \"4f2a9c1\", \"ticket\": \"ML-12\"}'.")));
	it = JsonbIteratorInit(&tags->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_VALUE && v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tags must be a JSON object of strings"),
					 errdetail("A tag's value is not a string."),
					 errhint("Quote numbers and booleans: {\"build\": \"42\"}.")));
	}
}

/*
 * Arguments: what mlops.train was asked, into spec (but the project, the
 * target and the features, resolved later), *task_arg and *deploy; ERROR
 * for a NULL project or relation and for a value out of range.
 */
static void
TrainArgs(FunctionCallInfo fcinfo, TrainSpec *spec, char **task_arg, const char **deploy)
{
	*task_arg = ArgText(fcinfo, 3);
	*deploy = PG_ARGISNULL(9) ? "if_better" : ArgText(fcinfo, 9);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	memset(spec, 0, sizeof(*spec));
	spec->project_name = ArgText(fcinfo, 0);
	spec->relid = PG_GETARG_OID(1);
	spec->target = ArgText(fcinfo, 2);
	spec->algo_name = ArgText(fcinfo, 4);
	spec->hyperparams = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);
	spec->test_size = PG_ARGISNULL(7) ? 0.25 : PG_GETARG_FLOAT8(7);
	if (!(spec->test_size > 0.0 && spec->test_size < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be between 0 and 1 (exclusive), not %g", spec->test_size)));
	spec->search = PG_ARGISNULL(8) ? NULL : PG_GETARG_JSONB_P(8);
	spec->tags = (PG_NARGS() > 10 && !PG_ARGISNULL(10)) ? PG_GETARG_JSONB_P(10) : NULL;
	if (spec->tags)
		CheckTags(spec->tags);
	if (strcmp(*deploy, "if_better") != 0 && strcmp(*deploy, "always") != 0 &&
		strcmp(*deploy, "never") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown deploy policy \"%s\"", *deploy),
				 errhint("Valid policies are if_better, always and never.")));
	if (*task_arg)
		spec->task = ParseTask(*task_arg);
}

/*
 * Resolve the project: an existing one fixes the task and the target (and
 * the caller must be allowed to train it); a new one needs a valid name.
 */
static void
TrainResolveProject(TrainSpec *spec, const char *task_arg, const char *deploy)
{
	spec->project = MlopsGetProject(spec->project_name, true);
	if (spec->project)
	{
		MlopsTask	ptask = ParseTask(spec->project->task);

		TrainCheckPrivileges(spec->project_name, deploy);
		if (spec->task != 0 && spec->task != ptask)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" is a %s project, not %s",
							spec->project_name, spec->project->task, task_arg)));
		spec->task = ptask;
		if (spec->target == NULL)
			spec->target = spec->project->target;
		else if (spec->project->target && strcmp(spec->target, spec->project->target) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("project \"%s\" predicts \"%s\", not \"%s\"",
							spec->project_name, spec->project->target, spec->target),
					 errhint("Use a new project name for a different target.")));
	}
	else if (!ValidProjectName(spec->project_name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid project name \"%s\"", spec->project_name),
				 errdetail("A project name starts with a letter or underscore and has at most 63 letters, digits, underscores, dots and dashes.")));
}

/* Resolve the target: a column of the relation, whose type is recorded. */
static void
TrainResolveTarget(TrainSpec *spec, List *relcols, List *reltypes)
{
	if (spec->task == MLOPS_TASK_CLUSTERING)
	{
		if (spec->target != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("clustering takes no target column"),
					 errhint("Leave target NULL; every other column is a feature unless features are given.")));
		return;
	}
	if (spec->target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a target column is required"),
				 errhint("Name the column to predict: mlops.train('%s', '%s', 'column').",
						 spec->project_name, spec->relation_text)));
	if (MlopsNamePosition(relcols, spec->target) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s", spec->target, spec->relation_text)));
	spec->target_typid = list_nth_oid(reltypes, MlopsNamePosition(relcols, spec->target));
}

/*
 * Resolve the features: the columns named in arr, or (arr NULL) every
 * column but the target; each must have a type that can be a feature.
 */
static void
TrainResolveFeatures(TrainSpec *spec, List *relcols, List *reltypes, ArrayType *arr)
{
	if (arr == NULL)
	{
		ListCell   *lc;

		foreach(lc, relcols)
			if (spec->target == NULL || strcmp(lfirst(lc), spec->target) != 0)
			{
				(void) MlopsKindForType(list_nth_oid(reltypes, foreach_current_index(lc)),
										lfirst(lc));
				spec->features = lappend(spec->features, lfirst(lc));
			}
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *name;
			int			pos;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature names must not be NULL")));
			name = TextDatumGetCString(elems[i]);
			pos = MlopsNamePosition(relcols, name);
			if (pos < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" does not exist in relation %s", name, spec->relation_text)));
			if (spec->target && strcmp(name, spec->target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the target column \"%s\" cannot also be a feature", name)));
			if (MlopsNamePosition(spec->features, name) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is listed twice", name)));
			(void) MlopsKindForType(list_nth_oid(reltypes, pos), name);
			spec->features = lappend(spec->features, name);
		}
	}
	if (spec->features == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no feature columns to train on"),
				 spec->target ?
				 errdetail("Relation %s has no column besides the target \"%s\".",
						   spec->relation_text, spec->target) :
				 errdetail("Relation %s has no columns.", spec->relation_text)));
}

/*
 * The champion: the production version of an existing project, scored on
 * the new held-out rows (its stored metric when it cannot be).
 */
static void
TrainScoreChampion(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec)
{
	MlopsVersion *champ_info = MlopsGetVersion(spec->project_name, 0, true);

	rec->champ_version = 0;
	rec->champ_score = NAN;
	if (spec->project && champ_info)
	{
		MlopsModel *champ = MlopsVersionModel(spec->project_name, champ_info);

		rec->champ_version = champ_info->version;
		rec->champ_score = TrainChampionScore(res, champ, res->key_metric, list_length(spec->features));
		if (isnan(rec->champ_score))
			rec->champ_score = MlopsJsonbGetFloat(champ_info->metrics, res->key_metric);
	}
}

/*
 * mlops.train(project, relation, target, task, algorithm, hyperparams,
 *			   features, test_size, search, deploy, tags)
 *	  RETURNS SETOF mlops.model_versions (one row)
 */
Datum
mlops_train(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz start = GetCurrentTimestamp();
	TrainSpec	spec;
	TrainResult *res;
	TrainRecord rec;
	char	   *task_arg;
	List	   *relcols;
	List	   *reltypes;
	long		secs;
	int			usecs;
	MemoryContext traincxt;
	MemoryContext oldcxt;

	memset(&rec, 0, sizeof(rec));
	TrainArgs(fcinfo, &spec, &task_arg, &rec.deploy);

	InitMaterializedSRF(fcinfo, 0);
	rec.me = GetUserNameFromId(GetUserId(), false);
	rec.me_name = DirectFunctionCall1(namein, CStringGetDatum(rec.me));

	traincxt = AllocSetContextCreate(CurrentMemoryContext, "mlops train", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(traincxt);

	SPI_connect();

	TrainResolveProject(&spec, task_arg, rec.deploy);
	spec.relation_text = MlopsQualifiedRelname(spec.relid);
	MlopsRelationColumns(spec.relid, &relcols, &reltypes);
	TrainResolveTarget(&spec, relcols, reltypes);
	TrainResolveFeatures(&spec, relcols, reltypes,
						 PG_ARGISNULL(6) ? NULL : PG_GETARG_ARRAYTYPE_P(6));

	/* a relation clearly too large for mlops.max_training_memory: refuse before reading */
	MlopsCheckLoadEstimate(spec.relid, list_length(spec.features) + 1, "training data");
	res = TrainPipeline(&spec);

	TrainScoreChampion(&spec, res, &rec);
	if (res->snapshot)
		rec.snapshot = MlopsSnapshotFinish(res->snapshot);
	else if (OidIsValid(spec.relid))
		rec.snapshot = MlopsSnapshotForTraining(spec.relid, res->colnames,
												res->data->content_hash, res->data->nrows);

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	rec.seconds = secs + usecs / 1e6;

	TrainRegister(&spec, res, &rec, rsinfo);
	SPI_finish();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(traincxt);
	return (Datum) 0;
}

/*
 * The feature names of a version, in order, from its registry row (not its
 * model bytes, so that damaged bytes can be reported).
 */
static List *
ReproduceFeatures(const char *project_name, int version)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	List	   *features = NIL;

	args[0] = CStringGetTextDatum(project_name);
	args[1] = Int32GetDatum(version);
	if (SPI_execute_with_args("SELECT f ->> 'name' FROM mlops.model_versions v, "
							  "jsonb_array_elements(v.features) WITH ORDINALITY AS e(f, n) "
							  "WHERE v.project = $1 AND v.version = $2 ORDER BY e.n",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the features of version %d", version);
	for (uint64 i = 0; i < SPI_processed; i++)
		features = lappend(features,
						   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return features;
}

/*
 * The search spec a version was trained with, or NULL for none: its
 * reproduction runs the same search (same folds, same draws).
 */
static Jsonb *
ReproduceSearch(const char *project_name, int version)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	bool		isnull;
	Datum		d;

	args[0] = CStringGetTextDatum(project_name);
	args[1] = Int32GetDatum(version);
	if (SPI_execute_with_args("SELECT search FROM mlops.model_versions "
							  "WHERE project = $1 AND version = $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the search of version %d", version);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/*
 * Compare the stored version v with its retrained result: values[0..4] of
 * mlops.reproduce's row (snapshot, same bytes, same metrics, both hashes).
 */
static void
ReproduceCompare(const MlopsVersion *v, const TrainResult *res, Datum *values)
{
	Oid			types[4] = {BYTEAOID, BYTEAOID, JSONBOID, JSONBOID};
	Datum		args[4];
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;

	args[0] = PointerGetDatum(v->model);
	args[1] = PointerGetDatum(res->bytes);
	args[2] = JsonbPGetDatum(v->metrics);
	args[3] = JsonbPGetDatum(res->metrics);
	if (SPI_execute_with_args("SELECT $1 = $2, ($3 - 'champion') = $4, sha256($1), sha256($2)",
							  4, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not compare models");
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	values[0] = Int64GetDatum(v->snapshot);
	values[1] = SPI_getbinval(row, desc, 1, &isnull);
	values[2] = SPI_getbinval(row, desc, 2, &isnull);
	values[3] = SPI_datumTransfer(SPI_getbinval(row, desc, 3, &isnull), false, -1);
	values[4] = SPI_datumTransfer(SPI_getbinval(row, desc, 4, &isnull), false, -1);
}

/*
 * mlops.reproduce(project, version): retrain a version from its snapshot,
 * stored hyperparameters and seed, never reading the live relation, and
 * compare model bytes and metrics with the stored ones.
 */
Datum
mlops_reproduce(PG_FUNCTION_ARGS)
{
	char	   *project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			version = PG_GETARG_INT32(1);
	TupleDesc	tupdesc;
	MlopsProject *project;
	MlopsVersion *v;
	TrainSpec	spec;
	TrainResult *res;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	HeapTuple	tuple;
	MemoryContext callercxt = CurrentMemoryContext;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SPI_connect();
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_TRAIN);
	project = MlopsGetProject(project_name, false);
	v = MlopsGetVersion(project_name, version, false);
	if (v->snapshot == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of project \"%s\" has no snapshot of its training data",
						version, project_name)));
	memset(&spec, 0, sizeof(spec));
	spec.project_name = project_name;
	spec.project = project;
	spec.relid = InvalidOid;
	spec.source_sql = MlopsSnapshotSelectSQL(v->snapshot);
	spec.relation_text = psprintf("snapshot %lld", (long long) v->snapshot);
	spec.target = project->target;
	spec.task = ParseTask(project->task);
	spec.algo_name = v->algorithm;
	spec.hyperparams = v->hyperparams;
	spec.test_size = v->test_size;
	spec.features = ReproduceFeatures(project_name, version);
	spec.search = ReproduceSearch(project_name, version);

	res = TrainPipeline(&spec);

	ReproduceCompare(v, res, values);
	{
		MemoryContext spicxt = MemoryContextSwitchTo(callercxt);

		values[5] = PointerGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(v->metrics)));
		values[6] = PointerGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(res->metrics)));
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();

	tuple = heap_form_tuple(tupdesc, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
