/*-------------------------------------------------------------------------
 *
 * fuzz_moments.c
 *	  libFuzzer target for exact moments and the regression metrics' exact
 *	  error sums (src/core/exact.c, moments.c): decoding
 *	  the states that mlops.linear_moments and mlops.regression_metrics
 *	  accept from users, and the exactness that makes their bytes
 *	  independent of row order.
 *
 * The first byte of an input chooses what the rest is:
 *	 0: a linear_moments state, decoded; an accepted state must serialise
 *		to the bytes it was read from, combined with itself must read back
 *		as written (or be refused), and survives imputation, centring
 *		and a residual sum of squares (an ERROR is an accepted outcome);
 *	 1: a regression_metrics state, likewise, then its metrics;
 *	 2, 3: rows: a byte for the number of x columns (0 .. 5), a byte for
 *		where to cut them in two parts, then doubles
 *		(8 bytes each, non-finite ones standing for NULL; a row whose y is
 *		NULL is dropped), summed in order, in reverse, and in two parts
 *		merged: the three states must be the same bytes, and read back the
 *		same; their imputed moments must be computable.  No ERROR may
 *		happen here: every finite double must be summable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "core/moments.h"

#include "pg_stubs.h"

typedef struct Input
{
	const uint8_t *data;
	size_t		size;
} Input;

/* Bytes equal, or a failure */
static void
SameBytes(bytea *a, bytea *b, const char *what)
{
	if (VARSIZE(a) != VARSIZE(b) || memcmp(VARDATA(a), VARDATA(b), VARSIZE(a) - VARHDRSZ) != 0)
		FuzzFail("%s", what);
}

/* Use moments as training does: imputation, centring, a residual sum */
static void
UseMoments(const MlopsMoments *m)
{
	int			p = m->p;
	double	   *impute = palloc(sizeof(double) * Max(p, 1));
	double	   *xmean = palloc(sizeof(double) * Max(p, 1));
	double	   *G = palloc(sizeof(double) * Max(p * p, 1));
	double	   *Xty = palloc(sizeof(double) * Max(p, 1));
	double		ymean;
	double		yss;
	MlopsImputed *im;

	if (m->n == 0)
		return;
	for (int a = 0; a < p; a++)
	{
		impute[a] = MlopsMomentsPresent(m, a) > 0 ? MlopsMomentsMean(m, a) : 0.0;
		if (!isfinite(impute[a]))
			impute[a] = 0.0;
		(void) MlopsMomentsConstant(m, a);
	}
	im = MlopsMomentsImpute(m, impute);
	(void) MlopsImputedYSS(im);
	MlopsImputedCentred(im, xmean, G, Xty, &ymean, &yss);
	for (int a = 0; a < p; a++)
		(void) MlopsImputedOffsetMean(im, a, xmean[a]);
	(void) MlopsImputedSSE(im, MlopsExactFromDouble(ymean), xmean);
}

static void
DecodeMoments(void *arg)
{
	Input	   *in = arg;
	MlopsMoments *m = MlopsMomentsDeserialize((const char *) in->data, in->size,
											  CurrentMemoryContext);
	bytea	   *b = MlopsMomentsSerialize(m);

	MlopsMoments *twice;

	if (VARSIZE(b) - VARHDRSZ != in->size || memcmp(VARDATA(b), in->data, in->size) != 0)
		FuzzFail("an accepted moments state does not serialise to its bytes");
	/* combined with itself (as combine does), then read back */
	twice = MlopsMomentsDeserialize((const char *) in->data, in->size, CurrentMemoryContext);
	MlopsMomentsMerge(twice, m);
	b = MlopsMomentsSerialize(twice);
	SameBytes(b, MlopsMomentsSerialize(MlopsMomentsDeserialize(VARDATA(b), VARSIZE(b) - VARHDRSZ,
															   CurrentMemoryContext)),
			  "combined moments do not read back as written");
	UseMoments(m);
}

static void
DecodeErrors(void *arg)
{
	Input	   *in = arg;
	MlopsErrorSums s;
	bytea	   *b;

	MlopsErrorSumsDeserialize(&s, (const char *) in->data, in->size, CurrentMemoryContext);
	b = MlopsErrorSumsSerialize(&s);
	if (VARSIZE(b) - VARHDRSZ != in->size || memcmp(VARDATA(b), in->data, in->size) != 0)
		FuzzFail("an accepted error state does not serialise to its bytes");
	if (s.n > 0)
	{
		double		r2,
					rmse,
					mae;

		MlopsErrorSumsMetrics(&s, &r2, &rmse, &mae);
	}
}

/* The rows of an input of mode 2 or 3, and the moments three ways */
static void
Rows(void *arg)
{
	Input	   *in = arg;
	int			p = in->size > 0 ? in->data[0] % 6 : 0;
	int			P = p + 1;
	size_t		nrows = in->size > 2 ? (in->size - 2) / (8 * P) : 0;
	int			cut = in->size > 1 ? in->data[1] : 0;
	double	   *z = palloc(sizeof(double) * Max(nrows * P, 1));
	MlopsMoments *fwd = MlopsMomentsCreate(p, CurrentMemoryContext);
	MlopsMoments *rev = MlopsMomentsCreate(p, CurrentMemoryContext);
	MlopsMoments *part = MlopsMomentsCreate(p, CurrentMemoryContext);
	MlopsMoments *rest = MlopsMomentsCreate(p, CurrentMemoryContext);
	bytea	   *b;

	memcpy(z, in->data + 2, nrows * P * 8);
	for (size_t i = 0; i < nrows * P; i++)
		if (!isfinite(z[i]))
			z[i] = NAN;
	for (size_t r = 0; r < nrows; r++)
		if (!isnan(z[r * P + p]))
		{
			MlopsMomentsAddRow(fwd, z + r * P, z[r * P + p]);
			MlopsMomentsAddRow(r < (size_t) cut ? part : rest, z + r * P, z[r * P + p]);
		}
	for (size_t r = nrows; r-- > 0;)
		if (!isnan(z[r * P + p]))
			MlopsMomentsAddRow(rev, z + r * P, z[r * P + p]);
	MlopsMomentsMerge(rest, part);
	b = MlopsMomentsSerialize(fwd);
	SameBytes(b, MlopsMomentsSerialize(rev), "the moments depend on the order of the rows");
	SameBytes(b, MlopsMomentsSerialize(rest), "merged moments differ from the whole");
	SameBytes(b, MlopsMomentsSerialize(MlopsMomentsDeserialize(VARDATA(b), VARSIZE(b) - VARHDRSZ,
															   CurrentMemoryContext)),
			  "moments do not read back as written");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Input		in = {data + 1, size > 0 ? size - 1 : 0};

	if (size == 0)
		return 0;
	switch (data[0] & 3)
	{
		case 0:
			(void) FuzzCatch(DecodeMoments, &in);
			break;
		case 1:
			(void) FuzzCatch(DecodeErrors, &in);
			break;
		default:
			if (!FuzzCatch(Rows, &in))
				FuzzFail("summing rows raised an error: %s", fuzz_errmsg);
			break;
	}
	FuzzReset();
	return 0;
}
