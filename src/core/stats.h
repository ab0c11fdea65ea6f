/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Distribution functions for p-values: normal, Student's t,
 *	  chi-square and Kolmogorov (stats.c).
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

#endif							/* MLOPS_STATS_H */
