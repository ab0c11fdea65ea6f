/*-------------------------------------------------------------------------
 *
 * algo_logistic.c
 *	  L2-regularised logistic regression, binary and multinomial, fitted by
 *	  Newton's method (iteratively reweighted least squares) with a
 *	  backtracking line search, on the standardised design.
 *
 * With K classes the model has K - 1 blocks of parameters, one per class
 * 1 .. K-1, each an intercept and a coefficient per design column; class 0
 * (the first label in sorted order) is the reference whose linear
 * predictor is 0, as in R's glm (binary) and nnet::multinom.  Binary is
 * simply K = 2.  The objective is
 *
 *		(1/n) sum_i -log P(y_i | x_i) + (alpha/2) sum_k |b_k|^2
 *
 * with intercepts unpenalised.  alpha = 0 gives maximum likelihood; the
 * column-ordered rank-revealing Cholesky of linalg.c then copes with
 * collinear (one-hot) columns by aliasing them.
 *
 * Each Newton iteration is one pass over the rows in blocks: linear
 * predictors with dgemm, the softmax per row, the gradient with dgemm and
 * each block of the Hessian X^T diag(w) X with dsyrk on sqrt(|w|)-scaled
 * rows (w = p_a (1 - p_a) on the diagonal blocks, -p_a p_c off it), so
 * the work per row is level-3 BLAS.  Standard errors come from the inverse
 * Hessian of the last iterate, whose final Newton step is tiny.  On large
 * training sets the iterations start from the solution on an eighth of the
 * rows (a uniform sample, the rows being in content-hash order), which
 * saves about half of the full passes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "algorithms/algo_common.h"
#include "core/linalg.h"
#include "core/stats.h"
#include "core/util.h"

static const MlopsHyperparam logistic_hyper[] = {
	{"alpha", 1e-4, 0.0, 1e12, false,
	"L2 penalty on the standardised coefficients, per row (0 gives maximum likelihood)"},
	{"max_iter", 100, 1, 10000, true,
	"maximum number of Newton iterations"},
	{"tol", 1e-8, 0.0, 1.0, false,
	"stop when half the Newton decrement (the predicted decrease of the objective) is below tol"},
};

/*
 * Layout of params, with P = ncols + 1 parameters per block and
 * D = (nclasses - 1) P:
 *	[0 .. D-1]		block k-1 for class k: intercept, then coefficients
 *					(standardised scale)
 *	[D .. 2D-1]		standard errors of the same on the original scale
 *	[2D .. 3D-1]	1 for an aliased parameter, else 0
 */
#define LOGIT_NPARAMS(D)	(3 * (D))

/*
 * Warm start (LogisticFit): from this many training rows, first solve on
 * the leading 1/LOGIT_WARM_FRACTION of them, in at most so many iterations.
 */
#define LOGIT_WARM_MIN_ROWS		100000
#define LOGIT_WARM_FRACTION		8
#define LOGIT_WARM_MAX_ITER		25

/* The largest Hessian the Newton solver accepts (D x D doubles) */
#define LOGIT_MAX_DIM		3000

/* Working state of one fit */
typedef struct LogitState
{
	const double *X;
	const double *y;
	int64		n;				/* rows taken: the first n */
	int64		ld;				/* rows of X (its leading dimension) */
	int			p;				/* design columns */
	int			P;				/* parameters per block, p + 1 */
	int			B;				/* blocks, nclasses - 1 */
	int			K;				/* classes */
	int			D;				/* parameters, B P */
	double		alpha;
	double		max_abs_eta;	/* largest |linear predictor| of the last full evaluation */
	/* per row-block buffers */
	double	   *eta;			/* m x B linear predictors */
	double	   *prob;			/* m x K probabilities */
	double	   *resid;			/* m x B prob - indicator */
	double	   *Z;				/* m x P weighted rows */
	double	   *sw;				/* m weights */
	/* accumulators */
	double	   *gslope;			/* p x B */
	double	   *hpair;			/* B(B+1)/2 blocks of P x P (upper) */
} LogitState;

/*
 * One block of m rows from row i0 (Xb its first design row): the linear
 * predictors, the softmax against the reference class and the log loss,
 * added to *loss; with derivatives, also the probabilities normalised, the
 * residuals (probability - indicator) and the largest |linear predictor|.
 */
static void
LogitBlockForward(LogitState *s, const double *beta, const double *Xb, int64 i0, int m,
				  bool derivatives, double *loss)
{
	int			p = s->p;
	int			P = s->P;
	int			B = s->B;

	/* linear predictors: intercepts, then + X_block B_slopes */
	for (int b = 0; b < B; b++)
		for (int i = 0; i < m; i++)
			s->eta[b * m + i] = beta[b * P];
	MlopsGemm(false, false, m, B, p, 1.0, Xb, (int) s->ld, beta + 1, P,
			  1.0, s->eta, m);

	/* softmax against the reference class, and the log loss */
	for (int i = 0; i < m; i++)
	{
		int			yi = (int) s->y[i0 + i];
		double		mx = 0.0;
		double		denom;

		if (yi < 0 || yi >= s->K)
			elog(ERROR, "class index %d out of range", yi);
		for (int b = 0; b < B; b++)
			mx = Max(mx, s->eta[b * m + i]);
		denom = s->prob[i] = exp(-mx);
		for (int b = 0; b < B; b++)
		{
			double		e = exp(s->eta[b * m + i] - mx);

			s->prob[(b + 1) * m + i] = e;
			denom += e;
		}
		*loss += log(denom) + mx - (yi > 0 ? s->eta[(yi - 1) * m + i] : 0.0);
		if (derivatives)
		{
			double		inv = 1.0 / denom;

			for (int b = 0; b < B; b++)
				s->max_abs_eta = Max(s->max_abs_eta, fabs(s->eta[b * m + i]));

			for (int k = 0; k < s->K; k++)
				s->prob[k * m + i] *= inv;
			for (int b = 0; b < B; b++)
				s->resid[b * m + i] = s->prob[(b + 1) * m + i] -
					(yi == b + 1 ? 1.0 : 0.0);
		}
	}
}

/*
 * One block's share of the derivatives, from LogitBlockForward's
 * probabilities and residuals: the intercepts' gradient into grad, the
 * slopes' into s->gslope, the Hessian blocks into s->hpair.
 */
static void
LogitBlockDerivatives(LogitState *s, const double *Xb, int m, double *grad)
{
	int			p = s->p;
	int			P = s->P;
	int			B = s->B;
	int			pair = 0;

	/* gradient: intercepts sum the residuals, slopes X^T R */
	for (int b = 0; b < B; b++)
	{
		double		sum = 0.0;

		for (int i = 0; i < m; i++)
			sum += s->resid[b * m + i];
		grad[b * P] += sum;
	}
	MlopsGemm(true, false, p, B, m, 1.0, Xb, (int) s->ld, s->resid, m,
			  1.0, s->gslope, p);

	/* Hessian blocks: [1 X]^T diag(w) [1 X] via sqrt(|w|) rows */
	for (int a = 0; a < B; a++)
	{
		for (int c = a; c < B; c++, pair++)
		{
			const double *pa = s->prob + (a + 1) * m;
			const double *pc = s->prob + (c + 1) * m;

			for (int i = 0; i < m; i++)
			{
				double		w = (a == c) ? pa[i] * (1.0 - pa[i]) : pa[i] * pc[i];

				s->sw[i] = sqrt(w);
				s->Z[i] = s->sw[i];
			}
			for (int j = 0; j < p; j++)
			{
				const double *xj = Xb + (int64) j * s->ld;
				double	   *zj = s->Z + (int64) (j + 1) * m;

				for (int i = 0; i < m; i++)
					zj[i] = s->sw[i] * xj[i];
			}
			MlopsSyrkUpper(P, m, (a == c) ? 1.0 : -1.0, s->Z, m,
						   s->hpair + (int64) pair * P * P, P);
		}
	}
}

/*
 * The gradient and the full Hessian per row, penalty included, from the
 * sums the blocks accumulated.
 */
static void
LogitFinishDerivatives(LogitState *s, const double *beta, double *grad, double *H)
{
	int			p = s->p;
	int			P = s->P;
	int			B = s->B;
	int			D = s->D;
	int64		n = s->n;
	int			pair = 0;

	for (int b = 0; b < B; b++)
	{
		grad[b * P] /= (double) n;
		for (int j = 0; j < p; j++)
			grad[b * P + 1 + j] = s->gslope[b * p + j] / (double) n +
				s->alpha * beta[b * P + 1 + j];
	}

	/* assemble the full Hessian from the pair blocks */
	for (int a = 0; a < B; a++)
	{
		for (int c = a; c < B; c++, pair++)
		{
			double	   *blk = s->hpair + (int64) pair * P * P;

			MlopsSymmetrize(P, blk, P);
			for (int cs = 0; cs < P; cs++)
				for (int rs = 0; rs < P; rs++)
				{
					double		v = blk[cs * P + rs] / (double) n;

					H[(int64) (c * P + cs) * D + a * P + rs] = v;
					H[(int64) (a * P + rs) * D + c * P + cs] = v;
				}
		}
		for (int j = 0; j < p; j++)
			H[(int64) (a * P + 1 + j) * D + a * P + 1 + j] += s->alpha;
	}
}

/*
 * The objective at beta; also its gradient (D) and Hessian (D x D, full)
 * when grad is not NULL.
 */
static double
LogitEvaluate(LogitState *s, const double *beta, double *grad, double *H)
{
	int			p = s->p;
	int			P = s->P;
	int			B = s->B;
	int			D = s->D;
	int64		n = s->n;
	int			npairs = B * (B + 1) / 2;
	double		loss = 0.0;
	double		penalty = 0.0;

	if (grad)
	{
		s->max_abs_eta = 0.0;
		memset(grad, 0, sizeof(double) * D);
		memset(s->gslope, 0, sizeof(double) * p * B);
		memset(s->hpair, 0, sizeof(double) * npairs * P * P);
	}

	for (int64 i0 = 0; i0 < n; i0 += MLOPS_BLOCK_ROWS)
	{
		int			m = (int) Min((int64) MLOPS_BLOCK_ROWS, n - i0);
		const double *Xb = s->X + i0;

		LogitBlockForward(s, beta, Xb, i0, m, grad != NULL, &loss);
		if (grad)
			LogitBlockDerivatives(s, Xb, m, grad);
		CHECK_FOR_INTERRUPTS();
	}

	for (int b = 0; b < B; b++)
		for (int j = 0; j < p; j++)
		{
			double		bj = beta[b * P + 1 + j];

			penalty += bj * bj;
		}

	if (grad)
		LogitFinishDerivatives(s, beta, grad, H);

	return loss / (double) n + 0.5 * s->alpha * penalty;
}

/* The buffers a Newton run swaps between iterations */
typedef struct NewtonBuffers
{
	double	   *beta;			/* D: in the start, out the solution */
	double	   *trial;
	double	   *grad;
	double	   *grad_t;
	double	   *H;				/* D x D */
	double	   *H_t;
	double	   *step;
} NewtonBuffers;

/*
 * Newton's method on the first s->n rows from nb->beta.  Each iteration
 * factorises the Hessian (rank-revealing Cholesky), stops when half the
 * Newton decrement g^T H^-1 g is at most tol, otherwise steps along the
 * Newton direction with Armijo backtracking.  Returns whether it converged
 * within max_iter; *chol is the factorisation of the last Hessian and
 * s->max_abs_eta is that of the last accepted iterate.
 */
static bool
Newton(LogitState *s, NewtonBuffers *nb, const bool *force, int max_iter,
	   double tol, MlopsCholesky **chol)
{
	int			D = s->D;
	double		f;
	double		max_abs_eta;

	f = LogitEvaluate(s, nb->beta, nb->grad, nb->H);
	max_abs_eta = s->max_abs_eta;
	for (int iter = 0;; iter++)
	{
		double		decrement;
		double		t = 1.0;
		double		ft = 0.0;
		bool		accepted = false;
		double	   *swap;

		*chol = MlopsCholeskyAliased(nb->H, D, force, MLOPS_ALIAS_TOL);
		MlopsCholeskySolve(*chol, nb->grad, nb->step);
		decrement = MlopsDot(D, nb->grad, nb->step);

		if (!(decrement > 2.0 * tol))
		{
			/*
			 * Converged.  The last Newton step is already computed and tiny
			 * (its H-norm is the decrement); convergence being quadratic it
			 * squares the remaining error, so take it.
			 */
			for (int k = 0; k < D; k++)
				nb->beta[k] -= nb->step[k];
			s->max_abs_eta = max_abs_eta;
			return true;
		}
		if (iter >= max_iter)
			break;

		/*
		 * Armijo backtracking along -step.  Trials are evaluated in full:
		 * the first is nearly always accepted, and its gradient and Hessian
		 * are then those of the next iteration, one pass over the rows per
		 * iteration.
		 */
		for (int ls = 0; ls < 40; ls++)
		{
			for (int k = 0; k < D; k++)
				nb->trial[k] = nb->beta[k] - t * nb->step[k];
			ft = LogitEvaluate(s, nb->trial, nb->grad_t, nb->H_t);
			if (isfinite(ft) && ft <= f - 1e-4 * t * decrement)
			{
				accepted = true;
				break;
			}
			t *= 0.5;
		}
		if (!accepted)
		{
			/* no decrease left at this precision: beta is the optimum */
			s->max_abs_eta = max_abs_eta;
			return true;
		}
		swap = nb->beta;
		nb->beta = nb->trial;
		nb->trial = swap;
		swap = nb->grad;
		nb->grad = nb->grad_t;
		nb->grad_t = swap;
		swap = nb->H;
		nb->H = nb->H_t;
		nb->H_t = swap;
		f = ft;
		max_abs_eta = s->max_abs_eta;
	}
	s->max_abs_eta = max_abs_eta;
	return false;
}

/*
 * ERROR unless the problem suits the solver: two classes or more, rows,
 * a Hessian within LOGIT_MAX_DIM, and the memory for it.
 */
static void
LogitCheckSize(const MlopsDesign *train)
{
	int			p = train->ncols;
	int			K = train->nclasses;
	int			B = K - 1;
	int			P = p + 1;
	int			D = B * P;

	if (K < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logistic regression needs at least two classes")));
	if (train->nrows < 1)
		elog(ERROR, "logistic regression needs at least one row");
	MlopsCheckBlasSize(train->nrows, p, "the design matrix");
	if (D > LOGIT_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logistic regression with %d classes and %d design columns has too many parameters",
						K, p),
				 errdetail("Newton's method needs a Hessian of (classes - 1) x (columns + 1) = %d rows; the limit is %d.",
						   D, LOGIT_MAX_DIM),
				 errhint("Use naive_bayes, or fewer classes or categories.")));
	MlopsCheckMemory(sizeof(double) * ((Size) D * D * 4 +
									   (Size) B * (B + 1) / 2 * P * P +
									   (Size) MLOPS_BLOCK_ROWS * (P + 3 * K)),
					 "the Newton solver");
}

/* The working state of a fit on every row of train, and its buffers. */
static void
LogitStateInit(LogitState *s, NewtonBuffers *buf, const MlopsModel *model,
			   const MlopsDesign *train)
{
	int			p = train->ncols;
	int			K = train->nclasses;
	int			B = K - 1;
	int			P = p + 1;
	int			D = B * P;

	memset(s, 0, sizeof(*s));
	s->X = train->X;
	s->y = train->y;
	s->n = train->nrows;
	s->ld = train->nrows;
	s->p = p;
	s->P = P;
	s->B = B;
	s->K = K;
	s->D = D;
	s->alpha = model->hyper[0];
	s->eta = palloc(sizeof(double) * MLOPS_BLOCK_ROWS * B);
	s->prob = palloc(sizeof(double) * MLOPS_BLOCK_ROWS * K);
	s->resid = palloc(sizeof(double) * MLOPS_BLOCK_ROWS * B);
	s->Z = palloc(sizeof(double) * MLOPS_BLOCK_ROWS * P);
	s->sw = palloc(sizeof(double) * MLOPS_BLOCK_ROWS);
	s->gslope = palloc(sizeof(double) * Max(p * B, 1));
	s->hpair = palloc(sizeof(double) * (Size) (B * (B + 1) / 2) * P * P);

	buf->beta = palloc0(sizeof(double) * D);
	buf->trial = palloc(sizeof(double) * D);
	buf->grad = palloc(sizeof(double) * D);
	buf->grad_t = palloc(sizeof(double) * D);
	buf->step = palloc(sizeof(double) * D);
	buf->H = palloc(sizeof(double) * (Size) D * D);
	buf->H_t = palloc(sizeof(double) * (Size) D * D);
}

/* Free the fit's per-block buffers, Hessians and gradients. */
static void
LogitStateFree(LogitState *s, NewtonBuffers *buf)
{
	pfree(s->eta);
	pfree(s->prob);
	pfree(s->resid);
	pfree(s->Z);
	pfree(s->sw);
	pfree(s->gslope);
	pfree(s->hpair);
	pfree(buf->H);
	pfree(buf->H_t);
	pfree(buf->grad);
	pfree(buf->grad_t);
}

/*
 * The parameters forced to be aliased: the slopes of constant columns
 * (judged by their original values).  *offset is each column's
 * standardised offset (MlopsStandardisedOffsets), NULL without one.
 */
static bool *
LogitForcedAliases(const LogitState *s, const MlopsModel *model, const MlopsDesign *train,
				   double **offset)
{
	int			p = s->p;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *css = palloc(sizeof(double) * Max(p, 1));
	bool	   *constant = palloc(sizeof(bool) * Max(p, 1));
	bool	   *force;

	MlopsColumnMeans(train->X, train->nrows, p, xmean);
	MlopsColumnCss(train->X, train->nrows, p, xmean, css);
	*offset = MlopsStandardisedOffsets(model);
	MlopsConstantColumns(train->nrows, p, xmean, css, *offset, constant);
	force = palloc0(sizeof(bool) * s->D);
	for (int b = 0; b < s->B; b++)
		for (int j = 0; j < p; j++)
			force[b * s->P + 1 + j] = constant[j];
	return force;
}

/* The start from the class frequencies: intercept k = log(n_k / n_0). */
static void
LogitStartBeta(const LogitState *s, const MlopsDesign *train, double *beta)
{
	int64	   *count = palloc0(sizeof(int64) * s->K);

	for (int64 i = 0; i < train->nrows; i++)
	{
		int			yi = (int) train->y[i];

		if (yi < 0 || yi >= s->K)
			elog(ERROR, "class index %d out of range", yi);
		count[yi]++;
	}
	for (int b = 0; b < s->B; b++)
		beta[b * s->P] = log((count[b + 1] + 0.5) / (count[0] + 0.5));
}

/*
 * Warm start: on a large training set, first solve on its leading rows.
 * They are in content-hash order, so a uniform sample, and its optimum is
 * within sampling error of the full one, from where Newton's method needs
 * about two full passes instead of five or more.
 */
static void
LogitWarmStart(LogitState *s, NewtonBuffers *buf, const bool *force, double tol,
			   MlopsCholesky **chol)
{
	int64		nrows = s->n;
	double	   *cold = palloc(sizeof(double) * s->D);
	double		f_warm;

	memcpy(cold, buf->beta, sizeof(double) * s->D);
	s->n = nrows / LOGIT_WARM_FRACTION;
	(void) Newton(s, buf, force, LOGIT_WARM_MAX_ITER, tol, chol);
	s->n = nrows;

	/*
	 * Keep the sample's solution only if it is a better start on all the
	 * rows: a sample can go astray (say, a rare class it lacks drifting off
	 * without a penalty).
	 */
	f_warm = LogitEvaluate(s, buf->beta, NULL, NULL);
	if (!(f_warm <= LogitEvaluate(s, cold, NULL, NULL)))
		memcpy(buf->beta, cold, sizeof(double) * s->D);
	pfree(cold);
}

/* WARNINGs for a fit that did not converge or whose classes are separated. */
static void
LogitFitWarnings(const LogitState *s, bool converged, int max_iter)
{
	if (!converged)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("logistic regression did not converge in %d iterations",
						max_iter),
				 errhint("Raise max_iter.  If the classes are separable by the features, a larger alpha regularises the fit.")));

	/*
	 * Without a penalty, probabilities within rounding of 0 or 1 mean the
	 * classes are (quasi-)separated and the estimates are meaningless, as R
	 * warns too.  exp(-36) is about the double epsilon.
	 */
	if (s->alpha == 0.0 && s->max_abs_eta > 36.0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("fitted probabilities numerically 0 or 1 occurred"),
				 errdetail("The classes are separated by the features, so the coefficients and their standard errors are not meaningful."),
				 errhint("Use a positive alpha to regularise the fit.")));
}

/*
 * The model's params (layout above LOGIT_NPARAMS): the solution beta, and
 * standard errors from chol, the factorised Hessian of the last iterate.
 * The covariance is (n H)^-1 on the standardised scale.  On the original
 * scale a slope's is divided by its scale, and the intercept's is the
 * quadratic form a^T C a with a = (1, -center/scale).
 */
static double *
LogitParams(const LogitState *s, const MlopsModel *model, const double *beta,
			MlopsCholesky *chol, const double *offset)
{
	int			B = s->B;
	int			P = s->P;
	int			D = s->D;
	double	   *params;
	double	   *inv;

	params = palloc(sizeof(double) * LOGIT_NPARAMS(D));
	memcpy(params, beta, sizeof(double) * D);
	inv = MlopsCholeskyInverse(chol);
	for (int b = 0; b < B; b++)
	{
		double		var0 = 0.0;

		for (int r = 0; r < P; r++)
		{
			int			kr = b * P + r;
			double		ar;

			params[2 * D + kr] = chol->aliased[kr] ? 1.0 : 0.0;
			if (chol->aliased[kr])
			{
				params[D + kr] = NAN;
				continue;
			}
			if (r == 0)
				params[D + kr] = 0.0;	/* set below */
			else
				params[D + kr] = sqrt(inv[(int64) kr * D + kr] / (double) s->n) /
					(model->scale ? model->scale[r - 1] : 1.0);

			ar = (r == 0) ? 1.0 : -(offset ? offset[r - 1] : 0.0);
			for (int c = 0; c < P; c++)
			{
				int			kc = b * P + c;
				double		ac;

				if (chol->aliased[kc])
					continue;
				ac = (c == 0) ? 1.0 : -(offset ? offset[c - 1] : 0.0);
				var0 += ar * ac * inv[(int64) kc * D + kr] / (double) s->n;
			}
		}
		if (!chol->aliased[b * P])
			params[D + b * P] = sqrt(Max(var0, 0.0));
	}
	pfree(inv);
	return params;
}

/*
 * Fit by Newton's method from the intercept-only model (log prior odds),
 * warm-started on a sample when the training set is large.
 */
static void
LogisticFit(MlopsModel *model, const MlopsDesign *train)
{
	LogitState s;
	NewtonBuffers buf;
	int			max_iter = (int) model->hyper[1];
	double		tol = model->hyper[2];
	double	   *offset;
	bool	   *force;
	MlopsCholesky *chol = NULL;
	bool		converged;

	LogitCheckSize(train);
	LogitStateInit(&s, &buf, model, train);
	force = LogitForcedAliases(&s, model, train, &offset);
	LogitStartBeta(&s, train, buf.beta);
	if (train->nrows >= LOGIT_WARM_MIN_ROWS)
		LogitWarmStart(&s, &buf, force, tol, &chol);
	converged = Newton(&s, &buf, force, max_iter, tol, &chol);
	LogitFitWarnings(&s, converged, max_iter);

	model->nparams = LOGIT_NPARAMS(s.D);
	model->params = LogitParams(&s, model, buf.beta, chol, offset);
	LogitStateFree(&s, &buf);
}

/*
 * Class probabilities for one standardised design row: the softmax of the
 * linear predictors, class 0's being 0.  Computed in place in out.
 */
static void
LogisticPredict(const MlopsModel *model, const double *x, double *out)
{
	int			K = model->nclasses;
	int			p = model->ncols;
	int			P = p + 1;
	const double *beta = model->params;

	out[0] = 0.0;
	for (int k = 1; k < K; k++)
	{
		const double *b = beta + (k - 1) * P;
		double		eta = b[0];

		for (int j = 0; j < p; j++)
			eta += b[j + 1] * x[j];
		out[k] = eta;
	}
	MlopsSoftmaxInPlace(out, K);
}

/*
 * explain(): per class 1 .. K-1 (against class 0, the reference) the
 * intercept and one coefficient per design column on the original scale
 * of the encoded input, with standard errors from the inverse Hessian,
 * Wald z statistics and two-sided normal p-values; importance is the
 * absolute standardised coefficient.  Aliased terms are NaN.
 */
static int
LogisticExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	int			K = model->nclasses;
	int			p = model->ncols;
	int			P = p + 1;
	int			D = (K - 1) * P;
	const double *params = model->params;
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * Max(D, 1));
	char	  **names = palloc(sizeof(char *) * P);

	names[0] = "intercept";
	for (int j = 0; j < p; j++)
		names[j + 1] = MlopsDesignColumnName(model, j);

	for (int b = 0; b < K - 1; b++)
	{
		const double *beta = params + b * P;
		double		intercept = beta[0];

		for (int k = 0; k < P; k++)
		{
			MlopsExplainRow *row = &r[b * P + k];
			double		center = (k > 0 && model->center) ? model->center[k - 1] : 0.0;
			double		scale = (k > 0 && model->scale) ? model->scale[k - 1] : 1.0;

			MlopsExplainRowInit(row, names[k]);
			row->class_label = model->classes ? model->classes[b + 1] : NULL;
			if (k > 0)
				intercept -= beta[k] * center / scale;
			if (params[2 * D + b * P + k] != 0.0)
				continue;		/* aliased */
			if (k > 0)
			{
				row->coefficient = beta[k] / scale;
				row->importance = fabs(beta[k]);
			}
			row->std_error = params[D + b * P + k];
		}
		if (params[2 * D + b * P] == 0.0)
			r[b * P].coefficient = intercept;
		for (int k = 0; k < P; k++)
		{
			MlopsExplainRow *row = &r[b * P + k];

			if (!isnan(row->coefficient) && row->std_error > 0.0)
			{
				row->statistic = row->coefficient / row->std_error;
				row->p_value = MlopsNormalTwoSidedP(row->statistic);
			}
		}
	}
	*rows = r;
	return D;
}

/*
 * Contributions (explain_row): for each class but the reference, each
 * standardised coefficient times the standardised (so centred) value, and
 * the intercept as the bias; they sum to the class's linear predictor, the
 * log-odds against the first class.
 */
static int
LogisticContributions(const MlopsModel *model, const double *x, double *contrib)
{
	int			K = model->nclasses;
	int			p = model->ncols;
	int			P = p + 1;

	for (int k = 1; k < K; k++)
	{
		const double *b = model->params + (k - 1) * P;
		double	   *c = contrib + (k - 1) * P;

		for (int j = 0; j < p; j++)
			c[j] = b[j + 1] * x[j];
		c[p] = b[0];
	}
	return K - 1;
}

/* Size of params: the layout above, for nclasses and ncols */
static int64
LogisticNParams(const MlopsModel *model)
{
	return LOGIT_NPARAMS((int64) (model->nclasses - 1) * (model->ncols + 1));
}

const MlopsAlgorithm mlops_algo_logistic = {
	.name = "logistic",
	.id = 5,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_CLASSIFICATION),
	.standardize = true,
	.nhyper = lengthof(logistic_hyper),
	.hyper = logistic_hyper,
	.fit = LogisticFit,
	.predict = LogisticPredict,
	.explain = LogisticExplain,
	.nparams = LogisticNParams,
	.contributions = LogisticContributions,
};
