/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Distribution functions behind the p-values mlops reports: Student's t
 *	  for linear-model coefficients, the normal for logistic z statistics,
 *	  chi-square and Kolmogorov for drift tests; and the two-sample tests
 *	  the drift check runs (PSI, Kolmogorov-Smirnov, chi-square homogeneity).
 *
 * LAPACK has no special functions, so the regularised incomplete gamma and
 * beta functions are evaluated here with their standard series and
 * continued-fraction expansions (modified Lentz), to about 1e-14.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "core/stats.h"

#define STATS_EPS		1e-15
#define STATS_TINY		1e-300
#define STATS_MAXITER	1000

/*
 * One step of the modified Lentz evaluation of a continued fraction
 * b0 + a1/(b1 + a2/(b2 + ...)): folds in the term an/bn, updating the
 * running c and d (kept away from zero), and returns the factor by which
 * the fraction's value changes.
 */
static inline double
LentzStep(double an, double bn, double *c, double *d)
{
	*d = an * *d + bn;
	if (fabs(*d) < STATS_TINY)
		*d = STATS_TINY;
	*c = bn + an / *c;
	if (fabs(*c) < STATS_TINY)
		*c = STATS_TINY;
	*d = 1.0 / *d;
	return *d * *c;
}

/* P(|Z| >= |z|) for a standard normal Z */
double
MlopsNormalTwoSidedP(double z)
{
	if (isnan(z))
		return NAN;
	return erfc(fabs(z) / M_SQRT2);
}

/*
 * Regularised lower incomplete gamma P(a, x): the series for x < a + 1,
 * otherwise 1 - Q(a, x) with Q from its continued fraction.
 */
double
MlopsRegIncGammaP(double a, double x)
{
	double		lg;

	if (isnan(a) || isnan(x) || a <= 0.0)
		return NAN;
	if (x <= 0.0)
		return 0.0;
	if (isinf(x))
		return 1.0;
	lg = lgamma(a);
	if (x < a + 1.0)
	{
		double		ap = a;
		double		sum = 1.0 / a;
		double		del = sum;

		for (int n = 0; n < STATS_MAXITER; n++)
		{
			ap += 1.0;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * STATS_EPS)
				break;
		}
		return sum * exp(-x + a * log(x) - lg);
	}
	else
	{
		double		b = x + 1.0 - a;
		double		c = 1.0 / STATS_TINY;
		double		d = 1.0 / b;
		double		h = d;

		for (int i = 1; i <= STATS_MAXITER; i++)
		{
			double		an = -i * (i - a);
			double		del;

			b += 2.0;
			del = LentzStep(an, b, &c, &d);
			h *= del;
			if (fabs(del - 1.0) < STATS_EPS)
				break;
		}
		return 1.0 - exp(-x + a * log(x) - lg) * h;
	}
}

/* Continued fraction of the incomplete beta function (modified Lentz) */
static double
IncBetaFraction(double a, double b, double x)
{
	double		qab = a + b;
	double		qap = a + 1.0;
	double		qam = a - 1.0;
	double		c = 1.0;
	double		d = 1.0 - qab * x / qap;
	double		h;

	if (fabs(d) < STATS_TINY)
		d = STATS_TINY;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= STATS_MAXITER; m++)
	{
		int			m2 = 2 * m;
		double		aa = m * (b - m) * x / ((qam + m2) * (a + m2));
		double		del;

		h *= LentzStep(aa, 1.0, &c, &d);
		aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
		del = LentzStep(aa, 1.0, &c, &d);
		h *= del;
		if (fabs(del - 1.0) < STATS_EPS)
			break;
	}
	return h;
}

/* Regularised incomplete beta I_x(a, b) */
double
MlopsRegIncBeta(double a, double b, double x)
{
	double		front;

	if (isnan(a) || isnan(b) || isnan(x) || a <= 0.0 || b <= 0.0)
		return NAN;
	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * IncBetaFraction(a, b, x) / a;
	return 1.0 - front * IncBetaFraction(b, a, 1.0 - x) / b;
}

/* P(|T| >= |t|) for Student's t with df degrees of freedom */
double
MlopsStudentTTwoSidedP(double t, double df)
{
	if (isnan(t) || isnan(df) || df <= 0.0)
		return NAN;
	if (isinf(t))
		return 0.0;
	return MlopsRegIncBeta(df / 2.0, 0.5, df / (df + t * t));
}

/* P(X >= x) for a chi-square X with df degrees of freedom */
double
MlopsChiSquareSf(double x, double df)
{
	if (isnan(x) || isnan(df) || df <= 0.0)
		return NAN;
	if (x <= 0.0)
		return 1.0;
	return 1.0 - MlopsRegIncGammaP(df / 2.0, x / 2.0);
}

/*
 * Kolmogorov survival function Q(lambda) = 2 sum_{k>=1} (-1)^(k-1)
 * exp(-2 k^2 lambda^2): the asymptotic p-value of the two-sample KS test at
 * lambda = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D, ne = n m / (n + m).
 */
double
MlopsKolmogorovSf(double lambda)
{
	double		sum = 0.0;
	double		sign = 1.0;

	if (isnan(lambda))
		return NAN;
	if (lambda < 0.2)
		return 1.0;
	for (int k = 1; k <= 200; k++)
	{
		double		term = sign * exp(-2.0 * k * k * lambda * lambda);

		sum += term;
		if (fabs(term) <= 1e-16 * fabs(sum))
			break;
		sign = -sign;
	}
	sum *= 2.0;
	if (sum < 0.0)
		sum = 0.0;
	if (sum > 1.0)
		sum = 1.0;
	return sum;
}

/* ------------------------------------------------------------------------
 * Two-sample tests of the drift check: PSI over bins, Kolmogorov-Smirnov
 * between a sample and a histogram of live values, chi-square homogeneity
 * ------------------------------------------------------------------------
 */

/* Share given to empty bins by PSI, so that the logarithm stays finite */
#define PSI_EMPTY_SHARE 1e-4

/*
 * Population stability index between two distributions over the same bins:
 * sum of (a - e) * ln(a / e) over the shares, where each vector is first
 * normalised to sum 1 and then empty bins get PSI_EMPTY_SHARE.
 */
double
MlopsPsi(const double *expected, const double *actual, int nbins)
{
	double		se = 0.0,
				sa = 0.0,
				psi = 0.0;

	for (int k = 0; k < nbins; k++)
	{
		se += expected[k];
		sa += actual[k];
	}
	if (se <= 0.0 || sa <= 0.0)
		return NAN;
	for (int k = 0; k < nbins; k++)
	{
		double		e = expected[k] / se;
		double		a = actual[k] / sa;

		if (e <= 0.0)
			e = PSI_EMPTY_SHARE;
		if (a <= 0.0)
			a = PSI_EMPTY_SHARE;
		psi += (a - e) * log(a / e);
	}
	return psi;
}

/* First index in [lo, hi) of the sorted sample with s[i] >= v, else hi */
static inline int
LowerBound(const double *s, int lo, int hi, double v)
{
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (s[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Grid cells per sample point, and how many sample points a cell may hold
 * for the branch-free count in MlopsKsCell (more fall back to a search).
 */
#define KS_GRID_PER_POINT	2
#define KS_PAD				4

/*
 * Prepare the lookup grid of a sorted sample: 2m cells over [min, max],
 * each remembering the lower bound of its left end, so that a lookup only
 * has to look between two neighbouring grid entries.
 */
void
MlopsKsIndexInit(MlopsKsIndex *ix, const double *sample, int m)
{
	double		range;
	int			j = 0;

	ix->sample = sample;
	ix->m = m;
	ix->ngrid = 0;
	ix->grid = NULL;
	ix->padded = NULL;
	if (m < 2)
		return;
	range = sample[m - 1] - sample[0];
	if (!(range > 0.0) || !isfinite(range))
		return;
	ix->ngrid = KS_GRID_PER_POINT * m;
	ix->lo = sample[0];
	ix->scale = ix->ngrid / range;
	if (!isfinite(ix->scale))
	{
		ix->ngrid = 0;
		return;
	}
	ix->grid = palloc((ix->ngrid + 1) * sizeof(int));
	for (int c = 0; c <= ix->ngrid; c++)
	{
		double		g = ix->lo + c / ix->scale;

		while (j < m && sample[j] < g)
			j++;
		ix->grid[c] = j;
	}
	ix->padded = palloc((m + KS_PAD) * sizeof(double));
	memcpy(ix->padded, sample, m * sizeof(double));
	for (int k = 0; k < KS_PAD; k++)
		ix->padded[m + k] = INFINITY;
}

/*
 * Cell of value v in the KS histogram over the sorted sample of m values:
 * 2j for values strictly between the (j-1)th and the jth sample point
 * (2m above the last), 2j + 1 for values equal to the jth.  With these
 * counts the live distribution function is known exactly at, and just
 * below, every sample point, which is all the two-sample statistic needs.
 *
 * The grid narrows the search to the few points of one cell, counted
 * without branches (this runs for every live value).  Its bounds are
 * checked, so rounding in the grid arithmetic can slow a lookup down but
 * never make it wrong.
 */
int
MlopsKsCell(const MlopsKsIndex *ix, double v)
{
	const double *s = ix->sample;
	int			m = ix->m;
	int			j;

	if (ix->ngrid == 0)
		j = LowerBound(s, 0, m, v);
	else if (v <= ix->lo)
		j = 0;
	else
	{
		double		pos = (v - ix->lo) * ix->scale;
		int			c = pos >= ix->ngrid ? ix->ngrid - 1 : (int) pos;
		int			lo = ix->grid[c];
		int			hi = ix->grid[c + 1];

		if (unlikely(lo > 0 && s[lo - 1] >= v))
			lo = 0;
		if (unlikely(hi < m && s[hi] < v))
			hi = m;
		if (likely(hi - lo <= KS_PAD))
		{
			/* points from hi on are >= v, the padding is infinite */
			const double *p = ix->padded + lo;

			j = lo + (p[0] < v) + (p[1] < v) + (p[2] < v) + (p[3] < v);
		}
		else
			j = LowerBound(s, lo, hi, v);
	}
	if (unlikely(j < m && s[j] == v))
		return 2 * j + 1;
	return 2 * j;
}

/*
 * Two-sample Kolmogorov-Smirnov statistic D = sup |F_sample - F_live| from
 * the histogram of n live values over the sample's cells.  Between two
 * sample points F_sample is constant and F_live monotone, so the supremum
 * is reached at a sample point or just below one.
 */
double
MlopsKsStatistic(const double *sample, int m, const int64 *hist, int64 n)
{
	double		d = 0.0;
	int64		below = 0;		/* live values < current sample point */
	int			i = 0;

	if (m == 0 || n == 0)
		return NAN;
	while (i < m)
	{
		double		u = sample[i];
		int			k = 1;
		int64		atmost;
		double		fs_lt = (double) i / m;
		double		fs_le;

		while (i + k < m && sample[i + k] == u)
			k++;
		fs_le = (double) (i + k) / m;
		below += hist[2 * i];
		atmost = below + hist[2 * i + 1];
		d = Max(d, fabs(fs_lt - (double) below / n));
		d = Max(d, fabs(fs_le - (double) atmost / n));
		/* the cells inside a run of tied sample points are empty */
		for (int t = 1; t < k; t++)
			atmost += hist[2 * (i + t)] + hist[2 * (i + t) + 1];
		below = atmost;
		i += k;
	}
	return d;
}

/*
 * Asymptotic p-value of the two-sample KS statistic d for samples of m and
 * n values: Q((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) d), ne = m n / (m + n)
 * (Stephens' correction, as in Numerical Recipes' kstwo).
 */
double
MlopsKsPValue(double d, double m, double n)
{
	double		ne,
				sq;

	if (isnan(d) || m <= 0 || n <= 0)
		return NAN;
	ne = m * n / (m + n);
	sq = sqrt(ne);
	return MlopsKolmogorovSf((sq + 0.12 + 0.11 / sq) * d);
}

/*
 * Chi-square test of homogeneity of two count vectors over the same k
 * buckets (a 2 x k contingency table): buckets empty in both are dropped,
 * df = buckets left - 1.  Returns the p-value; NaN when a side is empty.
 */
double
MlopsChiSquareHomogeneity(const double *a, const double *b, int k,
						  double *statistic, int *df)
{
	double		na = 0.0,
				nb = 0.0,
				stat = 0.0;
	int			used = 0;

	for (int i = 0; i < k; i++)
	{
		na += a[i];
		nb += b[i];
	}
	*statistic = NAN;
	*df = 0;
	if (na <= 0.0 || nb <= 0.0)
		return NAN;
	for (int i = 0; i < k; i++)
	{
		double		tot = a[i] + b[i];
		double		ea,
					eb;

		if (tot <= 0.0)
			continue;
		used++;
		ea = na * tot / (na + nb);
		eb = nb * tot / (na + nb);
		stat += (a[i] - ea) * (a[i] - ea) / ea + (b[i] - eb) * (b[i] - eb) / eb;
	}
	*statistic = stat;
	*df = used - 1;
	if (used < 2)
		return 1.0;
	return MlopsChiSquareSf(stat, used - 1);
}
