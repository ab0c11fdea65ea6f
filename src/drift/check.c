/*-------------------------------------------------------------------------
 *
 * check.c
 *	  mlops.check_drift: compares a live relation with the baseline a
 *	  version kept from its training data, writes one row to
 *	  mlops.drift_reports and, when the verdict is drift, queues a retrain.
 *
 * The folder src/drift/ is drift monitoring: this check, the per-feature
 * comparison, thresholds, the aggregate and baseline reads.  It sits above
 * src/train/ (baselines, loading, metrics) and below src/jobs/.
 *
 * The live relation is scanned once, with the caller's privileges, by the
 * mlops.drift_accumulate aggregate (drift_accum.c, drift_state.c), which
 * PostgreSQL may split across parallel workers and Citus pushes down to its
 * workers (there each row's values reach it in two arrays built by
 * mlops._drift_numbers and mlops._drift_categories; without Citus,
 * mlops.drift_accumulate_local takes the columns as they are).  It leaves
 * counts, moments and a bottom-k content-hash sample.  Every feature is then compared with its baseline
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
 * The check runs in phases, one function each, that share a DriftCheck:
 * resolve the version, match the live columns, scan, compare the features,
 * concept drift, verdict and report, record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
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

#include "algorithms/algorithm.h"
#include "core/relation.h"
#include "core/util.h"
#include "model/model.h"
#include "model/preprocess.h"
#include "registry/registry.h"
#include "train/baseline.h"
#include "train/load.h"
#include "train/metrics.h"
#include "drift/compare.h"
#include "drift/drift_state.h"
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
 * Columns per call of the accumulator: wider relations get several calls in
 * the same scan.  (The bound dates from variadic arguments, at most 100; it
 * stays because each call's KS sample hashes the row over its own columns.)
 */
#define DRIFT_CHUNK				90

/* What the phases of one drift check share */
typedef struct DriftCheck
{
	MemoryContext cxt;			/* the call's: outlives the SPI connections */

	/* the request */
	char	   *project;
	Oid			relid;
	int			version;		/* after ResolveVersion, the one compared */
	bool		any_version;	/* none given: production, else latest */

	/* ResolveVersion */
	bool		project_has_target;
	MlopsDriftThresholds thresholds;
	MlopsBaseline *base;
	bytea	   *model_bytes;	/* NULL: none stored */

	/* MatchColumns: the accumulator's arguments */
	char	   *relname;
	MlopsBaselineColumn **argcols;
	int			nargs;
	int		   *argof;			/* feature -> argument, -1 when not read */
	Oid		   *livetype;		/* feature -> live type, InvalidOid: missing */
	int			targetarg;		/* -1: the target is not read */
	Oid			targettype;		/* its live type */

	/* ScanLive */
	MlopsDriftState **live;		/* per chunk of DRIFT_CHUNK arguments */
	int64		nrows;

	/* CompareFeatures */
	MlopsDriftFinding *findings;
	List	   *missing;
	List	   *retyped;
	List	   *drifted;
	List	   *warned;
	int			ndrift;
	bool		unscorable;		/* a feature the model cannot read */
	double		drift_share;

	/* CheckConcept */
	int			concept;		/* -1 unknown, 0 no, 1 yes */
	double		live_metric;
	int64		concept_rows;

	/* the report */
	const char *verdict;
	StringInfoData features;
	StringInfoData summary;
	StringInfoData reason;
	double		duration;		/* ms */

	/* when each phase ended */
	instr_time	start;
	instr_time	t_load;
	instr_time	t_stats;
	instr_time	t_concept;
} DriftCheck;

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
 * The project (the caller must be allowed to act on it), its thresholds,
 * and the baseline and model of the version to compare with.
 */
static void
ResolveVersion(DriftCheck *dc)
{
	MlopsProject *proj;
	MlopsDriftVersion *v;
	MemoryContext old;

	SPI_connect();
	MlopsCheckProjectPrivilege(dc->project, MLOPS_PRIV_TRAIN);
	proj = MlopsGetProject(dc->project, false);
	dc->project_has_target = proj->target != NULL;
	MlopsDriftProjectThresholds(dc->project, &dc->thresholds);
	v = MlopsDriftReadVersion(dc->project, dc->version, dc->any_version, true, dc->cxt);
	if (v == NULL)
	{
		if (dc->any_version)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" has no model versions", dc->project)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("version %d of project \"%s\" does not exist",
						dc->version, dc->project)));
	}
	dc->version = v->version;
	if (v->baseline == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of project \"%s\" has no drift baseline",
						dc->version, dc->project),
				 errhint("Versions trained by mlops.train keep one; retrain the project.")));
	old = MemoryContextSwitchTo(dc->cxt);
	dc->base = MlopsBaselineParse(v->baseline);
	MemoryContextSwitchTo(old);
	dc->model_bytes = v->model;
	SPI_finish();
}

/* The relation has none of the features: an error naming them */
static void
NoFeaturesError(DriftCheck *dc)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int j = 0; j < dc->base->nfeatures; j++)
		appendStringInfo(&names, "%s%s", j ? ", " : "", dc->base->features[j].name);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("relation \"%s\" has none of the features of project \"%s\"",
					dc->relname, dc->project),
			 errdetail("Version %d was trained on: %s.", dc->version, names.data)));
}

/*
 * Which baseline features the live relation has, and as what type: the
 * ones of the same kind become the accumulator's arguments, and so does
 * the target when it can be read as it was at training.
 */
static void
MatchColumns(DriftCheck *dc)
{
	MlopsBaseline *base = dc->base;
	Oid			relid = dc->relid;
	int			npresent = 0;

	dc->relname = MlopsQualifiedRelname(relid);
	dc->argcols = palloc((base->nfeatures + 1) * sizeof(MlopsBaselineColumn *));
	dc->argof = palloc(base->nfeatures * sizeof(int));
	dc->livetype = palloc0(base->nfeatures * sizeof(Oid));
	for (int j = 0; j < base->nfeatures; j++)
	{
		MlopsBaselineColumn *b = &base->features[j];
		AttrNumber	att = get_attnum(relid, b->name);

		dc->argof[j] = -1;
		if (att == InvalidAttrNumber || att < 0)
			continue;
		npresent++;
		dc->livetype[j] = get_atttype(relid, att);
		/* a column whose kind changed (or that mlops cannot read) is not read */
		if (MlopsTypeKind(dc->livetype[j]) != b->kind)
			continue;
		dc->argof[j] = dc->nargs;
		dc->argcols[dc->nargs++] = b;
	}
	if (npresent == 0)
		NoFeaturesError(dc);

	/*
	 * The target, read as it was at training, when the live relation has it
	 * with a type that can be read so (a number stays a number; anything
	 * readable can be a class label).
	 */
	if (base->target && dc->project_has_target)
	{
		AttrNumber	att = get_attnum(relid, base->target->name);

		if (att > 0 &&
			TargetReadable(base->target->kind, MlopsTypeKind(get_atttype(relid, att))))
		{
			dc->targetarg = dc->nargs;
			dc->targettype = get_atttype(relid, att);
			dc->argcols[dc->nargs++] = base->target;
		}
	}
}

/*
 * The accumulator's arguments for arguments first..first+n-1: the array of
 * their numbers and the array of their categories (NULL when there are
 * none), each built by mlops's helper, which reads values as training does.
 */
static void
AppendChunkArrays(DriftCheck *dc, StringInfo sql, int first, int n)
{
	for (int pass = 0; pass < 2; pass++)
	{
		bool		numbers = pass == 0;
		int			count = 0;

		for (int k = first; k < first + n; k++)
		{
			if (MlopsDriftKindIsNumber(dc->argcols[k]->kind) != numbers)
				continue;
			if (count++ == 0)
				appendStringInfoString(sql, numbers ? ", mlops._drift_numbers(" :
									   ", mlops._drift_categories(");
			else
				appendStringInfoString(sql, ", ");
			appendStringInfoString(sql, quote_identifier(dc->argcols[k]->name));
		}
		appendStringInfoString(sql, count ? ")" : ", NULL");
	}
}

/*
 * The query of the scan: one call of the accumulator per DRIFT_CHUNK
 * arguments, each with its spec as a parameter; count(*) when there is
 * nothing to compare.  With arrays (where Citus is installed), the
 * accumulator that Citus pushes down to its workers, whose values come in
 * arrays; elsewhere the
 * one that takes the columns as they are, which saves building two arrays
 * per row (the same state, so the same results).
 */
static char *
ScanQuery(DriftCheck *dc, int nchunks, bool arrays, Oid *argtypes, Datum *args,
		  uint64 ks_bound)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int c = 0; c < nchunks; c++)
	{
		int			first = c * DRIFT_CHUNK;
		int			n = Min(dc->nargs - first, DRIFT_CHUNK);

		appendStringInfo(&sql, "%smlops.drift_accumulate%s($%d", c ? ", " : "",
						 arrays ? "" : "_local", c + 1);
		if (arrays)
			AppendChunkArrays(dc, &sql, first, n);
		else
			for (int k = first; k < first + n; k++)
				appendStringInfo(&sql, ", %s", quote_identifier(dc->argcols[k]->name));
		appendStringInfoChar(&sql, ')');
		argtypes[c] = BYTEAOID;
		args[c] = PointerGetDatum(MlopsDriftSpecBuild(dc->argcols + first, n, ks_bound));
	}
	if (nchunks == 0)
	{
		appendStringInfoString(&sql, "count(*) FROM ");
		appendStringInfoString(&sql, dc->relname);
	}
	else
		appendStringInfo(&sql, " FROM %s", dc->relname);
	return sql.data;
}

/*
 * The KS bound of the scan (drift_state.c): where Citus is installed, the
 * states of the shards travel to the coordinator, each with up to
 * MLOPS_DRIFT_KS_ROWS rows of values.  Content hashes are uniform, so of N
 * rows the k-th smallest hash lies near k/N of the range: a bound at twice
 * that keeps about 2k rows in all.  N is the planner's estimate for a local
 * table; a Citus table has none, so the rows the last check of the project
 * on it counted, or a count (Citus pushes it down).  A wrong N costs time,
 * never results: too large, and the scan runs again without a bound.
 * Without Citus, and for small relations, no bound.
 */
static uint64
KsBound(DriftCheck *dc, bool citus)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	int64		n;
	bool		isnull;

	if (!citus || dc->nargs == 0)
		return MLOPS_DRIFT_NO_BOUND;

	/*
	 * A local table's statistics are close enough.  A Citus table has none:
	 * the rows the last check of this project counted there, else a count
	 * (a statement of its own: Citus would run it up front as a subquery).
	 */
	args[0] = CStringGetTextDatum(dc->project);
	args[1] = CStringGetTextDatum(dc->relname);
	MlopsExecOrError(psprintf("SELECT CASE WHEN c.reltuples > 0 THEN c.reltuples::bigint "
							  "ELSE (SELECT r.rows_checked FROM mlops.drift_reports r "
							  "       WHERE r.project = $1 AND r.relation = $2 "
							  "       ORDER BY r.id DESC LIMIT 1) END "
							  "FROM pg_catalog.pg_class c WHERE c.oid = '%s'::pg_catalog.regclass",
							  dc->relname),
					 2, argtypes, args, NULL, SPI_OK_SELECT);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
	{
		MlopsExecOrError(psprintf("SELECT count(*) FROM %s", dc->relname), 0, NULL, NULL, NULL,
						 SPI_OK_SELECT);
		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (n <= 4 * (int64) MLOPS_DRIFT_KS_ROWS)
		return MLOPS_DRIFT_NO_BOUND;
	return (uint64) ((2.0 * MLOPS_DRIFT_KS_ROWS / (double) n) * 18446744073709549568.0);
}

/*
 * Run the scan query with the given KS bound and read its states into
 * dc->live.  false when a bound was too tight: some state holds fewer KS
 * rows than it would without one (the caller scans again, unbounded, so
 * the sample is always the rows of smallest hash).
 */
static bool
ScanOnce(DriftCheck *dc, int nchunks, bool citus, uint64 ks_bound)
{
	Oid		   *argtypes = palloc(Max(nchunks, 1) * sizeof(Oid));
	Datum	   *args = palloc(Max(nchunks, 1) * sizeof(Datum));
	char	   *sql = ScanQuery(dc, nchunks, citus, argtypes, args, ks_bound);
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;

	if (SPI_execute_with_args(sql, nchunks, argtypes, args, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not scan relation \"%s\"", dc->relname);
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	dc->live = MemoryContextAllocZero(dc->cxt, Max(nchunks, 1) * sizeof(MlopsDriftState *));
	for (int c = 0; c < nchunks; c++)
	{
		Datum		d = SPI_getbinval(row, desc, c + 1, &isnull);

		if (isnull)
			break;				/* no rows */
		dc->live[c] = MlopsDriftStateRead(DatumGetByteaPP(d), dc->cxt);
		dc->nrows = dc->live[c]->rows;
		if (ks_bound != MLOPS_DRIFT_NO_BOUND && dc->live[c]->nnum > 0 &&
			dc->live[c]->ksn < Min(dc->nrows, (int64) MLOPS_DRIFT_KS_ROWS))
			return false;
	}
	if (nchunks == 0)
		dc->nrows = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	return true;
}

/*
 * One scan of the live relation, as the caller.  The accumulator reduces
 * every row to counts that parallel workers can share; it runs with the
 * caller's privileges (row-level security applies).  Without any comparable
 * column, only the rows are counted.
 */
static void
ScanLive(DriftCheck *dc)
{
	int			nchunks = (dc->nargs + DRIFT_CHUNK - 1) / DRIFT_CHUNK;
	bool		citus = OidIsValid(get_extension_oid("citus", true));

	SPI_connect();
	if (!ScanOnce(dc, nchunks, citus, KsBound(dc, citus)))
		ScanOnce(dc, nchunks, citus, MLOPS_DRIFT_NO_BOUND);
	SPI_finish();
	if (dc->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" is empty", dc->relname),
				 errdetail("A drift check needs live rows to compare with the baseline.")));
}

/* The finding of feature j: missing, retyped, or compared with its baseline */
static void
CompareFeature(DriftCheck *dc, int j)
{
	MlopsBaselineColumn *b = &dc->base->features[j];
	MlopsDriftFinding *f = &dc->findings[j];
	Oid			livetype = dc->livetype[j];
	int			arg = dc->argof[j];

	if (!OidIsValid(livetype))
	{
		MlopsDriftFindingInit(f, b, NULL);
		MlopsDriftFindingReason(f, MLOPS_FINDING_MISSING,
								"column is missing from the live relation");
		dc->missing = lappend(dc->missing, b->name);
		dc->unscorable = true;
	}
	else if (arg < 0)
	{
		MlopsDriftFindingInit(f, b, format_type_be(livetype));
		MlopsDriftFindingReason(f, MLOPS_FINDING_RETYPED, "type changed from %s to %s",
								b->type_name ? b->type_name : "unknown",
								format_type_be(livetype));
		dc->retyped = lappend(dc->retyped, b->name);
		dc->unscorable = true;
	}
	else
	{
		char	   *tname = format_type_be(livetype);

		MlopsDriftFindingInit(f, b, tname);
		MlopsDriftCompareColumn(f, b, dc->live[arg / DRIFT_CHUNK], arg % DRIFT_CHUNK,
								dc->nrows, &dc->thresholds);
		if (b->type_name && strcmp(b->type_name, tname) != 0)
		{
			MlopsDriftFindingReason(f, MLOPS_FINDING_WARNING, "type changed from %s to %s",
									b->type_name, tname);
			dc->retyped = lappend(dc->retyped, b->name);
		}
	}
}

/* Every feature against its baseline; the share of features that drift */
static void
CompareFeatures(DriftCheck *dc)
{
	MlopsBaseline *base = dc->base;

	dc->findings = palloc0(base->nfeatures * sizeof(MlopsDriftFinding));
	for (int j = 0; j < base->nfeatures; j++)
	{
		CHECK_FOR_INTERRUPTS();
		CompareFeature(dc, j);
		if (dc->findings[j].status >= MLOPS_FINDING_DRIFT)
		{
			dc->ndrift++;
			dc->drifted = lappend(dc->drifted, base->features[j].name);
		}
		else if (dc->findings[j].status == MLOPS_FINDING_WARNING)
			dc->warned = lappend(dc->warned, base->features[j].name);
	}
	dc->drift_share = base->nfeatures > 0 ? (double) dc->ndrift / base->nfeatures : 0.0;
}

/*
 * The model's features and the target, read from the live relation: of a
 * sample of pages when a table has many more rows than needed (*sampled),
 * else of every row.
 */
static MlopsTrainData *
LoadLabelled(DriftCheck *dc, MlopsModel *model, bool *sampled)
{
	MlopsLoadSpec *specs = palloc0((model->nfeatures + 1) * sizeof(MlopsLoadSpec));
	List	   *cols = NIL;
	char	   *sql;
	char		relkind = get_rel_relkind(dc->relid);

	for (int j = 0; j < model->nfeatures; j++)
	{
		specs[j].name = model->features[j].name;
		specs[j].kind = MLOPS_KIND_AUTO;
		cols = lappend(cols, model->features[j].name);
	}
	specs[model->nfeatures].name = dc->base->target->name;
	specs[model->nfeatures].kind = dc->base->target->kind;
	cols = lappend(cols, dc->base->target->name);
	sql = MlopsSelectColumnsSQL(dc->relid, cols);
	*sampled = false;
	if (dc->nrows > DRIFT_CONCEPT_ROWS &&
		(relkind == RELKIND_RELATION || relkind == RELKIND_MATVIEW ||
		 relkind == RELKIND_PARTITIONED_TABLE))
	{
		sql = psprintf("%s TABLESAMPLE SYSTEM (%.6f) REPEATABLE (0)", sql,
					   Min(100.0, 100.0 * 1.2 * DRIFT_CONCEPT_ROWS / dc->nrows));
		*sampled = true;
	}
	return MlopsLoadQuery(sql, model->nfeatures + 1, specs, "live data", 0);
}

/*
 * Concept drift: the model scored on the live relation's labelled rows
 * (views cannot be sampled by pages; their rows are masked by position),
 * when the target can be read, every feature the model needs is there and
 * the training key metric is known.
 */
static void
CheckConcept(DriftCheck *dc)
{
	MlopsBaseline *base = dc->base;
	MlopsModel *model;
	MlopsTrainData *data;
	MlopsColumnData *tc;
	bool		sampled;
	bool	   *mask;
	uint64		keep;
	int		   *featcol;
	Jsonb	   *metrics;

	if (dc->targetarg < 0 || dc->unscorable || dc->model_bytes == NULL ||
		base->key_metric == NULL || !isfinite(base->key_metric_value) ||
		strcmp(base->key_metric, "inertia") == 0)
		return;
	model = MlopsModelDeserialize(dc->model_bytes);
	data = LoadLabelled(dc, model, &sampled);
	tc = &data->columns[model->nfeatures];
	mask = palloc_extended(Max(data->nrows, 1) * sizeof(bool), MCXT_ALLOC_HUGE);
	keep = sampled ? 0 : SampleThreshold(DRIFT_CONCEPT_ROWS, data->nrows);
	for (int64 i = 0; i < data->nrows; i++)
	{
		mask[i] = (tc->num ? !isnan(tc->num[i]) : tc->code[i] >= 0) &&
			(keep == 0 || PositionHash(i) < keep);
		dc->concept_rows += mask[i];
	}
	if (dc->concept_rows == 0)
		return;
	featcol = palloc(Max(model->nfeatures, 1) * sizeof(int));
	for (int j = 0; j < model->nfeatures; j++)
		featcol[j] = j;
	metrics = MlopsEvaluateData(model, data, featcol, model->nfeatures, mask);
	dc->live_metric = MlopsJsonbGetFloat(metrics, base->key_metric);
	if (isfinite(dc->live_metric))
		dc->concept = (base->key_metric_value - dc->live_metric >=
					   dc->thresholds.metric_drop);
}

/* The verdict: drift, warning or no_drift */
static void
DecideVerdict(DriftCheck *dc)
{
	if (dc->drift_share >= dc->thresholds.drift_share || dc->concept == 1)
		dc->verdict = "drift";
	else if (dc->ndrift > 0 || dc->warned != NIL)
		dc->verdict = "warning";
	else
		dc->verdict = "no_drift";
}

/* The report's features: a JSON array of the findings */
static void
WriteFeatures(DriftCheck *dc)
{
	initStringInfo(&dc->features);
	appendStringInfoChar(&dc->features, '[');
	for (int j = 0; j < dc->base->nfeatures; j++)
	{
		if (j > 0)
			appendStringInfoString(&dc->features, ", ");
		MlopsDriftFindingAppend(&dc->features, &dc->findings[j]);
	}
	appendStringInfoChar(&dc->features, ']');
}

/*
 * The report's summary: baseline rows, concept drift, the target's own
 * distribution (reported, not part of the verdict), the features by status,
 * where the time went, and the thresholds applied.
 */
static void
WriteSummary(DriftCheck *dc)
{
	MlopsBaseline *base = dc->base;
	StringInfo	summary = &dc->summary;

	initStringInfo(summary);
	appendStringInfo(summary, "{\"baseline_rows\": " INT64_FORMAT, base->rows);
	appendStringInfoString(summary, ", \"concept\": ");
	if (dc->concept >= 0)
	{
		appendStringInfoString(summary, "{\"metric\": ");
		escape_json(summary, base->key_metric);
		MlopsDriftAppendKeyDouble(summary, "training", base->key_metric_value);
		MlopsDriftAppendKeyDouble(summary, "live", dc->live_metric);
		MlopsDriftAppendKeyDouble(summary, "drop", base->key_metric_value - dc->live_metric);
		appendStringInfo(summary, ", \"rows\": " INT64_FORMAT ", \"drift\": %s}",
						 dc->concept_rows, dc->concept ? "true" : "false");
	}
	else
		appendStringInfoString(summary, "null");

	appendStringInfoString(summary, ", \"target\": ");
	if (dc->targetarg >= 0)
	{
		MlopsDriftFinding tf;

		MlopsDriftFindingInit(&tf, base->target, format_type_be(dc->targettype));
		MlopsDriftCompareColumn(&tf, base->target,
								dc->live[dc->targetarg / DRIFT_CHUNK],
								dc->targetarg % DRIFT_CHUNK, dc->nrows, &dc->thresholds);
		MlopsDriftFindingAppend(summary, &tf);
	}
	else
		appendStringInfoString(summary, "null");

	AppendNameList(summary, "drifted_features", dc->drifted);
	AppendNameList(summary, "warning_features", dc->warned);
	AppendNameList(summary, "missing_columns", dc->missing);
	AppendNameList(summary, "retyped_columns", dc->retyped);
	/* where the time went: the scan, statistics, concept drift (read and score) */
	appendStringInfoString(summary, ", \"timing_ms\": {\"scan\": ");
	INSTR_TIME_SUBTRACT(dc->t_concept, dc->t_stats);
	INSTR_TIME_SUBTRACT(dc->t_stats, dc->t_load);
	INSTR_TIME_SUBTRACT(dc->t_load, dc->start);
	MlopsAppendJsonDouble(summary, INSTR_TIME_GET_MILLISEC(dc->t_load));
	MlopsDriftAppendKeyDouble(summary, "statistics", INSTR_TIME_GET_MILLISEC(dc->t_stats));
	MlopsDriftAppendKeyDouble(summary, "concept", INSTR_TIME_GET_MILLISEC(dc->t_concept));
	appendStringInfoChar(summary, '}');
	appendStringInfoString(summary, ", \"thresholds\": ");
	MlopsDriftThresholdsAppendJson(summary, &dc->thresholds);
	appendStringInfoChar(summary, '}');
}

/* Why the verdict, in words: for the retrain queue */
static void
WriteReason(DriftCheck *dc)
{
	MlopsBaseline *base = dc->base;

	initStringInfo(&dc->reason);
	if (dc->ndrift > 0)
		appendStringInfo(&dc->reason, "drift in %d of %d features (%s)",
						 dc->ndrift, base->nfeatures, JoinNames(dc->drifted));
	if (dc->concept == 1)
	{
		char		buf[128];

		snprintf(buf, sizeof(buf), "concept drift: %s fell from %.4g to %.4g",
				 base->key_metric, base->key_metric_value, dc->live_metric);
		appendStringInfo(&dc->reason, "%s%s", dc->reason.len ? "; " : "", buf);
	}
}

/*
 * Insert the report as the registry owner and return it as the function's
 * row; its id.  SPI must be connected.
 */
static int64
RecordReport(DriftCheck *dc, ReturnSetInfo *rsinfo)
{
	Oid			argtypes[11] = {TEXTOID, INT4OID, TEXTOID, NAMEOID, INT8OID,
		TEXTOID, FLOAT8OID, BOOLOID, JSONBOID, JSONBOID, FLOAT8OID};
	Datum		args[11];
	char		nulls[11];
	TupleDesc	desc;
	Datum	   *values;
	bool	   *isnull;
	NameData	who;
	MlopsUserSwitch sw;

	namestrcpy(&who, GetUserNameFromId(GetUserId(), false));
	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(dc->project);
	args[1] = Int32GetDatum(dc->version);
	args[2] = CStringGetTextDatum(dc->relname);
	args[3] = NameGetDatum(&who);
	args[4] = Int64GetDatum(dc->nrows);
	args[5] = CStringGetTextDatum(dc->verdict);
	args[6] = Float8GetDatum(dc->drift_share);
	args[7] = BoolGetDatum(dc->concept == 1);
	if (dc->concept < 0)
		nulls[7] = 'n';
	args[8] = JsonbPGetDatum(TextToJsonb(dc->features.data));
	args[9] = JsonbPGetDatum(TextToJsonb(dc->summary.data));
	args[10] = Float8GetDatum(dc->duration);
	MlopsBecomeRegistryOwner(&sw);
	MlopsExecOrError("INSERT INTO mlops.drift_reports "
					 "(project, version, relation, checked_by, rows_checked, verdict, "
					 " drift_share, concept_drift, features, summary, duration_ms) "
					 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *",
					 11, argtypes, args, nulls, SPI_OK_INSERT_RETURNING);
	MlopsRestoreUser(&sw);
	if (SPI_processed != 1)
		elog(ERROR, "could not insert into mlops.drift_reports");

	desc = SPI_tuptable->tupdesc;
	values = palloc(desc->natts * sizeof(Datum));
	isnull = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(SPI_tuptable->vals[0], desc, values, isnull);
	if (desc->natts != rsinfo->setDesc->natts)
		elog(ERROR, "mlops.check_drift result type does not match mlops.drift_reports");
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, isnull);
	return DatumGetInt64(values[0]);
}

/* Queue a retrain of the project for this report, as the registry owner */
static void
QueueRetrain(DriftCheck *dc, int64 report_id)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		args[3];
	MlopsUserSwitch sw;

	args[0] = CStringGetTextDatum(dc->project);
	args[1] = Int64GetDatum(report_id);
	args[2] = CStringGetTextDatum(dc->reason.data);
	MlopsBecomeRegistryOwner(&sw);
	MlopsExecOrError("INSERT INTO mlops.retrain_queue (project, report_id, reason) "
					 "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
					 3, argtypes, args, NULL, SPI_OK_INSERT);
	MlopsRestoreUser(&sw);
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
	DriftCheck	dc;
	instr_time	elapsed;
	int64		report_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and relation must not be NULL")));
	memset(&dc, 0, sizeof(dc));
	dc.cxt = CurrentMemoryContext;
	dc.project = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dc.relid = PG_GETARG_OID(1);
	dc.any_version = PG_ARGISNULL(2);
	dc.version = dc.any_version ? 0 : PG_GETARG_INT32(2);
	dc.targetarg = -1;
	dc.concept = -1;
	dc.live_metric = NAN;

	InitMaterializedSRF(fcinfo, 0);
	INSTR_TIME_SET_CURRENT(dc.start);

	ResolveVersion(&dc);
	MatchColumns(&dc);
	ScanLive(&dc);
	INSTR_TIME_SET_CURRENT(dc.t_load);
	CompareFeatures(&dc);
	INSTR_TIME_SET_CURRENT(dc.t_stats);
	CheckConcept(&dc);
	INSTR_TIME_SET_CURRENT(dc.t_concept);

	DecideVerdict(&dc);
	WriteSummary(&dc);
	WriteFeatures(&dc);
	WriteReason(&dc);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, dc.start);
	dc.duration = INSTR_TIME_GET_MILLISEC(elapsed);

	SPI_connect();
	report_id = RecordReport(&dc, rsinfo);
	if (strcmp(dc.verdict, "drift") == 0)
		QueueRetrain(&dc, report_id);
	SPI_finish();

	return (Datum) 0;
}
