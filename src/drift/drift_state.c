/*-------------------------------------------------------------------------
 *
 * drift_state.c
 *	  The state behind the scan of mlops.check_drift (the aggregate
 *	  mlops.drift_accumulate, drift_accum.c): the spec it reads rows by,
 *	  what it keeps of them, how two states combine, and the flat form that
 *	  carries a state between processes and between Citus nodes.
 *
 * Per column it keeps the NULL count and, by the kind the baseline gave the
 * column: for numbers the moments (about the baseline mean) and the counts
 * of the baseline's 12 bins; for booleans the counts of false and true; for
 * categories the count of every distinct value.  For the KS statistic it
 * keeps the numeric values of the 20,000 rows with the smallest content
 * hash (a bottom-k sample: all rows when there are fewer).  All of it
 * combines exactly, so the counts depend neither on the physical order of
 * the rows nor on how the scan was split between workers or nodes.
 *
 * The spec (built by check.c from the baseline) carries, per column, the
 * kind, the moments' shift and the bin edges; it is decoded once per state.
 * Spec and flat state are written in network byte order.  The flat state is
 * canonical: categories and KS rows are written sorted, so two states with
 * the same counts flatten to the same bytes however the rows were split
 * (the sums of the moments aside, which follow the order of the rows).
 * Anyone may call the aggregate's support functions with bytes of their
 * own, so reading a spec or a flat state checks every length and count: bad
 * input is an error, never a read past its end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "port/pg_bswap.h"

#include "drift/drift_state.h"

#define DRIFT_SPEC_MAGIC	0x4D524632u /* "MRF2" */
#define DRIFT_STATE_MAGIC	0x4D525332u /* "MRS2" */

/*
 * Numeric values are buffered and counted a column at a time, a batch at a
 * time, which keeps one column's edges in registers for a whole batch.
 */
#define DRIFT_BATCH			1024

/* Flat sizes: a spec column before its edges, a state's header and column */
#define SPEC_COLUMN_SIZE	(2 * sizeof(int32) + sizeof(double))
#define FLAT_HEADER_SIZE	(sizeof(uint32) + sizeof(int64) + sizeof(int32))
#define FLAT_COLUMN_SIZE	(2 * sizeof(int32) + 2 * sizeof(int64) + 2 * sizeof(double) + \
							 (MLOPS_BASELINE_NBINS + 2) * sizeof(int64))
#define FLAT_CATEGORY_SIZE	(sizeof(int32) + sizeof(int64))	/* and its bytes */

/* Content hash of a row: mix each value in, finish with splitmix64's mixer */
#define ROWHASH_SEED	UINT64CONST(0x6D6C6F7073647269)

/* Mix a value into a row's hash */
static inline uint64
RowHashMix(uint64 h, uint64 x)
{
	h ^= x + UINT64CONST(0x9E3779B97F4A7C15) + (h << 6) + (h >> 2);
	return h;
}

/* Finish a row's hash */
static inline uint64
RowHashFinish(uint64 x)
{
	x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* ------------------------------------------------------------------------
 * Writing and reading flat bytes
 * ------------------------------------------------------------------------
 */

/* Writer into a buffer of a size computed beforehand */
typedef struct Writer
{
	char	   *p;
	char	   *end;
} Writer;

/* Write raw bytes */
static void
PutBytes(Writer *w, const void *src, Size len)
{
	if (len > (Size) (w->end - w->p))
		elog(ERROR, "drift accumulator flat form larger than computed");
	memcpy(w->p, src, len);
	w->p += len;
}

/* Write integers and doubles in network byte order */
static void
PutU32(Writer *w, uint32 v)
{
	v = pg_hton32(v);
	PutBytes(w, &v, sizeof(v));
}

static void
PutU64(Writer *w, uint64 v)
{
	v = pg_hton64(v);
	PutBytes(w, &v, sizeof(v));
}

static void
PutF64(Writer *w, double v)
{
	uint64		bits;

	memcpy(&bits, &v, sizeof(bits));
	PutU64(w, bits);
}

/* Reader over flat bytes that refuses to run past their end */
typedef struct Reader
{
	const char *p;
	const char *end;
	const char *what;
} Reader;

/* Read the data of a bytea; what names it in errors */
static void
ReaderInit(Reader *r, const bytea *bytes, const char *what)
{
	r->p = VARDATA_ANY(bytes);
	r->end = r->p + VARSIZE_ANY_EXHDR(bytes);
	r->what = what;
}

static void Malformed(const Reader *r) pg_attribute_noreturn();

/* The bytes are not a valid spec or state: an error */
static void
Malformed(const Reader *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed %s", r->what)));
}

/* Bytes left to read */
static inline Size
Remaining(const Reader *r)
{
	return (Size) (r->end - r->p);
}

/* The next len bytes, in place */
static const char *
GetBytes(Reader *r, Size len)
{
	const char *p = r->p;

	if (len > Remaining(r))
		Malformed(r);
	r->p += len;
	return p;
}

/* Read integers and doubles in network byte order */
static uint32
GetU32(Reader *r)
{
	uint32		v;

	memcpy(&v, GetBytes(r, sizeof(v)), sizeof(v));
	return pg_ntoh32(v);
}

static uint64
GetU64(Reader *r)
{
	uint64		v;

	memcpy(&v, GetBytes(r, sizeof(v)), sizeof(v));
	return pg_ntoh64(v);
}

static double
GetF64(Reader *r)
{
	uint64		bits = GetU64(r);
	double		v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* A kind the accumulator knows */
static bool
KindIsValid(int32 kind)
{
	return kind == MLOPS_KIND_NUMERIC || kind == MLOPS_KIND_BOOLEAN ||
		kind == MLOPS_KIND_CATEGORICAL;
}

/* ------------------------------------------------------------------------
 * The spec
 * ------------------------------------------------------------------------
 */

/*
 * The spec of the accumulator for the given baseline columns, in argument
 * order (built by check_drift).  ks_bound, unless MLOPS_DRIFT_NO_BOUND,
 * keeps rows whose content hash is above it out of the KS sample: it
 * follows the columns as eight more bytes (a spec without them has none).
 * On Citus each shard's state carries its own bottom-k rows to the
 * coordinator; a bound a little above where the global k-th smallest hash
 * is expected spares sending nearly all of them (check.c sets it, and
 * scans again without it in the unlikely case it was too tight).
 */
bytea *
MlopsDriftSpecBuild(MlopsBaselineColumn **cols, int ncols, uint64 ks_bound)
{
	Size		size = VARHDRSZ + sizeof(uint32) + sizeof(int32);
	bytea	   *result;
	Writer		w;

	for (int i = 0; i < ncols; i++)
		size += SPEC_COLUMN_SIZE +
			(cols[i]->kind == MLOPS_KIND_NUMERIC ? cols[i]->nedges : 0) * sizeof(double);
	if (ks_bound != MLOPS_DRIFT_NO_BOUND)
		size += sizeof(uint64);
	result = palloc(size);
	SET_VARSIZE(result, size);
	w.p = VARDATA(result);
	w.end = (char *) result + size;
	PutU32(&w, DRIFT_SPEC_MAGIC);
	PutU32(&w, (uint32) ncols);
	for (int i = 0; i < ncols; i++)
	{
		const MlopsBaselineColumn *b = cols[i];
		int32		nedges = b->kind == MLOPS_KIND_NUMERIC ? b->nedges : 0;

		PutU32(&w, (uint32) b->kind);
		PutU32(&w, (uint32) nedges);
		PutF64(&w, (b->kind == MLOPS_KIND_NUMERIC && isfinite(b->mean)) ? b->mean : 0.0);
		for (int k = 0; k < nedges; k++)
			PutF64(&w, b->edges[k]);
	}
	if (ks_bound != MLOPS_DRIFT_NO_BOUND)
		PutU64(&w, ks_bound);
	Assert(w.p == w.end);
	return result;
}

/* Decode a spec into cxt; any malformed spec is an error */
MlopsDriftSpec *
MlopsDriftSpecDecode(const bytea *spec, MemoryContext cxt)
{
	Reader		r;
	MlopsDriftSpec *out;
	int32		ncols;

	ReaderInit(&r, spec, "drift accumulator spec");
	if (GetU32(&r) != DRIFT_SPEC_MAGIC)
		Malformed(&r);
	ncols = (int32) GetU32(&r);
	if (ncols < 0 || ncols > MaxTupleAttributeNumber ||
		(Size) ncols > Remaining(&r) / SPEC_COLUMN_SIZE)
		Malformed(&r);
	out = MemoryContextAllocZero(cxt, sizeof(MlopsDriftSpec));
	out->ncols = ncols;
	out->cols = MemoryContextAllocZero(cxt, Max(ncols, 1) * sizeof(MlopsDriftSpecCol));
	for (int i = 0; i < ncols; i++)
	{
		MlopsDriftSpecCol *c = &out->cols[i];
		int32		kind = (int32) GetU32(&r);

		c->nedges = (int32) GetU32(&r);
		if (!KindIsValid(kind) ||
			(c->nedges != 0 &&
			 (c->nedges != MLOPS_BASELINE_NEDGES || kind != MLOPS_KIND_NUMERIC)))
			Malformed(&r);
		c->kind = (MlopsFeatureKind) kind;
		c->shift = GetF64(&r);
		for (int k = 0; k < c->nedges; k++)
		{
			c->edges[k] = GetF64(&r);
			if (k > 0 && !(c->edges[k - 1] <= c->edges[k]))
				Malformed(&r);
		}
		if (MlopsDriftKindIsNumber(c->kind))
			out->nnumbers++;
		else
			out->ncategories++;
	}
	out->ks_bound = MLOPS_DRIFT_NO_BOUND;
	if (Remaining(&r) == sizeof(uint64))
		out->ks_bound = GetU64(&r);
	if (r.p != r.end)
		Malformed(&r);
	return out;
}

/* ------------------------------------------------------------------------
 * The state
 * ------------------------------------------------------------------------
 */

static void ShapeMismatch(void) pg_attribute_noreturn();

/* The columns of two states, or of a state and its spec, differ: an error */
static void
ShapeMismatch(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("drift accumulator states of different shapes")));
}

/* A new, empty state for columns of these kinds, in context cxt */
MlopsDriftState *
MlopsDriftStateNew(MemoryContext cxt, int ncols, const MlopsFeatureKind *kinds)
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
	return s;
}

/*
 * Read rows by this spec from now on (it must outlive the state): its
 * columns must be the state's, and the row buffers are made.
 */
void
MlopsDriftStateUseSpec(MlopsDriftState *s, const MlopsDriftSpec *spec)
{
	if (spec->ncols != s->ncols)
		ShapeMismatch();
	for (int i = 0; i < s->ncols; i++)
		if (spec->cols[i].kind != s->cols[i].kind)
			ShapeMismatch();
	s->spec = spec;
	s->rowvals = MemoryContextAllocZero(s->cxt, Max(s->nnum, 1) * sizeof(double));
	for (int i = 0; i < s->ncols; i++)
		if (s->cols[i].kind == MLOPS_KIND_NUMERIC && s->cols[i].buf == NULL)
			s->cols[i].buf = MemoryContextAlloc(s->cxt, DRIFT_BATCH * sizeof(double));
}

/* Room for one more row in the KS sample (it grows up to its bound) */
static void
KsGrow(MlopsDriftState *s)
{
	int			newcap = Min(Max(2 * s->kscap, 256), MLOPS_DRIFT_KS_ROWS);
	Size		valsize = (Size) newcap * s->nnum * sizeof(double);

	if (s->ksheap == NULL)
	{
		s->ksheap = MemoryContextAlloc(s->cxt, newcap * sizeof(MlopsDriftKsRow));
		s->ksvals = MemoryContextAllocHuge(s->cxt, valsize);
	}
	else
	{
		s->ksheap = repalloc(s->ksheap, newcap * sizeof(MlopsDriftKsRow));
		s->ksvals = repalloc_huge(s->ksvals, valsize);
	}
	s->kscap = newcap;
}

/*
 * Offer a row (its content hash and numeric values) to the bottom-k sample:
 * kept while there is room, else if its hash is below the largest kept.
 */
static void
KsOffer(MlopsDriftState *s, uint64 hash, const double *vals)
{
	MlopsDriftKsRow *heap;
	int			slot;
	int			i;

	if (s->ksn < MLOPS_DRIFT_KS_ROWS)
	{
		if (s->ksn == s->kscap)
			KsGrow(s);
		heap = s->ksheap;
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
		heap = s->ksheap;
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

		c->cat = MemoryContextAllocZero(s->cxt, (Size) newcap * sizeof(MlopsDriftCategory));
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

/*
 * Count every buffered value (before the state is combined or flattened);
 * only a state with a spec has any.
 */
static void
StateFlush(MlopsDriftState *s)
{
	for (int i = 0; i < s->ncols; i++)
		if (s->cols[i].nbuf > 0)
			FlushNumbers(&s->cols[i], &s->spec->cols[i]);
}

/* Content hash of a NULL value */
#define ROWHASH_NULL	UINT64CONST(0xFFF8000000000001)

/* A column of the row is NULL (or, for numbers, NaN or infinite) */
static inline void
AddMissing(MlopsDriftState *s, MlopsDriftAccCol *a)
{
	a->nulls++;
	if (a->numidx >= 0)
		s->rowvals[a->numidx] = NAN;
}

/*
 * Add one row, read by the state's spec (MlopsDriftStateUseSpec): its
 * values counted, its content hash offered to the KS sample.
 */
void
MlopsDriftStateAddRow(MlopsDriftState *s, const MlopsDriftRow *row)
{
	const MlopsDriftSpecCol *spec = s->spec->cols;
	uint64		hash = ROWHASH_SEED;
	int			ni = 0,
				ci = 0;

	s->rows++;
	for (int i = 0; i < s->ncols; i++)
	{
		MlopsDriftAccCol *a = &s->cols[i];
		const MlopsDriftSpecCol *c = &spec[i];
		double		v;
		uint64		bits;

		if (c->kind == MLOPS_KIND_CATEGORICAL)
		{
			int			k = ci++;

			if (row->category_null[k])
			{
				AddMissing(s, a);
				hash = RowHashMix(hash, ROWHASH_NULL);
			}
			else
			{
				hash = RowHashMix(hash, CategoryAdd(s, a, row->categories[k],
													row->category_len[k], 1));
				a->n++;
			}
			continue;
		}
		if (row->number_null && row->number_null[ni])
		{
			ni++;
			AddMissing(s, a);
			hash = RowHashMix(hash, ROWHASH_NULL);
			continue;
		}
		v = row->numbers[ni++];
		if (c->kind == MLOPS_KIND_BOOLEAN)
		{
			a->n++;
			a->bools[v != 0.0]++;
			hash = RowHashMix(hash, v != 0.0);
			continue;
		}
		memcpy(&bits, &v, sizeof(bits));
		hash = RowHashMix(hash, bits);
		/* NaN and infinities count as missing, as for the loader */
		if (!isfinite(v))
		{
			AddMissing(s, a);
			continue;
		}
		s->rowvals[a->numidx] = v;
		a->buf[a->nbuf++] = v;
		if (a->nbuf == DRIFT_BATCH)
			FlushNumbers(a, c);
	}
	if (s->nnum > 0)
	{
		uint64		h = RowHashFinish(hash);

		if (h <= s->spec->ks_bound)
			KsOffer(s, h, s->rowvals);
	}
}

/* Add state b into state a (same shape) */
void
MlopsDriftStateMerge(MlopsDriftState *a, MlopsDriftState *b)
{
	if (a->ncols != b->ncols)
		ShapeMismatch();
	StateFlush(a);
	StateFlush(b);
	a->rows += b->rows;
	for (int i = 0; i < a->ncols; i++)
	{
		MlopsDriftAccCol *x = &a->cols[i];
		const MlopsDriftAccCol *y = &b->cols[i];

		if (x->kind != y->kind)
			ShapeMismatch();
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

/* ------------------------------------------------------------------------
 * The flat form
 * ------------------------------------------------------------------------
 */

/* Bytes of the flat form of s, its varlena header included */
Size
MlopsDriftStateFlatSize(const MlopsDriftState *s)
{
	Size		size = VARHDRSZ + FLAT_HEADER_SIZE + sizeof(int32);

	for (int i = 0; i < s->ncols; i++)
	{
		const MlopsDriftAccCol *c = &s->cols[i];

		size += FLAT_COLUMN_SIZE;
		for (int k = 0; k < c->capcat; k++)
			if (c->cat[k].str)
				size += FLAT_CATEGORY_SIZE + c->cat[k].len;
	}
	return size + (Size) s->ksn * (sizeof(uint64) + (Size) s->nnum * sizeof(double));
}

/* Order of categories in the flat form: hash, then length, then bytes */
static int
CompareCategories(const void *a, const void *b)
{
	const MlopsDriftCategory *x = *(const MlopsDriftCategory *const *) a;
	const MlopsDriftCategory *y = *(const MlopsDriftCategory *const *) b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->str, y->str, x->len);
}

/* Order of KS rows in the flat form: hash, then values */
static int
CompareKsRows(const void *a, const void *b, void *arg)
{
	const MlopsDriftKsRow *x = (const MlopsDriftKsRow *) a;
	const MlopsDriftKsRow *y = (const MlopsDriftKsRow *) b;
	const MlopsDriftState *s = (const MlopsDriftState *) arg;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return memcmp(&s->ksvals[(Size) x->slot * s->nnum], &s->ksvals[(Size) y->slot * s->nnum],
				  s->nnum * sizeof(double));
}

/* Write one column: counts and moments, then its categories in order */
static void
FlattenColumn(Writer *w, const MlopsDriftAccCol *c)
{
	MlopsDriftCategory **order = palloc(Max(c->ncat, 1) * sizeof(MlopsDriftCategory *));
	int			n = 0;

	for (int k = 0; k < c->capcat; k++)
		if (c->cat[k].str)
			order[n++] = &c->cat[k];
	Assert(n == c->ncat);
	qsort(order, n, sizeof(MlopsDriftCategory *), CompareCategories);
	PutU32(w, (uint32) c->kind);
	PutU32(w, (uint32) n);
	PutU64(w, (uint64) c->nulls);
	PutU64(w, (uint64) c->n);
	PutF64(w, c->s1);
	PutF64(w, c->s2);
	for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
		PutU64(w, (uint64) c->bins[k]);
	PutU64(w, (uint64) c->bools[0]);
	PutU64(w, (uint64) c->bools[1]);
	for (int k = 0; k < n; k++)
	{
		PutU32(w, (uint32) order[k]->len);
		PutBytes(w, order[k]->str, order[k]->len);
		PutU64(w, (uint64) order[k]->count);
	}
	pfree(order);
}

/*
 * Write the flat form of s into result, of size MlopsDriftStateFlatSize(s)
 * (buffered values are counted first, which leaves the counts as they are).
 */
void
MlopsDriftStateFlatten(MlopsDriftState *s, void *result, Size size)
{
	Writer		w;
	MlopsDriftKsRow *order;

	StateFlush(s);
	SET_VARSIZE(result, size);
	w.p = VARDATA(result);
	w.end = (char *) result + size;
	PutU32(&w, DRIFT_STATE_MAGIC);
	PutU64(&w, (uint64) s->rows);
	PutU32(&w, (uint32) s->ncols);
	for (int i = 0; i < s->ncols; i++)
		FlattenColumn(&w, &s->cols[i]);
	PutU32(&w, (uint32) s->ksn);
	order = palloc(Max(s->ksn, 1) * sizeof(MlopsDriftKsRow));
	if (s->ksn > 0)
		memcpy(order, s->ksheap, s->ksn * sizeof(MlopsDriftKsRow));
	qsort_arg(order, s->ksn, sizeof(MlopsDriftKsRow), CompareKsRows, s);
	for (int k = 0; k < s->ksn; k++)
	{
		const double *vals = &s->ksvals[(Size) order[k].slot * s->nnum];

		PutU64(&w, order[k].hash);
		for (int j = 0; j < s->nnum; j++)
			PutF64(&w, vals[j]);
	}
	pfree(order);
	if (w.p != w.end)
		elog(ERROR, "drift accumulator flat form smaller than computed");
}

/* The flat form of s as a new bytea */
bytea *
MlopsDriftStateToBytea(MlopsDriftState *s)
{
	Size		size = MlopsDriftStateFlatSize(s);
	bytea	   *result = palloc(size);

	MlopsDriftStateFlatten(s, result, size);
	return result;
}

/*
 * The header of a flat state: its row count and column count, checked
 * against the bytes there are.
 */
static void
ReadFlatHeader(Reader *r, const bytea *flat, int64 *rows, int32 *ncols)
{
	ReaderInit(r, flat, "drift accumulator state");
	if (GetU32(r) != DRIFT_STATE_MAGIC)
		Malformed(r);
	*rows = (int64) GetU64(r);
	*ncols = (int32) GetU32(r);
	if (*ncols < 0 || *ncols > MaxTupleAttributeNumber ||
		(Size) *ncols > Remaining(r) / FLAT_COLUMN_SIZE)
		Malformed(r);
}

/*
 * The kinds of the ncols columns of a flat state, read from r (a copy of
 * the reader, past the header) by a first walk over the columns, which also
 * checks that their categories stay within the bytes.
 */
static MlopsFeatureKind *
FlatKinds(Reader r, int32 ncols)
{
	MlopsFeatureKind *kinds = palloc(Max(ncols, 1) * sizeof(MlopsFeatureKind));

	for (int i = 0; i < ncols; i++)
	{
		int32		kind = (int32) GetU32(&r);
		int32		ncat = (int32) GetU32(&r);

		if (!KindIsValid(kind) || ncat < 0 ||
			(ncat > 0 && kind != MLOPS_KIND_CATEGORICAL))
			Malformed(&r);
		kinds[i] = (MlopsFeatureKind) kind;
		GetBytes(&r, FLAT_COLUMN_SIZE - 2 * sizeof(int32));
		for (int k = 0; k < ncat; k++)
		{
			int32		len = (int32) GetU32(&r);

			if (len < 0)
				Malformed(&r);
			GetBytes(&r, (Size) len + sizeof(int64));
		}
	}
	return kinds;
}

/* Add the counts of one flat column to column x of a */
static void
MergeFlatColumn(MlopsDriftState *a, MlopsDriftAccCol *x, Reader *r)
{
	int32		kind = (int32) GetU32(r);
	int32		ncat = (int32) GetU32(r);

	if (!KindIsValid(kind) || ncat < 0 || (ncat > 0 && kind != MLOPS_KIND_CATEGORICAL))
		Malformed(r);
	if ((MlopsFeatureKind) kind != x->kind)
		ShapeMismatch();
	x->nulls += (int64) GetU64(r);
	x->n += (int64) GetU64(r);
	x->s1 += GetF64(r);
	x->s2 += GetF64(r);
	for (int k = 0; k < MLOPS_BASELINE_NBINS; k++)
		x->bins[k] += (int64) GetU64(r);
	x->bools[0] += (int64) GetU64(r);
	x->bools[1] += (int64) GetU64(r);
	for (int k = 0; k < ncat; k++)
	{
		int32		len = (int32) GetU32(r);
		const char *str;

		if (len < 0)
			Malformed(r);
		str = GetBytes(r, len);
		CategoryAdd(a, x, str, len, (int64) GetU64(r));
	}
}

/* Add a flat state to a (same shape); malformed bytes are an error */
void
MlopsDriftStateMergeFlat(MlopsDriftState *a, const bytea *flat)
{
	Reader		r;
	int64		rows;
	int32		ncols;
	int32		ksn;
	double	   *vals;

	ReadFlatHeader(&r, flat, &rows, &ncols);
	if (ncols != a->ncols)
		ShapeMismatch();
	StateFlush(a);
	a->rows += rows;
	for (int i = 0; i < ncols; i++)
		MergeFlatColumn(a, &a->cols[i], &r);
	ksn = (int32) GetU32(&r);
	if (ksn < 0 || ksn > MLOPS_DRIFT_KS_ROWS || (ksn > 0 && a->nnum == 0) ||
		(Size) ksn * (sizeof(uint64) + (Size) a->nnum * sizeof(double)) != Remaining(&r))
		Malformed(&r);
	vals = palloc(Max(a->nnum, 1) * sizeof(double));
	for (int k = 0; k < ksn; k++)
	{
		uint64		hash = GetU64(&r);

		for (int j = 0; j < a->nnum; j++)
			vals[j] = GetF64(&r);
		KsOffer(a, hash, vals);
	}
	pfree(vals);
}

/* A flat state read back into a new state in cxt */
MlopsDriftState *
MlopsDriftStateRead(const bytea *flat, MemoryContext cxt)
{
	Reader		r;
	int64		rows;
	int32		ncols;
	MlopsFeatureKind *kinds;
	MlopsDriftState *s;

	ReadFlatHeader(&r, flat, &rows, &ncols);
	kinds = FlatKinds(r, ncols);
	s = MlopsDriftStateNew(cxt, ncols, kinds);
	pfree(kinds);
	MlopsDriftStateMergeFlat(s, flat);
	return s;
}
