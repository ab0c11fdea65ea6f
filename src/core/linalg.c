/*-------------------------------------------------------------------------
 *
 * linalg.c
 *	  Every BLAS and LAPACK call of mlops, behind small wrappers: sizes are
 *	  checked against BLAS's 32-bit integers, buffers come from palloc, and
 *	  a non-zero LAPACK info becomes an ereport (or an elog for argument
 *	  errors, which are bugs).  Also the passes over a column-major design
 *	  matrix shared by the algorithms: column means, the centred Gram matrix
 *	  and residual sums of squares, done in row blocks so that they stream
 *	  through the cache and honour query cancel.
 *
 * The rank-revealing Cholesky factorisation here is what lets ordinary
 * least squares and unpenalised logistic regression cope with perfectly
 * collinear designs (one-hot groups plus an intercept): it works through
 * the columns in order and "aliases" a column that adds nothing to the
 * span of those before it, as R's lm() reports NA for such terms.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

/* keep <complex.h> (and its macro I) out of this file */
#define LAPACK_COMPLEX_STRUCTURE
#include <cblas.h>
#include <lapacke.h>

#include "miscadmin.h"

#include "core/linalg.h"

/*
 * Refuse sizes BLAS cannot index: the OpenBLAS we link uses 32-bit
 * integers for dimensions and leading dimensions.
 */
void
MlopsCheckBlasSize(int64 nrows, int ncols, const char *what)
{
	if (nrows > INT_MAX || ncols > INT_MAX / 8)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large: " INT64_FORMAT " rows and %d columns",
						what, nrows, ncols),
				 errdetail("At most %d rows can be trained on at once.", INT_MAX)));
}

/* x . y */
double
MlopsDot(int n, const double *x, const double *y)
{
	if (n <= 0)
		return 0.0;
	return cblas_ddot(n, x, 1, y, 1);
}

/* y += a x */
void
MlopsAxpy(int n, double a, const double *x, double *y)
{
	if (n <= 0)
		return;
	cblas_daxpy(n, a, x, 1, y, 1);
}

/* y = alpha op(A) x + beta y, A m x n with leading dimension lda */
void
MlopsGemv(bool trans, int m, int n, double alpha, const double *A, int lda,
		  const double *x, double beta, double *y)
{
	if (m <= 0 || n <= 0)
	{
		/* BLAS would leave y alone; make beta apply as it should */
		int			len = trans ? n : m;

		for (int i = 0; i < len; i++)
			y[i] = (beta == 0.0) ? 0.0 : beta * y[i];
		return;
	}
	cblas_dgemv(CblasColMajor, trans ? CblasTrans : CblasNoTrans,
				m, n, alpha, A, lda, x, 1, beta, y, 1);
}

/* C = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n */
void
MlopsGemm(bool transa, bool transb, int m, int n, int k, double alpha,
		  const double *A, int lda, const double *B, int ldb,
		  double beta, double *C, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0)
	{
		for (int j = 0; j < n; j++)
			for (int i = 0; i < m; i++)
				C[(int64) j * ldc + i] = (beta == 0.0) ? 0.0 : beta * C[(int64) j * ldc + i];
		return;
	}
	if (n == 1 && !transb)
	{
		/* one column: dgemv avoids dgemm's packing of A */
		cblas_dgemv(CblasColMajor, transa ? CblasTrans : CblasNoTrans,
					transa ? k : m, transa ? m : k, alpha, A, lda, B, 1,
					beta, C, 1);
		return;
	}
	cblas_dgemm(CblasColMajor, transa ? CblasTrans : CblasNoTrans,
				transb ? CblasTrans : CblasNoTrans,
				m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/*
 * Upper triangle of C (n x n) += alpha A^T A, where A is k x n: the Gram
 * matrix of a block of rows, accumulated block after block.
 */
void
MlopsSyrkUpper(int n, int k, double alpha, const double *A, int lda,
			   double *C, int ldc)
{
	if (n <= 0 || k <= 0)
		return;
	cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, n, k,
				alpha, A, lda, 1.0, C, ldc);
}

/* Copy the upper triangle of C onto its lower triangle */
void
MlopsSymmetrize(int n, double *C, int ldc)
{
	for (int j = 0; j < n; j++)
		for (int i = j + 1; i < n; i++)
			C[(int64) j * ldc + i] = C[(int64) i * ldc + j];
}

/* x^T A x for a full symmetric A (n x n) */
double
MlopsQuadForm(int n, const double *A, int lda, const double *x)
{
	double	   *tmp;
	double		result;

	if (n <= 0)
		return 0.0;
	tmp = palloc(sizeof(double) * n);
	cblas_dgemv(CblasColMajor, CblasNoTrans, n, n, 1.0, A, lda, x, 1,
				0.0, tmp, 1);
	result = cblas_ddot(n, x, 1, tmp, 1);
	pfree(tmp);
	return result;
}

/*
 * Cholesky factorisation of the symmetric positive semi-definite A (n x n,
 * full) that survives rank deficiency.  Columns are visited in order; a
 * column is aliased when force_alias says so (constant columns, decided by
 * the caller, who knows their scale) or when its squared residual after
 * projection on the kept columns is at most tol times its diagonal, that
 * is when it is a linear combination of the kept columns up to rounding.
 * The factor of the kept submatrix grows one row at a time, each row a
 * triangular solve (dtrsv) against the rows before it.
 */
MlopsCholesky *
MlopsCholeskyAliased(const double *A, int n, const bool *force_alias,
					 double tol)
{
	MlopsCholesky *chol = palloc0(sizeof(MlopsCholesky));
	double	   *v = palloc(sizeof(double) * Max(n, 1));
	int			r = 0;

	bool		any_forced = false;

	chol->n = n;
	chol->kept = palloc(sizeof(int) * Max(n, 1));
	chol->aliased = palloc0(sizeof(bool) * Max(n, 1));
	chol->L = palloc0(sizeof(double) * Max((int64) n * n, 1));

	/*
	 * The usual case is full rank: LAPACK's blocked dpotrf then does the
	 * work.  Its pivots L[j,j]^2 are the same residuals, in the same column
	 * order, as the loop below tests, so when they all pass the result is
	 * the one the loop would give.
	 */
	for (int j = 0; j < n && force_alias; j++)
		any_forced |= force_alias[j];
	if (!any_forced && n > 0)
	{
		lapack_int	info;
		bool		full_rank = true;

		for (int j = 0; j < n; j++)
			for (int i = j; i < n; i++)
				chol->L[(int64) j * n + i] = A[(int64) j * n + i];
		info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, chol->L, n);
		if (info < 0)
			elog(ERROR, "LAPACKE_dpotrf failed with info %d", (int) info);
		for (int j = 0; j < n && full_rank && info == 0; j++)
		{
			double		ljj = chol->L[(int64) j * n + j];

			full_rank = isfinite(ljj) && ljj * ljj > tol * A[(int64) j * n + j];
		}
		if (info == 0 && full_rank)
		{
			for (int j = 0; j < n; j++)
				chol->kept[j] = j;
			chol->rank = n;
			pfree(v);
			return chol;
		}
		/* rank deficient: start again, column by column */
		memset(chol->L, 0, sizeof(double) * (int64) n * n);
	}

	for (int j = 0; j < n; j++)
	{
		double		ajj = A[(int64) j * n + j];
		double		d;

		CHECK_FOR_INTERRUPTS();

		if ((force_alias && force_alias[j]) || !(ajj > 0.0) || !isfinite(ajj))
		{
			chol->aliased[j] = true;
			continue;
		}

		/* v = L^-1 A[kept, j] */
		for (int k = 0; k < r; k++)
			v[k] = A[(int64) j * n + chol->kept[k]];
		if (r > 0)
			cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit,
						r, chol->L, n, v, 1);
		d = ajj - (r > 0 ? cblas_ddot(r, v, 1, v, 1) : 0.0);

		if (!(d > tol * ajj))
		{
			chol->aliased[j] = true;
			continue;
		}

		/* append row r of the factor: L[r, 0..r-1] = v, L[r, r] = sqrt(d) */
		for (int k = 0; k < r; k++)
			chol->L[(int64) k * n + r] = v[k];
		chol->L[(int64) r * n + r] = sqrt(d);
		chol->kept[r] = j;
		r++;
	}
	chol->rank = r;
	pfree(v);
	return chol;
}

/*
 * Solve A x = b on the kept columns of a factorisation from
 * MlopsCholeskyAliased; aliased entries of x are zero.  b and x have the
 * full order n and may be the same array.
 */
void
MlopsCholeskySolve(const MlopsCholesky *chol, const double *b, double *x)
{
	int			r = chol->rank;
	double	   *sub = palloc(sizeof(double) * Max(r, 1));
	lapack_int	info;

	for (int k = 0; k < r; k++)
		sub[k] = b[chol->kept[k]];
	if (r > 0)
	{
		info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', r, 1, chol->L, chol->n,
							  sub, r);
		if (info != 0)
			elog(ERROR, "LAPACKE_dpotrs failed with info %d", (int) info);
	}
	for (int j = 0; j < chol->n; j++)
		x[j] = 0.0;
	for (int k = 0; k < r; k++)
		x[chol->kept[k]] = sub[k];
	pfree(sub);
}

/*
 * The inverse of A restricted to its kept columns (dpotri on the factor),
 * returned as a full n x n matrix whose aliased rows and columns are NaN:
 * the covariance of aliased coefficients is not defined.
 */
double *
MlopsCholeskyInverse(const MlopsCholesky *chol)
{
	int			n = chol->n;
	int			r = chol->rank;
	double	   *inv = palloc(sizeof(double) * Max((int64) n * n, 1));
	double	   *sub = palloc(sizeof(double) * Max((int64) r * r, 1));
	lapack_int	info;

	for (int64 k = 0; k < (int64) n * n; k++)
		inv[k] = NAN;
	for (int j = 0; j < r; j++)
		for (int i = 0; i < r; i++)
			sub[(int64) j * r + i] = chol->L[(int64) j * n + i];
	if (r > 0)
	{
		info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', r, sub, r);
		if (info < 0)
			elog(ERROR, "LAPACKE_dpotri failed with info %d", (int) info);
		if (info > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("cannot invert a singular matrix"),
					 errdetail("Diagonal element %d of the Cholesky factor is zero.",
							   (int) info)));
	}
	/* dpotri fills the lower triangle; scatter both triangles */
	for (int j = 0; j < r; j++)
		for (int i = j; i < r; i++)
		{
			double		val = sub[(int64) j * r + i];

			inv[(int64) chol->kept[j] * n + chol->kept[i]] = val;
			inv[(int64) chol->kept[i] * n + chol->kept[j]] = val;
		}
	pfree(sub);
	return inv;
}

/* Column means of X (nrows x ncols), by blocks of X^T 1 */
void
MlopsColumnMeans(const double *X, int64 nrows, int ncols, double *mean)
{
	double		ones[MLOPS_BLOCK_ROWS];

	MlopsCheckBlasSize(nrows, ncols, "the design matrix");
	for (int i = 0; i < MLOPS_BLOCK_ROWS; i++)
		ones[i] = 1.0;
	for (int j = 0; j < ncols; j++)
		mean[j] = 0.0;
	if (nrows == 0 || ncols == 0)
		return;

	for (int64 i0 = 0; i0 < nrows; i0 += MLOPS_BLOCK_ROWS)
	{
		int			m = (int) Min((int64) MLOPS_BLOCK_ROWS, nrows - i0);

		cblas_dgemv(CblasColMajor, CblasTrans, m, ncols, 1.0, X + i0,
					(int) nrows, ones, 1, 1.0, mean, 1);
		CHECK_FOR_INTERRUPTS();
	}
	for (int j = 0; j < ncols; j++)
		mean[j] /= (double) nrows;
}

/*
 * Centred sums of squares of the columns of X, given their means: the
 * diagonal of the centred Gram matrix without the cost of the rest.
 */
void
MlopsColumnCss(const double *X, int64 nrows, int ncols, const double *mean,
			   double *css)
{
	for (int j = 0; j < ncols; j++)
	{
		const double *col = X + (int64) j * nrows;
		double		mj = mean[j];
		double		sum = 0.0;

		for (int64 i = 0; i < nrows; i++)
			sum += (col[i] - mj) * (col[i] - mj);
		css[j] = sum;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The centred Gram matrix G = (X - 1 xmean^T)^T (X - 1 xmean^T), full
 * ncols x ncols, and, when y is given, Xty = (X - 1 xmean^T)^T (y - ymean)
 * and yss = |y - ymean|^2.  Each block of rows is centred into a buffer
 * first (a second pass after the means, which keeps the accuracy that
 * X^T X - n m m^T would lose on columns with large means) and then fed to
 * dsyrk and dgemv.
 */
void
MlopsCenteredGram(const double *X, int64 nrows, int ncols, const double *y,
				  const double *xmean, double ymean, double *G, double *Xty,
				  double *yss)
{
	double	   *buf;
	double		yc[MLOPS_BLOCK_ROWS];
	double		ysum = 0.0;

	MlopsCheckBlasSize(nrows, ncols, "the design matrix");
	memset(G, 0, sizeof(double) * ncols * ncols);
	if (y)
	{
		memset(Xty, 0, sizeof(double) * ncols);
		*yss = 0.0;
	}
	buf = palloc(sizeof(double) * MLOPS_BLOCK_ROWS * Max(ncols, 1));
	for (int64 i0 = 0; i0 < nrows; i0 += MLOPS_BLOCK_ROWS)
	{
		int			m = (int) Min((int64) MLOPS_BLOCK_ROWS, nrows - i0);

		for (int j = 0; j < ncols; j++)
		{
			const double *src = X + (int64) j * nrows + i0;
			double	   *dst = buf + (int64) j * m;
			double		mj = xmean[j];

			for (int i = 0; i < m; i++)
				dst[i] = src[i] - mj;
		}
		if (ncols > 0)
			cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, ncols, m,
						1.0, buf, m, 1.0, G, ncols);
		if (y)
		{
			for (int i = 0; i < m; i++)
			{
				yc[i] = y[i0 + i] - ymean;
				ysum += yc[i] * yc[i];
			}
			if (ncols > 0)
				cblas_dgemv(CblasColMajor, CblasTrans, m, ncols, 1.0, buf, m,
							yc, 1, 1.0, Xty, 1);
		}
		CHECK_FOR_INTERRUPTS();
	}
	MlopsSymmetrize(ncols, G, ncols);
	if (y)
		*yss = ysum;
	pfree(buf);
}

/*
 * Flag the columns that are constant: a centred sum of squares css[j]
 * negligible against the column's uncentred sum of squares, that is the
 * column is (up to rounding) a multiple of the intercept.  offset[j], when
 * given, is added to the column before the comparison: a design column
 * the driver centred and scaled is judged by its original values
 * (offset = center / scale), as R judges a column against the intercept.
 */
void
MlopsConstantColumns(int64 nrows, int ncols, const double *xmean,
					 const double *css, const double *offset, bool *constant)
{
	for (int j = 0; j < ncols; j++)
	{
		double		m = xmean[j] + (offset ? offset[j] : 0.0);
		double		raw = css[j] + (double) nrows * m * m;

		constant[j] = !(css[j] > MLOPS_CONSTANT_TOL * raw);
	}
}

/* |y - intercept - X beta|^2, by blocks of dgemv */
double
MlopsResidualSS(const double *X, int64 nrows, int ncols, const double *y,
				double intercept, const double *beta)
{
	double		r[MLOPS_BLOCK_ROWS];
	double		rss = 0.0;

	MlopsCheckBlasSize(nrows, ncols, "the design matrix");
	for (int64 i0 = 0; i0 < nrows; i0 += MLOPS_BLOCK_ROWS)
	{
		int			m = (int) Min((int64) MLOPS_BLOCK_ROWS, nrows - i0);

		for (int i = 0; i < m; i++)
			r[i] = y[i0 + i] - intercept;
		if (ncols > 0)
			cblas_dgemv(CblasColMajor, CblasNoTrans, m, ncols, -1.0, X + i0,
						(int) nrows, beta, 1, 1.0, r, 1);
		for (int i = 0; i < m; i++)
			rss += r[i] * r[i];
		CHECK_FOR_INTERRUPTS();
	}
	return rss;
}
