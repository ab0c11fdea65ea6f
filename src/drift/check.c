/*-------------------------------------------------------------------------
 *
 * check.c
 *	  mlops.check_drift: compares a live relation with the baseline a
 *	  version kept from its training data, writes one row to
 *	  mlops.drift_reports and, when the verdict is drift, queues a retrain.
 *
 * The live relation is scanned once, with the caller's privileges, by the
 * mlops.drift_accumulate aggregate (drift_accum.c), which PostgreSQL may
 * split across parallel workers; it leaves counts, moments and a bottom-k
 * content-hash sample.  Every feature is then compared with its baseline
 * (compare.c): numeric features by PSI over the baseline's 12 bins
 * (counting its decile edges) and by the two-sample Kolmogorov-Smirnov
 * statistic between the baseline's stored sample and the live values (every
 * row up to 20,000, else the 20,000 rows of smallest content hash; ties
 * exact, from a histogram over the sample points); categorical and boolean
 * features by L-infinity distance, a chi-square test of homogeneity and the
 * share of unseen values; every feature by its change of NULL share.
 * Missing and retyped columns are findings of their own.  When the live
 * relation has the target column, the model is scored on its labelled rows
 * (a second read, of a TABLESAMPLE of large tables, through the one-pass
 * loader) and the live key metric is compared with the training one
 * (concept drift).  Bin edges come from the baseline only, never from live
 * data.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "core/relation.h"
#include "core/util.h"
#include "model/model.h"
#include "model/preprocess.h"
#include "registry/registry.h"
#include "train/baseline.h"
#include "train/load.h"
#include "train/metrics.h"
#include "drift/compare.h"
#include "drift/drift_accum.h"
#include "drift/thresholds.h"
#include "drift/version_baseline.h"

PG_FUNCTION_INFO_V1(mlops_check_drift);

/*
 * Labelled rows scored for concept drift: beyond this, a table is read
 * through TABLESAMPLE SYSTEM (a few pages instead of all of them) and a view
 * is masked by a hash of the row position.  A key metric on 50,000 rows is
 * within about 0.004 of the metric on all of them.
 */
#define DRIFT_CONCEPT_ROWS		50000

/*
 * Columns per call of the accumulator: a function takes at most 100
 * arguments, so wider relations get several calls in the same scan.
 */
#define DRIFT_CHUNK				90

/* A well-mixed 64-bit hash of a row position (splitmix64's finaliser) */
static inline uint64
PositionHash(uint64 x)
{
	x += UINT64CONST(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/*
 * Threshold under which PositionHash() keeps a row so that about want of
 * nrows rows are kept; 0 when every row is kept.
 */
static uint64
SampleThreshold(int64 want, int64 nrows)
{
	if (nrows <= want)
		return 0;
	return (uint64) ((double) want / nrows * 18446744073709551615.0);
}

/* Can a live column of kind live be read as a target of kind trained? */
static bool
TargetReadable(MlopsFeatureKind trained, MlopsFeatureKind live)
{
	if (live == MLOPS_KIND_AUTO)
		return false;
	if (trained == MLOPS_KIND_CATEGORICAL)
		return true;
	return live == MLOPS_KIND_NUMERIC || live == MLOPS_KIND_BOOLEAN;
}

/* Append a JSON array of strings */
static void
AppendNameList(StringInfo buf, const char *key, List *names)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfo(buf, ", \"%s\": [", key);
	foreach(lc, names)
	{
		if (!first)
			appendStringInfoString(buf, ", ");
		escape_json(buf, (const char *) lfirst(lc));
		first = false;
	}
	appendStringInfoChar(buf, ']');
}

/* Comma-separated names, for the retrain reason */
static char *
JoinNames(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", (char *) lfirst(lc));
	return buf.data;
}

/* A JSON text as jsonb */
static Jsonb *
TextToJsonb(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/*
 * mlops.check_drift(project text, relation regclass, version int DEFAULT NULL)
 * RETURNS SETOF mlops.drift_reports (one row)
 *
 * Compares the live relation with the baseline of the version (default: the
 * production version, else the latest), records the report and queues a
 * retrain when the verdict is drift.  The relation is read with the
 * caller's privileges; the registry rows are written as the registry owner
 * once the caller is known to be allowed to act on the project.
 */
Datum
mlops_check_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callctx = CurrentMemoryContext;
	instr_time	start,
				elapsed,
				t_load,
				t_stats,
				t_concept;
	char	   *project_name;
	Oid			relid;
	int			version;
	MlopsProject *proj;
	bool		project_has_target;
	MlopsDriftThresholds thresholds;
	MlopsBaseline *base;
	bytea	   *model_bytes = NULL;
	char	   *relname;
	List	   *colnames = NIL;
	MlopsBaselineColumn **argcols;	/* accumulator arguments */
	int			nargs = 0;
	int		   *argof;			/* feature -> argument, -1 when not read */
	Oid		   *livetype;		/* feature -> live type, InvalidOid: missing */
	int			targetarg = -1;
	bool		have_target = false;
	MlopsDriftState **live = NULL;	/* per chunk of DRIFT_CHUNK arguments */
	int64		nrows = 0;
	MlopsDriftFinding *findings;
	List	   *missing = NIL,
			   *retyped = NIL,
			   *drifted = NIL,
			   *warned = NIL;
	int			ndrift = 0;
	int			npresent = 0;
	bool		unscorable = false; /* a feature the model cannot read */
	double		drift_share;
	int			concept = -1;	/* -1 unknown, 0 no, 1 yes */
	double		live_metric = NAN;
	int64		concept_rows = 0;
	const char *verdict;
	StringInfoData features,
				summary,
				reason;
	double		duration;
	int64		report_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	version = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);

	InitMaterializedSRF(fcinfo, 0);
	INSTR_TIME_SET_CURRENT(start);

	/* -- the project, its thresholds and the version's baseline -------- */
	SPI_connect();
	proj = MlopsGetProject(project_name, false);
	MlopsCheckProjectWriter(proj);
	project_has_target = proj->target != NULL;
	MlopsDriftProjectThresholds(project_name, &thresholds);
	{
		Oid			argtypes[2] = {TEXTOID, INT4OID};
		Datum		args[2];
		char		nulls[2] = {' ', PG_ARGISNULL(2) ? 'n' : ' '};
		HeapTuple	tup;
		bool		isnull;
		Datum		d;
		MemoryContext old;
		MlopsUserSwitch sw;

		args[0] = CStringGetTextDatum(project_name);
		args[1] = Int32GetDatum(version);
		/* the baseline column is the owner's: the caller's rights are checked */
		MlopsBecomeRegistryOwner(&sw);
		MlopsExecOrError("SELECT version, baseline, model FROM mlops.model_versions "
						 "WHERE project = $1 AND ($2 IS NULL OR version = $2) "
						 "ORDER BY (status = 'production') DESC, version DESC LIMIT 1",
						 2, argtypes, args, nulls, SPI_OK_SELECT);
		MlopsRestoreUser(&sw);
		if (SPI_processed == 0)
		{
			if (PG_ARGISNULL(2))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("project \"%s\" has no model versions", project_name)));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of project \"%s\" does not exist",
							version, project_name)));
		}
		tup = SPI_tuptable->vals[0];
		version = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("version %d of project \"%s\" has no drift baseline",
							version, project_name),
					 errhint("Versions trained by mlops.train keep one; retrain the project.")));
		old = MemoryContextSwitchTo(callctx);
		base = MlopsBaselineParse(DatumGetJsonbP(d));
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
			model_bytes = DatumGetByteaPCopy(d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	/* -- which baseline columns the live relation has, and as what ----- */
	relname = MlopsQualifiedRelname(relid);
	argcols = palloc((base->nfeatures + 1) * sizeof(MlopsBaselineColumn *));
	argof = palloc(base->nfeatures * sizeof(int));
	livetype = palloc0(base->nfeatures * sizeof(Oid));
	for (int j = 0; j < base->nfeatures; j++)
	{
		MlopsBaselineColumn *b = &base->features[j];
		AttrNumber	att = get_attnum(relid, b->name);

		argof[j] = -1;
		if (att == InvalidAttrNumber || att < 0)
			continue;
		npresent++;
		livetype[j] = get_atttype(relid, att);
		/* a column whose kind changed (or that mlops cannot read) is not read */
		if (MlopsTypeKind(livetype[j]) != b->kind)
			continue;
		argof[j] = nargs;
		argcols[nargs++] = b;
		colnames = lappend(colnames, b->name);
	}
	if (npresent == 0)
	{
		StringInfoData names;

		initStringInfo(&names);
		for (int j = 0; j < base->nfeatures; j++)
			appendStringInfo(&names, "%s%s", j ? ", " : "", base->features[j].name);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation \"%s\" has none of the features of project \"%s\"",
						relname, project_name),
				 errdetail("Version %d was trained on: %s.", version, names.data)));
	}

	/*
	 * The target, read as it was at training, when the live relation has it
	 * with a type that can be read so (a number stays a number; anything
	 * readable can be a class label).
	 */
	if (base->target && project_has_target &&
		get_attnum(relid, base->target->name) > 0 &&
		TargetReadable(base->target->kind,
					   MlopsTypeKind(get_atttype(relid, get_attnum(relid, base->target->name)))))
	{
		targetarg = nargs;
		argcols[nargs++] = base->target;
		colnames = lappend(colnames, base->target->name);
		have_target = true;
	}

	/*
	 * -- one scan of the live relation, as the caller -------------------
	 *
	 * The accumulator reduces every row to counts that parallel workers can
	 * share; it runs with the caller's privileges (row-level security
	 * applies).  Without any comparable column, only the rows are counted.
	 */
	SPI_connect();
	{
		StringInfoData sql;
		int			nchunks = (nargs + DRIFT_CHUNK - 1) / DRIFT_CHUNK;
		Oid		   *argtypes = palloc(Max(nchunks, 1) * sizeof(Oid));
		Datum	   *args = palloc(Max(nchunks, 1) * sizeof(Datum));
		ListCell   *lc = list_head(colnames);

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT ");
		for (int c = 0; c < nchunks; c++)
		{
			int			first = c * DRIFT_CHUNK;
			int			n = Min(nargs - first, DRIFT_CHUNK);

			appendStringInfo(&sql, "%smlops.drift_accumulate($%d", c ? ", " : "", c + 1);
			for (int k = 0; k < n; k++)
			{
				appendStringInfo(&sql, ", %s", quote_identifier((char *) lfirst(lc)));
				lc = lnext(colnames, lc);
			}
			appendStringInfoChar(&sql, ')');
			argtypes[c] = BYTEAOID;
			args[c] = PointerGetDatum(MlopsDriftSpecBuild(argcols + first, n));
		}
		if (nchunks == 0)
		{
			appendStringInfoString(&sql, "count(*) FROM ");
			appendStringInfoString(&sql, relname);
		}
		else
			appendStringInfo(&sql, " FROM %s", relname);
		if (SPI_execute_with_args(sql.data, nchunks, argtypes, args, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not scan relation \"%s\"", relname);
		live = MemoryContextAllocZero(callctx, Max(nchunks, 1) * sizeof(MlopsDriftState *));
		for (int c = 0; c < nchunks; c++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1, &isnull);

			if (isnull)
				break;			/* no rows */
			live[c] = MlopsDriftStateDeserialize(DatumGetByteaPP(d), callctx);
			nrows = live[c]->rows;
		}
		if (nchunks == 0)
		{
			bool		isnull;

			nrows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	SPI_finish();
	INSTR_TIME_SET_CURRENT(t_load);
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" is empty", relname),
				 errdetail("A drift check needs live rows to compare with the baseline.")));

	/* -- every feature against its baseline ------------------------------ */
	findings = palloc0(base->nfeatures * sizeof(MlopsDriftFinding));
	for (int j = 0; j < base->nfeatures; j++)
	{
		MlopsBaselineColumn *b = &base->features[j];
		MlopsDriftFinding *f = &findings[j];

		CHECK_FOR_INTERRUPTS();
		if (!OidIsValid(livetype[j]))
		{
			MlopsDriftFindingInit(f, b, NULL);
			MlopsDriftFindingReason(f, MLOPS_FINDING_MISSING,
									"column is missing from the live relation");
			missing = lappend(missing, b->name);
			unscorable = true;
		}
		else if (argof[j] < 0)
		{
			MlopsDriftFindingInit(f, b, format_type_be(livetype[j]));
			MlopsDriftFindingReason(f, MLOPS_FINDING_RETYPED,
									"type changed from %s to %s",
									b->type_name ? b->type_name : "unknown",
									format_type_be(livetype[j]));
			retyped = lappend(retyped, b->name);
			unscorable = true;
		}
		else
		{
			char	   *tname = format_type_be(livetype[j]);

			MlopsDriftFindingInit(f, b, tname);
			MlopsDriftCompareColumn(f, b, live[argof[j] / DRIFT_CHUNK],
									argof[j] % DRIFT_CHUNK, nrows,
									&thresholds);
			if (b->type_name && strcmp(b->type_name, tname) != 0)
			{
				MlopsDriftFindingReason(f, MLOPS_FINDING_WARNING,
										"type changed from %s to %s",
										b->type_name, tname);
				retyped = lappend(retyped, b->name);
			}
		}
		if (f->status >= MLOPS_FINDING_DRIFT)
		{
			ndrift++;
			drifted = lappend(drifted, b->name);
		}
		else if (f->status == MLOPS_FINDING_WARNING)
			warned = lappend(warned, b->name);
	}
	drift_share = base->nfeatures > 0 ? (double) ndrift / base->nfeatures : 0.0;
	INSTR_TIME_SET_CURRENT(t_stats);

	/*
	 * -- concept drift: the model scored on live labels ------------------
	 *
	 * A second read, of the model's features and the target only: of a
	 * sample of pages when a table has many more rows than needed, else of
	 * every row (views cannot be sampled so; their rows are masked).
	 */
	initStringInfo(&summary);
	appendStringInfo(&summary, "{\"baseline_rows\": " INT64_FORMAT, base->rows);
	if (have_target && !unscorable && model_bytes &&
		base->key_metric && isfinite(base->key_metric_value) &&
		strcmp(base->key_metric, "inertia") != 0)
	{
		MlopsModel *model = MlopsModelDeserialize(model_bytes);
		MlopsLoadSpec *specs = palloc0((model->nfeatures + 1) * sizeof(MlopsLoadSpec));
		List	   *cols = NIL;
		char	   *sql;
		char		relkind = get_rel_relkind(relid);
		bool		sampled = false;
		MlopsTrainData *data;
		int			tcol;
		MlopsColumnData *tc;
		bool	   *mask;
		uint64		keep;
		int		   *featcol;
		Jsonb	   *metrics;

		for (int j = 0; j < model->nfeatures; j++)
		{
			specs[j].name = model->features[j].name;
			specs[j].kind = MLOPS_KIND_AUTO;
			cols = lappend(cols, model->features[j].name);
		}
		specs[model->nfeatures].name = base->target->name;
		specs[model->nfeatures].kind = base->target->kind;
		cols = lappend(cols, base->target->name);
		sql = MlopsSelectColumnsSQL(relid, cols);
		if (nrows > DRIFT_CONCEPT_ROWS &&
			(relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW ||
			 relkind == RELKIND_PARTITIONED_TABLE))
		{
			sql = psprintf("%s TABLESAMPLE SYSTEM (%.6f) REPEATABLE (0)", sql,
						   Min(100.0, 100.0 * 1.2 * DRIFT_CONCEPT_ROWS / nrows));
			sampled = true;
		}
		data = MlopsLoadQuery(sql, model->nfeatures + 1, specs, "live data", 0);
		tcol = model->nfeatures;
		tc = &data->columns[tcol];
		mask = palloc_extended(Max(data->nrows, 1) * sizeof(bool), MCXT_ALLOC_HUGE);
		keep = sampled ? 0 : SampleThreshold(DRIFT_CONCEPT_ROWS, data->nrows);
		for (int64 i = 0; i < data->nrows; i++)
		{
			mask[i] = (tc->num ? !isnan(tc->num[i]) : tc->code[i] >= 0) &&
				(keep == 0 || PositionHash(i) < keep);
			concept_rows += mask[i];
		}
		if (concept_rows > 0)
		{
			featcol = palloc(Max(model->nfeatures, 1) * sizeof(int));
			for (int j = 0; j < model->nfeatures; j++)
				featcol[j] = j;
			metrics = MlopsEvaluateData(model, data, featcol, tcol, mask);
			live_metric = MlopsJsonbGetFloat(metrics, base->key_metric);
			if (isfinite(live_metric))
				concept = (base->key_metric_value - live_metric >= thresholds.metric_drop);
		}
	}
	INSTR_TIME_SET_CURRENT(t_concept);
	appendStringInfoString(&summary, ", \"concept\": ");
	if (concept >= 0)
	{
		appendStringInfoString(&summary, "{\"metric\": ");
		escape_json(&summary, base->key_metric);
		MlopsDriftAppendKeyDouble(&summary, "training", base->key_metric_value);
		MlopsDriftAppendKeyDouble(&summary, "live", live_metric);
		MlopsDriftAppendKeyDouble(&summary, "drop", base->key_metric_value - live_metric);
		appendStringInfo(&summary, ", \"rows\": " INT64_FORMAT ", \"drift\": %s}",
						 concept_rows, concept ? "true" : "false");
	}
	else
		appendStringInfoString(&summary, "null");

	/* the target's own distribution: reported, not part of the verdict */
	appendStringInfoString(&summary, ", \"target\": ");
	if (have_target)
	{
		MlopsDriftFinding tf;

		MlopsDriftFindingInit(&tf, base->target,
							  format_type_be(get_atttype(relid, get_attnum(relid, base->target->name))));
		MlopsDriftCompareColumn(&tf, base->target,
								live[targetarg / DRIFT_CHUNK],
								targetarg % DRIFT_CHUNK, nrows, &thresholds);
		MlopsDriftFindingAppend(&summary, &tf);
	}
	else
		appendStringInfoString(&summary, "null");

	/* -- verdict ----------------------------------------------------------- */
	if (drift_share >= thresholds.drift_share || concept == 1)
		verdict = "drift";
	else if (ndrift > 0 || warned != NIL)
		verdict = "warning";
	else
		verdict = "no_drift";

	initStringInfo(&features);
	appendStringInfoChar(&features, '[');
	for (int j = 0; j < base->nfeatures; j++)
	{
		if (j > 0)
			appendStringInfoString(&features, ", ");
		MlopsDriftFindingAppend(&features, &findings[j]);
	}
	appendStringInfoChar(&features, ']');

	AppendNameList(&summary, "drifted_features", drifted);
	AppendNameList(&summary, "warning_features", warned);
	AppendNameList(&summary, "missing_columns", missing);
	AppendNameList(&summary, "retyped_columns", retyped);
	/* where the time went: the scan, statistics, concept drift (read and score) */
	appendStringInfoString(&summary, ", \"timing_ms\": {\"scan\": ");
	INSTR_TIME_SUBTRACT(t_concept, t_stats);
	INSTR_TIME_SUBTRACT(t_stats, t_load);
	INSTR_TIME_SUBTRACT(t_load, start);
	MlopsAppendJsonDouble(&summary, INSTR_TIME_GET_MILLISEC(t_load));
	MlopsDriftAppendKeyDouble(&summary, "statistics", INSTR_TIME_GET_MILLISEC(t_stats));
	MlopsDriftAppendKeyDouble(&summary, "concept", INSTR_TIME_GET_MILLISEC(t_concept));
	appendStringInfoChar(&summary, '}');
	appendStringInfoString(&summary, ", \"thresholds\": ");
	MlopsDriftThresholdsAppendJson(&summary, &thresholds);
	appendStringInfoChar(&summary, '}');

	initStringInfo(&reason);
	if (ndrift > 0)
		appendStringInfo(&reason, "drift in %d of %d features (%s)",
						 ndrift, base->nfeatures, JoinNames(drifted));
	if (concept == 1)
	{
		char		buf[128];

		snprintf(buf, sizeof(buf), "concept drift: %s fell from %.4g to %.4g",
				 base->key_metric, base->key_metric_value, live_metric);
		appendStringInfo(&reason, "%s%s", reason.len ? "; " : "", buf);
	}

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	duration = INSTR_TIME_GET_MILLISEC(elapsed);

	/* -- the report, and the retrain request, as the registry owner ------- */
	SPI_connect();
	{
		Oid			argtypes[11] = {TEXTOID, INT4OID, TEXTOID, NAMEOID, INT8OID,
			TEXTOID, FLOAT8OID, BOOLOID, JSONBOID, JSONBOID, FLOAT8OID};
		Datum		args[11];
		char		nulls[11];
		HeapTuple	tup;
		TupleDesc	desc;
		Datum	   *values;
		bool	   *isnull;
		char	   *checked_by = GetUserNameFromId(GetUserId(), false);
		NameData	who;
		MlopsUserSwitch sw;

		namestrcpy(&who, checked_by);
		memset(nulls, ' ', sizeof(nulls));
		args[0] = CStringGetTextDatum(project_name);
		args[1] = Int32GetDatum(version);
		args[2] = CStringGetTextDatum(relname);
		args[3] = NameGetDatum(&who);
		args[4] = Int64GetDatum(nrows);
		args[5] = CStringGetTextDatum(verdict);
		args[6] = Float8GetDatum(drift_share);
		args[7] = BoolGetDatum(concept == 1);
		if (concept < 0)
			nulls[7] = 'n';
		args[8] = JsonbPGetDatum(TextToJsonb(features.data));
		args[9] = JsonbPGetDatum(TextToJsonb(summary.data));
		args[10] = Float8GetDatum(duration);
		MlopsBecomeRegistryOwner(&sw);
		MlopsExecOrError("INSERT INTO mlops.drift_reports "
						 "(project, version, relation, checked_by, rows_checked, verdict, "
						 " drift_share, concept_drift, features, summary, duration_ms) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
						 11, argtypes, args, nulls, SPI_OK_INSERT_RETURNING);
		MlopsRestoreUser(&sw);
		if (SPI_processed != 1)
			elog(ERROR, "could not insert into mlops.drift_reports");

		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		values = palloc(desc->natts * sizeof(Datum));
		isnull = palloc(desc->natts * sizeof(bool));
		heap_deform_tuple(tup, desc, values, isnull);
		if (desc->natts != rsinfo->setDesc->natts)
			elog(ERROR, "mlops.check_drift result type does not match mlops.drift_reports");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
		report_id = DatumGetInt64(values[0]);

		if (strcmp(verdict, "drift") == 0)
		{
			Oid			qtypes[3] = {TEXTOID, INT8OID, TEXTOID};
			Datum		qargs[3];

			qargs[0] = CStringGetTextDatum(project_name);
			qargs[1] = Int64GetDatum(report_id);
			qargs[2] = CStringGetTextDatum(reason.data);
			MlopsBecomeRegistryOwner(&sw);
			MlopsExecOrError("INSERT INTO mlops.retrain_queue (project, report_id, reason) "
							 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
							 3, qtypes, qargs, NULL, SPI_OK_INSERT);
			MlopsRestoreUser(&sw);
		}
	}
	SPI_finish();

	return (Datum) 0;
}
