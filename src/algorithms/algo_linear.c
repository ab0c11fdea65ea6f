/*-------------------------------------------------------------------------
 *
 * algo_linear.c
 *	  Ordinary least squares ("linear") and ridge regression, both solved
 *	  through the normal equations on the centred Gram matrix, and the
 *	  prediction and explain() code the penalised linear models share.
 *
 * Both centre the design themselves before forming X^T X (the intercept is
 * then the mean of y minus the means times the coefficients), so columns
 * with large means lose no accuracy.  Rank deficiency, which one-hot
 * encoding plus an intercept produces as a matter of course, is handled by
 * the column-ordered rank-revealing Cholesky of linalg.c: a column that is
 * a linear combination of earlier columns is "aliased", gets coefficient
 * zero in the model and NaN statistics in explain(), as R's lm() does.
 *
 * Both also fit from the exact moments of the training rows instead of a
 * design matrix (fit_moments, core/moments.h), which is how mlops.train
 * fits them when every feature is numeric or boolean: the centred moments
 * are then computed exactly and rounded once, and ordinary least squares
 * takes its residual sum of squares exactly from the moments too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "algorithms/algo_linear.h"
#include "core/linalg.h"
#include "core/stats.h"
#include "core/util.h"

/*
 * Layout of a linear model's params, p = ncols:
 *	[0 .. p]			intercept, coefficients (0 for aliased columns)
 *	[p+1 .. 2p+1]		their standard errors (NaN when not defined)
 *	[2p+2]				residual degrees of freedom, n - rank - 1
 *	[2p+3]				residual standard error
 *	[2p+4 .. 3p+3]		standard deviation of each design column
 *	[3p+4 .. 4p+3]		1 for an aliased column, else 0
 */
#define LIN_COEF(p)		0
#define LIN_SE(p)		((p) + 1)
#define LIN_DF(p)		(2 * (p) + 2)
#define LIN_SIGMA(p)	(2 * (p) + 3)
#define LIN_SD(p)		(2 * (p) + 4)
#define LIN_ALIASED(p)	(3 * (p) + 4)
#define LIN_NPARAMS(p)	(4 * (p) + 4)

static const MlopsHyperparam ridge_hyper[] = {
	{"alpha", 1.0, 0.0, 1e12, false,
	"L2 penalty on the standardised coefficients (0 gives ordinary least squares)"},
};

/*
 * Least squares with an L2 penalty from centred moments: minimise
 * |y - b0 - X b|^2 + penalty |b|^2 given n, the column means xmean, the
 * centred Gram matrix G (not modified) and centred X^T y.  Fills beta
 * (ncols, 0 for aliased columns) and *intercept and returns the
 * factorisation (for standard errors).  offset judges constant columns by
 * their original values (see MlopsConstantColumns); NULL for raw inputs.
 */
static MlopsCholesky *
SolveMoments(int64 n, int p, const double *xmean, double ymean,
			 const double *G, const double *Xty, double penalty,
			 const double *offset, double *beta, double *intercept)
{
	double	   *A = palloc(sizeof(double) * Max((Size) p * p, 1));
	double	   *css = palloc(sizeof(double) * Max(p, 1));
	bool	   *constant = palloc(sizeof(bool) * Max(p, 1));
	MlopsCholesky *chol;

	memcpy(A, G, sizeof(double) * (Size) p * p);
	for (int j = 0; j < p; j++)
		css[j] = G[(Size) j * p + j];
	MlopsConstantColumns(n, p, xmean, css, offset, constant);
	for (int j = 0; j < p; j++)
		A[(Size) j * p + j] += penalty;

	chol = MlopsCholeskyAliased(A, p, constant, MLOPS_ALIAS_TOL);
	MlopsCholeskySolve(chol, Xty, beta);
	*intercept = ymean - MlopsDot(p, xmean, beta);

	pfree(A);
	pfree(css);
	pfree(constant);
	return chol;
}

/*
 * Centred moments of the training design: column means, the centred Gram
 * matrix (palloc'd into *G) and X^T y, the mean and centred sum of squares
 * of y.
 */
static void
DesignMoments(const MlopsDesign *train, double *xmean, double **G,
			  double *Xty, double *ymean, double *yss)
{
	int			p = train->ncols;

	MlopsCheckMemory(sizeof(double) * 3 * (Size) p * p, "the Gram matrix");
	*G = palloc(sizeof(double) * Max((Size) p * p, 1));
	MlopsColumnMeans(train->X, train->nrows, p, xmean);
	*ymean = MlopsMeanOf(train->y, train->nrows);
	MlopsCenteredGram(train->X, train->nrows, p, train->y, xmean, *ymean,
					  *G, Xty, yss);
}

/*
 * The params of a fitted linear model: the coefficients and what explain()
 * needs for inference, standard errors from sigma^2 (X_c^T X_c)^-1 and,
 * for the intercept, sigma^2 (1/n + xmean^T (X_c^T X_c)^-1 xmean), with
 * sigma^2 = RSS / df and df = n - rank - 1.
 */
static void
LinearFinish(MlopsModel *model, int64 n, const MlopsCholesky *chol,
			 const double *xmean, const double *G, double *params, double rss)
{
	int			p = model->ncols;
	double		df = (double) (n - chol->rank - 1);
	double		sigma2 = df > 0 ? rss / df : NAN;
	double	   *inv = MlopsCholeskyInverse(chol);
	double		q = 0.0;

	params[LIN_DF(p)] = df;
	params[LIN_SIGMA(p)] = sqrt(sigma2);
	for (int j = 0; j < p; j++)
	{
		double		css = G[(Size) j * p + j];

		params[LIN_SE(p) + 1 + j] = chol->aliased[j] ? NAN :
			sqrt(sigma2 * inv[(Size) j * p + j]);
		params[LIN_SD(p) + j] = n > 1 ? sqrt(css / (double) (n - 1)) : 0.0;
		params[LIN_ALIASED(p) + j] = chol->aliased[j] ? 1.0 : 0.0;
	}
	for (int a = 0; a < chol->rank; a++)
		for (int b = 0; b < chol->rank; b++)
		{
			int			ja = chol->kept[a];
			int			jb = chol->kept[b];

			q += xmean[ja] * inv[(Size) jb * p + ja] * xmean[jb];
		}
	params[LIN_SE(p)] = sqrt(sigma2 * (1.0 / (double) n + q));

	model->nparams = LIN_NPARAMS(p);
	model->params = params;
	pfree(inv);
}

/*
 * Fit ordinary least squares with an intercept.  The residual sum of
 * squares comes from a pass over the rows, not from the moments, so that
 * it keeps its accuracy when the fit is nearly perfect.
 */
static void
LinearFit(MlopsModel *model, const MlopsDesign *train)
{
	int			p = train->ncols;
	int64		n = train->nrows;
	double	   *params = palloc0(sizeof(double) * LIN_NPARAMS(p));
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double	   *beta = params + LIN_COEF(p) + 1;
	double	   *G;
	double		ymean;
	double		yss;
	double		rss;
	MlopsCholesky *chol;

	if (n < 1)
		elog(ERROR, "linear regression needs at least one row");

	DesignMoments(train, xmean, &G, Xty, &ymean, &yss);
	chol = SolveMoments(n, p, xmean, ymean, G, Xty, 0.0,
						MlopsStandardisedOffsets(model), beta, &params[LIN_COEF(p)]);
	rss = MlopsResidualSS(train->X, n, p, train->y, params[LIN_COEF(p)], beta);
	LinearFinish(model, n, chol, xmean, G, params, rss);
	pfree(G);
	pfree(Xty);
	pfree(xmean);
}

/*
 * Fit ordinary least squares from the exact moments of the imputed
 * training rows (every model alike: linear has no hyperparameter).  The
 * centred moments are each rounded once from their exact values, and the
 * residual sum of squares is exact for the fitted coefficients, so it
 * keeps its accuracy however close the fit is.
 */
static void
LinearFitMoments(MlopsModel **models, int nmodels, const MlopsImputed *train)
{
	int			p = train->p;
	int64		n = train->n;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double	   *G = palloc(sizeof(double) * Max((Size) p * p, 1));
	double		ymean;
	double		yss;

	if (n < 1)
		elog(ERROR, "linear regression needs at least one row");
	MlopsImputedCentred(train, xmean, G, Xty, &ymean, &yss);
	for (int i = 0; i < nmodels; i++)
	{
		MlopsModel *model = models[i];
		double	   *params = palloc0(sizeof(double) * LIN_NPARAMS(p));
		double	   *beta = params + LIN_COEF(p) + 1;
		MlopsCholesky *chol;
		double		rss;

		chol = SolveMoments(n, p, xmean, ymean, G, Xty, 0.0,
							MlopsStandardisedOffsets(model), beta, &params[LIN_COEF(p)]);
		rss = MlopsImputedSSE(train, MlopsExactFromDouble(params[LIN_COEF(p)]), beta);
		LinearFinish(model, n, chol, xmean, G, params, rss);
	}
}

/*
 * The sum of squared errors of a linear model (any of the algorithms whose
 * params start with the intercept and the coefficients on the design as
 * the model standardises it) over the rows whose moments are given.  The
 * model is brought to the unstandardised design, w_j = b_j / scale_j and
 * intercept b_0 - sum w_j center_j (exact), and the sum is exact for those
 * coefficients.
 */
static double
LinearSSEMoments(const MlopsModel *model, const MlopsImputed *rows)
{
	int			p = model->ncols;
	double	   *w = palloc(sizeof(double) * Max(p, 1));
	MlopsExact *k = MlopsExactFromDouble(model->params[0]);

	for (int j = 0; j < p; j++)
	{
		double		center = model->center ? model->center[j] : 0.0;
		double		scale = model->scale ? model->scale[j] : 1.0;

		w[j] = model->params[j + 1] / scale;
		if (center != 0.0)
			k = MlopsExactSub(k, MlopsExactMulDouble(MlopsExactFromDouble(w[j]), center));
	}
	return MlopsImputedSSE(rows, k, w);
}

static void RidgeFitMany(MlopsModel **models, int n, const MlopsDesign *train);

/*
 * Fit ridge regression on the standardised design: minimise
 * |y - b0 - X b|^2 + alpha |b|^2, the intercept unpenalised (the search's
 * several-alpha fit with one alpha, so that both give the same bytes).
 */
static void
RidgeFit(MlopsModel *model, const MlopsDesign *train)
{
	RidgeFitMany(&model, 1, train);
}

/*
 * Ridge for several alphas on one design (a hyperparameter search's fold):
 * the moments once, then one solve per model.
 */
static void
RidgeFitMany(MlopsModel **models, int n, const MlopsDesign *train)
{
	int			p = train->ncols;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double	   *G;
	double		ymean;
	double		yss;

	if (train->nrows < 1)
		elog(ERROR, "ridge regression needs at least one row");

	DesignMoments(train, xmean, &G, Xty, &ymean, &yss);
	for (int i = 0; i < n; i++)
	{
		MlopsModel *model = models[i];
		double	   *params = palloc0(sizeof(double) * MLOPS_PENALIZED_NPARAMS(p));

		CHECK_FOR_INTERRUPTS();
		(void) SolveMoments(train->nrows, p, xmean, ymean, G, Xty, model->hyper[0],
							MlopsStandardisedOffsets(model), params + 1, &params[0]);
		model->nparams = MLOPS_PENALIZED_NPARAMS(p);
		model->params = params;
	}
	pfree(G);
	pfree(Xty);
	pfree(xmean);
}

/*
 * Ridge for several alphas from the exact moments of the imputed training
 * rows: the moments of the standardised design follow from the centred
 * ones (each rounded once), z_j = (x_j - center_j) / scale_j having mean
 * (sum x_j - n center_j) / n / scale_j (exact numerator) and centred Gram
 * G_jk / (scale_j scale_k); then one solve per model, as RidgeFitMany.
 */
static void
RidgeFitMoments(MlopsModel **models, int nmodels, const MlopsImputed *train)
{
	int			p = train->p;
	int64		n = train->n;
	const double *center = models[0]->center;
	const double *scale = models[0]->scale;
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double	   *G = palloc(sizeof(double) * Max((Size) p * p, 1));
	double		ymean;
	double		yss;

	if (n < 1)
		elog(ERROR, "ridge regression needs at least one row");
	MlopsImputedCentred(train, xmean, G, Xty, &ymean, &yss);
	for (int j = 0; j < p; j++)
	{
		xmean[j] = MlopsImputedOffsetMean(train, j, center[j]) / scale[j];
		Xty[j] /= scale[j];
		for (int k = 0; k < p; k++)
			G[(Size) j * p + k] /= scale[j] * scale[k];
	}
	for (int i = 0; i < nmodels; i++)
	{
		MlopsModel *model = models[i];
		double	   *params = palloc0(sizeof(double) * MLOPS_PENALIZED_NPARAMS(p));

		CHECK_FOR_INTERRUPTS();
		(void) SolveMoments(n, p, xmean, ymean, G, Xty, model->hyper[0],
							MlopsStandardisedOffsets(model), params + 1, &params[0]);
		model->nparams = MLOPS_PENALIZED_NPARAMS(p);
		model->params = params;
	}
}

/*
 * Prediction of every linear model: intercept + coefficients . x, where x
 * is the design row as the model was fitted on it.
 */
void
MlopsLinearPredict(const MlopsModel *model, const double *x, double *out)
{
	const double *b = model->params;
	double		s = b[0];

	for (int j = 0; j < model->ncols; j++)
		s += b[j + 1] * x[j];
	out[0] = s;
}

/*
 * Contributions of every linear model (explain_row): coefficient times the
 * centred value.  Standardised models see x centred already, so the bias is
 * the intercept; ordinary least squares sees raw x, so numeric columns are
 * centred on their training mean (the feature's impute value) and the bias
 * is the prediction at those means, while a one-hot column contributes its
 * coefficient, the difference its category makes against the aliased one.
 */
int
MlopsLinearContributions(const MlopsModel *model, const double *x, double *contrib)
{
	int			p = model->ncols;
	const double *b = model->params;
	double		bias = b[0];

	for (int j = 0; j < p; j++)
		contrib[j] = b[j + 1] * x[j];
	if (!model->algo->standardize)
	{
		for (int f = 0; f < model->nfeatures; f++)
		{
			const MlopsFeature *feat = &model->features[f];

			if (feat->kind == MLOPS_KIND_CATEGORICAL)
				continue;
			contrib[feat->offset] -= b[feat->offset + 1] * feat->impute;
			bias += b[feat->offset + 1] * feat->impute;
		}
	}
	contrib[p] = bias;
	return 1;
}

/*
 * explain() of a linear model: per term the coefficient, its standard
 * error, t statistic and two-sided p-value on df = n - rank - 1 degrees of
 * freedom; importance is |coefficient| times the column's standard
 * deviation (the standardised effect).  Aliased terms are NaN throughout.
 */
static int
LinearExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	int			p = model->ncols;
	const double *params = model->params;
	double		df = params[LIN_DF(p)];
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * (p + 1));

	for (int k = 0; k <= p; k++)
	{
		bool		aliased = k > 0 && params[LIN_ALIASED(p) + k - 1] != 0.0;

		MlopsExplainRowInit(&r[k], k == 0 ? "intercept" :
					   MlopsDesignColumnName(model, k - 1));
		if (aliased)
			continue;
		r[k].coefficient = params[LIN_COEF(p) + k];
		r[k].std_error = params[LIN_SE(p) + k];
		if (!isnan(r[k].std_error) && r[k].std_error > 0.0)
		{
			r[k].statistic = r[k].coefficient / r[k].std_error;
			r[k].p_value = MlopsStudentTTwoSidedP(r[k].statistic, df);
		}
		if (k > 0)
			r[k].importance = fabs(r[k].coefficient) * params[LIN_SD(p) + k - 1];
	}
	*rows = r;
	return p + 1;
}

/*
 * explain() of a penalised linear model fitted on standardised inputs:
 * the coefficients brought back to the original scale of the encoded
 * input (b_j / scale_j, intercept b0 - sum b_j center_j / scale_j);
 * importance is |b_j|, the effect of one standard deviation.  Penalised
 * estimates have no classical standard errors: those are NaN.
 */
int
MlopsPenalizedExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	int			p = model->ncols;
	const double *b = model->params;
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * (p + 1));
	double		intercept = b[0];

	for (int j = 0; j < p; j++)
	{
		double		center = model->center ? model->center[j] : 0.0;
		double		scale = model->scale ? model->scale[j] : 1.0;

		MlopsExplainRowInit(&r[j + 1], MlopsDesignColumnName(model, j));
		r[j + 1].coefficient = b[j + 1] / scale;
		r[j + 1].importance = fabs(b[j + 1]);
		intercept -= b[j + 1] * center / scale;
	}
	MlopsExplainRowInit(&r[0], "intercept");
	r[0].coefficient = intercept;
	*rows = r;
	return p + 1;
}

/* Size of a linear model's params (the layout above) */
static int64
LinearNParams(const MlopsModel *model)
{
	return LIN_NPARAMS((int64) model->ncols);
}

/* Size of a penalised linear model's params: intercept and coefficients */
int64
MlopsPenalizedNParams(const MlopsModel *model)
{
	return MLOPS_PENALIZED_NPARAMS((int64) model->ncols);
}

const MlopsAlgorithm mlops_algo_linear = {
	.name = "linear",
	.id = 1,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION),
	.standardize = false,
	.nhyper = 0,
	.hyper = NULL,
	.fit = LinearFit,
	.fit_moments = LinearFitMoments,
	.sse_moments = LinearSSEMoments,
	.predict = MlopsLinearPredict,
	.explain = LinearExplain,
	.nparams = LinearNParams,
	.contributions = MlopsLinearContributions,
};

const MlopsAlgorithm mlops_algo_ridge = {
	.name = "ridge",
	.id = 2,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_REGRESSION),
	.standardize = true,
	.nhyper = lengthof(ridge_hyper),
	.hyper = ridge_hyper,
	.fit = RidgeFit,
	.fit_many = RidgeFitMany,
	.fit_moments = RidgeFitMoments,
	.sse_moments = LinearSSEMoments,
	.predict = MlopsLinearPredict,
	.explain = MlopsPenalizedExplain,
	.nparams = MlopsPenalizedNParams,
	.contributions = MlopsLinearContributions,
};
