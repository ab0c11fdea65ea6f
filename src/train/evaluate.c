/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  mlops.evaluate (metrics of a version on any relation) and
 *	  mlops.explain (its coefficients or importances).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "algorithms/algorithm.h"
#include "train/metrics.h"
#include "registry/registry.h"
#include "train/load.h"
#include "core/relation.h"

PG_FUNCTION_INFO_V1(mlops_evaluate);
PG_FUNCTION_INFO_V1(mlops_explain);

/*
 * Load from relid the columns model needs (features, then the target when
 * target is not NULL), checking that they exist with compatible types.
 */
static MlopsTrainData *
LoadForModel(const MlopsModel *model, Oid relid, const char *target,
				  const char *what, int version, const char *project)
{
	List	   *names;
	List	   *types;
	List	   *cols = NIL;
	int			n = model->nfeatures + (target ? 1 : 0);
	MlopsLoadSpec *specs = palloc0(sizeof(MlopsLoadSpec) * n);
	char	   *relname = get_rel_name(relid);

	MlopsRelationColumns(relid, &names, &types);
	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];
		int			pos = MlopsNamePosition(names, f->name);
		MlopsFeatureKind kind;

		if (pos < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation \"%s\" has no column \"%s\"", relname, f->name),
					 errdetail("Version %d of project \"%s\" uses it as a feature (%s).",
							   version, project, f->type_name)));
		kind = MlopsKindForType(list_nth_oid(types, pos), f->name);
		if ((kind == MLOPS_KIND_CATEGORICAL) != (f->kind == MLOPS_KIND_CATEGORICAL))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model expects a %s feature (%s)",
							f->name, format_type_be(list_nth_oid(types, pos)),
							MlopsKindName(f->kind), f->type_name)));
		specs[i].name = f->name;
		specs[i].kind = kind;
		cols = lappend(cols, f->name);
	}
	if (target)
	{
		int			pos = MlopsNamePosition(names, target);
		MlopsFeatureKind kind;

		if (pos < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation \"%s\" has no target column \"%s\"", relname, target)));
		kind = MlopsKindForType(list_nth_oid(types, pos), target);
		if (model->task == MLOPS_TASK_REGRESSION && kind == MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" has type %s, but the model predicts numbers",
							target, format_type_be(list_nth_oid(types, pos)))));
		specs[n - 1].name = target;
		specs[n - 1].kind = model->task == MLOPS_TASK_REGRESSION ? MLOPS_KIND_NUMERIC
			: MLOPS_KIND_CATEGORICAL;
		cols = lappend(cols, (char *) target);
	}
	/* the silhouette's sample is chosen by content hash */
	return MlopsLoadQuery(MlopsSelectColumnsSQL(relid, cols), n, specs, what,
						  model->task == MLOPS_TASK_CLUSTERING ? MLOPS_LOAD_HASH : 0);
}

/* mlops.evaluate(project text, relation regclass, version int DEFAULT NULL) */
Datum
mlops_evaluate(PG_FUNCTION_ARGS)
{
	char	   *project_name;
	Oid			relid;
	int			version;
	MlopsProject *project;
	MlopsVersion *info;
	MlopsModel *model;
	MlopsTrainData *data;
	int		   *featcol;
	Jsonb	   *metrics;
	Jsonb	   *result;
	MemoryContext callercxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	version = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);

	SPI_connect();
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_TRAIN);
	project = MlopsGetProject(project_name, false);
	model = MlopsFetchModel(project_name, version, &info);
	data = LoadForModel(model, relid, project->target, "evaluation data",
							 info->version, project_name);
	if (data->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has no rows to evaluate on", get_rel_name(relid))));
	featcol = palloc(sizeof(int) * Max(model->nfeatures, 1));
	for (int i = 0; i < model->nfeatures; i++)
		featcol[i] = i;
	metrics = MlopsEvaluateData(model, data, featcol, project->target ? model->nfeatures : -1, NULL);
	result = MemoryContextAlloc(callercxt, VARSIZE(metrics));
	memcpy(result, metrics, VARSIZE(metrics));
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

static Datum
Float8OrNull(double v, bool *isnull)
{
	*isnull = isnan(v);
	return Float8GetDatum(v);
}

/* mlops.explain(project text, version int DEFAULT NULL) */
Datum
mlops_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *project_name;
	int			version;
	MlopsModel *model;
	MlopsExplainRow *rows;
	int			nrows;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	version = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_READ);
	model = MlopsFetchModel(project_name, version, NULL);
	nrows = model->algo->explain(model, &rows);
	for (int i = 0; i < nrows; i++)
	{
		Datum		values[10];
		bool		nulls[10] = {false, false, false, false, false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(rows[i].term);
		nulls[1] = rows[i].class_label == NULL;
		values[1] = nulls[1] ? (Datum) 0 : CStringGetTextDatum(rows[i].class_label);
		values[2] = Float8OrNull(rows[i].coefficient, &nulls[2]);
		values[3] = Float8OrNull(rows[i].std_error, &nulls[3]);
		values[4] = Float8OrNull(rows[i].statistic, &nulls[4]);
		values[5] = Float8OrNull(rows[i].p_value, &nulls[5]);
		values[6] = Float8OrNull(rows[i].importance, &nulls[6]);
		values[7] = Float8OrNull(rows[i].gain, &nulls[7]);
		values[8] = Float8OrNull(rows[i].cover, &nulls[8]);
		values[9] = Float8OrNull(rows[i].weight, &nulls[9]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
