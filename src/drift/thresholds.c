/*-------------------------------------------------------------------------
 *
 * thresholds.c
 *	  The thresholds of the drift verdict: their documented defaults, the
 *	  validation of overrides, a project's overrides as stored in
 *	  mlops.projects.drift_thresholds, and the SQL functions that set and
 *	  show them (mlops.set_drift_thresholds, mlops.drift_thresholds).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core/util.h"
#include "registry/registry.h"
#include "drift/thresholds.h"

PG_FUNCTION_INFO_V1(mlops_set_drift_thresholds);
PG_FUNCTION_INFO_V1(mlops_drift_thresholds);

/* A threshold: its key, its field, its default and its upper bound */
typedef struct ThresholdDef
{
	const char *name;
	size_t		offset;
	double		defval;
	double		max;			/* inclusive; all are >= 0 */
} ThresholdDef;

static const ThresholdDef threshold_defs[] = {
	{"psi_warning", offsetof(MlopsDriftThresholds, psi_warning), 0.1, 100.0},
	{"psi_drift", offsetof(MlopsDriftThresholds, psi_drift), 0.25, 100.0},
	{"ks_statistic", offsetof(MlopsDriftThresholds, ks_statistic), 0.1, 1.0},
	{"p_value", offsetof(MlopsDriftThresholds, p_value), 0.05, 1.0},
	{"linf", offsetof(MlopsDriftThresholds, linf), 0.1, 1.0},
	{"unseen_share", offsetof(MlopsDriftThresholds, unseen_share), 0.1, 1.0},
	{"null_share", offsetof(MlopsDriftThresholds, null_share), 0.1, 1.0},
	{"drift_share", offsetof(MlopsDriftThresholds, drift_share), 0.5, 1.0},
	{"metric_drop", offsetof(MlopsDriftThresholds, metric_drop), 0.05, 1e6},
};
#define NTHRESHOLDS lengthof(threshold_defs)

#define THRESHOLD(t, i) (*(double *) ((char *) (t) + threshold_defs[i].offset))

/* The documented defaults */
void
MlopsDriftThresholdsDefault(MlopsDriftThresholds *t)
{
	for (int i = 0; i < (int) NTHRESHOLDS; i++)
		THRESHOLD(t, i) = threshold_defs[i].defval;
}

/* Names of the thresholds, for error messages */
static char *
ThresholdNames(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) NTHRESHOLDS; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", threshold_defs[i].name);
	return buf.data;
}

/*
 * Apply a jsonb object of overrides (NULL = none) to t, validating every key
 * and value: unknown keys, non-numbers and values out of range are errors.
 * A JSON null leaves the default.
 */
void
MlopsDriftThresholdsApply(MlopsDriftThresholds *t, Jsonb *overrides)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (overrides == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(overrides) || JB_ROOT_IS_SCALAR(overrides))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("drift thresholds must be a jsonb object")));
	it = JsonbIteratorInit(&overrides->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		int			i;
		double		d;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		for (i = 0; i < (int) NTHRESHOLDS; i++)
			if (strcmp(key, threshold_defs[i].name) == 0)
				break;
		if (i == (int) NTHRESHOLDS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown drift threshold \"%s\"", key),
					 errhint("Valid thresholds are: %s.", ThresholdNames())));
		tok = JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull)
			continue;
		if (v.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("drift threshold \"%s\" must be a number", key)));
		d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											   NumericGetDatum(v.val.numeric)));
		if (!(d >= 0.0 && d <= threshold_defs[i].max))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("drift threshold \"%s\" must be between 0 and %g", key,
							threshold_defs[i].max)));
		THRESHOLD(t, i) = d;
	}
	if (t->psi_warning > t->psi_drift)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("drift threshold \"psi_warning\" (%g) must not exceed \"psi_drift\" (%g)",
						t->psi_warning, t->psi_drift)));
}

/* The thresholds as a jsonb-ready text object */
void
MlopsDriftThresholdsAppendJson(StringInfo buf, const MlopsDriftThresholds *t)
{
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < (int) NTHRESHOLDS; i++)
	{
		appendStringInfo(buf, "%s\"%s\": ", i ? ", " : "", threshold_defs[i].name);
		MlopsAppendJsonDouble(buf, THRESHOLD(t, i));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The thresholds in effect for a project: the defaults, overridden by the
 * project's own.  SPI must be connected and the project known to exist.
 */
void
MlopsDriftProjectThresholds(const char *project, MlopsDriftThresholds *t)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;

	args[0] = CStringGetTextDatum(project);
	MlopsExecOrError("SELECT drift_thresholds FROM mlops.projects WHERE name = $1",
					 1, argtypes, args, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "project \"%s\" vanished from mlops.projects", project);
	MlopsDriftThresholdsDefault(t);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		MlopsDriftThresholdsApply(t, DatumGetJsonbP(d));
}

/* The thresholds as jsonb, for the SQL functions */
static Jsonb *
ThresholdsJsonb(const MlopsDriftThresholds *t)
{
	StringInfoData buf;

	initStringInfo(&buf);
	MlopsDriftThresholdsAppendJson(&buf, t);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * mlops.set_drift_thresholds(project text, thresholds jsonb) RETURNS jsonb
 *
 * Merges the given overrides into the project's (a JSON null removes one;
 * a NULL argument removes them all) and returns the thresholds now in
 * effect.  Only the project's owner may change them.
 */
Datum
mlops_set_drift_thresholds(PG_FUNCTION_ARGS)
{
	char	   *project_name;
	Jsonb	   *given = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	MlopsDriftThresholds t;
	Jsonb	   *stored;
	Oid			argtypes[2] = {TEXTOID, JSONBOID};
	Datum		args[2];
	char		nulls[2] = {' ', given ? ' ' : 'n'};
	bool		isnull;
	MlopsUserSwitch sw;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project must not be NULL")));
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/* validate what was given before touching anything */
	MlopsDriftThresholdsDefault(&t);
	MlopsDriftThresholdsApply(&t, given);

	SPI_connect();
	MlopsCheckProjectPrivilege(project_name, MLOPS_PRIV_DEPLOY);
	args[0] = CStringGetTextDatum(project_name);
	args[1] = given ? JsonbPGetDatum(given) : (Datum) 0;
	MlopsBecomeRegistryOwner(&sw);
	MlopsExecOrError("UPDATE mlops.projects "
					 "SET drift_thresholds = CASE WHEN $2 IS NULL THEN '{}'::jsonb "
					 "ELSE jsonb_strip_nulls(drift_thresholds || $2) END "
					 "WHERE name = $1 RETURNING drift_thresholds",
					 2, argtypes, args, nulls, SPI_OK_UPDATE_RETURNING);
	MlopsRestoreUser(&sw);
	if (SPI_processed != 1)
		elog(ERROR, "could not update mlops.projects");
	stored = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	/* the merged overrides must be consistent too (psi_warning <= psi_drift) */
	MlopsDriftThresholdsDefault(&t);
	MlopsDriftThresholdsApply(&t, stored);
	SPI_finish();

	PG_RETURN_JSONB_P(ThresholdsJsonb(&t));
}

/*
 * mlops.drift_thresholds(project text DEFAULT NULL) RETURNS jsonb
 *
 * The thresholds in effect for a project, or the defaults for NULL.
 */
Datum
mlops_drift_thresholds(PG_FUNCTION_ARGS)
{
	MlopsDriftThresholds t;

	MlopsDriftThresholdsDefault(&t);
	if (!PG_ARGISNULL(0))
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

		SPI_connect();
		MlopsCheckProjectPrivilege(name, MLOPS_PRIV_READ);
		MlopsDriftProjectThresholds(name, &t);
		SPI_finish();
	}
	PG_RETURN_JSONB_P(ThresholdsJsonb(&t));
}
