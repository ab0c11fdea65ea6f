/*-------------------------------------------------------------------------
 *
 * algo_elastic_net.c
 *	  Lasso and elastic net regression by cyclic coordinate descent on the
 *	  standardised design, minimising scikit-learn's objective
 *
 *		1/(2n) |y - b0 - X b|^2 + alpha l1_ratio |b|_1
 *							   + alpha (1 - l1_ratio) / 2 |b|^2
 *
 *	  (lasso is l1_ratio = 1).  The intercept is unpenalised, so it is
 *	  mean(y) - mean(X) b and the descent runs on centred data.
 *
 * The descent uses covariance updates: the centred Gram matrix X^T X and
 * X^T y are formed once with BLAS (one pass over the data), and the vector
 * X^T X b is kept up to date with one daxpy per changed coefficient, so a
 * sweep costs O(p^2) whatever the number of rows.  Convergence is judged
 * as scikit-learn does: when the largest coefficient change of a sweep is
 * small against the largest coefficient, the duality gap is computed and
 * the descent stops once it is below tol |y - mean(y)|^2.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "algorithms/algo_linear.h"
#include "core/linalg.h"
#include "core/util.h"

/* Hyperparameter order of the two algorithms (model->hyper[]) */
static const MlopsHyperparam lasso_hyper[] = {
	{"alpha", 1.0, 0.0, 1e12, false,
	"strength of the L1 penalty on the standardised coefficients"},
	{"max_iter", 1000, 1, 1000000, true,
	"maximum number of coordinate descent sweeps"},
	{"tol", 1e-6, 0.0, 1.0, false,
	"stop when the duality gap is below tol times the centred sum of squares of y"},
};

static const MlopsHyperparam elastic_net_hyper[] = {
	{"alpha", 1.0, 0.0, 1e12, false,
	"strength of the penalty on the standardised coefficients"},
	{"l1_ratio", 0.5, 0.0, 1.0, false,
	"share of the penalty that is L1 (1 is the lasso, 0 ridge)"},
	{"max_iter", 1000, 1, 1000000, true,
	"maximum number of coordinate descent sweeps"},
	{"tol", 1e-6, 0.0, 1.0, false,
	"stop when the duality gap is below tol times the centred sum of squares of y"},
};

/* Soft thresholding: sign(z) max(|z| - t, 0) */
static inline double
SoftThreshold(double z, double t)
{
	if (z > t)
		return z - t;
	if (z < -t)
		return z + t;
	return 0.0;
}

/*
 * The duality gap of the problem in its "sum" form
 * 1/2 |y - X w|^2 + l1 |w|_1 + l2/2 |w|^2 (the objective above times n),
 * from the Gram quantities only: G w (Gw), X^T y (q) and |y|^2 (ynorm2),
 * all centred.
 */
static double
DualityGap(int p, const double *w, const double *Gw, const double *q,
		   double ynorm2, double l1, double l2)
{
	double		q_dot_w = MlopsDot(p, q, w);
	double		w_dot_Gw = MlopsDot(p, w, Gw);
	double		w_norm2 = MlopsDot(p, w, w);
	double		dual_norm = 0.0;
	double		l1_norm = 0.0;
	double		r_norm2;
	double		cst;
	double		gap;

	for (int j = 0; j < p; j++)
	{
		double		xta = q[j] - Gw[j] - l2 * w[j];

		dual_norm = Max(dual_norm, fabs(xta));
		l1_norm += fabs(w[j]);
	}
	r_norm2 = Max(ynorm2 + w_dot_Gw - 2.0 * q_dot_w, 0.0);
	if (dual_norm > l1)
	{
		cst = l1 / dual_norm;
		gap = 0.5 * (r_norm2 + r_norm2 * cst * cst);
	}
	else
	{
		cst = 1.0;
		gap = r_norm2;
	}
	gap += l1 * l1_norm - cst * (ynorm2 - q_dot_w)
		+ 0.5 * l2 * (1.0 + cst * cst) * w_norm2;
	return gap;
}

/*
 * Coordinate descent for the elastic net with the given share of L1
 * penalty; leaves the intercept and coefficients (standardised scale) in
 * model->params.
 */
static void
ElasticNetFitWith(MlopsModel *model, const MlopsDesign *train,
				  double alpha, double l1_ratio, int max_iter, double tol,
				  const char *what)
{
	int			p = train->ncols;
	int64		n = train->nrows;
	double	   *params = palloc0(sizeof(double) * MLOPS_PENALIZED_NPARAMS(p));
	double	   *w = params + 1;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *G;
	double	   *q = palloc(sizeof(double) * Max(p, 1));
	double	   *Gw = palloc0(sizeof(double) * Max(p, 1));
	double	   *css = palloc(sizeof(double) * Max(p, 1));
	double	   *offset;
	bool	   *constant = palloc(sizeof(bool) * Max(p, 1));
	double		ymean;
	double		ynorm2;
	double		l1;
	double		l2;
	bool		converged = false;
	int			iter;

	if (n < 1)
		elog(ERROR, "%s needs at least one row", what);

	MlopsCheckMemory(sizeof(double) * (Size) p * p, "the Gram matrix");
	G = palloc(sizeof(double) * Max((Size) p * p, 1));
	MlopsColumnMeans(train->X, n, p, xmean);
	ymean = MlopsMeanOf(train->y, n);
	MlopsCenteredGram(train->X, n, p, train->y, xmean, ymean, G, q, &ynorm2);

	/* constant columns stay at zero; judge them by their original values */
	offset = MlopsStandardisedOffsets(model);
	for (int j = 0; j < p; j++)
		css[j] = G[(Size) j * p + j];
	MlopsConstantColumns(n, p, xmean, css, offset, constant);

	/* the objective times n: penalties scale with n */
	l1 = alpha * l1_ratio * (double) n;
	l2 = alpha * (1.0 - l1_ratio) * (double) n;

	for (iter = 0; iter < max_iter; iter++)
	{
		double		w_max = 0.0;
		double		d_w_max = 0.0;

		for (int j = 0; j < p; j++)
		{
			const double *Gj = G + (Size) j * p;
			double		wj = w[j];
			double		neww;

			if (constant[j])
				continue;
			neww = SoftThreshold(q[j] - Gw[j] + Gj[j] * wj, l1) / (Gj[j] + l2);
			if (neww != wj)
			{
				MlopsAxpy(p, neww - wj, Gj, Gw);
				w[j] = neww;
			}
			d_w_max = Max(d_w_max, fabs(neww - wj));
			w_max = Max(w_max, fabs(neww));
		}

		CHECK_FOR_INTERRUPTS();

		if (w_max == 0.0 || d_w_max / w_max <= tol || iter == max_iter - 1)
		{
			/*
			 * Without an L1 part the gap below degenerates; the change of
			 * the coefficients alone then decides, as for ridge.
			 */
			if (l1 == 0.0)
			{
				if (w_max == 0.0 || d_w_max / w_max <= tol)
				{
					converged = true;
					break;
				}
			}
			else if (DualityGap(p, w, Gw, q, ynorm2, l1, l2) <= tol * ynorm2)
			{
				converged = true;
				break;
			}
		}
	}

	if (!converged)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s did not converge in %d iterations", what, max_iter),
				 errhint("Raise max_iter or tol, or use a larger alpha.")));

	params[0] = ymean - MlopsDot(p, xmean, w);
	model->nparams = MLOPS_PENALIZED_NPARAMS(p);
	model->params = params;

	pfree(G);
	pfree(q);
	pfree(Gw);
	pfree(xmean);
	pfree(css);
	pfree(constant);
}

/* Lasso: hyper = alpha, max_iter, tol */
static void
LassoFit(MlopsModel *model, const MlopsDesign *train)
{
	ElasticNetFitWith(model, train, model->hyper[0], 1.0,
					  (int) model->hyper[1], model->hyper[2], "lasso");
}

/* Elastic net: hyper = alpha, l1_ratio, max_iter, tol */
static void
ElasticNetFit(MlopsModel *model, const MlopsDesign *train)
{
	ElasticNetFitWith(model, train, model->hyper[0], model->hyper[1],
					  (int) model->hyper[2], model->hyper[3], "elastic_net");
}

const MlopsAlgorithm mlops_algo_lasso = {
	.name = "lasso",
	.id = 3,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION),
	.standardize = true,
	.nhyper = lengthof(lasso_hyper),
	.hyper = lasso_hyper,
	.fit = LassoFit,
	.predict = MlopsLinearPredict,
	.explain = MlopsPenalizedExplain,
	.nparams = MlopsPenalizedNParams,
	.contributions = MlopsLinearContributions,
};

const MlopsAlgorithm mlops_algo_elastic_net = {
	.name = "elastic_net",
	.id = 4,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION),
	.standardize = true,
	.nhyper = lengthof(elastic_net_hyper),
	.hyper = elastic_net_hyper,
	.fit = ElasticNetFit,
	.predict = MlopsLinearPredict,
	.explain = MlopsPenalizedExplain,
	.nparams = MlopsPenalizedNParams,
	.contributions = MlopsLinearContributions,
};
