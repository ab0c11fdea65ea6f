/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Distribution functions for p-values: normal, Student's t,
 *	  chi-square and Kolmogorov; the two-sample tests of the drift check:
 *	  PSI, Kolmogorov-Smirnov, chi-square homogeneity (stats.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_STATS_H
#define MLOPS_STATS_H

extern double MlopsNormalTwoSidedP(double z);
extern double MlopsStudentTTwoSidedP(double t, double df);
extern double MlopsChiSquareSf(double x, double df);
extern double MlopsKolmogorovSf(double lambda);
extern double MlopsRegIncGammaP(double a, double x);
extern double MlopsRegIncBeta(double a, double b, double x);

/* Two-sample tests (PSI normalises to shares; empty bins count as 1e-4) */
extern double MlopsPsi(const double *expected, const double *actual, int nbins);
extern double MlopsKsStatistic(const double *sample, int m, const int64 *hist,
							   int64 n);

/*
 * A sorted KS sample with a uniform grid over its range, so that the cell
 * of a live value is found in constant expected time (MlopsKsCell).
 */
typedef struct MlopsKsIndex
{
	const double *sample;		/* sorted ascending */
	int			m;
	int			ngrid;			/* 0: plain binary search */
	double		lo;
	double		scale;			/* grid cells per unit */
	int		   *grid;			/* ngrid + 1 lower bounds */
	double	   *padded;			/* the sample, then KS_PAD infinities */
} MlopsKsIndex;

extern void MlopsKsIndexInit(MlopsKsIndex *ix, const double *sample, int m);
extern int	MlopsKsCell(const MlopsKsIndex *ix, double v);
extern double MlopsKsPValue(double d, double m, double n);
extern double MlopsChiSquareHomogeneity(const double *a, const double *b, int k,
										double *statistic, int *df);

#endif							/* MLOPS_STATS_H */
