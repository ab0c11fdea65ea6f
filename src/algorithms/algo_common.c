/*-------------------------------------------------------------------------
 *
 * algo_common.c
 *	  Small pieces several algorithms share: means, the offsets that undo
 *	  standardisation, a blank explain row, softmax.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "algorithms/algo_common.h"

/* Mean of n values (0 for none) */
double
MlopsMeanOf(const double *v, int64 n)
{
	double		sum = 0.0;

	for (int64 i = 0; i < n; i++)
		sum += v[i];
	return n > 0 ? sum / (double) n : 0.0;
}

/*
 * center[j] / scale[j] for each design column (NULL without a transform):
 * added to a standardised column it gives the original values over the
 * scale, which is how constant columns are recognised.
 */
double *
MlopsStandardisedOffsets(const MlopsModel *model)
{
	double	   *offset;

	if (model->center == NULL || model->scale == NULL)
		return NULL;
	offset = palloc(sizeof(double) * Max(model->ncols, 1));
	for (int j = 0; j < model->ncols; j++)
		offset[j] = model->center[j] / model->scale[j];
	return offset;
}

/* An explain row for term with every number undefined (NaN) */
void
MlopsExplainRowInit(MlopsExplainRow *row, const char *term)
{
	row->term = term;
	row->class_label = NULL;
	row->coefficient = NAN;
	row->std_error = NAN;
	row->statistic = NAN;
	row->p_value = NAN;
	row->importance = NAN;
	row->gain = NAN;
	row->cover = NAN;
	row->weight = NAN;
}

/*
 * Turn n class scores (log-probabilities up to a constant) into
 * probabilities in place: exponentiate after subtracting the largest, so
 * that nothing overflows, then divide by the sum.
 */
void
MlopsSoftmaxInPlace(double *v, int n)
{
	double		mx = -INFINITY;
	double		denom = 0.0;

	for (int k = 0; k < n; k++)
		mx = Max(mx, v[k]);
	for (int k = 0; k < n; k++)
	{
		v[k] = exp(v[k] - mx);
		denom += v[k];
	}
	for (int k = 0; k < n; k++)
		v[k] /= denom;
}
