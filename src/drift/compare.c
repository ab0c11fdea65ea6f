/*-------------------------------------------------------------------------
 *
 * compare.c
 *	  One live column against its baseline, from what the accumulator left
 *	  (drift_state.c): numeric features by PSI over the baseline's bins and
 *	  the two-sample KS statistic against the baseline's sample, categorical
 *	  and boolean features by L-infinity distance, chi-square homogeneity and
 *	  the share of unseen values, every feature by its change of NULL share.
 *	  The thresholds turn the statistics into a status and its reasons; the
 *	  statistics are kept as the JSON of the finding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "core/stats.h"
#include "core/util.h"
#include "model/preprocess.h"
#include "drift/compare.h"

/* How many unseen values a report names, most frequent first */
#define DRIFT_UNSEEN_EXAMPLES 5

static const char *const status_names[] = {"ok", "warning", "drift", "retyped", "missing"};

/* Record why a feature warns or drifts */
void
MlopsDriftFindingReason(MlopsDriftFinding *f, MlopsFindingStatus level,
						const char *fmt,...)
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
CompareNullShare(MlopsDriftFinding *f, const MlopsBaselineColumn *b, int64 nulls,
				 int64 nrows, const MlopsDriftThresholds *t)
{
	double		live = nrows > 0 ? (double) nulls / nrows : 0.0;
	double		change = live - b->null_share;

	MlopsDriftAppendKeyDouble(&f->json, "null_share", live);
	MlopsDriftAppendKeyDouble(&f->json, "baseline_null_share", b->null_share);
	MlopsDriftAppendKeyDouble(&f->json, "null_share_change", change);
	if (fabs(change) >= t->null_share)
		MlopsDriftFindingReason(f, MLOPS_FINDING_DRIFT,
								"NULL share changed by %.3f (threshold %g)",
								change, t->null_share);
}

/*
 * Numeric column, from its accumulated counts: PSI over the baseline's bins,
 * the moments, and KS between the baseline's sample and the live values of
 * the accumulator's bottom-k rows (every row up to MLOPS_DRIFT_KS_ROWS).
 */
static void
CompareNumeric(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
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
	MlopsDriftAppendKeyDouble(&f->json, "psi", psi);
	MlopsDriftAppendKeyDouble(&f->json, "ks_statistic", ks);
	MlopsDriftAppendKeyDouble(&f->json, "ks_p_value", ks_p);
	appendStringInfo(&f->json, ", \"ks_rows\": " INT64_FORMAT, nks);
	MlopsDriftAppendKeyDouble(&f->json, "mean", mean);
	MlopsDriftAppendKeyDouble(&f->json, "baseline_mean", b->mean);
	MlopsDriftAppendKeyDouble(&f->json, "std", std);
	MlopsDriftAppendKeyDouble(&f->json, "baseline_std", b->std);
	MlopsDriftAppendKeyDouble(&f->json, "outside_range_share", outside);
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
		MlopsDriftFindingReason(f, MLOPS_FINDING_DRIFT, "PSI %.3f >= %g", psi,
								t->psi_drift);
	else if (psi >= t->psi_warning)
		MlopsDriftFindingReason(f, MLOPS_FINDING_WARNING, "PSI %.3f >= %g",
								psi, t->psi_warning);
	if (ks >= t->ks_statistic && ks_p < t->p_value)
		MlopsDriftFindingReason(f, MLOPS_FINDING_DRIFT,
								"KS statistic %.3f >= %g with p-value %.3g < %g",
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
CompareCategorical(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
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
		MlopsDriftAppendKeyDouble(&f->json, "linf", linf);
	else
		appendStringInfoString(&f->json, ", \"linf\": null");
	MlopsDriftAppendKeyDouble(&f->json, "chi_square", chi);
	appendStringInfo(&f->json, ", \"chi_square_df\": %d", df);
	MlopsDriftAppendKeyDouble(&f->json, "chi_square_p_value", p);
	MlopsDriftAppendKeyDouble(&f->json, "unseen_share", nlive > 0 ? cur[b->ntop + 1] / nlive : NAN);
	MlopsDriftAppendKeyDouble(&f->json, "other_share", nlive > 0 ? cur[b->ntop] / nlive : NAN);
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
			MlopsDriftFindingReason(f, MLOPS_FINDING_DRIFT,
									"L-infinity %.3f >= %g with chi-square p-value %.3g < %g",
									linf, t->linf, p, t->p_value);
		else if (linf >= t->linf)
			MlopsDriftFindingReason(f, MLOPS_FINDING_WARNING,
									"L-infinity %.3f >= %g (chi-square p-value %.3g)",
									linf, t->linf, p);
		if (unseen_share >= t->unseen_share)
			MlopsDriftFindingReason(f, MLOPS_FINDING_DRIFT,
									"unseen values in %.1f%% of rows (threshold %g)",
									100.0 * unseen_share, t->unseen_share);
	}
}

/* Compare an accumulated live column with its baseline, by the baseline's kind */
void
MlopsDriftCompareColumn(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
						const MlopsDriftState *state, int col, int64 nrows,
						const MlopsDriftThresholds *t)
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
void
MlopsDriftFindingInit(MlopsDriftFinding *f, const MlopsBaselineColumn *b,
					  const char *live_type)
{
	f->status = MLOPS_FINDING_OK;
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
void
MlopsDriftFindingAppend(StringInfo buf, const MlopsDriftFinding *f)
{
	appendStringInfo(buf, "{%s, \"status\": \"%s\", \"reasons\": [%s]}",
					 f->json.data, status_names[f->status], f->reasons.data);
}

/* Append  "key": number  (with a leading comma) */
void
MlopsDriftAppendKeyDouble(StringInfo buf, const char *key, double v)
{
	appendStringInfo(buf, ", \"%s\": ", key);
	MlopsAppendJsonDouble(buf, v);
}
