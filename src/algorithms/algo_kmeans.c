/*-------------------------------------------------------------------------
 *
 * algo_kmeans.c
 *	  k-means clustering: greedy k-means++ initialisation from a
 *	  deterministic generator seeded by the model's seed, then Lloyd's
 *	  algorithm, the best of n_init runs by training inertia.
 *
 * Distances to the centres are computed in blocks of rows as
 * ||x||² - 2 x·c + ||c||² with one dgemm per block (core/linalg.c), which
 * is what makes an iteration over a million rows cost a few tens of
 * milliseconds.  The design is standardised unless the hyperparameter
 * standardize is 0 (see KmeansStandardizes): centres, inertia and
 * silhouette are all on the scale the model was fitted on.
 *
 * predict() gives two outputs: the cluster (0-based, the nearest centre,
 * the lowest index on ties) and the squared distance to its centre, from
 * which the metrics code sums the inertia.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "algorithms/algo_common.h"
#include "core/linalg.h"
#include "core/util.h"

/* Hyperparameters, in this order in model->hyper */
#define KM_K			0
#define KM_N_INIT		1
#define KM_MAX_ITER		2
#define KM_TOL			3
#define KM_STANDARDIZE	4

static const MlopsHyperparam kmeans_hyper[] = {
	{"k", 8, 2, 1000, true, "number of clusters"},
	{"n_init", 1, 1, 100, true,
	"runs from different k-means++ starts; the lowest training inertia wins"},
	{"max_iter", 300, 1, 100000, true, "maximum Lloyd iterations per run"},
	{"tol", 1e-4, 0.0, 1.0, false,
	"stop when the squared movement of the centres is at most tol times the mean column variance"},
	{"standardize", 1, 0, 1, true,
	"1: cluster standardised columns; 0: the encoded columns as they are"},
};

/* Rows per dgemm block in the assignment step */
#define KM_BLOCK	2048

/* Centre c's coordinates: params[c * ncols .. c * ncols + ncols - 1] */

/* The work buffers of one fit, shared by its runs */
typedef struct KmeansWork
{
	int64		n;
	int			p;
	int			k;
	const double *X;			/* column-major n x p */
	double	   *xnorm;			/* n: squared norm of each row */
	double	   *dist;			/* n: squared distance to the assigned centre */
	int		   *label;			/* n: assigned centre */
	double	   *gram;			/* KM_BLOCK x k: x·c of a block */
	double	   *tmp;			/* n: scratch for the initialisation */
	double	   *sums;			/* k x p: per-centre sums */
	int64	   *counts;			/* k */
} KmeansWork;

/* Row i of X into out (p values) */
static void
RowOf(const KmeansWork *w, int64 i, double *out)
{
	for (int j = 0; j < w->p; j++)
		out[j] = w->X[(Size) j * w->n + i];
}

/*
 * Squared distance of every row to centre c into d, by the BLAS form
 * (negative rounding clamped to 0).
 */
static void
DistancesTo(const KmeansWork *w, const double *c, double *d)
{
	double		cn = MlopsDot(w->p, c, c);

	MlopsGemv(false, (int) w->n, w->p, -2.0, w->X, (int) w->n, c, 0.0, d);
	for (int64 i = 0; i < w->n; i++)
		d[i] = Max(d[i] + w->xnorm[i] + cn, 0.0);
}

/*
 * Greedy k-means++ (as scikit-learn's): the first centre a uniformly drawn
 * row; each next one the best of 2 + ln k rows drawn with probability
 * proportional to their squared distance to the nearest centre so far,
 * best meaning the lowest resulting potential.  When every row sits on a
 * centre (fewer distinct rows than k), rows are taken in order.
 */
static void
KmeansPlusPlus(KmeansWork *w, pg_prng_state *rng, double *centers)
{
	int64		n = w->n;
	int			p = w->p;
	int			ntrials = 2 + (int) log((double) w->k);
	double	   *mind = w->dist;
	double	   *cand = palloc(sizeof(double) * p);
	double	   *bestd = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	double		pot = 0.0;

	RowOf(w, (int64) pg_prng_uint64_range(rng, 0, (uint64) (n - 1)), centers);
	DistancesTo(w, centers, mind);
	for (int64 i = 0; i < n; i++)
		pot += mind[i];

	for (int c = 1; c < w->k; c++)
	{
		double		bestpot = -1.0;
		int64		bestrow = c % n;

		CHECK_FOR_INTERRUPTS();
		for (int t = 0; t < ntrials; t++)
		{
			double		r = pg_prng_double(rng) * pot;
			double		acc = 0.0;
			double		newpot = 0.0;
			int64		row = c % n;

			if (pot > 0.0)
			{
				for (row = 0; row < n - 1; row++)
				{
					acc += mind[row];
					if (acc > r)
						break;
				}
			}
			RowOf(w, row, cand);
			DistancesTo(w, cand, w->tmp);
			for (int64 i = 0; i < n; i++)
				newpot += Min(mind[i], w->tmp[i]);
			if (bestpot < 0.0 || newpot < bestpot)
			{
				bestpot = newpot;
				bestrow = row;
				memcpy(bestd, w->tmp, sizeof(double) * n);
			}
			if (pot <= 0.0)
				break;
		}
		RowOf(w, bestrow, centers + (Size) c * p);
		pot = 0.0;
		for (int64 i = 0; i < n; i++)
		{
			mind[i] = Min(mind[i], bestd[i]);
			pot += mind[i];
		}
	}
	pfree(bestd);
	pfree(cand);
}

/*
 * Assignment step: each row to its nearest centre (lowest index on ties),
 * with dist its squared distance; returns the inertia and sets *changed
 * to the number of rows whose centre changed.
 */
static double
KmeansAssign(KmeansWork *w, const double *centers, int64 *changed)
{
	int			k = w->k;
	int			p = w->p;
	double	   *cnorm = palloc(sizeof(double) * k);
	double		inertia = 0.0;

	*changed = 0;
	for (int c = 0; c < k; c++)
		cnorm[c] = MlopsDot(p, centers + (Size) c * p, centers + (Size) c * p);
	for (int64 s = 0; s < w->n; s += KM_BLOCK)
	{
		int			nb = (int) Min((int64) KM_BLOCK, w->n - s);

		CHECK_FOR_INTERRUPTS();
		/* gram (nb x k) = X[s .. s+nb) (nb x p) * centres' (p x k) */
		MlopsGemm(false, false, nb, k, p, 1.0, w->X + s, (int) w->n,
				  centers, p, 0.0, w->gram, nb);
		for (int i = 0; i < nb; i++)
		{
			int			best = 0;
			double		bestv = cnorm[0] - 2.0 * w->gram[i];

			for (int c = 1; c < k; c++)
			{
				double		v = cnorm[c] - 2.0 * w->gram[(Size) c * nb + i];

				if (v < bestv)
				{
					bestv = v;
					best = c;
				}
			}
			if (w->label[s + i] != best)
				(*changed)++;
			w->label[s + i] = best;
			w->dist[s + i] = Max(bestv + w->xnorm[s + i], 0.0);
			inertia += w->dist[s + i];
		}
	}
	pfree(cnorm);
	return inertia;
}

/*
 * An empty cluster takes the row farthest from its centre (the lowest
 * index on ties) among clusters with more than one row; that row leaves
 * its old cluster's sums.
 */
static void
KmeansReseed(KmeansWork *w, int c)
{
	int64		far = -1;
	int			p = w->p;

	for (int64 i = 0; i < w->n; i++)
		if (w->counts[w->label[i]] > 1 && (far < 0 || w->dist[i] > w->dist[far]))
			far = i;
	if (far < 0)
		return;
	for (int j = 0; j < p; j++)
	{
		double		v = w->X[(Size) j * w->n + far];

		w->sums[(Size) w->label[far] * p + j] -= v;
		w->sums[(Size) c * p + j] = v;
	}
	w->counts[w->label[far]]--;
	w->counts[c] = 1;
	w->label[far] = c;
	w->dist[far] = 0.0;
}

/*
 * Update step: each centre the mean of its rows (empty clusters reseeded
 * first); returns the total squared movement of the centres.
 */
static double
KmeansUpdate(KmeansWork *w, double *centers)
{
	int			k = w->k;
	int			p = w->p;
	double		shift = 0.0;

	memset(w->sums, 0, sizeof(double) * k * p);
	memset(w->counts, 0, sizeof(int64) * k);
	for (int64 i = 0; i < w->n; i++)
		w->counts[w->label[i]]++;
	for (int j = 0; j < p; j++)
	{
		const double *col = w->X + (Size) j * w->n;

		for (int64 i = 0; i < w->n; i++)
			w->sums[(Size) w->label[i] * p + j] += col[i];
	}
	for (int c = 0; c < k; c++)
		if (w->counts[c] == 0)
			KmeansReseed(w, c);
	for (int c = 0; c < k; c++)
	{
		if (w->counts[c] == 0)
			continue;			/* nothing to take it from: keep the centre */
		for (int j = 0; j < p; j++)
		{
			double		v = w->sums[(Size) c * p + j] / w->counts[c];
			double		d = v - centers[(Size) c * p + j];

			shift += d * d;
			centers[(Size) c * p + j] = v;
		}
	}
	return shift;
}

/*
 * One run: k-means++ from rng, then Lloyd's iterations until the centres
 * move by at most tol_scaled (squared, summed) or no row changes cluster;
 * returns the inertia of the final centres.
 */
static double
KmeansRun(KmeansWork *w, pg_prng_state *rng, int max_iter, double tol_scaled, double *centers)
{
	int64		changed;
	double		inertia;

	KmeansPlusPlus(w, rng, centers);
	for (int64 i = 0; i < w->n; i++)
		w->label[i] = -1;
	for (int it = 0; it < max_iter; it++)
	{
		(void) KmeansAssign(w, centers, &changed);
		if (changed == 0)
			break;
		if (KmeansUpdate(w, centers) <= tol_scaled)
			break;
	}
	inertia = KmeansAssign(w, centers, &changed);
	return inertia;
}

/* Fit: the best of n_init runs into params (k x ncols centres) */
static void
KmeansFit(MlopsModel *model, const MlopsDesign *train)
{
	KmeansWork	w;
	int			n_init = (int) model->hyper[KM_N_INIT];
	int			max_iter = (int) model->hyper[KM_MAX_ITER];
	double		tol_scaled = 0.0;
	double		best = -1.0;
	double	   *centers;

	w.n = train->nrows;
	w.p = train->ncols;
	w.k = (int) model->hyper[KM_K];
	w.X = train->X;
	if (w.k > w.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means with k = %d needs at least %d training rows, not %lld",
						w.k, w.k, (long long) w.n),
				 errhint("Lower k, or train on more rows.")));
	MlopsCheckBlasSize(w.n, w.p, "the k-means design");
	MlopsCheckMemory((Size) w.n * (4 * sizeof(double) + sizeof(int)), "the k-means work arrays");

	w.xnorm = palloc_extended(sizeof(double) * w.n, MCXT_ALLOC_HUGE);
	w.dist = palloc_extended(sizeof(double) * w.n, MCXT_ALLOC_HUGE);
	w.tmp = palloc_extended(sizeof(double) * w.n, MCXT_ALLOC_HUGE);
	w.label = palloc_extended(sizeof(int) * w.n, MCXT_ALLOC_HUGE);
	w.gram = palloc(sizeof(double) * KM_BLOCK * w.k);
	w.sums = palloc(sizeof(double) * w.k * Max(w.p, 1));
	w.counts = palloc(sizeof(int64) * w.k);
	centers = palloc(sizeof(double) * w.k * Max(w.p, 1));
	model->params = palloc0(sizeof(double) * w.k * Max(w.p, 1));
	model->nparams = w.k * w.p;

	memset(w.xnorm, 0, sizeof(double) * w.n);
	for (int j = 0; j < w.p; j++)
	{
		const double *col = w.X + (Size) j * w.n;
		double		mean = MlopsMeanOf(col, w.n);
		double		ss = 0.0;

		for (int64 i = 0; i < w.n; i++)
		{
			w.xnorm[i] += col[i] * col[i];
			ss += (col[i] - mean) * (col[i] - mean);
		}
		tol_scaled += ss / w.n;
	}
	tol_scaled = model->hyper[KM_TOL] * tol_scaled / Max(w.p, 1);

	for (int r = 0; r < n_init; r++)
	{
		pg_prng_state rng;
		double		inertia;

		pg_prng_seed(&rng, model->seed + (uint64) r);
		inertia = KmeansRun(&w, &rng, max_iter, tol_scaled, centers);
		if (best < 0.0 || inertia < best)
		{
			best = inertia;
			memcpy(model->params, centers, sizeof(double) * w.k * w.p);
		}
	}
}

/* Nearest centre of x (lowest index on ties), and the squared distance */
static void
KmeansPredict(const MlopsModel *model, const double *x, double *out)
{
	int			k = (int) model->hyper[KM_K];
	int			p = model->ncols;
	int			best = 0;
	double		bestd = DBL_MAX;

	for (int c = 0; c < k; c++)
	{
		const double *cc = model->params + (Size) c * p;
		double		d = 0.0;

		for (int j = 0; j < p; j++)
			d += (x[j] - cc[j]) * (x[j] - cc[j]);
		if (d < bestd)
		{
			bestd = d;
			best = c;
		}
	}
	out[0] = (double) best;
	out[1] = bestd;
}

/*
 * explain(): the centres on the original scale of the encoded input, one
 * row per cluster and design column (class = the cluster index).
 */
static int
KmeansExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	int			k = (int) model->hyper[KM_K];
	int			p = model->ncols;
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * Max(k * p, 1));
	char	  **names = palloc(sizeof(char *) * Max(p, 1));

	for (int j = 0; j < p; j++)
		names[j] = MlopsDesignColumnName(model, j);
	for (int c = 0; c < k; c++)
	{
		char	   *label = psprintf("%d", c);

		for (int j = 0; j < p; j++)
		{
			MlopsExplainRow *row = &r[c * p + j];

			MlopsExplainRowInit(row, names[j]);
			row->class_label = label;
			row->coefficient = model->params[(Size) c * p + j] * model->scale[j] + model->center[j];
		}
	}
	*rows = r;
	return k * p;
}

/* Size of params: k centres of ncols coordinates (-1 for an impossible k) */
static int64
KmeansNParams(const MlopsModel *model)
{
	double		k = model->hyper[KM_K];

	if (!(k >= kmeans_hyper[KM_K].min && k <= kmeans_hyper[KM_K].max) || k != floor(k))
		return -1;
	return (int64) k * model->ncols;
}

/* Whether this model is fitted on standardised columns (standardize) */
static bool
KmeansStandardizes(const MlopsModel *model)
{
	return model->hyper[KM_STANDARDIZE] != 0.0;
}

const MlopsAlgorithm mlops_algo_kmeans = {
	.name = "kmeans",
	.id = 9,
	.tasks = MLOPS_SUPPORTS(MLOPS_TASK_CLUSTERING),
	.standardize = true,		/* the centre and scale are identity when not */
	.nhyper = lengthof(kmeans_hyper),
	.hyper = kmeans_hyper,
	.fit = KmeansFit,
	.predict = KmeansPredict,
	.explain = KmeansExplain,
	.nparams = KmeansNParams,
	.standardizes = KmeansStandardizes,
};
