/*-------------------------------------------------------------------------
 *
 * moments.h
 *	  Exact moments of rows (x_1 .. x_p, y) with missing x values, which is
 *	  all that least squares (and ridge) needs of its training rows
 *	  (core/moments.c).
 *
 * Every sum is exact (core/exact.h), so the moments, their serialised
 * bytes and anything fitted from them are the same whatever the order of
 * the rows and however they were split between processes: the state of
 * mlops.linear_moments, which parallel workers and Citus workers fill and
 * combine, and what mlops.train fits linear and ridge models from.
 *
 * With z = (x_1 .. x_p, y) (P = p + 1 columns, y never missing) a state
 * keeps the row count, each x's count of missing values, the sum of each
 * z over the rows where it is present and the sum of each product z_a z_b
 * over the rows where both are present; once a row has a missing value,
 * also what imputation needs: for each x_b and z_a, the sum of z_a over
 * the rows where z_a is present and x_b missing, and for each pair of x
 * the rows where both are missing.  The moments of the rows with missing
 * values replaced (the training mean, chosen after the sums are known)
 * then follow exactly (MlopsMomentsImpute).
 *
 * The exact error sums behind the regression metrics (MlopsErrorSums) are
 * here too, for the same reason.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_MOMENTS_H
#define MLOPS_MOMENTS_H

#include "core/exact.h"

/* The most x columns a moments state may have */
#define MLOPS_MOMENTS_MAX_FEATURES	128

typedef struct MlopsMoments
{
	int			p;				/* x columns; z has P = p + 1 */
	int64		n;				/* rows */
	int64	   *nnull;			/* p: rows where x_a is missing */
	int64	   *nboth;			/* p (p - 1) / 2: rows where x_a and x_b
								 * (a < b) are both missing; NULL until a
								 * row has a missing value */
	MlopsAccGrid sums;			/* P sums of z_a, then the P (P + 1) / 2
								 * sums of z_a z_b, a <= b */
	MlopsAccGrid nullsums;		/* P p sums: [a * p + b] is the sum of z_a
								 * over rows with z_a present and x_b
								 * missing (used once nboth is set) */
	int		   *pairbase;		/* P: index of the sum of z_a z_a */
	/* scratch for one row */
	MlopsSplit *split;
	int		   *present;
	int		   *missing;
	int64	   *negoff;
	MemoryContext cxt;			/* everything above */
} MlopsMoments;

/* The exact moments of the rows with missing x replaced (imputed) */
typedef struct MlopsImputed
{
	int			p;
	int64		n;
	MlopsExact **sum;			/* P: sum of z'_a */
	MlopsExact **cross;			/* P x P, symmetric: sum of z'_a z'_b */
} MlopsImputed;

/*
 * Exact sums behind the regression metrics of a set of rows: the errors
 * e = y - prediction, absolute and squared, and y and y^2.  Being exact,
 * the metrics computed from them do not depend on the order of the rows
 * or on how the rows were split between processes (mlops.train and
 * mlops.evaluate, and the aggregate mlops.regression_metrics).
 */
typedef struct MlopsErrorSums
{
	int64		n;
	int64		nonfinite;		/* rows whose prediction or error is not finite */
	MlopsAccGrid acc;			/* |e|, e^2, y, y^2 */
} MlopsErrorSums;

extern MlopsMoments *MlopsMomentsCreate(int p, MemoryContext cxt);
extern void MlopsMomentsAddRow(MlopsMoments *m, const double *x, double y);
extern void MlopsMomentsMerge(MlopsMoments *into, MlopsMoments *from);
extern bytea *MlopsMomentsSerialize(MlopsMoments *m);
extern MlopsMoments *MlopsMomentsDeserialize(const char *data, Size len, MemoryContext cxt);

extern int64 MlopsMomentsPresent(const MlopsMoments *m, int a);
extern double MlopsMomentsMean(const MlopsMoments *m, int a);
extern bool MlopsMomentsConstant(const MlopsMoments *m, int a);
extern MlopsImputed *MlopsMomentsImpute(const MlopsMoments *m, const double *impute);

extern void MlopsImputedCentred(const MlopsImputed *im, double *xmean, double *G,
								double *Xty, double *ymean, double *yss);
extern double MlopsImputedYSS(const MlopsImputed *im);
extern double MlopsImputedOffsetMean(const MlopsImputed *im, int a, double c);
extern double MlopsImputedSSE(const MlopsImputed *im, const MlopsExact *intercept,
							  const double *w);

extern void MlopsErrorSumsInit(MlopsErrorSums *s, MemoryContext cxt);
extern void MlopsErrorSumsAdd(MlopsErrorSums *s, double y, double yhat);
extern void MlopsErrorSumsMerge(MlopsErrorSums *into, MlopsErrorSums *from);
extern bytea *MlopsErrorSumsSerialize(const MlopsErrorSums *s);
extern void MlopsErrorSumsDeserialize(MlopsErrorSums *s, const char *data, Size len,
									  MemoryContext cxt);
extern void MlopsErrorSumsMetrics(const MlopsErrorSums *s, double *r2, double *rmse,
								  double *mae);

#endif							/* MLOPS_MOMENTS_H */
