/*-------------------------------------------------------------------------
 *
 * exact.c
 *	  Exact sums and exact arithmetic on them (see exact.h): the
 *	  accumulator's window, carries and read-out, the canonical numbers'
 *	  addition, multiplication and rounding, and their serialised form.
 *
 * Nothing here rounds but MlopsExactToDouble, which rounds to nearest,
 * ties to even.  Carries in the accumulator wait: a limb takes base-2^32
 * digits into an int64, so it can take 2^31 of them before the carries
 * must move up (MlopsAccTick counts, MlopsAccPropagate moves them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"

#include "core/exact.h"

#define DIGIT_MASK	INT64CONST(0xFFFFFFFF)
/* limbs added below and above what is needed when the window grows */
#define GROW_MARGIN	2

/* Set up g for nsums sums, its limbs allocated in cxt as values arrive */
void
MlopsAccInit(MlopsAccGrid *g, int nsums, MemoryContext cxt)
{
	g->nsums = nsums;
	g->klo = 0;
	g->width = 0;
	g->limbs = NULL;
	g->pending = 0;
	g->cxt = cxt;
}

/*
 * Widen the window to cover global digits kmin .. kmax - 1 plus a spare
 * limb for carries (and a margin), copying every sum's limbs across.
 */
void
MlopsAccGrow(MlopsAccGrid *g, int32 kmin, int32 kmax)
{
	int32		newlo;
	int32		newhi;
	int32		newwidth;
	int64	   *limbs;

	if (kmin < 0 || kmax > MLOPS_EXACT_LIMBS - 1 || kmin >= kmax)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sum out of range for exact accumulation")));
	newlo = Max(0, kmin - GROW_MARGIN);
	newhi = Min(MLOPS_EXACT_LIMBS, kmax + 1 + GROW_MARGIN);
	if (g->width > 0)
	{
		newlo = Min(newlo, g->klo);
		newhi = Max(newhi, g->klo + g->width);
	}
	newwidth = newhi - newlo;
	limbs = MemoryContextAllocExtended(g->cxt,
									   sizeof(int64) * Max((Size) g->nsums * 2 * newwidth, 1),
									   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int t = 0; t < g->nsums * 2 && g->width > 0; t++)
		memcpy(limbs + (Size) t * newwidth + (g->klo - newlo),
			   g->limbs + (Size) t * g->width, sizeof(int64) * g->width);
	if (g->limbs)
		pfree(g->limbs);
	g->limbs = limbs;
	g->klo = newlo;
	g->width = newwidth;
}

/*
 * Move carries up in n limbs so that all but the last hold a digit in
 * 0 .. 2^32 - 1 and the last the (signed) rest.
 */
static void
Carry(int64 *L, int n)
{
	int64		carry = 0;

	for (int i = 0; i < n - 1; i++)
	{
		int64		v = L[i] + carry;

		L[i] = v & DIGIT_MASK;
		carry = v >> 32;		/* arithmetic: floor division */
	}
	if (n > 0)
		L[n - 1] += carry;
}

/*
 * Propagate the carries of every sum: its negative window is subtracted
 * from its positive one, which then holds digits and a signed top limb.
 * The top limb of the window only ever takes carries (MlopsAccReserve
 * keeps it spare), so what it holds stays below the number of rows.
 */
void
MlopsAccPropagate(MlopsAccGrid *g)
{
	for (int t = 0; t < g->nsums && g->width > 0; t++)
	{
		int64	   *pos = MlopsAccSum(g, t);
		int64	   *neg = pos + g->width;

		for (int i = 0; i < g->width; i++)
		{
			pos[i] -= neg[i];
			neg[i] = 0;
		}
		Carry(pos, g->width);
	}
	g->pending = 0;
}

/* Add every sum of from into into (same number of sums) */
void
MlopsAccMerge(MlopsAccGrid *into, MlopsAccGrid *from)
{
	int32		off;
	int32		used;

	Assert(into->nsums == from->nsums);
	if (from->width == 0)
		return;
	MlopsAccPropagate(into);
	MlopsAccPropagate(from);
	/* from's limbs up to its highest in use, carries included */
	used = 0;
	for (int t = 0; t < from->nsums; t++)
		for (int i = used; i < from->width; i++)
			if (MlopsAccSum(from, t)[i] != 0)
				used = i + 1;
	if (used == 0)
		return;
	MlopsAccReserve(into, from->klo, from->klo + used);
	off = from->klo - into->klo;
	for (int t = 0; t < from->nsums; t++)
	{
		int64	   *dst = MlopsAccSum(into, t) + off;
		const int64 *src = MlopsAccSum(from, t);

		for (int i = 0; i < used; i++)
			dst[i] += src[i];
	}
	MlopsAccTick(into);
}

/*
 * The canonical number held in n limbs L (any values, not modified), the
 * first of which weighs 2^(32 lo).
 */
static MlopsExact *
FromLimbs(const int64 *L, int n, int32 lo)
{
	/* two more limbs: a carry out of the top, and the top split in two */
	int64	   *w = palloc0(sizeof(int64) * (n + 3));
	MlopsExact *x = palloc0(sizeof(MlopsExact));
	int			first;
	int			last;

	memcpy(w, L, sizeof(int64) * n);
	Carry(w, n + 3);
	x->sign = 1;
	if (w[n + 2] < 0)
	{
		/* negative: take the magnitude */
		for (int i = 0; i < n + 3; i++)
			w[i] = -w[i];
		Carry(w, n + 3);
		x->sign = -1;
	}
	Assert(w[n + 2] >= 0 && w[n + 2] <= DIGIT_MASK);
	first = 0;
	while (first < n + 3 && w[first] == 0)
		first++;
	if (first == n + 3)
	{
		pfree(w);
		return MlopsExactZero();
	}
	last = n + 2;
	while (w[last] == 0)
		last--;
	x->lo = lo + first;
	x->ndigits = last - first + 1;
	x->digits = palloc(sizeof(uint32) * x->ndigits);
	for (int i = 0; i < x->ndigits; i++)
		x->digits[i] = (uint32) w[first + i];
	pfree(w);
	return x;
}

/* Sum t of g, exactly */
MlopsExact *
MlopsAccGet(const MlopsAccGrid *g, int t)
{
	const int64 *pos;
	int64	   *L;
	MlopsExact *x;

	if (g->width == 0)
		return MlopsExactZero();
	pos = MlopsAccSum(g, t);
	L = palloc(sizeof(int64) * g->width);
	for (int i = 0; i < g->width; i++)
		L[i] = pos[i] - pos[g->width + i];
	x = FromLimbs(L, g->width, g->klo - MLOPS_EXACT_OFFSET_DIGITS);
	pfree(L);
	return x;
}

/*
 * Add x to sum t of g; x must lie within the accumulator's range (as
 * MlopsExactRead checks of serialised sums).
 */
void
MlopsAccAddExact(MlopsAccGrid *g, int t, const MlopsExact *x)
{
	int32		k0 = x->lo + MLOPS_EXACT_OFFSET_DIGITS;
	int64	   *L;

	if (x->sign == 0)
		return;
	MlopsAccReserve(g, k0, k0 + x->ndigits);
	L = MlopsAccSum(g, t) + (k0 - g->klo) + (x->sign < 0 ? g->width : 0);
	for (int i = 0; i < x->ndigits; i++)
		L[i] += x->digits[i];
}

MlopsExact *
MlopsExactZero(void)
{
	return palloc0(sizeof(MlopsExact));
}

/* d exactly; d must be finite */
MlopsExact *
MlopsExactFromDouble(double d)
{
	MlopsSplit	s = MlopsSplitDouble(d);
	int32		pos = s.e + MLOPS_EXACT_OFFSET;
	uint128		v = (uint128) s.m << (pos & 31);
	int64		L[3];

	if (!isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%g is out of range for exact arithmetic", d)));
	for (int i = 0; i < 3; i++)
		L[i] = (int64) (uint32) (v >> (32 * i));
	if (s.neg)
		for (int i = 0; i < 3; i++)
			L[i] = -L[i];
	return FromLimbs(L, 3, (pos >> 5) - MLOPS_EXACT_OFFSET_DIGITS);
}

MlopsExact *
MlopsExactFromInt64(int64 v)
{
	uint64		mag = v < 0 ? -(uint64) v : (uint64) v;
	int64		L[2];

	L[0] = (int64) (mag & DIGIT_MASK);
	L[1] = (int64) (mag >> 32);
	if (v < 0)
	{
		L[0] = -L[0];
		L[1] = -L[1];
	}
	return FromLimbs(L, 2, 0);
}

/* a + sign * b */
static MlopsExact *
AddSigned(const MlopsExact *a, const MlopsExact *b, int bsign)
{
	int32		lo;
	int32		hi;
	int64	   *L;
	MlopsExact *x;

	if (b->sign == 0)
		return MlopsExactAdd(a, MlopsExactZero());
	if (a->sign == 0 && bsign > 0)
		return MlopsExactAdd(b, MlopsExactZero());
	lo = a->sign == 0 ? b->lo : Min(a->lo, b->lo);
	hi = a->sign == 0 ? b->lo + b->ndigits : Max(a->lo + a->ndigits, b->lo + b->ndigits);
	L = palloc0(sizeof(int64) * (hi - lo));
	for (int i = 0; i < a->ndigits; i++)
		L[a->lo - lo + i] += a->sign * (int64) a->digits[i];
	for (int i = 0; i < b->ndigits; i++)
		L[b->lo - lo + i] += bsign * b->sign * (int64) b->digits[i];
	x = FromLimbs(L, hi - lo, lo);
	pfree(L);
	return x;
}

/* a + b (a copy of a when b is zero) */
MlopsExact *
MlopsExactAdd(const MlopsExact *a, const MlopsExact *b)
{
	if (b->sign == 0)
	{
		MlopsExact *x = palloc(sizeof(MlopsExact));

		*x = *a;
		x->digits = a->ndigits ? palloc(sizeof(uint32) * a->ndigits) : NULL;
		if (a->ndigits)
			memcpy(x->digits, a->digits, sizeof(uint32) * a->ndigits);
		return x;
	}
	return AddSigned(a, b, 1);
}

MlopsExact *
MlopsExactSub(const MlopsExact *a, const MlopsExact *b)
{
	return AddSigned(a, b, -1);
}

/* a * b, by schoolbook multiplication of the digits */
MlopsExact *
MlopsExactMul(const MlopsExact *a, const MlopsExact *b)
{
	int			n = a->ndigits + b->ndigits;
	int64	   *L;
	MlopsExact *x;

	if (a->sign == 0 || b->sign == 0)
		return MlopsExactZero();
	L = palloc0(sizeof(int64) * n);
	for (int i = 0; i < a->ndigits; i++)
	{
		for (int j = 0; j < b->ndigits; j++)
		{
			uint64		p = (uint64) a->digits[i] * b->digits[j];

			L[i + j] += (int64) (p & DIGIT_MASK);
			L[i + j + 1] += (int64) (p >> 32);
		}
		/* keep every limb far from overflow: at most 2^32 per add */
		if ((i & 0xFFFF) == 0xFFFF)
			Carry(L, n);
	}
	if (a->sign * b->sign < 0)
		for (int i = 0; i < n; i++)
			L[i] = -L[i];
	x = FromLimbs(L, n, a->lo + b->lo);
	pfree(L);
	return x;
}

MlopsExact *
MlopsExactMulDouble(const MlopsExact *a, double d)
{
	return MlopsExactMul(a, MlopsExactFromDouble(d));
}

/*
 * a rounded to the nearest double, ties to even (infinity beyond the
 * range).  The top 64 bits of the magnitude and a sticky bit for the rest
 * decide the rounding; ldexp places the result (a result below the normal
 * range is rounded a second time there, deterministically).
 */
double
MlopsExactToDouble(const MlopsExact *a)
{
	int			top = a->ndigits - 1;
	int			lz;
	uint128		W;
	uint64		w;
	bool		sticky;
	int64		exp2;
	uint64		mant;
	uint64		rest;
	double		d;

	if (a->sign == 0)
		return 0.0;
	/* the top three digits, shifted so that bit 95 is the leading 1 */
	W = (uint128) a->digits[top] << 64;
	if (top >= 1)
		W |= (uint128) a->digits[top - 1] << 32;
	if (top >= 2)
		W |= a->digits[top - 2];
	lz = 31 - pg_leftmost_one_pos32(a->digits[top]);
	W <<= lz;
	w = (uint64) (W >> 32);
	sticky = ((uint32) W) != 0;
	for (int i = top - 3; i >= 0 && !sticky; i--)
		sticky = a->digits[i] != 0;
	/* the magnitude is w * 2^exp2, truncated */
	exp2 = (int64) 32 * (a->lo + top) - 32 - lz;
	mant = w >> 11;
	rest = w & 0x7FF;
	if (rest > 0x400 || (rest == 0x400 && (sticky || (mant & 1))))
		mant++;
	d = ldexp((double) mant, (int) Max(Min(exp2 + 11, 100000), -100000));
	return a->sign < 0 ? -d : d;
}

/*
 * Append x: its first digit's position and its digit count with the sign
 * in the top bit, then the digits, all in network byte order.
 */
void
MlopsExactWrite(StringInfo buf, const MlopsExact *x)
{
	pq_sendint32(buf, (uint32) x->lo);
	pq_sendint32(buf, (uint32) x->ndigits | (x->sign < 0 ? 0x80000000u : 0));
	for (int i = 0; i < x->ndigits; i++)
		pq_sendint32(buf, x->digits[i]);
}

/*
 * Read a number written by MlopsExactWrite, refusing anything that is not
 * canonical or lies outside the accumulator's range.
 */
MlopsExact *
MlopsExactRead(MlopsReader *r)
{
	int32		lo = (int32) MlopsReadUInt32(r);
	uint32		word = MlopsReadUInt32(r);
	int32		n = (int32) (word & 0x7FFFFFFF);
	MlopsExact *x;

	if (n == 0)
	{
		if (lo != 0 || (word & 0x80000000u))
			MlopsReadFail(r, "A zero sum is not in canonical form.");
		return MlopsExactZero();
	}
	if ((int64) lo < -MLOPS_EXACT_OFFSET_DIGITS || n > MLOPS_EXACT_LIMBS ||
		(int64) lo + MLOPS_EXACT_OFFSET_DIGITS + n > MLOPS_EXACT_LIMBS - 1)
		MlopsReadFail(r, "A sum lies outside the range of sums of products of doubles.");
	if ((Size) (r->end - r->pos) < sizeof(uint32) * (Size) n)
		MlopsReadFail(r, "The data ends inside a sum.");
	x = palloc(sizeof(MlopsExact));
	x->sign = (word & 0x80000000u) ? -1 : 1;
	x->lo = lo;
	x->ndigits = n;
	x->digits = palloc(sizeof(uint32) * n);
	for (int i = 0; i < n; i++)
		x->digits[i] = MlopsReadUInt32(r);
	if (x->digits[0] == 0 || x->digits[n - 1] == 0)
		MlopsReadFail(r, "A sum is not in canonical form.");
	return x;
}

void
MlopsReaderInit(MlopsReader *r, const char *data, Size len, const char *what)
{
	r->pos = data;
	r->end = data + len;
	r->what = what;
}

/* ERROR: the input is not a valid r->what, for the reason in detail */
void
MlopsReadFail(MlopsReader *r, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid %s", r->what),
			 errdetail_internal("%s", detail)));
}

uint32
MlopsReadUInt32(MlopsReader *r)
{
	uint32		v;

	if (r->end - r->pos < (ptrdiff_t) sizeof(v))
		MlopsReadFail(r, "The data ends early.");
	memcpy(&v, r->pos, sizeof(v));
	r->pos += sizeof(v);
	return pg_ntoh32(v);
}

int64
MlopsReadInt64(MlopsReader *r)
{
	uint64		v;

	if (r->end - r->pos < (ptrdiff_t) sizeof(v))
		MlopsReadFail(r, "The data ends early.");
	memcpy(&v, r->pos, sizeof(v));
	r->pos += sizeof(v);
	return (int64) pg_ntoh64(v);
}

/* ERROR unless every byte was read */
void
MlopsReadEnd(MlopsReader *r)
{
	if (r->pos != r->end)
		MlopsReadFail(r, "There are bytes after the end.");
}
