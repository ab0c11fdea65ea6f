/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Distribution functions behind the p-values mlops reports: Student's t
 *	  for linear-model coefficients, the normal for logistic z statistics,
 *	  chi-square and Kolmogorov for drift tests.
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
