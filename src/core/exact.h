/*-------------------------------------------------------------------------
 *
 * exact.h
 *	  Exact sums of doubles and of products of two doubles, and exact
 *	  arithmetic on such sums (core/exact.c).
 *
 * A sum of doubles rounded after every addition depends on the order of
 * the additions; an exact sum does not, so anything computed from exact
 * sums is the same however the rows were ordered or split between
 * processes (parallel workers, Citus workers).  Two representations:
 *
 * - MlopsAccGrid, the accumulator: nsums fixed-point numbers side by side,
 *   each two arrays of int64 limbs holding base-2^32 digits, one for the
 *   positive terms and one for the negative, so that carries can wait (a
 *   Kulisch-style superaccumulator).  A double is m * 2^e with
 *   an integer m < 2^53; a product of two is m1 m2 * 2^(e1 + e2), exact in
 *   128-bit integer arithmetic, and lands in five consecutive limbs.  The
 *   limbs every sum may need (a window of the whole range, shared by the
 *   sums) grow as values arrive.
 *
 * - MlopsExact, a number in canonical form: sign, and base-2^32 digits with
 *   no zero digit at either end.  Equal values have equal representations,
 *   which is what makes a serialised state byte-identical however it was
 *   accumulated.  Adding, multiplying and rounding to the nearest double
 *   are exact (rounding once, at the end).
 *
 * Scale: digit i of a number whose first digit is at lo weighs
 * 2^(32 (lo + i)).  In the accumulator, limb k holds global digit k, which
 * weighs 2^(32 k - MLOPS_EXACT_OFFSET); every sum of products of doubles
 * (and its carries, for up to 2^63 rows) fits in limbs 0 .. MLOPS_EXACT_LIMBS.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_EXACT_H
#define MLOPS_EXACT_H

#include "lib/stringinfo.h"

#ifndef HAVE_INT128
#error "mlops needs a 128-bit integer type"
#endif

/* 2^-MLOPS_EXACT_OFFSET is the weight of global digit 0's lowest bit */
#define MLOPS_EXACT_OFFSET		2176
#define MLOPS_EXACT_OFFSET_DIGITS	(MLOPS_EXACT_OFFSET / 32)
/* global digits 0 .. MLOPS_EXACT_LIMBS - 1 hold every accumulated sum */
#define MLOPS_EXACT_LIMBS		140
/* carries are propagated at least this often (adds per limb) */
#define MLOPS_EXACT_PENDING_MAX	(INT64CONST(1) << 30)

/* A finite double split exactly: (-1)^neg * m * 2^e */
typedef struct MlopsSplit
{
	uint64		m;				/* < 2^53; 0 for zero */
	int32		e;				/* -1074 .. 971 */
	int32		neg;			/* 0 or 1 */
} MlopsSplit;

/* Fixed-point accumulators sharing a window of limbs */
typedef struct MlopsAccGrid
{
	int32		nsums;
	int32		klo;			/* global digit of each sum's first limb */
	int32		width;			/* limbs per window (0 before the first value) */
	int64	   *limbs;			/* nsums * 2 windows (see MlopsAccSum) */
	int64		pending;		/* adds per limb since carries were propagated */
	MemoryContext cxt;			/* where limbs live */
} MlopsAccGrid;

/* An exact number in canonical form (see above); zero has ndigits 0 */
typedef struct MlopsExact
{
	int			sign;			/* -1, 0 or 1 */
	int32		lo;				/* digit i weighs 2^(32 (lo + i)) */
	int32		ndigits;
	uint32	   *digits;			/* least significant first */
} MlopsExact;

/* A bounded reader of serialised bytes: errors out cleanly past the end */
typedef struct MlopsReader
{
	const char *pos;
	const char *end;
	const char *what;			/* names the input in messages */
} MlopsReader;

/*
 * Split a finite double: the significand as an integer, the exponent of
 * its last bit, and the sign.  Zero has m 0 (and e 0).
 */
static inline MlopsSplit
MlopsSplitDouble(double d)
{
	MlopsSplit	s;
	uint64		bits;
	int			bexp;

	memcpy(&bits, &d, sizeof(bits));
	bexp = (int) ((bits >> 52) & 0x7FF);
	s.neg = (int32) (bits >> 63);
	s.m = bits & ((UINT64CONST(1) << 52) - 1);
	if (bexp == 0)
		s.e = s.m == 0 ? 0 : -1074;
	else
	{
		s.m |= UINT64CONST(1) << 52;
		s.e = bexp - 1075;
	}
	return s;
}

/* Global digit of the lowest limb touched when adding m * 2^e */
static inline int32
MlopsExactDigitOf(int32 e)
{
	return (e + MLOPS_EXACT_OFFSET) >> 5;
}

extern void MlopsAccInit(MlopsAccGrid *g, int nsums, MemoryContext cxt);
extern void MlopsAccGrow(MlopsAccGrid *g, int32 kmin, int32 kmax);
extern void MlopsAccPropagate(MlopsAccGrid *g);

/*
 * Make sure every sum has limbs for global digits kmin .. kmax - 1 (and
 * one spare above for carries).
 */
static inline void
MlopsAccReserve(MlopsAccGrid *g, int32 kmin, int32 kmax)
{
	if (unlikely(kmin < g->klo || kmax + 1 > g->klo + g->width))
		MlopsAccGrow(g, kmin, kmax);
}

/*
 * The limbs of sum t of g: the window for the positive terms, then the
 * window for the negative ones (so that adding never negates), to be
 * indexed by global digit minus g->klo.
 */
static inline int64 *
MlopsAccSum(const MlopsAccGrid *g, int t)
{
	return g->limbs + (Size) t * 2 * g->width;
}

/*
 * Add s (m * 2^e) to the sum whose limbs are S (from MlopsAccSum) in a
 * grid whose window starts at global digit klo: three digits from global
 * digit MlopsExactDigitOf(e) up, which must be reserved.  negoff is 0 for
 * a positive s, the grid's width for a negative one.
 */
static inline void
MlopsAccAddValueAt(int64 *S, int32 klo, const MlopsSplit *s, int64 negoff)
{
	int32		pos = s->e + MLOPS_EXACT_OFFSET;
	int64	   *L = S + ((pos >> 5) - klo) + negoff;
	uint128		v = (uint128) s->m << (pos & 31);

	L[0] += (uint32) v;
	L[1] += (uint32) (v >> 32);
	L[2] += (uint32) (v >> 64);
}

/*
 * Add the exact product a * b to the sum whose limbs are S: five digits
 * from global digit MlopsExactDigitOf(a->e + b->e) up, which must be
 * reserved; negoff as above, for the sign of the product.  The 106-bit
 * product, shifted into place, spans at most 137 bits: its first digit,
 * then the product shifted right to the next digit boundary.
 */
static inline void
MlopsAccAddProductAt(int64 *S, int32 klo, const MlopsSplit *a, const MlopsSplit *b,
					 int64 negoff)
{
	uint128		prod = (uint128) a->m * b->m;
	int32		pos = a->e + b->e + MLOPS_EXACT_OFFSET;
	int			r = pos & 31;
	uint128		rest = prod >> ((32 - r) & 63);
	uint64		restlo = (uint64) rest;
	uint64		resthi = (uint64) (rest >> 64);
	int64	   *L = S + ((pos >> 5) - klo) + negoff;

	L[0] += (uint32) ((uint64) prod << r);
	L[1] += (uint32) restlo;
	L[2] += restlo >> 32;
	L[3] += (uint32) resthi;
	L[4] += resthi >> 32;
}

/* Count one more add per limb; propagate carries before they could overflow */
static inline void
MlopsAccTick(MlopsAccGrid *g)
{
	if (unlikely(++g->pending >= MLOPS_EXACT_PENDING_MAX))
		MlopsAccPropagate(g);
}

extern void MlopsAccMerge(MlopsAccGrid *into, MlopsAccGrid *from);
extern MlopsExact *MlopsAccGet(const MlopsAccGrid *g, int t);
extern void MlopsAccAddExact(MlopsAccGrid *g, int t, const MlopsExact *x);

/* canonical numbers */
extern MlopsExact *MlopsExactZero(void);
extern MlopsExact *MlopsExactFromDouble(double d);
extern MlopsExact *MlopsExactFromInt64(int64 v);
extern MlopsExact *MlopsExactAdd(const MlopsExact *a, const MlopsExact *b);
extern MlopsExact *MlopsExactSub(const MlopsExact *a, const MlopsExact *b);
extern MlopsExact *MlopsExactMul(const MlopsExact *a, const MlopsExact *b);
extern MlopsExact *MlopsExactMulDouble(const MlopsExact *a, double d);
extern double MlopsExactToDouble(const MlopsExact *a);

/* serialised form */
extern void MlopsExactWrite(StringInfo buf, const MlopsExact *x);
extern MlopsExact *MlopsExactRead(MlopsReader *r);
extern void MlopsReaderInit(MlopsReader *r, const char *data, Size len, const char *what);
extern uint32 MlopsReadUInt32(MlopsReader *r);
extern int64 MlopsReadInt64(MlopsReader *r);
extern void MlopsReadEnd(MlopsReader *r);
extern void MlopsReadFail(MlopsReader *r, const char *detail) pg_attribute_noreturn();

#endif							/* MLOPS_EXACT_H */
