/*-------------------------------------------------------------------------
 *
 * drift.c
 *	  Drift monitoring: mlops.check_drift compares a live relation with the
 *	  baseline a version kept from its training data, writes one row to
 *	  mlops.drift_reports and, when the verdict is drift, queues a retrain.
 *
 * The live relation is scanned once, with the caller's privileges, by the
 * mlops.drift_accumulate aggregate (drift_accum.c), which PostgreSQL may
 * split across parallel workers; it leaves counts, moments and a bottom-k
 * content-hash sample.  Every statistic is then computed against the
 * baseline: numeric features by PSI over the baseline's 12 bins (counting
 * its decile edges) and by the two-sample Kolmogorov-Smirnov statistic
 * between the baseline's stored sample and the live values (every row up to
 * 20,000, else the 20,000 rows of smallest content hash; ties exact, from a
 * histogram over the sample points); categorical and boolean features by
 * L-infinity distance, a chi-square test of homogeneity and the share of
 * unseen values; every feature by its change of NULL share.  Missing and
 * retyped columns are findings of their own.  When the live relation has
 * the target column, the model is scored on its labelled rows (a second
 * read, of a TABLESAMPLE of large tables, through the one-pass loader) and
 * the live key metric is compared with the training one (concept drift).
 * Bin edges come from the baseline only, never from live data.
 *
 * Also here: the thresholds (defaults, per-project overrides through
 * mlops.set_drift_thresholds) and the statistics as SQL functions
 * (mlops.psi, mlops.ks_test, mlops.chi_square_test) so that they can be
 * checked against independent reference values.
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "train/baseline.h"
#include "drift/drift.h"
#include "train/metrics.h"
#include "model/model.h"
#include "registry/registry.h"
#include "core/stats.h"
#include "train/load.h"
#include "core/relation.h"
#include "core/util.h"

PG_FUNCTION_INFO_V1(mlops_check_drift);
PG_FUNCTION_INFO_V1(mlops_set_drift_thresholds);
PG_FUNCTION_INFO_V1(mlops_drift_thresholds);
PG_FUNCTION_INFO_V1(mlops_version_baseline);
PG_FUNCTION_INFO_V1(mlops_psi);
PG_FUNCTION_INFO_V1(mlops_ks_test);
PG_FUNCTION_INFO_V1(mlops_chi_square_test);

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

/* How many unseen values a report names, most frequent first */
#define DRIFT_UNSEEN_EXAMPLES 5

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

/* ------------------------------------------------------------------------
 * Thresholds
 * ------------------------------------------------------------------------
 */

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

/* Append  "key": number  (with a leading comma) */
static void
AppendKeyDouble(StringInfo buf, const char *key, double v)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	MlopsAppendJsonDouble(buf, v);
}

/* The thresholds as a jsonb-ready text object */
static void
AppendThresholds(StringInfo buf, const MlopsDriftThresholds *t)
{
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < (int) NTHRESHOLDS; i++)
	{
		appendStringInfo(buf, "%s\"%s\": ", i ? ", " : "", threshold_defs[i].name);
		MlopsAppendJsonDouble(buf, THRESHOLD(t, i));
	}
	appendStringInfoChar(buf, '}');
}

static Jsonb *
TextToJsonb(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* ------------------------------------------------------------------------
 * A project's thresholds
 * ------------------------------------------------------------------------
 */

/*
 * The thresholds in effect for a project: the defaults, overridden by the
 * project's own.  SPI must be connected and the project known to exist.
 */
static void
ProjectThresholds(const char *project, MlopsDriftThresholds *t)
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

/* ------------------------------------------------------------------------
 * Per-feature comparison
 * ------------------------------------------------------------------------
 */

typedef enum FeatureStatus
{
	FEATURE_OK = 0,
	FEATURE_WARNING,
	FEATURE_DRIFT,
	FEATURE_RETYPED,
	FEATURE_MISSING
} FeatureStatus;

static const char *const status_names[] = {"ok", "warning", "drift", "retyped", "missing"};

/* Findings of one feature (or the target) */
typedef struct ColumnFinding
{
	FeatureStatus status;
	StringInfoData json;		/* the statistics, as members of an object */
	StringInfoData reasons;		/* JSON strings, comma separated */
} ColumnFinding;

/* Record why a feature warns or drifts */
static void
AddReason(ColumnFinding *f, FeatureStatus level, const char *fmt,...)
{
	char		msg[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->reasons.len > 0)
		appendStringInfoString(&f->reasons, ", ");
	escape_json(&f->reasons, msg);
	if (level > f->status)
		f->status = level;
}

/* Null share change: the same rule for every kind */
static void
CompareNullShare(ColumnFinding *f, const MlopsBaselineColumn *b, int64 nulls,
				 int64 nrows, const MlopsDriftThresholds *t)
{
	double		live = nrows > 0 ? (double) nulls / nrows : 0.0;
	double		change = live - b->null_share;

	AppendKeyDouble(&f->json, "null_share", live);
	AppendKeyDouble(&f->json, "baseline_null_share", b->null_share);
	AppendKeyDouble(&f->json, "null_share_change", change);
	if (fabs(change) >= t->null_share)
		AddReason(f, FEATURE_DRIFT, "NULL share changed by %.3f (threshold %g)",
				  change, t->null_share);
}

/*
 * Numeric column, from its accumulated counts: PSI over the baseline's bins,
 * the moments, and KS between the baseline's sample and the live values of
 * the accumulator's bottom-k rows (every row up to MLOPS_DRIFT_KS_ROWS).
 */
static void
CompareNumeric(ColumnFinding *f, const MlopsBaselineColumn *b,
			   const MlopsDriftAccCol *a, const MlopsDriftState *live,
			   int64 nrows, const MlopsDriftThresholds *t)
{
	int			m = b->nsample;
	int64		n = a->n,
				nulls = a->nulls,
				nks = 0;
	int64	   *hist = palloc0((2 * m + 1) * sizeof(int64));
	MlopsKsIndex ix;
	double		counts[MLOPS_BASELINE_NBINS];
	double		shift = isfinite(b->mean) ? b->mean : 0.0;
	double		s1 = a->s1,
				s2 = a->s2;
	double		mean = NAN,
				std = NAN,
				psi = NAN,
				ks = NAN,
				ks_p = NAN,
				outside = NAN;

	for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
		counts[k] = (double) a->bins[k];
	if (m > 0)
	{
		MlopsKsIndexInit(&ix, b->sample, m);
		for (int r = 0; r < live->ksn; r++)
		{
			double		v = live->ksvals[(Size) r * live->nnum + a->numidx];

			if (isnan(v))
				continue;
			hist[MlopsKsCell(&ix, v)]++;
			nks++;
		}
	}

	if (n > 0)
	{
		mean = shift + s1 / n;
		std = n > 1 ? sqrt(Max(s2 - s1 * s1 / n, 0.0) / (n - 1)) : 0.0;
	}
	if (n > 0 && b->nedges)
	{
		psi = MlopsPsi(b->bins, counts, MLOPS_BASELINE_NBINS);
		outside = (counts[0] + counts[MLOPS_BASELINE_NBINS - 1]) / n;
	}
	if (nks > 0 && m > 0)
	{
		ks = MlopsKsStatistic(b->sample, m, hist, nks);
		ks_p = MlopsKsPValue(ks, m, nks);
	}

	appendStringInfo(&f->json, ", \"rows\": " INT64_FORMAT, n);
	AppendKeyDouble(&f->json, "psi", psi);
	AppendKeyDouble(&f->json, "ks_statistic", ks);
	AppendKeyDouble(&f->json, "ks_p_value", ks_p);
	appendStringInfo(&f->json, ", \"ks_rows\": " INT64_FORMAT, nks);
	AppendKeyDouble(&f->json, "mean", mean);
	AppendKeyDouble(&f->json, "baseline_mean", b->mean);
	AppendKeyDouble(&f->json, "std", std);
	AppendKeyDouble(&f->json, "baseline_std", b->std);
	AppendKeyDouble(&f->json, "outside_range_share", outside);
	if (b->nedges)
	{
		appendStringInfoString(&f->json, ", \"bins\": [");
		for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
		{
			if (k > 0)
				appendStringInfoString(&f->json, ", ");
			MlopsAppendJsonDouble(&f->json, n > 0 ? counts[k] / n : 0.0);
		}
		appendStringInfoChar(&f->json, ']');
	}
	CompareNullShare(f, b, nulls, nrows, t);

	if (psi >= t->psi_drift)
		AddReason(f, FEATURE_DRIFT, "PSI %.3f >= %g", psi, t->psi_drift);
	else if (psi >= t->psi_warning)
		AddReason(f, FEATURE_WARNING, "PSI %.3f >= %g", psi, t->psi_warning);
	if (ks >= t->ks_statistic && ks_p < t->p_value)
		AddReason(f, FEATURE_DRIFT, "KS statistic %.3f >= %g with p-value %.3g < %g",
				  ks, t->ks_statistic, ks_p, t->p_value);
	pfree(hist);
}

/* Live categories and their counts, whatever the loaded column's form */
typedef struct LiveCategories
{
	int			n;
	const char *const *text;
	const int64 *count;
	int64		nulls;
} LiveCategories;

/* strcmp() for bsearch over an array of strings */
static int
CompareStringPtr(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Order of unseen codes: most frequent first */
static int
CompareUnseen(const void *a, const void *b, void *arg)
{
	const LiveCategories *live = (const LiveCategories *) arg;
	int64		ca = live->count[*(const int *) a];
	int64		cb = live->count[*(const int *) b];

	if (ca != cb)
		return ca > cb ? -1 : 1;
	return strcmp(live->text[*(const int *) a], live->text[*(const int *) b]);
}

/*
 * Categorical or boolean column: buckets are the baseline's top values, the
 * other training values, and values the baseline never saw.  Works on the
 * distinct live values and their counts only, not on rows.
 */
static void
CompareCategorical(ColumnFinding *f, const MlopsBaselineColumn *b,
				   const LiveCategories *live, int64 nrows,
				   const MlopsDriftThresholds *t)
{
	int			nb = b->ntop + 2;	/* top..., other, unseen */
	double	   *base = palloc0(nb * sizeof(double));
	double	   *cur = palloc0(nb * sizeof(double));
	const char **sorted_top = palloc(Max(b->ntop, 1) * sizeof(char *));
	int		   *unseen = palloc(Max(live->n, 1) * sizeof(int));
	int			nunseen = 0;
	double		nbase = 0.0,
				nlive = 0.0,
				linf = 0.0,
				chi,
				p;
	int			df;

	for (int k = 0; k < b->ntop; k++)
	{
		base[k] = b->top_count[k];
		sorted_top[k] = b->top_value[k];
	}
	base[b->ntop] = b->other_count;
	qsort(sorted_top, b->ntop, sizeof(char *), CompareStringPtr);

	for (int c = 0; c < live->n; c++)
	{
		const char *s = live->text[c];
		const char **hit;
		int			bucket;

		if (live->count[c] == 0)
			continue;
		hit = bsearch(&s, sorted_top, b->ntop, sizeof(char *), CompareStringPtr);
		if (hit)
		{
			/* map back to the top index (top is small) */
			for (bucket = 0; bucket < b->ntop; bucket++)
				if (b->top_value[bucket] == *hit)
					break;
		}
		else if (bsearch(&s, b->vocab, b->nvocab, sizeof(char *), CompareStringPtr))
			bucket = b->ntop;
		else
		{
			bucket = b->ntop + 1;
			unseen[nunseen++] = c;
		}
		cur[bucket] += live->count[c];
	}
	for (int k = 0; k < nb; k++)
	{
		nbase += base[k];
		nlive += cur[k];
	}
	for (int k = 0; k < nb && nbase > 0 && nlive > 0; k++)
		linf = Max(linf, fabs(cur[k] / nlive - base[k] / nbase));
	p = MlopsChiSquareHomogeneity(base, cur, nb, &chi, &df);

	appendStringInfo(&f->json, ", \"rows\": %.0f", nlive);
	if (nlive > 0 && nbase > 0)
		AppendKeyDouble(&f->json, "linf", linf);
	else
		appendStringInfoString(&f->json, ", \"linf\": null");
	AppendKeyDouble(&f->json, "chi_square", chi);
	appendStringInfo(&f->json, ", \"chi_square_df\": %d", df);
	AppendKeyDouble(&f->json, "chi_square_p_value", p);
	AppendKeyDouble(&f->json, "unseen_share", nlive > 0 ? cur[b->ntop + 1] / nlive : NAN);
	AppendKeyDouble(&f->json, "other_share", nlive > 0 ? cur[b->ntop] / nlive : NAN);
	appendStringInfoString(&f->json, ", \"unseen_values\": [");
	qsort_arg(unseen, nunseen, sizeof(int), CompareUnseen, (void *) live);
	for (int k = 0; k < Min(nunseen, DRIFT_UNSEEN_EXAMPLES); k++)
	{
		if (k > 0)
			appendStringInfoString(&f->json, ", ");
		escape_json(&f->json, live->text[unseen[k]]);
	}
	appendStringInfoChar(&f->json, ']');
	CompareNullShare(f, b, live->nulls, nrows, t);

	if (nlive > 0 && nbase > 0)
	{
		double		unseen_share = cur[b->ntop + 1] / nlive;

		if (linf >= t->linf && p < t->p_value)
			AddReason(f, FEATURE_DRIFT, "L-infinity %.3f >= %g with chi-square p-value %.3g < %g",
					  linf, t->linf, p, t->p_value);
		else if (linf >= t->linf)
			AddReason(f, FEATURE_WARNING, "L-infinity %.3f >= %g (chi-square p-value %.3g)",
					  linf, t->linf, p);
		if (unseen_share >= t->unseen_share)
			AddReason(f, FEATURE_DRIFT, "unseen values in %.1f%% of rows (threshold %g)",
					  100.0 * unseen_share, t->unseen_share);
	}
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

/* Compare an accumulated live column with its baseline, by the baseline's kind */
static void
CompareColumn(ColumnFinding *f, const MlopsBaselineColumn *b, const MlopsDriftState *state,
			  int col, int64 nrows, const MlopsDriftThresholds *t)
{
	const MlopsDriftAccCol *a = &state->cols[col];
	LiveCategories live;

	if (b->kind == MLOPS_KIND_NUMERIC)
	{
		CompareNumeric(f, b, a, state, nrows, t);
		return;
	}
	live.nulls = a->nulls;
	if (b->kind == MLOPS_KIND_BOOLEAN)
	{
		static const char *const texts[2] = {"false", "true"};

		live.n = 2;
		live.text = texts;
		live.count = a->bools;
	}
	else
	{
		const char **texts = palloc(Max(a->ncat, 1) * sizeof(char *));
		int64	   *counts = palloc(Max(a->ncat, 1) * sizeof(int64));
		int			n = 0;

		for (int k = 0; k < a->capcat; k++)
		{
			if (a->cat[k].str == NULL)
				continue;
			texts[n] = a->cat[k].str;
			counts[n] = a->cat[k].count;
			n++;
		}
		live.n = n;
		live.text = texts;
		live.count = counts;
	}
	CompareCategorical(f, b, &live, nrows, t);
}

/* Start the JSON of a column finding */
static void
InitFinding(ColumnFinding *f, const MlopsBaselineColumn *b, const char *live_type)
{
	f->status = FEATURE_OK;
	initStringInfo(&f->json);
	initStringInfo(&f->reasons);
	appendStringInfoString(&f->json, "\"name\": ");
	escape_json(&f->json, b->name);
	appendStringInfo(&f->json, ", \"kind\": \"%s\"", MlopsKindName(b->kind));
	appendStringInfoString(&f->json, ", \"baseline_type\": ");
	escape_json(&f->json, b->type_name ? b->type_name : "unknown");
	appendStringInfoString(&f->json, ", \"type\": ");
	if (live_type)
		escape_json(&f->json, live_type);
	else
		appendStringInfoString(&f->json, "null");
}

/* Finish the JSON object of a column finding into buf */
static void
AppendFinding(StringInfo buf, ColumnFinding *f)
{
	appendStringInfo(buf, "{%s, \"status\": \"%s\", \"reasons\": [%s]}",
					 f->json.data, status_names[f->status], f->reasons.data);
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

/* ------------------------------------------------------------------------
 * mlops.check_drift
 * ------------------------------------------------------------------------
 */

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
	ColumnFinding *findings;
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
	ProjectThresholds(project_name, &thresholds);
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
	findings = palloc0(base->nfeatures * sizeof(ColumnFinding));
	for (int j = 0; j < base->nfeatures; j++)
	{
		MlopsBaselineColumn *b = &base->features[j];
		ColumnFinding *f = &findings[j];

		CHECK_FOR_INTERRUPTS();
		if (!OidIsValid(livetype[j]))
		{
			InitFinding(f, b, NULL);
			AddReason(f, FEATURE_MISSING, "column is missing from the live relation");
			missing = lappend(missing, b->name);
			unscorable = true;
		}
		else if (argof[j] < 0)
		{
			InitFinding(f, b, format_type_be(livetype[j]));
			AddReason(f, FEATURE_RETYPED, "type changed from %s to %s",
					  b->type_name ? b->type_name : "unknown", format_type_be(livetype[j]));
			retyped = lappend(retyped, b->name);
			unscorable = true;
		}
		else
		{
			char	   *tname = format_type_be(livetype[j]);

			InitFinding(f, b, tname);
			CompareColumn(f, b, live[argof[j] / DRIFT_CHUNK], argof[j] % DRIFT_CHUNK,
						  nrows, &thresholds);
			if (b->type_name && strcmp(b->type_name, tname) != 0)
			{
				AddReason(f, FEATURE_WARNING, "type changed from %s to %s",
						  b->type_name, tname);
				retyped = lappend(retyped, b->name);
			}
		}
		if (f->status >= FEATURE_DRIFT)
		{
			ndrift++;
			drifted = lappend(drifted, b->name);
		}
		else if (f->status == FEATURE_WARNING)
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
		AppendKeyDouble(&summary, "training", base->key_metric_value);
		AppendKeyDouble(&summary, "live", live_metric);
		AppendKeyDouble(&summary, "drop", base->key_metric_value - live_metric);
		appendStringInfo(&summary, ", \"rows\": " INT64_FORMAT ", \"drift\": %s}",
						 concept_rows, concept ? "true" : "false");
	}
	else
		appendStringInfoString(&summary, "null");

	/* the target's own distribution: reported, not part of the verdict */
	appendStringInfoString(&summary, ", \"target\": ");
	if (have_target)
	{
		ColumnFinding tf;

		InitFinding(&tf, base->target,
					format_type_be(get_atttype(relid, get_attnum(relid, base->target->name))));
		CompareColumn(&tf, base->target, live[targetarg / DRIFT_CHUNK],
					  targetarg % DRIFT_CHUNK, nrows, &thresholds);
		AppendFinding(&summary, &tf);
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
		AppendFinding(&features, &findings[j]);
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
	AppendKeyDouble(&summary, "statistics", INSTR_TIME_GET_MILLISEC(t_stats));
	AppendKeyDouble(&summary, "concept", INSTR_TIME_GET_MILLISEC(t_concept));
	appendStringInfoChar(&summary, '}');
	appendStringInfoString(&summary, ", \"thresholds\": ");
	AppendThresholds(&summary, &thresholds);
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

/* ------------------------------------------------------------------------
 * Thresholds from SQL
 * ------------------------------------------------------------------------
 */

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
	StringInfoData buf;
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
	MlopsCheckProjectWriter(MlopsGetProject(project_name, false));
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

	initStringInfo(&buf);
	AppendThresholds(&buf, &t);
	PG_RETURN_JSONB_P(TextToJsonb(buf.data));
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
	StringInfoData buf;

	MlopsDriftThresholdsDefault(&t);
	if (!PG_ARGISNULL(0))
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

		SPI_connect();
		(void) MlopsGetProject(name, false);
		ProjectThresholds(name, &t);
		SPI_finish();
	}
	initStringInfo(&buf);
	AppendThresholds(&buf, &t);
	PG_RETURN_JSONB_P(TextToJsonb(buf.data));
}

/* ------------------------------------------------------------------------
 * The statistics as SQL functions
 * ------------------------------------------------------------------------
 */

/* A float8[] argument as a C array; NULL elements are an error */
static double *
Float8ArrayValues(ArrayType *arr, int *n, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	double	   *out;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, n);
	out = palloc(Max(*n, 1) * sizeof(double));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		out[i] = DatumGetFloat8(elems[i]);
		if (isnan(out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain NaN", what)));
	}
	return out;
}

/* Two count vectors of the same length, non-negative, neither all zero */
static void
CheckCounts(const double *a, int na, const double *b, int nb)
{
	double		sa = 0.0,
				sb = 0.0;

	if (na != nb || na == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("both arrays must have the same, non-zero length"),
				 errdetail("The arrays have %d and %d elements.", na, nb)));
	for (int i = 0; i < na; i++)
	{
		if (a[i] < 0.0 || b[i] < 0.0 || isinf(a[i]) || isinf(b[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("counts and shares must be finite and non-negative")));
		sa += a[i];
		sb += b[i];
	}
	if (sa <= 0.0 || sb <= 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each array needs a positive total")));
}

/*
 * mlops.psi(expected float8[], actual float8[]) RETURNS float8
 * PSI between two binned distributions (counts or shares), as check_drift
 * computes it.
 */
Datum
mlops_psi(PG_FUNCTION_ARGS)
{
	int			ne,
				na;
	double	   *e = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &ne, "expected");
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &na, "actual");

	CheckCounts(e, ne, a, na);
	PG_RETURN_FLOAT8(MlopsPsi(e, a, ne));
}

/* Build the composite result of a statistics function */
static Datum
StatResult(FunctionCallInfo fcinfo, Datum *values, bool *nulls)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * mlops.ks_test(a float8[], b float8[], OUT statistic, OUT p_value)
 * Two-sample KS with check_drift's code path: a plays the baseline sample,
 * b the live values.
 */
Datum
mlops_ks_test(PG_FUNCTION_ARGS)
{
	int			m,
				n;
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &m, "a");
	double	   *b = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &n, "b");
	int64	   *hist;
	MlopsKsIndex ix;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	double		d;

	if (m == 0 || n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("both samples must be non-empty")));
	MlopsSortDoubles(a, m);
	MlopsKsIndexInit(&ix, a, m);
	hist = palloc0((2 * m + 1) * sizeof(int64));
	for (int i = 0; i < n; i++)
		hist[MlopsKsCell(&ix, b[i])]++;
	d = MlopsKsStatistic(a, m, hist, n);
	values[0] = Float8GetDatum(d);
	values[1] = Float8GetDatum(MlopsKsPValue(d, m, n));
	PG_RETURN_DATUM(StatResult(fcinfo, values, nulls));
}

/*
 * mlops.chi_square_test(a float8[], b float8[], OUT statistic, OUT df,
 * OUT p_value): homogeneity of two count vectors (2 x k table).
 */
Datum
mlops_chi_square_test(PG_FUNCTION_ARGS)
{
	int			na,
				nb,
				df;
	double	   *a = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(0), &na, "a");
	double	   *b = Float8ArrayValues(PG_GETARG_ARRAYTYPE_P(1), &nb, "b");
	double		stat,
				p;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	CheckCounts(a, na, b, nb);
	p = MlopsChiSquareHomogeneity(a, b, na, &stat, &df);
	values[0] = Float8GetDatum(stat);
	values[1] = Int32GetDatum(df);
	values[2] = Float8GetDatum(p);
	PG_RETURN_DATUM(StatResult(fcinfo, values, nulls));
}

/*
 * mlops._version_baseline(project, version): the stored baseline of a
 * version (NULL: production, else the latest), for mlops.baseline().  The
 * baseline holds a sample of training rows, so only those who may act on
 * the project read it; PUBLIC cannot select the column.
 */
Datum
mlops_version_baseline(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	char	   *project_name;
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	Datum		values[2];
	bool		isnull[2];
	HeapTuple	result;
	MlopsUserSwitch sw;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	project_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	args[0] = CStringGetTextDatum(project_name);
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MlopsCheckProjectWriter(MlopsGetProject(project_name, false));
	MlopsBecomeRegistryOwner(&sw);
	MlopsExecOrError("SELECT version, baseline FROM mlops.model_versions "
					 "WHERE project = $1 AND ($2 IS NULL OR version = $2) "
					 "ORDER BY (status = 'production') DESC, version DESC LIMIT 1",
					 2, argtypes, args, nulls, SPI_OK_SELECT);
	MlopsRestoreUser(&sw);
	if (SPI_processed == 0)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull[0]);
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull[1]);
	if (!isnull[1])
		values[1] = SPI_datumTransfer(values[1], false, -1);
	SPI_finish();
	result = heap_form_tuple(tupdesc, values, isnull);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}
