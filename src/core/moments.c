/*-------------------------------------------------------------------------
 *
 * moments.c
 *	  Exact moments of rows (x_1 .. x_p, y) with missing x values (see
 *	  moments.h): adding rows, merging states, their canonical serialised
 *	  form, and the exact moments of the imputed rows that fits use.
 *
 * A row adds one exact value or product to each sum, so each sum's limbs
 * take one digit per row and carries wait for 2^30 rows.  Rows without a
 * missing value (the common case) touch the sums in order, a row of the
 * triangle of products after another.
 *
 * Serialised form (network byte order), canonical, so that equal moments
 * give equal bytes: "MLM1", p, flags (1: the sums for missing values
 * follow), n, each x's missing count, [the pairs' both-missing counts],
 * the P sums of z and the P (P + 1) / 2 sums of products, [the P p sums for
 * missing values]; each sum as MlopsExactWrite writes it.  Reading checks
 * every count and sum and refuses anything another state could not have
 * written: the bytes may come from a user (byteain) or from another
 * process.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/moments.h"

#define MOMENTS_MAGIC		0x4D4C4D31u	/* "MLM1" */
#define MOMENTS_HAS_NULLS	0x1u
#define MOMENTS_WHAT		"mlops.linear_moments state"
#define ERRORS_MAGIC		0x4D4C4531u	/* "MLE1" */
#define ERRORS_WHAT			"mlops.regression_metrics state"
#define ERR_ABS				0
#define ERR_SQUARED			1
#define ERR_Y				2
#define ERR_Y_SQUARED		3
#define ERR_NSUMS			4

/* Sums of products a <= b in z, after the P sums of z */
static inline int
PairIndex(const MlopsMoments *m, int a, int b)
{
	return m->pairbase[a] + (b - a);
}

/* Index of the both-missing count of x_a and x_b, a < b */
static inline int
BothIndex(int p, int a, int b)
{
	return a * p - a * (a + 1) / 2 + (b - a - 1);
}

/* An empty state for rows of p x values, allocated in cxt */
MlopsMoments *
MlopsMomentsCreate(int p, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MlopsMoments *m = palloc0(sizeof(MlopsMoments));
	int			P = p + 1;

	if (p < 0 || p > MLOPS_MOMENTS_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("linear moments of %d columns are not supported", p),
				 errdetail("At most %d x columns are supported.", MLOPS_MOMENTS_MAX_FEATURES)));
	m->p = p;
	m->cxt = cxt;
	m->nnull = palloc0(sizeof(int64) * Max(p, 1));
	m->pairbase = palloc(sizeof(int) * P);
	for (int a = 0, t = P; a < P; a++)
	{
		m->pairbase[a] = t;
		t += P - a;
	}
	MlopsAccInit(&m->sums, P + P * (P + 1) / 2, cxt);
	MlopsAccInit(&m->nullsums, P * p, cxt);
	m->split = palloc(sizeof(MlopsSplit) * P);
	m->present = palloc(sizeof(int) * P);
	m->missing = palloc(sizeof(int) * P);
	m->negoff = palloc(sizeof(int64) * P);
	MemoryContextSwitchTo(old);
	return m;
}

/* Start keeping the sums for missing values (the first row with one) */
static void
StartMissing(MlopsMoments *m)
{
	int			p = m->p;

	if (m->nboth == NULL)
		m->nboth = MemoryContextAllocZero(m->cxt, sizeof(int64) * Max(p * (p - 1) / 2, 1));
}

/*
 * The row's missing values: counts, and each present z_a (split in s,
 * positions present[0 .. npresent - 1]) into its sums against each
 * missing x_b.
 */
static void
AddMissing(MlopsMoments *m, const MlopsSplit *s, int npresent, int nmissing,
		   int32 kmin, int32 kmax)
{
	int			p = m->p;

	StartMissing(m);
	for (int i = 0; i < nmissing; i++)
	{
		int			b = m->missing[i];

		m->nnull[b]++;
		for (int j = i + 1; j < nmissing; j++)
			m->nboth[BothIndex(p, b, m->missing[j])]++;
	}
	MlopsAccReserve(&m->nullsums, kmin, kmax);
	for (int i = 0; i < npresent; i++)
	{
		int			a = m->present[i];

		for (int j = 0; j < nmissing; j++)
			MlopsAccAddValueAt(MlopsAccSum(&m->nullsums, a * p + m->missing[j]),
							   m->nullsums.klo, &s[i], -(int64) s[i].neg & m->nullsums.width);
	}
	MlopsAccTick(&m->nullsums);
}

/*
 * Add one row: x (p values, NaN for missing) and y (never missing, and
 * every value finite: the callers check).
 */
void
MlopsMomentsAddRow(MlopsMoments *m, const double *x, double y)
{
	int			p = m->p;
	int			P = p + 1;
	MlopsSplit *s = m->split;
	MlopsAccGrid *g = &m->sums;
	int			np = 0;
	int			nmissing = 0;
	int32		emin = PG_INT32_MAX;
	int32		emax = PG_INT32_MIN;
	int32		klo;
	int32		width;
	int64	   *negoff = m->negoff;

	for (int a = 0; a < P; a++)
	{
		double		v = a < p ? x[a] : y;

		if (isnan(v))
		{
			m->missing[nmissing++] = a;
			continue;
		}
		s[np] = MlopsSplitDouble(v);
		if (s[np].m != 0)
		{
			emin = Min(emin, s[np].e);
			emax = Max(emax, s[np].e);
		}
		m->present[np++] = a;
	}
	if (emin > emax)
		emin = emax = 0;
	/* zeros add nothing, but where the other values go */
	for (int i = 0; i < np; i++)
		if (s[i].m == 0)
			s[i].e = emin;
	MlopsAccReserve(g, Min(MlopsExactDigitOf(2 * emin), MlopsExactDigitOf(emin)),
					Max(MlopsExactDigitOf(2 * emax) + 5, MlopsExactDigitOf(emax) + 3));
	/* locals: stores to the limbs could alias the grid's fields otherwise */
	klo = g->klo;
	width = g->width;
	for (int i = 0; i < np; i++)
		negoff[i] = -(int64) s[i].neg & width;
	for (int i = 0; i < np; i++)
	{
		int			a = m->present[i];

		MlopsAccAddValueAt(MlopsAccSum(g, a), klo, &s[i], negoff[i]);
		if (nmissing == 0)
		{
			/* the products of a with a .. P - 1 are consecutive sums */
			const MlopsSplit si = s[i];
			const int64 ni = negoff[i];
			int64	   *S = MlopsAccSum(g, m->pairbase[a]);

			for (int j = i; j < P; j++, S += 2 * width)
				MlopsAccAddProductAt(S, klo, &si, &s[j], ni ^ negoff[j]);
		}
		else
			for (int j = i; j < np; j++)
				MlopsAccAddProductAt(MlopsAccSum(g, PairIndex(m, a, m->present[j])),
									 klo, &s[i], &s[j], negoff[i] ^ negoff[j]);
	}
	MlopsAccTick(g);
	if (nmissing > 0)
		AddMissing(m, s, np, nmissing, MlopsExactDigitOf(emin), MlopsExactDigitOf(emax) + 3);
	m->n++;
}

/* *count += more, ERROR past the range of row counts (crafted states) */
static void
AddCount(int64 *count, int64 more)
{
	if (pg_add_s64_overflow(*count, more, count))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("row count out of range")));
}

/* Add the rows of from to into (from's carries are propagated) */
void
MlopsMomentsMerge(MlopsMoments *into, MlopsMoments *from)
{
	int			p = into->p;

	if (from->p != p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine linear moments of %d and %d x columns", p, from->p)));
	AddCount(&into->n, from->n);
	for (int a = 0; a < p; a++)
		AddCount(&into->nnull[a], from->nnull[a]);
	MlopsAccMerge(&into->sums, &from->sums);
	if (from->nboth)
	{
		StartMissing(into);
		for (int i = 0; i < p * (p - 1) / 2; i++)
			AddCount(&into->nboth[i], from->nboth[i]);
		MlopsAccMerge(&into->nullsums, &from->nullsums);
	}
}

/* The state in its canonical serialised form (see the file header) */
bytea *
MlopsMomentsSerialize(MlopsMoments *m)
{
	StringInfoData buf;
	int			p = m->p;
	bool		missing = m->nboth != NULL;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	pq_sendint32(&buf, MOMENTS_MAGIC);
	pq_sendint32(&buf, (uint32) p);
	pq_sendint32(&buf, missing ? MOMENTS_HAS_NULLS : 0);
	pq_sendint64(&buf, m->n);
	for (int a = 0; a < p; a++)
		pq_sendint64(&buf, m->nnull[a]);
	if (missing)
		for (int i = 0; i < p * (p - 1) / 2; i++)
			pq_sendint64(&buf, m->nboth[i]);
	for (int t = 0; t < m->sums.nsums; t++)
		MlopsExactWrite(&buf, MlopsAccGet(&m->sums, t));
	if (missing)
		for (int t = 0; t < m->nullsums.nsums; t++)
			MlopsExactWrite(&buf, MlopsAccGet(&m->nullsums, t));
	SET_VARSIZE(buf.data, buf.len);
	return (bytea *) buf.data;
}

/* Read a count: between 0 and max */
static int64
ReadCount(MlopsReader *r, int64 max)
{
	int64		v = MlopsReadInt64(r);

	if (v < 0 || v > max)
		MlopsReadFail(r, "A row count is out of range.");
	return v;
}

/* Read n sums into grid g, each canonical and within the range of sums */
static void
ReadSums(MlopsReader *r, MlopsAccGrid *g)
{
	/* each sum takes at least 8 bytes: refuse a short input before allocating */
	if ((Size) (r->end - r->pos) / 8 < (Size) g->nsums)
		MlopsReadFail(r, "The data ends early.");
	for (int t = 0; t < g->nsums; t++)
		MlopsAccAddExact(g, t, MlopsExactRead(r));
	MlopsAccTick(g);
}

/*
 * A state from its serialised form, allocated in cxt; ERROR (invalid
 * binary representation) for anything MlopsMomentsSerialize could not
 * have written.
 */
MlopsMoments *
MlopsMomentsDeserialize(const char *data, Size len, MemoryContext cxt)
{
	MlopsReader r;
	MlopsMoments *m;
	uint32		p;
	uint32		flags;
	bool		anymissing = false;

	MlopsReaderInit(&r, data, len, MOMENTS_WHAT);
	if (MlopsReadUInt32(&r) != MOMENTS_MAGIC)
		MlopsReadFail(&r, "The data does not start with the state's magic number.");
	p = MlopsReadUInt32(&r);
	flags = MlopsReadUInt32(&r);
	if (p > MLOPS_MOMENTS_MAX_FEATURES)
		MlopsReadFail(&r, "The number of x columns is out of range.");
	if (flags & ~MOMENTS_HAS_NULLS)
		MlopsReadFail(&r, "Unknown flags are set.");
	m = MlopsMomentsCreate((int) p, cxt);
	m->n = ReadCount(&r, PG_INT64_MAX);
	for (int a = 0; a < (int) p; a++)
	{
		m->nnull[a] = ReadCount(&r, m->n);
		anymissing |= m->nnull[a] > 0;
	}
	if (anymissing != ((flags & MOMENTS_HAS_NULLS) != 0))
		MlopsReadFail(&r, "The flags disagree with the missing counts.");
	if (anymissing)
	{
		StartMissing(m);
		for (int a = 0; a < (int) p; a++)
			for (int b = a + 1; b < (int) p; b++)
				m->nboth[BothIndex(p, a, b)] = ReadCount(&r, Min(m->nnull[a], m->nnull[b]));
	}
	ReadSums(&r, &m->sums);
	if (anymissing)
		ReadSums(&r, &m->nullsums);
	MlopsReadEnd(&r);
	return m;
}

/* Rows where x_a is present */
int64
MlopsMomentsPresent(const MlopsMoments *m, int a)
{
	return m->n - m->nnull[a];
}

/* The mean of x_a over the rows where it is present (NaN: none) */
double
MlopsMomentsMean(const MlopsMoments *m, int a)
{
	int64		c = MlopsMomentsPresent(m, a);

	return c > 0 ? MlopsExactToDouble(MlopsAccGet(&m->sums, a)) / (double) c : NAN;
}

/*
 * Whether every present value of x_a is the same (exactly: c sum(x^2) =
 * sum(x)^2 over the c rows where it is present).
 */
bool
MlopsMomentsConstant(const MlopsMoments *m, int a)
{
	MlopsExact *s = MlopsAccGet(&m->sums, a);
	MlopsExact *ss = MlopsAccGet(&m->sums, PairIndex(m, a, a));
	MlopsExact *c = MlopsExactFromInt64(MlopsMomentsPresent(m, a));

	return MlopsExactSub(MlopsExactMul(c, ss), MlopsExactMul(s, s))->sign == 0;
}

/* v * k for an int64 k, exactly */
static MlopsExact *
TimesCount(const MlopsExact *v, int64 k)
{
	return MlopsExactMul(v, MlopsExactFromInt64(k));
}

/*
 * The exact moments of the rows with each missing x_a replaced by
 * impute[a]: sum x'_a = sum x_a + (missing_a) m_a; for a < b,
 * sum x'_a x'_b = sum x_a x_b + m_b A[a][b] + m_a A[b][a] + m_a m_b (both
 * missing); sum x'_a^2 = sum x_a^2 + (missing_a) m_a^2; sum x'_a y =
 * sum x_a y + m_a A[y][a]; where A[c][d] sums z_c over the rows with z_c
 * present and x_d missing.
 */
MlopsImputed *
MlopsMomentsImpute(const MlopsMoments *m, const double *impute)
{
	int			p = m->p;
	int			P = p + 1;
	MlopsImputed *im = palloc(sizeof(MlopsImputed));
	MlopsExact **mi = palloc(sizeof(MlopsExact *) * P);

	im->p = p;
	im->n = m->n;
	im->sum = palloc(sizeof(MlopsExact *) * P);
	im->cross = palloc(sizeof(MlopsExact *) * P * P);
	for (int a = 0; a < P; a++)
	{
		im->sum[a] = MlopsAccGet(&m->sums, a);
		mi[a] = a < p ? MlopsExactFromDouble(impute[a]) : NULL;
		if (a < p && m->nnull[a] > 0)
			im->sum[a] = MlopsExactAdd(im->sum[a], TimesCount(mi[a], m->nnull[a]));
	}
	for (int a = 0; a < P; a++)
	{
		for (int b = a; b < P; b++)
		{
			MlopsExact *v = MlopsAccGet(&m->sums, PairIndex(m, a, b));

			if (m->nboth == NULL || a == p)
				 /* nothing was missing, or the sum of y^2 */ ;
			else if (a == b)
				v = MlopsExactAdd(v, TimesCount(MlopsExactMul(mi[a], mi[a]), m->nnull[a]));
			else
			{
				/* b is y or another x; a < b is an x */
				v = MlopsExactAdd(v, MlopsExactMul(mi[a], MlopsAccGet(&m->nullsums, b * p + a)));
				if (b < p)
				{
					v = MlopsExactAdd(v, MlopsExactMul(mi[b], MlopsAccGet(&m->nullsums, a * p + b)));
					v = MlopsExactAdd(v, TimesCount(MlopsExactMul(mi[a], mi[b]),
													m->nboth[BothIndex(p, a, b)]));
				}
			}
			im->cross[a * P + b] = im->cross[b * P + a] = v;
		}
		CHECK_FOR_INTERRUPTS();
	}
	return im;
}

/* (n c - s t) / n, the exact numerator rounded once: a centred cross sum */
static double
Centred(const MlopsExact *n, int64 nrows, const MlopsExact *c,
		const MlopsExact *s, const MlopsExact *t)
{
	return MlopsExactToDouble(MlopsExactSub(MlopsExactMul(n, c), MlopsExactMul(s, t))) /
		(double) nrows;
}

/*
 * ERROR when a centred moment does not fit in a double: the values are too
 * large (beyond about 1e154, whose squares overflow).
 */
static void
CheckFinite(int p, const double *xmean, const double *G, const double *Xty,
			double ymean, double yss)
{
	bool		ok = isfinite(ymean) && isfinite(yss);

	for (int a = 0; a < p && ok; a++)
	{
		ok = isfinite(xmean[a]) && isfinite(Xty[a]);
		for (int b = 0; b < p && ok; b++)
			ok = isfinite(G[a * p + b]);
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the moments of the training data are out of range for double precision"),
				 errhint("Scale the largest columns down.")));
}

/*
 * Centred moments in doubles, each from its exact value rounded once (and
 * divided by n): the means of x', the centred Gram matrix G (p x p, full),
 * centred X'^T y, the mean of y and its centred sum of squares.
 */
void
MlopsImputedCentred(const MlopsImputed *im, double *xmean, double *G,
					double *Xty, double *ymean, double *yss)
{
	int			p = im->p;
	int			P = p + 1;
	double		n = (double) im->n;
	MlopsExact *N = MlopsExactFromInt64(im->n);

	for (int a = 0; a < p; a++)
	{
		xmean[a] = MlopsExactToDouble(im->sum[a]) / n;
		for (int b = a; b < p; b++)
			G[a * p + b] = G[b * p + a] =
				Centred(N, im->n, im->cross[a * P + b], im->sum[a], im->sum[b]);
		Xty[a] = Centred(N, im->n, im->cross[a * P + p], im->sum[a], im->sum[p]);
	}
	*ymean = MlopsExactToDouble(im->sum[p]) / n;
	*yss = Centred(N, im->n, im->cross[p * P + p], im->sum[p], im->sum[p]);
	CheckFinite(p, xmean, G, Xty, *ymean, *yss);
}

/* The centred sum of squares of y, (n sum y^2 - (sum y)^2) / n */
double
MlopsImputedYSS(const MlopsImputed *im)
{
	int			P = im->p + 1;
	MlopsExact *sy = im->sum[im->p];

	return Centred(MlopsExactFromInt64(im->n), im->n, im->cross[P * P - 1], sy, sy);
}

/* (sum of x'_a - n c) / n, the exact difference rounded once */
double
MlopsImputedOffsetMean(const MlopsImputed *im, int a, double c)
{
	MlopsExact *nc = TimesCount(MlopsExactFromDouble(c), im->n);

	return MlopsExactToDouble(MlopsExactSub(im->sum[a], nc)) / (double) im->n;
}

/*
 * The sum over the rows of (y - k - w . x')^2, exact and rounded once: with
 * c = (-k, -w, 1) over (1, x', y), the sum of c_i c_j times the moments.
 */
double
MlopsImputedSSE(const MlopsImputed *im, const MlopsExact *intercept, const double *w)
{
	int			p = im->p;
	int			P = p + 1;
	MlopsExact **c = palloc(sizeof(MlopsExact *) * P);
	MlopsExact *k2 = MlopsExactMulDouble(intercept, 2.0);
	MlopsExact *total = TimesCount(MlopsExactMul(intercept, intercept), im->n);

	for (int a = 0; a < P; a++)
		c[a] = MlopsExactFromDouble(a < p ? -w[a] : 1.0);
	for (int a = 0; a < P; a++)
	{
		/* 2 (-k) c_a sum z'_a */
		total = MlopsExactSub(total, MlopsExactMul(MlopsExactMul(k2, c[a]), im->sum[a]));
		for (int b = a; b < P; b++)
		{
			MlopsExact *cc = MlopsExactMul(c[a], c[b]);

			if (b > a)
				cc = MlopsExactMulDouble(cc, 2.0);
			total = MlopsExactAdd(total, MlopsExactMul(cc, im->cross[a * P + b]));
		}
	}
	return MlopsExactToDouble(total);
}

/* Empty error sums, their limbs allocated in cxt */
void
MlopsErrorSumsInit(MlopsErrorSums *s, MemoryContext cxt)
{
	s->n = 0;
	s->nonfinite = 0;
	MlopsAccInit(&s->acc, ERR_NSUMS, cxt);
}

/*
 * Add a row: its target y and prediction yhat.  The error is rounded once,
 * as y - yhat; its absolute value and square, y and y^2 are added exactly.
 */
void
MlopsErrorSumsAdd(MlopsErrorSums *s, double y, double yhat)
{
	double		e = y - yhat;
	MlopsSplit	se;
	MlopsSplit	sy;
	MlopsAccGrid *g = &s->acc;
	int32		kmin;
	int32		kmax;

	s->n++;
	if (!isfinite(e) || !isfinite(y))
	{
		s->nonfinite++;
		return;
	}
	se = MlopsSplitDouble(fabs(e));
	sy = MlopsSplitDouble(y);
	if (se.m == 0)
		se.e = sy.e;
	if (sy.m == 0)
		sy.e = se.e;
	kmin = Min(MlopsExactDigitOf(Min(se.e, sy.e)), MlopsExactDigitOf(2 * Min(se.e, sy.e)));
	kmax = Max(MlopsExactDigitOf(Max(se.e, sy.e)) + 3, MlopsExactDigitOf(2 * Max(se.e, sy.e)) + 5);
	MlopsAccReserve(g, kmin, kmax);
	MlopsAccAddValueAt(MlopsAccSum(g, ERR_ABS), g->klo, &se, 0);
	MlopsAccAddProductAt(MlopsAccSum(g, ERR_SQUARED), g->klo, &se, &se, 0);
	MlopsAccAddValueAt(MlopsAccSum(g, ERR_Y), g->klo, &sy, sy.neg ? g->width : 0);
	MlopsAccAddProductAt(MlopsAccSum(g, ERR_Y_SQUARED), g->klo, &sy, &sy, 0);
	MlopsAccTick(g);
}

/* Add the rows of from to into */
void
MlopsErrorSumsMerge(MlopsErrorSums *into, MlopsErrorSums *from)
{
	AddCount(&into->n, from->n);
	AddCount(&into->nonfinite, from->nonfinite);
	MlopsAccMerge(&into->acc, &from->acc);
}

/* "MLE1", n, nonfinite, then the four sums: canonical */
bytea *
MlopsErrorSumsSerialize(const MlopsErrorSums *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	pq_sendint32(&buf, ERRORS_MAGIC);
	pq_sendint64(&buf, s->n);
	pq_sendint64(&buf, s->nonfinite);
	for (int t = 0; t < ERR_NSUMS; t++)
		MlopsExactWrite(&buf, MlopsAccGet(&s->acc, t));
	SET_VARSIZE(buf.data, buf.len);
	return (bytea *) buf.data;
}

/*
 * Error sums from their serialised form, into s (limbs in cxt); ERROR for
 * anything MlopsErrorSumsSerialize could not have written.
 */
void
MlopsErrorSumsDeserialize(MlopsErrorSums *s, const char *data, Size len, MemoryContext cxt)
{
	MlopsReader r;

	MlopsReaderInit(&r, data, len, ERRORS_WHAT);
	if (MlopsReadUInt32(&r) != ERRORS_MAGIC)
		MlopsReadFail(&r, "The data does not start with the state's magic number.");
	MlopsErrorSumsInit(s, cxt);
	s->n = MlopsReadInt64(&r);
	s->nonfinite = MlopsReadInt64(&r);
	if (s->n < 0 || s->nonfinite < 0 || s->nonfinite > s->n)
		MlopsReadFail(&r, "A row count is out of range.");
	for (int t = 0; t < ERR_NSUMS; t++)
	{
		MlopsExact *x = MlopsExactRead(&r);

		if (x->sign < 0 && t != ERR_Y)
			MlopsReadFail(&r, "A sum of non-negative values is negative.");
		MlopsAccAddExact(&s->acc, t, x);
	}
	MlopsAccTick(&s->acc);
	MlopsReadEnd(&r);
}

/*
 * The regression metrics of rows with at least one row: r2 = 1 - SSE / SST,
 * rmse and mae, each rounded once from its exact sum (SST as
 * (n sum y^2 - (sum y)^2) / n); NaN when a prediction was not finite, r2
 * NaN when y is constant.
 */
void
MlopsErrorSumsMetrics(const MlopsErrorSums *s, double *r2, double *rmse, double *mae)
{
	double		n = (double) s->n;
	MlopsExact *sy = MlopsAccGet(&s->acc, ERR_Y);
	MlopsExact *syy = MlopsAccGet(&s->acc, ERR_Y_SQUARED);
	double		sse = MlopsExactToDouble(MlopsAccGet(&s->acc, ERR_SQUARED));
	double		sae = MlopsExactToDouble(MlopsAccGet(&s->acc, ERR_ABS));
	double		sst;

	sst = MlopsExactToDouble(MlopsExactSub(MlopsExactMul(MlopsExactFromInt64(s->n), syy),
										   MlopsExactMul(sy, sy))) / n;
	if (s->nonfinite > 0)
		sse = sae = NAN;
	*r2 = sst > 0 ? 1.0 - sse / sst : NAN;
	*rmse = sqrt(sse / n);
	*mae = sae / n;
}
