/*-------------------------------------------------------------------------
 *
 * algo_naive_bayes.c
 *	  Naive Bayes classification with a mixed likelihood: Gaussian for the
 *	  numeric and boolean features (one design column each) and categorical
 *	  for each one-hot group of a categorical feature, with class priors
 *	  from the training frequencies.  Inputs are not standardised.
 *
 * Gaussian variances are the per-class population variances plus
 * var_smoothing times the largest variance of any numeric column, as in
 * scikit-learn's GaussianNB; category probabilities are Laplace-smoothed:
 * (count + alpha) / (class rows + alpha * width), where the width counts
 * the feature's "other" column, so unseen values keep a small probability.
 *
 * The parameters are stored ready for scoring (the per-class constant of
 * the Gaussian terms folded into the log prior, 1 / (2 var) instead of the
 * variance) so that predict() is a few multiply-adds per column and class.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "algorithms/algo_common.h"

static const MlopsHyperparam naive_bayes_hyper[] = {
	{"var_smoothing", 1e-9, 0.0, 1.0, false,
	"share of the largest numeric feature variance added to every variance"},
	{"alpha", 1.0, 0.0, 1e6, false,
	"Laplace (additive) smoothing of category counts; 0 is taken as 1e-10"},
};

/*
 * Layout of params, K classes, p design columns, F features:
 *	[0 .. K-1]					log prior of class k plus the normalising
 *								constants of its Gaussian terms
 *	[K + 2 (j K + k)], [.. + 1]	design column j, class k: numeric column:
 *								mean and 1 / (2 variance); one-hot column:
 *								log P(column's category | k) and 0
 *	[K + 2 p K + f]				importance of feature f (explain)
 */
#define NB_CELL(K, j, k)		((K) + 2 * ((j) * (K) + (k)))
#define NB_IMPORTANCE(K, p, f)	((K) + 2 * (p) * (K) + (f))
#define NB_NPARAMS(K, p, F)		((K) + 2 * (p) * (K) + (F))

/* Smallest variance used, whatever the smoothing */
#define NB_MIN_VARIANCE			1e-300

/* Rows the importance estimate looks at, at most */
#define NB_IMPORTANCE_ROWS		100000

/*
 * Log density (or log probability) of row i's value of feature f under
 * each class, into l[K].  Returns false when the row has no category of a
 * categorical feature (which the encoder never produces at training).
 */
static bool
FeatureLogLikelihoods(const MlopsModel *model, const MlopsDesign *train,
					  const double *params, int f, int64 i, double *l)
{
	const MlopsFeature *feat = &model->features[f];
	int			K = train->nclasses;
	int64		n = train->nrows;

	if (feat->kind != MLOPS_KIND_CATEGORICAL)
	{
		const double *cell = params + NB_CELL(K, feat->offset, 0);
		double		x = train->X[(int64) feat->offset * n + i];

		for (int k = 0; k < K; k++)
		{
			double		d = x - cell[2 * k];

			/* log N(x; mu, var) with cell = (mu, 1 / (2 var)) */
			l[k] = 0.5 * log(cell[2 * k + 1] / M_PI) - d * d * cell[2 * k + 1];
		}
		return true;
	}
	for (int c = 0; c < feat->width; c++)
	{
		if (train->X[(int64) (feat->offset + c) * n + i] > 0.5)
		{
			const double *cell = params + NB_CELL(K, feat->offset + c, 0);

			for (int k = 0; k < K; k++)
				l[k] = cell[2 * k];
			return true;
		}
	}
	return false;
}

/*
 * Importance of feature f: the mutual information between the feature and
 * the class under the fitted model, estimated on (at most
 * NB_IMPORTANCE_ROWS evenly spread) training rows as the mean of
 * log p(x | y) - log sum_k P(k) p(x | k), divided by the entropy of the
 * class priors.  This uncertainty coefficient lies in [0, 1] (clamped
 * against sampling noise) and sees every way a feature separates classes,
 * a shift of mean or of spread, or a change of category frequencies.
 */
static double
FeatureImportance(const MlopsModel *model, const MlopsDesign *train,
				  const int *cls, const double *count, const double *params,
				  int f)
{
	int			K = train->nclasses;
	int64		n = train->nrows;
	int64		stride = Max((int64) 1, n / NB_IMPORTANCE_ROWS);
	double	   *l = palloc(sizeof(double) * K);
	double		entropy = 0.0;
	double		mi = 0.0;
	int64		used = 0;

	for (int k = 0; k < K; k++)
		if (count[k] > 0)
			entropy -= count[k] / n * log(count[k] / n);
	if (entropy <= 0.0)
		return 0.0;

	for (int64 i = 0; i < n; i += stride)
	{
		double		mx = -INFINITY;
		double		mix = 0.0;

		if (!FeatureLogLikelihoods(model, train, params, f, i, l))
			continue;
		for (int k = 0; k < K; k++)
			if (count[k] > 0)
				mx = Max(mx, l[k]);
		for (int k = 0; k < K; k++)
			if (count[k] > 0)
				mix += count[k] / n * exp(l[k] - mx);
		mi += l[cls[i]] - (mx + log(mix));
		used++;
	}
	pfree(l);
	if (used == 0)
		return 0.0;
	mi /= used;
	return Min(Max(mi / entropy, 0.0), 1.0);
}

/*
 * Fit: class counts and per-class column sums in one pass per column,
 * per-class centred sums of squares for the numeric columns in a second;
 * then the Gaussian and categorical parameters, and the importances.
 */
static void
NaiveBayesFit(MlopsModel *model, const MlopsDesign *train)
{
	int			p = train->ncols;
	int			K = train->nclasses;
	int			F = model->nfeatures;
	int64		n = train->nrows;
	double		var_smoothing = model->hyper[0];
	double		alpha = Max(model->hyper[1], 1e-10);
	double	   *params = palloc0(sizeof(double) * NB_NPARAMS(K, p, F));
	int		   *cls = palloc(sizeof(int) * Max(n, 1));
	double	   *count = palloc0(sizeof(double) * K);
	double	   *sum = palloc0(sizeof(double) * (Size) K * Max(p, 1));	/* [j K + k] */
	double	   *ss = palloc0(sizeof(double) * (Size) K * Max(p, 1));
	double	   *colvar = palloc0(sizeof(double) * Max(p, 1));
	bool	   *numeric = palloc0(sizeof(bool) * Max(p, 1));
	double		maxvar = 0.0;
	double		epsilon;

	if (n < 1)
		elog(ERROR, "naive Bayes needs at least one row");

	for (int f = 0; f < F; f++)
	{
		const MlopsFeature *feat = &model->features[f];

		if (feat->kind != MLOPS_KIND_CATEGORICAL)
			for (int c = 0; c < feat->width; c++)
				numeric[feat->offset + c] = true;
	}

	for (int64 i = 0; i < n; i++)
	{
		int			yi = (int) train->y[i];

		if (yi < 0 || yi >= K)
			elog(ERROR, "class index %d out of range", yi);
		cls[i] = yi;
		count[yi] += 1.0;
	}

	/* per-class sums, then per-class and overall sums of squares */
	for (int j = 0; j < p; j++)
	{
		const double *col = train->X + (int64) j * n;
		double	   *sj = sum + (Size) j * K;
		double		total = 0.0;

		for (int64 i = 0; i < n; i++)
			sj[cls[i]] += col[i];
		if (numeric[j])
		{
			double	   *ssj = ss + (Size) j * K;
			double		mean;
			double		tss = 0.0;

			for (int k = 0; k < K; k++)
				total += sj[k];
			mean = total / (double) n;
			for (int64 i = 0; i < n; i++)
			{
				int			k = cls[i];
				double		d = col[i] - (count[k] > 0 ? sj[k] / count[k] : 0.0);
				double		dt = col[i] - mean;

				ssj[k] += d * d;
				tss += dt * dt;
			}
			colvar[j] = tss / (double) n;
			maxvar = Max(maxvar, colvar[j]);
		}
		CHECK_FOR_INTERRUPTS();
	}
	epsilon = var_smoothing * maxvar;

	/* log priors (an absent class can never be predicted) */
	for (int k = 0; k < K; k++)
		params[k] = count[k] > 0 ? log(count[k] / (double) n) : -INFINITY;

	for (int f = 0; f < F; f++)
	{
		const MlopsFeature *feat = &model->features[f];

		if (feat->kind != MLOPS_KIND_CATEGORICAL)
		{
			int			j = feat->offset;

			for (int k = 0; k < K; k++)
			{
				double		mu = count[k] > 0 ? sum[(Size) j * K + k] / count[k] : 0.0;
				double		var = count[k] > 0 ? ss[(Size) j * K + k] / count[k] : 0.0;

				var = Max(var + epsilon, NB_MIN_VARIANCE);
				params[NB_CELL(K, j, k)] = mu;
				params[NB_CELL(K, j, k) + 1] = 0.5 / var;
				if (count[k] > 0)
					params[k] -= 0.5 * log(2.0 * M_PI * var);
			}
		}
		else
		{
			int			w = feat->width;

			for (int c = 0; c < w; c++)
			{
				int			j = feat->offset + c;

				for (int k = 0; k < K; k++)
					params[NB_CELL(K, j, k)] =
						log((sum[(Size) j * K + k] + alpha) / (count[k] + alpha * w));
			}
		}
	}

	for (int f = 0; f < F; f++)
		params[NB_IMPORTANCE(K, p, f)] =
			FeatureImportance(model, train, cls, count, params, f);

	model->nparams = NB_NPARAMS(K, p, F);
	model->params = params;

	pfree(cls);
	pfree(count);
	pfree(sum);
	pfree(ss);
	pfree(colvar);
	pfree(numeric);
}

/*
 * Class probabilities for one design row: the log joint likelihood of
 * each class (prior, Gaussian terms, the log probability of the row's
 * category in each one-hot group), then normalised in place.
 */
static void
NaiveBayesPredict(const MlopsModel *model, const double *x, double *out)
{
	int			K = model->nclasses;
	const double *params = model->params;

	for (int k = 0; k < K; k++)
		out[k] = params[k];

	for (int f = 0; f < model->nfeatures; f++)
	{
		const MlopsFeature *feat = &model->features[f];

		if (feat->kind != MLOPS_KIND_CATEGORICAL)
		{
			const double *cell = params + NB_CELL(K, feat->offset, 0);
			double		xj = x[feat->offset];

			for (int k = 0; k < K; k++)
			{
				double		d = xj - cell[2 * k];

				out[k] -= d * d * cell[2 * k + 1];
			}
		}
		else
		{
			for (int c = 0; c < feat->width; c++)
			{
				if (x[feat->offset + c] > 0.5)
				{
					const double *cell = params + NB_CELL(K, feat->offset + c, 0);

					for (int k = 0; k < K; k++)
						out[k] += cell[2 * k];
					break;
				}
			}
		}
	}

	MlopsSoftmaxInPlace(out, K);
}

/*
 * explain(): one row per feature with its importance, the share of the
 * class entropy the feature explains (see FeatureImportance).  Naive Bayes
 * has no coefficients: those columns are NaN.
 */
static int
NaiveBayesExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	int			K = model->nclasses;
	int			p = model->ncols;
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * Max(model->nfeatures, 1));

	for (int f = 0; f < model->nfeatures; f++)
	{
		MlopsExplainRowInit(&r[f], model->features[f].name);
		r[f].importance = model->params[NB_IMPORTANCE(K, p, f)];
	}
	*rows = r;
	return model->nfeatures;
}

/*
 * Contributions (explain_row): per class, each feature's log-likelihood term
 * (on the feature's first design column; its other one-hot columns get 0)
 * and, as the bias, the class's log prior with the Gaussian normalising
 * constants; per class they sum to the log joint likelihood, whose softmax
 * is predict_proba.
 */
static int
NaiveBayesContributions(const MlopsModel *model, const double *x, double *contrib)
{
	int			K = model->nclasses;
	int			p = model->ncols;
	const double *params = model->params;

	memset(contrib, 0, sizeof(double) * K * (p + 1));
	for (int k = 0; k < K; k++)
		contrib[k * (p + 1) + p] = params[k];
	for (int f = 0; f < model->nfeatures; f++)
	{
		const MlopsFeature *feat = &model->features[f];

		for (int c = 0; c < feat->width; c++)
		{
			const double *cell = params + NB_CELL(K, feat->offset + c, 0);

			if (feat->kind == MLOPS_KIND_CATEGORICAL && x[feat->offset + c] <= 0.5)
				continue;
			for (int k = 0; k < K; k++)
			{
				double		d = x[feat->offset] - cell[2 * k];

				contrib[k * (p + 1) + feat->offset] =
					feat->kind == MLOPS_KIND_CATEGORICAL ? cell[2 * k] : -d * d * cell[2 * k + 1];
			}
			break;
		}
	}
	return K;
}

/* Size of params: the layout above, for nclasses, ncols and nfeatures */
static int64
NaiveBayesNParams(const MlopsModel *model)
{
	return NB_NPARAMS((int64) model->nclasses, (int64) model->ncols, (int64) model->nfeatures);
}

const MlopsAlgorithm mlops_algo_naive_bayes = {
	.name = "naive_bayes",
	.id = 6,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_CLASSIFICATION),
	.standardize = false,
	.nhyper = lengthof(naive_bayes_hyper),
	.hyper = naive_bayes_hyper,
	.fit = NaiveBayesFit,
	.predict = NaiveBayesPredict,
	.explain = NaiveBayesExplain,
	.nparams = NaiveBayesNParams,
	.contributions = NaiveBayesContributions,
};
