/*-------------------------------------------------------------------------
 *
 * snapshot_stats.c
 *	  Per-column statistics of a snapshot, gathered in the same pass that
 *	  reads its rows.
 *
 * For every column: non-NULL and NULL counts.  Numbers (integers, floats,
 * numeric): min, max, mean and sample standard deviation over the finite
 * values and the count of NaN and infinities; integers and every other
 * non-float type also get an approximate distinct count (HyperLogLog).
 * Booleans: true and false counts.  Dates and timestamps: min and max.
 * Text: average and largest size in bytes.  The result is a jsonb array,
 * one object per column, in column order; the mlops.snapshots view shows it
 * keyed by column name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/rowhash.h"
#include "snapshot/snapshot_int.h"

typedef enum SnapStatKind
{
	STAT_INT,					/* int2, int4, int8 */
	STAT_FLOAT,					/* float4, float8 */
	STAT_NUMERIC,
	STAT_BOOL,
	STAT_DATE,					/* int32 days */
	STAT_TIME64,				/* timestamp, timestamptz, time: int64 */
	STAT_TEXT,					/* text, varchar, bpchar */
	STAT_OTHER
} SnapStatKind;

struct SnapColStats
{
	SnapStatKind kind;
	Oid			typid;
	int16		typlen;
	bool		typbyval;
	int64		n;				/* non-NULL values */
	int64		nulls;
	/* numbers */
	int64		nfinite;
	int64		nonfinite;
	double		shift;			/* first finite value: sums are of x - shift */
	double		sum;
	double		sumsq;
	double		min;
	double		max;
	/* integers, dates, times: exact extremes */
	int64		imin;
	int64		imax;
	/* booleans */
	int64		ntrue;
	/* text */
	int64		bytes;
	int64		maxbytes;
	/* approximate distinct count */
	bool		use_hll;
	hyperLogLogState hll;
};

/* Statistics accumulators for the columns of a snapshot. */
SnapColStats *
SnapStatsInit(int ncols, const SnapColumn *cols)
{
	SnapColStats *stats = palloc0(sizeof(SnapColStats) * Max(ncols, 1));

	for (int i = 0; i < ncols; i++)
	{
		SnapColStats *s = &stats[i];

		s->typid = cols[i].typid;
		get_typlenbyval(s->typid, &s->typlen, &s->typbyval);
		switch (getBaseType(s->typid))
		{
			case INT2OID:
			case INT4OID:
			case INT8OID:
				s->kind = STAT_INT;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
				s->kind = STAT_FLOAT;
				break;
			case NUMERICOID:
				s->kind = STAT_NUMERIC;
				break;
			case BOOLOID:
				s->kind = STAT_BOOL;
				break;
			case DATEOID:
				s->kind = STAT_DATE;
				break;
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
			case TIMEOID:
				s->kind = STAT_TIME64;
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				s->kind = STAT_TEXT;
				break;
			default:
				s->kind = STAT_OTHER;
				break;
		}
		s->use_hll = (s->kind != STAT_FLOAT && s->kind != STAT_BOOL);
		if (s->use_hll)
			initHyperLogLog(&s->hll, 10);
		s->imin = PG_INT64_MAX;
		s->imax = PG_INT64_MIN;
		s->min = INFINITY;
		s->max = -INFINITY;
	}
	return stats;
}

/* Count a number into a column's moments and extremes. */
static inline void
AddNumber(SnapColStats *s, double x)
{
	double		d;

	if (!isfinite(x))
	{
		s->nonfinite++;
		return;
	}
	if (s->nfinite == 0)
		s->shift = x;
	s->nfinite++;
	d = x - s->shift;
	s->sum += d;
	s->sumsq += d * d;
	if (x < s->min)
		s->min = x;
	if (x > s->max)
		s->max = x;
}

/* Count an integer-valued datum into the exact extremes. */
static inline void
AddInt(SnapColStats *s, int64 v)
{
	if (v < s->imin)
		s->imin = v;
	if (v > s->imax)
		s->imax = v;
}

/* A 32-bit hash of a value for the distinct-count sketch. */
static uint32
ValueHash(SnapColStats *s, Datum value)
{
	if (s->typbyval)
		return (uint32) MlopsHashMix((uint64) value);
	if (s->typlen == -1)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
		uint32		h = hash_bytes((const unsigned char *) VARDATA_ANY(v),
								   VARSIZE_ANY_EXHDR(v));

		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
		return h;
	}
	if (s->typlen == -2)
		return hash_bytes((const unsigned char *) DatumGetCString(value),
						  strlen(DatumGetCString(value)));
	return hash_bytes((const unsigned char *) DatumGetPointer(value), s->typlen);
}

/* Count one row into the statistics. */
void
SnapStatsAdd(SnapColStats *stats, int ncols, const Datum *values, const bool *isnull)
{
	for (int i = 0; i < ncols; i++)
	{
		SnapColStats *s = &stats[i];
		Datum		v = values[i];

		if (isnull[i])
		{
			s->nulls++;
			continue;
		}
		s->n++;
		switch (s->kind)
		{
			case STAT_INT:
				{
					int64		x = s->typlen == 2 ? DatumGetInt16(v)
						: s->typlen == 4 ? DatumGetInt32(v) : DatumGetInt64(v);

					AddInt(s, x);
					AddNumber(s, (double) x);
					break;
				}
			case STAT_FLOAT:
				AddNumber(s, s->typlen == 4 ? (double) DatumGetFloat4(v) : DatumGetFloat8(v));
				break;
			case STAT_NUMERIC:
				AddNumber(s, DatumGetFloat8(DirectFunctionCall1(numeric_float8, v)));
				break;
			case STAT_BOOL:
				if (DatumGetBool(v))
					s->ntrue++;
				break;
			case STAT_DATE:
				AddInt(s, DatumGetDateADT(v));
				break;
			case STAT_TIME64:
				AddInt(s, DatumGetInt64(v));
				break;
			case STAT_TEXT:
				{
					int64		len = toast_raw_datum_size(v) - VARHDRSZ;

					s->bytes += len;
					if (len > s->maxbytes)
						s->maxbytes = len;
					break;
				}
			case STAT_OTHER:
				break;
		}
		if (s->use_hll)
			addHyperLogLog(&s->hll, ValueHash(s, v));
	}
}

/* Append a finite double to JSON in its shortest exact form. */
static void
AppendDouble(StringInfo buf, const char *key, double x)
{
	char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (!isfinite(x))
		appendStringInfo(buf, ", \"%s\": null", key);
	else
	{
		double_to_shortest_decimal_buf(x, num);
		appendStringInfo(buf, ", \"%s\": %s", key, num);
	}
}

/*
 * Append a date or time as a JSON string in ISO 8601, whatever DateStyle and
 * TimeZone say (time zones shown as UTC), so the stored statistics do not
 * depend on the session that took the snapshot.
 */
static void
AppendDateTime(StringInfo buf, const char *key, Oid typid, Datum value)
{
	const int	utc = 0;

	appendStringInfo(buf, ", \"%s\": \"%s\"", key,
					 JsonEncodeDateTime(NULL, value, getBaseType(typid), &utc));
}

/* The statistics as a JSON array, one object per column. */
char *
SnapStatsJson(SnapColStats *stats, int ncols, const SnapColumn *cols)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < ncols; i++)
	{
		SnapColStats *s = &stats[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"type\": ");
		escape_json(&buf, cols[i].type_text);
		appendStringInfo(&buf, ", \"n\": " INT64_FORMAT ", \"nulls\": " INT64_FORMAT,
						 s->n, s->nulls);
		switch (s->kind)
		{
			case STAT_INT:
			case STAT_FLOAT:
			case STAT_NUMERIC:
				if (s->kind == STAT_INT && s->n > 0)
					appendStringInfo(&buf, ", \"min\": " INT64_FORMAT ", \"max\": " INT64_FORMAT,
									 s->imin, s->imax);
				else
				{
					AppendDouble(&buf, "min", s->nfinite > 0 ? s->min : NAN);
					AppendDouble(&buf, "max", s->nfinite > 0 ? s->max : NAN);
				}
				if (s->nfinite > 0)
				{
					double		mean = s->sum / s->nfinite;
					double		var = s->nfinite > 1
						? (s->sumsq - s->sum * mean) / (s->nfinite - 1) : 0.0;

					AppendDouble(&buf, "mean", s->shift + mean);
					AppendDouble(&buf, "stddev", sqrt(Max(var, 0.0)));
				}
				else
				{
					AppendDouble(&buf, "mean", NAN);
					AppendDouble(&buf, "stddev", NAN);
				}
				if (s->kind != STAT_INT)
					appendStringInfo(&buf, ", \"nonfinite\": " INT64_FORMAT, s->nonfinite);
				break;
			case STAT_BOOL:
				appendStringInfo(&buf, ", \"true\": " INT64_FORMAT ", \"false\": " INT64_FORMAT,
								 s->ntrue, s->n - s->ntrue);
				break;
			case STAT_DATE:
				if (s->n > 0)
				{
					AppendDateTime(&buf, "min", s->typid, DateADTGetDatum((DateADT) s->imin));
					AppendDateTime(&buf, "max", s->typid, DateADTGetDatum((DateADT) s->imax));
				}
				break;
			case STAT_TIME64:
				if (s->n > 0)
				{
					AppendDateTime(&buf, "min", s->typid, Int64GetDatum(s->imin));
					AppendDateTime(&buf, "max", s->typid, Int64GetDatum(s->imax));
				}
				break;
			case STAT_TEXT:
				AppendDouble(&buf, "avg_bytes", s->n > 0 ? (double) s->bytes / s->n : NAN);
				appendStringInfo(&buf, ", \"max_bytes\": " INT64_FORMAT, s->maxbytes);
				break;
			case STAT_OTHER:
				break;
		}
		if (s->use_hll)
		{
			double		est = s->n > 0 ? estimateHyperLogLog(&s->hll) : 0.0;

			/* the sketch can overshoot on small inputs */
			appendStringInfo(&buf, ", \"distinct_estimate\": " INT64_FORMAT,
							 (int64) Min(rint(est), (double) s->n));
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}
