/*-------------------------------------------------------------------------
 *
 * encode.c
 *	  Preprocessing learned from the training rows only: each feature's
 *	  encoding (the imputation mean of a numeric feature, the vocabulary of
 *	  a categorical one) and the classes of a classification target, and
 *	  the features as the registry records them.
 *
 * A vocabulary keeps the max_categories most frequent values (ties in text
 * order); other values, unseen or cut, share the "other" column.  Classes
 * are sorted by label, integer labels as numbers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "model/preprocess.h"
#include "train/train_int.h"

/* sort state for ordering a categorical column's codes */
typedef struct CodeOrder
{
	const MlopsColumnData *col;
	const int64 *count;
} CodeOrder;

/* qsort_arg order of codes: most frequent first, then by text */
static int
CodeByCountCmp(const void *a, const void *b, void *arg)
{
	const CodeOrder *o = arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (o->count[x] != o->count[y])
		return o->count[x] > o->count[y] ? -1 : 1;
	return strcmp(o->col->code_text[x], o->col->code_text[y]);
}

/* qsort_arg order of codes: by text, or as numbers when o->count is NULL */
static int
CodeByValueCmp(const void *a, const void *b, void *arg)
{
	const CodeOrder *o = arg;
	const char *x = o->col->code_text[*(const int32 *) a];
	const char *y = o->col->code_text[*(const int32 *) b];

	if (o->count == NULL)
	{
		/* numeric labels sort as numbers */
		double		dx = strtod(x, NULL);
		double		dy = strtod(y, NULL);

		if (dx != dy)
			return dx < dy ? -1 : 1;
	}
	return strcmp(x, y);
}

/*
 * Learn feature i's encoding from the training rows (the positions in
 * trainrow); ERROR for a feature that is NULL everywhere or constant.
 */
void
TrainFitFeature(MlopsFeature *f, const MlopsColumnData *col, const int64 *trainrow,
		   int64 ntrain, int max_categories)
{
	f->name = col->name;
	f->type_name = col->type_name;
	f->kind = col->kind;

	if (col->kind != MLOPS_KIND_CATEGORICAL)
	{
		double		sum = 0.0,
					min = INFINITY,
					max = -INFINITY;
		int64		n = 0;

		for (int64 k = 0; k < ntrain; k++)
		{
			double		v = col->num[trainrow[k]];

			if (isnan(v))
				continue;
			sum += v;
			min = Min(min, v);
			max = Max(max, v);
			n++;
		}
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave it out with the features argument.")));
		if (min == max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is constant in the training rows", col->name),
					 errdetail("Every non-NULL value is %g.", min),
					 errhint("A constant column carries no information; leave it out with the features argument.")));
		f->impute = sum / n;
		f->nvocab = 0;
		f->vocab = NULL;
	}
	else
	{
		int64	   *count = palloc0(sizeof(int64) * Max(col->ncodes, 1));
		int32	   *order = palloc(sizeof(int32) * Max(col->ncodes, 1));
		int			nseen = 0;
		int64		nnull = 0;
		CodeOrder	o = {col, count};

		for (int64 k = 0; k < ntrain; k++)
		{
			int32		code = col->code[trainrow[k]];

			if (code < 0)
				nnull++;
			else
				count[code]++;
		}
		for (int c = 0; c < col->ncodes; c++)
			if (count[c] > 0)
				order[nseen++] = c;
		if (nseen == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is NULL in every training row", col->name),
					 errhint("Leave it out with the features argument.")));
		if (nseen == 1 && nnull == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature column \"%s\" is constant in the training rows", col->name),
					 errdetail("Every value is \"%s\".", col->code_text[order[0]]),
					 errhint("A constant column carries no information; leave it out with the features argument.")));
		qsort_arg(order, nseen, sizeof(int32), CodeByCountCmp, &o);
		f->nvocab = Min(nseen, max_categories);
		f->vocab = palloc(sizeof(char *) * f->nvocab);
		for (int v = 0; v < f->nvocab; v++)
			f->vocab[v] = col->code_text[order[v]];
		f->impute = 0.0;
	}
}

/*
 * The classes: the labels seen in the training rows (the positions in
 * trainrow), sorted (integer labels as numbers), into model->classes.
 * Returns each target code's class, -1 for a label no training row has.
 * ERROR for a single class.
 */
int *
TrainFitClasses(MlopsModel *model, const MlopsColumnData *tcol, const int64 *trainrow,
				int64 ntrain, bool int_target, const char *target)
{
	int32	   *order = palloc(sizeof(int32) * Max(tcol->ncodes, 1));
	int64	   *seen = palloc0(sizeof(int64) * Max(tcol->ncodes, 1));
	int			nseen = 0;
	CodeOrder	o = {tcol, int_target ? NULL : seen};
	int		   *class_of_code;

	for (int64 k = 0; k < ntrain; k++)
		seen[tcol->code[trainrow[k]]]++;
	for (int c = 0; c < tcol->ncodes; c++)
		if (seen[c] > 0)
			order[nseen++] = c;
	if (nseen < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" has only one class in the training rows",
						target),
				 errdetail("Every training row has the label \"%s\".", tcol->code_text[order[0]]),
				 errhint("Classification needs at least two classes.")));
	qsort_arg(order, nseen, sizeof(int32), CodeByValueCmp, &o);
	model->nclasses = nseen;
	model->classes = palloc(sizeof(char *) * nseen);
	class_of_code = palloc(sizeof(int) * Max(tcol->ncodes, 1));
	for (int c = 0; c < tcol->ncodes; c++)
		class_of_code[c] = -1;
	for (int k = 0; k < nseen; k++)
	{
		model->classes[k] = tcol->code_text[order[k]];
		class_of_code[order[k]] = k;
	}
	return class_of_code;
}

/* The features as stored in mlops.model_versions.features */
char *
TrainFeaturesJson(const MlopsModel *model)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		escape_json(&buf, f->name);
		appendStringInfoString(&buf, ", \"type\": ");
		escape_json(&buf, f->type_name);
		appendStringInfo(&buf, ", \"kind\": \"%s\"", MlopsKindName(f->kind));
		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			appendStringInfoString(&buf, ", \"encoding\": \"one_hot\", \"vocabulary\": [");
			for (int v = 0; v < f->nvocab; v++)
			{
				if (v > 0)
					appendStringInfoString(&buf, ", ");
				escape_json(&buf, f->vocab[v]);
			}
			appendStringInfoString(&buf, "], \"unseen\": \"other\"");
		}
		else if (isnan(f->impute))
			appendStringInfoString(&buf, ", \"encoding\": \"number\", \"impute\": null");
		else
			appendStringInfo(&buf, ", \"encoding\": \"number\", \"impute\": %.17g", f->impute);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}
