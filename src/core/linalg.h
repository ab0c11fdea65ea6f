/*-------------------------------------------------------------------------
 *
 * linalg.h
 *	  The one module behind which every BLAS and LAPACK call of mlops sits
 *	  (linalg.c): thin wrappers over CBLAS and LAPACKE that check sizes,
 *	  allocate with palloc and turn LAPACK failures into ereports, plus the
 *	  passes over a column-major design matrix that the algorithms share.
 *
 * Matrices are column-major.  Symmetric matrices are always stored full
 * (both triangles filled) unless a function says otherwise.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_LINALG_H
#define MLOPS_LINALG_H

/* Rows per block in passes over a design matrix (block buffers fit in L2) */
#define MLOPS_BLOCK_ROWS	2048

/*
 * A Cholesky factorisation of a symmetric positive semi-definite matrix
 * that tolerates rank deficiency: columns are taken in their order and a
 * column that is (numerically) a linear combination of the columns kept
 * before it is "aliased", as R's lm() does.  L is the Cholesky factor of
 * the submatrix of kept rows and columns.
 */
typedef struct MlopsCholesky
{
	int			n;				/* order of the full matrix */
	int			rank;			/* number of kept columns */
	int		   *kept;			/* rank indexes of kept columns, ascending */
	bool	   *aliased;		/* n flags */
	double	   *L;				/* rank x rank lower factor, leading dim n */
} MlopsCholesky;

/* Relative tolerance of MlopsCholeskyAliased for collinear columns */
#define MLOPS_ALIAS_TOL		1e-9

/* Relative tolerance under which a centred column counts as constant */
#define MLOPS_CONSTANT_TOL	1e-14

/* Sizes */
extern void MlopsCheckBlasSize(int64 nrows, int ncols, const char *what);

/* BLAS wrappers */
extern double MlopsDot(int n, const double *x, const double *y);
extern void MlopsAxpy(int n, double a, const double *x, double *y);
extern void MlopsGemv(bool trans, int m, int n, double alpha,
					  const double *A, int lda, const double *x,
					  double beta, double *y);
extern void MlopsGemm(bool transa, bool transb, int m, int n, int k,
					  double alpha, const double *A, int lda,
					  const double *B, int ldb,
					  double beta, double *C, int ldc);
extern void MlopsSyrkUpper(int n, int k, double alpha, const double *A,
						   int lda, double *C, int ldc);
extern void MlopsSymmetrize(int n, double *C, int ldc);
extern double MlopsQuadForm(int n, const double *A, int lda, const double *x);

/* LAPACK wrappers */
extern MlopsCholesky *MlopsCholeskyAliased(const double *A, int n,
										   const bool *force_alias,
										   double tol);
extern void MlopsCholeskySolve(const MlopsCholesky *chol, const double *b,
							   double *x);
extern double *MlopsCholeskyInverse(const MlopsCholesky *chol);

/* Passes over a column-major design matrix */
extern void MlopsColumnMeans(const double *X, int64 nrows, int ncols,
							 double *mean);
extern void MlopsColumnCss(const double *X, int64 nrows, int ncols,
						   const double *mean, double *css);
extern void MlopsCenteredGram(const double *X, int64 nrows, int ncols,
							  const double *y, const double *xmean,
							  double ymean, double *G, double *Xty,
							  double *yss);
extern void MlopsConstantColumns(int64 nrows, int ncols, const double *xmean,
								 const double *css, const double *offset,
								 bool *constant);
extern double MlopsResidualSS(const double *X, int64 nrows, int ncols,
							  const double *y, double intercept,
							  const double *beta);

#endif							/* MLOPS_LINALG_H */
