/*-------------------------------------------------------------------------
 *
 * drift_accum.c
 *	  The parallel accumulator behind mlops.check_drift: an aggregate,
 *	  mlops.drift_accumulate(spec bytea, VARIADIC "any"), that reduces the
 *	  live relation to what the drift statistics need, in one scan that
 *	  PostgreSQL can split across parallel workers.
 *
 * Per column it keeps the NULL count and, by the kind the baseline gave the
 * column: for numbers the moments (about the baseline mean) and the counts
 * of the baseline's 12 bins; for booleans the counts of false and true; for
 * categories the count of every distinct value.  For the KS statistic it
 * keeps the numeric values of the 20,000 rows with the smallest content
 * hash (a bottom-k sample: all rows when there are fewer).  All of it
 * combines exactly, so the result depends neither on the physical order of
 * the rows nor on how the scan was split between workers.
 *
 * The spec (built by check.c from the baseline) carries, per argument, the
 * kind, the moments' shift and the bin edges as raw doubles, so that each
 * process decodes it once with no number parsing.  The transition state is
 * an "internal" C struct; the serialised form (also the aggregate's result)
 * is self-describing and validated when read back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "train/baseline.h"
#include "drift/drift_accum.h"
#include "model/preprocess.h"

PG_FUNCTION_INFO_V1(mlops_drift_accum_trans);
PG_FUNCTION_INFO_V1(mlops_drift_accum_combine);
PG_FUNCTION_INFO_V1(mlops_drift_accum_serial);
PG_FUNCTION_INFO_V1(mlops_drift_accum_deserial);
PG_FUNCTION_INFO_V1(mlops_drift_accum_final);

#define DRIFT_SPEC_MAGIC	0x3146524Du	/* "MRF1" */
#define DRIFT_STATE_MAGIC	0x3153524Du	/* "MRS1" */
#define DRIFT_MAX_SAMPLE	100000	/* sanity bound on a spec's KS sample */

/*
 * Numeric values are buffered and counted a column at a time, a batch at a
 * time, which keeps one column's edges in registers for a whole batch.
 */
#define DRIFT_BATCH			1024

/* The decoded spec, cached per process in the transition's fn_extra */
typedef struct AccCache
{
	MlopsDriftSpec spec;
	MlopsValueReader *readers;	/* per column, for the argument's type */
	double	   *rowvals;		/* the current row's numeric values */
} AccCache;

/* Content hash of a row: mix each value in, finish with splitmix64's mixer */
#define ROWHASH_SEED	UINT64CONST(0x6D6C6F7073647269)

static inline uint64
RowHashMix(uint64 h, uint64 x)
{
	h ^= x + UINT64CONST(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
	return h;
}

static inline uint64
RowHashFinish(uint64 x)
{
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* ------------------------------------------------------------------------
 * The spec
 * ------------------------------------------------------------------------
 */

/* Append raw bytes to a StringInfo */
static void
Put(StringInfo buf, const void *p, Size len)
{
	appendBinaryStringInfo(buf, (const char *) p, len);
}

/*
 * The spec of the accumulator for the given baseline columns, in argument
 * order (built by check_drift).
 */
bytea *
MlopsDriftSpecBuild(MlopsBaselineColumn **cols, int ncols)
{
	StringInfoData buf;
	uint32		magic = DRIFT_SPEC_MAGIC;
	int32		n = ncols;
	bytea	   *result;

	initStringInfo(&buf);
	Put(&buf, &magic, sizeof(magic));
	Put(&buf, &n, sizeof(n));
	for (int i = 0; i < ncols; i++)
	{
		const MlopsBaselineColumn *b = cols[i];
		int32		hdr[2];
		double		shift = (b->kind == MLOPS_KIND_NUMERIC && isfinite(b->mean)) ? b->mean : 0.0;

		hdr[0] = (int32) b->kind;
		hdr[1] = b->kind == MLOPS_KIND_NUMERIC ? b->nedges : 0;
		Put(&buf, hdr, sizeof(hdr));
		Put(&buf, &shift, sizeof(shift));
		Put(&buf, b->edges, hdr[1] * sizeof(double));
	}
	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	pfree(buf.data);
	return result;
}

/* Reader over a byte string that refuses to run past its end */
typedef struct Reader
{
	const char *p;
	const char *end;
	const char *what;
} Reader;

static void
Get(Reader *r, void *dst, Size len)
{
	if (r->p > r->end || len > (Size) (r->end - r->p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed %s", r->what)));
	memcpy(dst, r->p, len);
	r->p += len;
}

/* Decode a spec (allocating in the current memory context) */
static void
SpecDecode(const bytea *spec, MlopsDriftSpec *out)
{
	Reader		r;
	uint32		magic;

	r.p = VARDATA_ANY(spec);
	r.end = r.p + VARSIZE_ANY_EXHDR(spec);
	r.what = "drift accumulator spec";
	Get(&r, &magic, sizeof(magic));
	Get(&r, &out->ncols, sizeof(out->ncols));
	if (magic != DRIFT_SPEC_MAGIC || out->ncols < 0 || out->ncols > MaxTupleAttributeNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed drift accumulator spec")));
	out->cols = palloc0(Max(out->ncols, 1) * sizeof(MlopsDriftSpecCol));
	for (int i = 0; i < out->ncols; i++)
	{
		MlopsDriftSpecCol *c = &out->cols[i];
		int32		hdr[2];

		Get(&r, hdr, sizeof(hdr));
		c->kind = (MlopsFeatureKind) hdr[0];
		c->nedges = hdr[1];
		if ((c->kind != MLOPS_KIND_NUMERIC && c->kind != MLOPS_KIND_BOOLEAN &&
			 c->kind != MLOPS_KIND_CATEGORICAL) ||
			(c->nedges != 0 && c->nedges != MLOPS_BASELINE_NEDGES))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed drift accumulator spec")));
		Get(&r, &c->shift, sizeof(double));
		Get(&r, c->edges, c->nedges * sizeof(double));
		for (int k = 1; k < c->nedges; k++)
			if (!(c->edges[k - 1] <= c->edges[k]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("malformed drift accumulator spec")));
	}
}

/* ------------------------------------------------------------------------
 * The state
 * ------------------------------------------------------------------------
 */

/* A new, empty state for columns of these kinds, in context cxt */
static MlopsDriftState *
StateNew(MemoryContext cxt, int ncols, const MlopsFeatureKind *kinds)
{
	MlopsDriftState *s = MemoryContextAllocZero(cxt, sizeof(MlopsDriftState));

	s->cxt = cxt;
	s->ncols = ncols;
	s->cols = MemoryContextAllocZero(cxt, Max(ncols, 1) * sizeof(MlopsDriftAccCol));
	for (int i = 0; i < ncols; i++)
	{
		MlopsDriftAccCol *c = &s->cols[i];

		c->kind = kinds[i];
		c->numidx = -1;
		if (c->kind == MLOPS_KIND_NUMERIC)
			c->numidx = s->nnum++;
	}
	if (s->nnum > 0)
	{
		s->ksheap = MemoryContextAlloc(cxt, MLOPS_DRIFT_KS_ROWS * sizeof(MlopsDriftKsRow));
		s->ksvals = MemoryContextAllocHuge(cxt, (Size) MLOPS_DRIFT_KS_ROWS * s->nnum * sizeof(double));
	}
	return s;
}

/*
 * Offer a row (its content hash and numeric values) to the bottom-k sample:
 * kept while there is room, else if its hash is below the largest kept.
 */
static void
KsOffer(MlopsDriftState *s, uint64 hash, const double *vals)
{
	MlopsDriftKsRow *heap = s->ksheap;
	int			slot;
	int			i;

	if (s->ksn < MLOPS_DRIFT_KS_ROWS)
	{
		/* append and sift up */
		slot = s->ksn;
		i = s->ksn++;
		while (i > 0 && heap[(i - 1) / 2].hash < hash)
		{
			heap[i] = heap[(i - 1) / 2];
			i = (i - 1) / 2;
		}
	}
	else
	{
		if (hash >= heap[0].hash)
			return;
		/* replace the largest and sift down */
		slot = heap[0].slot;
		i = 0;
		for (;;)
		{
			int			child = 2 * i + 1;

			if (child >= s->ksn)
				break;
			if (child + 1 < s->ksn && heap[child + 1].hash > heap[child].hash)
				child++;
			if (heap[child].hash <= hash)
				break;
			heap[i] = heap[child];
			i = child;
		}
	}
	heap[i].hash = hash;
	heap[i].slot = slot;
	memcpy(&s->ksvals[(Size) slot * s->nnum], vals, s->nnum * sizeof(double));
}

/* Find or add a category (bytes str of length len), add count; its hash */
static uint32
CategoryAdd(MlopsDriftState *s, MlopsDriftAccCol *c, const char *str, int len, int64 count)
{
	uint32		h = hash_bytes((const unsigned char *) str, len);
	uint32		mask;
	uint32		pos;

	if (c->ncat * 2 >= c->capcat)
	{
		/* grow (or create) the open-addressing table */
		int			newcap = c->capcat ? c->capcat * 2 : 64;
		MlopsDriftCategory *old = c->cat;
		int			oldcap = c->capcat;

		c->cat = MemoryContextAllocZero(s->cxt, newcap * sizeof(MlopsDriftCategory));
		c->capcat = newcap;
		for (int k = 0; k < oldcap; k++)
		{
			if (old[k].str == NULL)
				continue;
			pos = old[k].hash & (newcap - 1);
			while (c->cat[pos].str != NULL)
				pos = (pos + 1) & (newcap - 1);
			c->cat[pos] = old[k];
		}
		if (old)
			pfree(old);
	}
	mask = c->capcat - 1;
	pos = h & mask;
	while (c->cat[pos].str != NULL)
	{
		MlopsDriftCategory *e = &c->cat[pos];

		if (e->hash == h && e->len == len && memcmp(e->str, str, len) == 0)
		{
			e->count += count;
			return h;
		}
		pos = (pos + 1) & mask;
	}
	c->cat[pos].hash = h;
	c->cat[pos].len = len;
	c->cat[pos].str = MemoryContextAlloc(s->cxt, len + 1);
	memcpy(c->cat[pos].str, str, len);
	c->cat[pos].str[len] = '\0';
	c->cat[pos].count = count;
	c->ncat++;
	return h;
}

/* Add state b into state a (same shape) */
static void
StateMerge(MlopsDriftState *a, const MlopsDriftState *b)
{
	if (a->ncols != b->ncols)
		elog(ERROR, "drift accumulator states of different shapes");
	a->rows += b->rows;
	for (int i = 0; i < a->ncols; i++)
	{
		MlopsDriftAccCol *x = &a->cols[i];
		const MlopsDriftAccCol *y = &b->cols[i];

		if (x->kind != y->kind)
			elog(ERROR, "drift accumulator states of different shapes");
		x->nulls += y->nulls;
		x->n += y->n;
		x->s1 += y->s1;
		x->s2 += y->s2;
		for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
			x->bins[k] += y->bins[k];
		x->bools[0] += y->bools[0];
		x->bools[1] += y->bools[1];
		for (int k = 0; k < y->capcat; k++)
			if (y->cat[k].str)
				CategoryAdd(a, x, y->cat[k].str, y->cat[k].len, y->cat[k].count);
	}
	for (int k = 0; k < b->ksn; k++)
		KsOffer(a, b->ksheap[k].hash, &b->ksvals[(Size) b->ksheap[k].slot * b->nnum]);
}

/* The serialised state (also the aggregate's result) */
static bytea *
StateSerialize(const MlopsDriftState *s)
{
	StringInfoData buf;
	uint32		magic = DRIFT_STATE_MAGIC;
	bytea	   *result;

	initStringInfo(&buf);
	Put(&buf, &magic, sizeof(magic));
	Put(&buf, &s->rows, sizeof(s->rows));
	Put(&buf, &s->ncols, sizeof(s->ncols));
	for (int i = 0; i < s->ncols; i++)
	{
		const MlopsDriftAccCol *c = &s->cols[i];
		int32		hdr[2] = {(int32) c->kind, c->ncat};

		Put(&buf, hdr, sizeof(hdr));
		Put(&buf, &c->nulls, sizeof(int64));
		Put(&buf, &c->n, sizeof(int64));
		Put(&buf, &c->s1, sizeof(double));
		Put(&buf, &c->s2, sizeof(double));
		Put(&buf, c->bins, sizeof(c->bins));
		Put(&buf, c->bools, sizeof(c->bools));
		for (int k = 0; k < c->capcat; k++)
		{
			if (c->cat[k].str == NULL)
				continue;
			Put(&buf, &c->cat[k].len, sizeof(int32));
			Put(&buf, c->cat[k].str, c->cat[k].len);
			Put(&buf, &c->cat[k].count, sizeof(int64));
		}
	}
	Put(&buf, &s->ksn, sizeof(s->ksn));
	for (int k = 0; k < s->ksn; k++)
	{
		Put(&buf, &s->ksheap[k].hash, sizeof(uint64));
		Put(&buf, &s->ksvals[(Size) s->ksheap[k].slot * s->nnum], s->nnum * sizeof(double));
	}
	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	pfree(buf.data);
	return result;
}

/*
 * The kinds of the ncols columns of a serialised state, read from scan (a
 * copy of the reader) by a first walk over the columns, which also checks
 * that their lengths stay within the state.
 */
static MlopsFeatureKind *
StateKinds(Reader scan, int32 ncols)
{
	MlopsFeatureKind *kinds = palloc(Max(ncols, 1) * sizeof(MlopsFeatureKind));

	for (int i = 0; i < ncols; i++)
	{
		int32		hdr[2];

		Get(&scan, hdr, sizeof(hdr));
		if ((hdr[0] != MLOPS_KIND_NUMERIC && hdr[0] != MLOPS_KIND_BOOLEAN &&
			 hdr[0] != MLOPS_KIND_CATEGORICAL) || hdr[1] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed drift accumulator state")));
		kinds[i] = (MlopsFeatureKind) hdr[0];
		scan.p += 2 * sizeof(int64) + 2 * sizeof(double) +
			MLOPS_BASELINE_NBINS * sizeof(int64) + 2 * sizeof(int64);
		for (int k = 0; k < hdr[1]; k++)
		{
			int32		len;

			Get(&scan, &len, sizeof(len));
			if (len < 0 || len > scan.end - scan.p)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("malformed drift accumulator state")));
			scan.p += len + sizeof(int64);
		}
		if (scan.p > scan.end)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed drift accumulator state")));
	}
	return kinds;
}

/* Read a serialised state back, into context cxt */
MlopsDriftState *
MlopsDriftStateDeserialize(const bytea *bytes, MemoryContext cxt)
{
	Reader		r;
	uint32		magic;
	int64		rows;
	int32		ncols;
	MlopsFeatureKind *kinds;
	MlopsDriftState *s;

	r.p = VARDATA_ANY(bytes);
	r.end = r.p + VARSIZE_ANY_EXHDR(bytes);
	r.what = "drift accumulator state";
	Get(&r, &magic, sizeof(magic));
	Get(&r, &rows, sizeof(rows));
	Get(&r, &ncols, sizeof(ncols));
	if (magic != DRIFT_STATE_MAGIC || ncols < 0 || ncols > MaxTupleAttributeNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed drift accumulator state")));
	/* the kinds come first in each column; read them in a first walk */
	kinds = StateKinds(r, ncols);
	s = StateNew(cxt, ncols, kinds);
	pfree(kinds);
	s->rows = rows;
	for (int i = 0; i < ncols; i++)
	{
		MlopsDriftAccCol *c = &s->cols[i];
		int32		hdr[2];

		Get(&r, hdr, sizeof(hdr));
		Get(&r, &c->nulls, sizeof(int64));
		Get(&r, &c->n, sizeof(int64));
		Get(&r, &c->s1, sizeof(double));
		Get(&r, &c->s2, sizeof(double));
		Get(&r, c->bins, sizeof(c->bins));
		Get(&r, c->bools, sizeof(c->bools));
		for (int k = 0; k < hdr[1]; k++)
		{
			int32		len;
			int64		count;
			const char *str;

			Get(&r, &len, sizeof(len));
			str = r.p;
			r.p += len;
			Get(&r, &count, sizeof(count));
			CategoryAdd(s, c, str, len, count);
		}
	}
	{
		int32		ksn;
		double	   *vals = palloc(Max(s->nnum, 1) * sizeof(double));

		Get(&r, &ksn, sizeof(ksn));
		if (ksn < 0 || ksn > MLOPS_DRIFT_KS_ROWS || (ksn > 0 && s->nnum == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed drift accumulator state")));
		for (int k = 0; k < ksn; k++)
		{
			uint64		hash;

			Get(&r, &hash, sizeof(hash));
			Get(&r, vals, s->nnum * sizeof(double));
			KsOffer(s, hash, vals);
		}
		pfree(vals);
	}
	return s;
}

/* ------------------------------------------------------------------------
 * The aggregate's support functions
 * ------------------------------------------------------------------------
 */

/*
 * The spec decoded once per process and kept with the aggregate's call
 * site; the readers follow the actual argument types.
 */
static AccCache *
GetCache(FunctionCallInfo fcinfo)
{
	AccCache   *cache = (AccCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (cache != NULL)
		return cache;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("drift accumulator spec must not be NULL")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache = palloc0(sizeof(AccCache));
	SpecDecode(PG_GETARG_BYTEA_PP(1), &cache->spec);
	if (cache->spec.ncols != PG_NARGS() - 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("drift accumulator spec describes %d columns, %d given",
						cache->spec.ncols, PG_NARGS() - 2)));
	cache->rowvals = palloc0(Max(cache->spec.ncols, 1) * sizeof(double));
	cache->readers = palloc0(Max(cache->spec.ncols, 1) * sizeof(MlopsValueReader));
	for (int i = 0; i < cache->spec.ncols; i++)
	{
		MlopsDriftSpecCol *c = &cache->spec.cols[i];
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, i + 2);
		Oid			base = getBaseType(typid);

		if (!OidIsValid(typid))
			elog(ERROR, "could not determine the type of drift accumulator argument %d", i + 2);
		if (c->kind != MLOPS_KIND_CATEGORICAL &&
			!(base == INT2OID || base == INT4OID || base == INT8OID || base == FLOAT4OID ||
			  base == FLOAT8OID || base == NUMERICOID || base == BOOLOID))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("drift accumulator argument %d must be numeric or boolean, not %s",
							i + 2, format_type_be(typid))));
		MlopsValueReaderInit(&cache->readers[i], typid,
							 c->kind == MLOPS_KIND_CATEGORICAL ? MLOPS_KIND_CATEGORICAL
							 : MLOPS_KIND_NUMERIC);
	}
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/* Count the buffered values of a numeric column */
static void
FlushNumbers(MlopsDriftAccCol *a, const MlopsDriftSpecCol *c)
{
	double		s1 = a->s1,
				s2 = a->s2;

	if (c->nedges)
	{
		const double e0 = c->edges[0],
					e1 = c->edges[1],
					e2 = c->edges[2],
					e3 = c->edges[3],
					e4 = c->edges[4],
					e5 = c->edges[5],
					e6 = c->edges[6],
					e7 = c->edges[7],
					e8 = c->edges[8],
					e9 = c->edges[9],
					e10 = c->edges[10];

		for (int i = 0; i < a->nbuf; i++)
		{
			double		v = a->buf[i];
			double		d = v - c->shift;

			s1 += d;
			s2 += d * d;
			a->bins[(v >= e0) + (v > e1) + (v > e2) + (v > e3) + (v > e4) + (v > e5) +
					(v > e6) + (v > e7) + (v > e8) + (v > e9) + (v > e10)]++;
		}
	}
	else
	{
		for (int i = 0; i < a->nbuf; i++)
		{
			double		d = a->buf[i] - c->shift;

			s1 += d;
			s2 += d * d;
		}
	}
	a->n += a->nbuf;
	a->s1 = s1;
	a->s2 = s2;
	a->nbuf = 0;
}

/* Count every buffered value of a state (before it is combined or read) */
static void
FlushState(MlopsDriftState *s)
{
	AccCache   *cache = (AccCache *) s->cache;

	if (cache == NULL)
		return;
	for (int i = 0; i < s->ncols; i++)
		if (s->cols[i].nbuf > 0)
			FlushNumbers(&s->cols[i], &cache->spec.cols[i]);
}

/* mlops.drift_accumulate transition: one row */
Datum
mlops_drift_accum_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	AccCache   *cache;
	MlopsDriftState *s;
	uint64		hash = ROWHASH_SEED;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mlops.drift_accumulate can only be called as an aggregate")));
	cache = GetCache(fcinfo);
	if (PG_ARGISNULL(0))
	{
		MlopsFeatureKind *kinds = palloc(Max(cache->spec.ncols, 1) * sizeof(MlopsFeatureKind));

		for (int i = 0; i < cache->spec.ncols; i++)
			kinds[i] = cache->spec.cols[i].kind;
		s = StateNew(aggcxt, cache->spec.ncols, kinds);
		s->cache = cache;
		for (int i = 0; i < s->ncols; i++)
			if (kinds[i] == MLOPS_KIND_NUMERIC)
				s->cols[i].buf = MemoryContextAlloc(aggcxt, DRIFT_BATCH * sizeof(double));
	}
	else
		s = (MlopsDriftState *) PG_GETARG_POINTER(0);

	s->rows++;
	for (int i = 0; i < s->ncols; i++)
	{
		MlopsDriftAccCol *a = &s->cols[i];
		const MlopsDriftSpecCol *c = &cache->spec.cols[i];
		Datum		value;

		if (PG_ARGISNULL(i + 2))
		{
			a->nulls++;
			hash = RowHashMix(hash, UINT64CONST(0xFFF8000000000001));
			if (a->numidx >= 0)
				cache->rowvals[a->numidx] = NAN;
			continue;
		}
		value = PG_GETARG_DATUM(i + 2);
		switch (c->kind)
		{
			case MLOPS_KIND_NUMERIC:
				{
					double		v = cache->readers[i].typid == FLOAT8OID ?
						DatumGetFloat8(value) : MlopsReadNumber(&cache->readers[i], value);
					uint64		bits;

					memcpy(&bits, &v, sizeof(bits));
					hash = RowHashMix(hash, bits);
					/* NaN and infinities count as missing, as for the loader */
					if (!isfinite(v))
					{
						a->nulls++;
						cache->rowvals[a->numidx] = NAN;
						break;
					}
					cache->rowvals[a->numidx] = v;
					a->buf[a->nbuf++] = v;
					if (a->nbuf == DRIFT_BATCH)
						FlushNumbers(a, c);
				}
				break;
			case MLOPS_KIND_BOOLEAN:
				{
					double		v = MlopsReadNumber(&cache->readers[i], value);

					a->n++;
					a->bools[v != 0.0]++;
					hash = RowHashMix(hash, v != 0.0);
				}
				break;
			default:
				if (cache->readers[i].is_text)
				{
					text	   *t = DatumGetTextPP(value);

					hash = RowHashMix(hash,
									  CategoryAdd(s, a, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 1));
				}
				else
				{
					char	   *str = MlopsReadText(&cache->readers[i], value);

					hash = RowHashMix(hash, CategoryAdd(s, a, str, strlen(str), 1));
				}
				a->n++;
				break;
		}
	}
	if (s->nnum > 0)
		KsOffer(s, RowHashFinish(hash), cache->rowvals);
	PG_RETURN_POINTER(s);
}

/* mlops.drift_accumulate combine: partial states from parallel workers */
Datum
mlops_drift_accum_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MlopsDriftState *a = PG_ARGISNULL(0) ? NULL : (MlopsDriftState *) PG_GETARG_POINTER(0);
	MlopsDriftState *b = PG_ARGISNULL(1) ? NULL : (MlopsDriftState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "mlops_drift_accum_combine called in non-aggregate context");
	if (a)
		FlushState(a);
	if (b)
		FlushState(b);
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		MlopsFeatureKind *kinds = palloc(Max(b->ncols, 1) * sizeof(MlopsFeatureKind));

		for (int i = 0; i < b->ncols; i++)
			kinds[i] = b->cols[i].kind;
		a = StateNew(aggcxt, b->ncols, kinds);
	}
	StateMerge(a, b);
	PG_RETURN_POINTER(a);
}

/* mlops.drift_accumulate serialisation, for parallel workers */
Datum
mlops_drift_accum_serial(PG_FUNCTION_ARGS)
{
	MlopsDriftState *s = (MlopsDriftState *) PG_GETARG_POINTER(0);

	FlushState(s);
	PG_RETURN_BYTEA_P(StateSerialize(s));
}

/* mlops.drift_accumulate deserialisation */
Datum
mlops_drift_accum_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "mlops_drift_accum_deserial called in non-aggregate context");
	PG_RETURN_POINTER(MlopsDriftStateDeserialize(PG_GETARG_BYTEA_PP(0), aggcxt));
}

/* mlops.drift_accumulate result: the serialised state (NULL for no rows) */
Datum
mlops_drift_accum_final(PG_FUNCTION_ARGS)
{
	MlopsDriftState *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (MlopsDriftState *) PG_GETARG_POINTER(0);
	FlushState(s);
	PG_RETURN_BYTEA_P(StateSerialize(s));
}
