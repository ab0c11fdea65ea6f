/*-------------------------------------------------------------------------
 *
 * model.c
 *	  The model's binary format, and applying a model to one encoded row.
 *
 * The folder src/model/ is what a model is, independent of how it was
 * trained: the format, feature encoding, integrity.  It knows algorithms by
 * id only; src/algorithms/ binds them.
 *
 * Layout (all integers and doubles little-endian; docs/model-format.md):
 *
 *	 header   magic "MLOPSMDL" (8 bytes), uint16 format version,
 *			  uint16 algorithm id, uint32 payload length, uint32 CRC-32C of
 *			  the payload
 *	 payload  uint8 task, uint64 seed,
 *			  uint32 nfeatures, then per feature: str name, str type,
 *				uint8 kind, f64 impute, uint32 nvocab, str vocab[nvocab]
 *			  uint32 ncols, f64 center[ncols], f64 scale[ncols]
 *			  uint32 nclasses, str classes[nclasses]
 *			  uint32 nhyper, f64 hyper[nhyper]
 *			  uint32 nparams, f64 params[nparams]
 *			  format 2 only: uint32 nblob, then nblob bytes (the algorithm's
 *				own serialised model, e.g. XGBoost's for trees)
 *	 str      uint32 length, then the bytes (no terminator)
 *
 * A model without a blob is written as format 1, so that it stays
 * readable by releases that know only format 1.
 *
 * A reader accepts every format version up to its own; a newer version is
 * refused with a message naming both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "port/pg_crc32c.h"
#include "utils/memutils.h"

#include "model/model.h"

#define HEADER_SIZE		20

/* ---- writing ---- */

static void
PutU8(StringInfo buf, uint8 v)
{
	appendStringInfoCharMacro(buf, (char) v);
}

static void
PutU16(StringInfo buf, uint16 v)
{
	unsigned char b[2] = {v & 0xFF, (v >> 8) & 0xFF};

	appendBinaryStringInfo(buf, (char *) b, 2);
}

static void
PutU32(StringInfo buf, uint32 v)
{
	unsigned char b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (v >> (8 * i)) & 0xFF;
	appendBinaryStringInfo(buf, (char *) b, 4);
}

static void
PutU64(StringInfo buf, uint64 v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (v >> (8 * i)) & 0xFF;
	appendBinaryStringInfo(buf, (char *) b, 8);
}

static void
PutF64(StringInfo buf, double d)
{
	uint64		v;

	memcpy(&v, &d, sizeof(v));
	PutU64(buf, v);
}

static void
PutStr(StringInfo buf, const char *s)
{
	size_t		len = strlen(s);

	PutU32(buf, (uint32) len);
	appendBinaryStringInfo(buf, s, (int) len);
}

static void
PutF64Array(StringInfo buf, const double *a, int n)
{
	PutU32(buf, (uint32) n);
	for (int i = 0; i < n; i++)
		PutF64(buf, a[i]);
}

/* The model as bytes in the current format. */
bytea *
MlopsModelSerialize(const MlopsModel *model)
{
	StringInfoData payload;
	StringInfoData out;
	pg_crc32c	crc;
	bytea	   *result;

	initStringInfo(&payload);
	PutU8(&payload, (uint8) model->task);
	PutU64(&payload, model->seed);
	PutU32(&payload, (uint32) model->nfeatures);
	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];

		PutStr(&payload, f->name);
		PutStr(&payload, f->type_name);
		PutU8(&payload, (uint8) f->kind);
		PutF64(&payload, f->impute);
		PutU32(&payload, (uint32) f->nvocab);
		for (int v = 0; v < f->nvocab; v++)
			PutStr(&payload, f->vocab[v]);
	}
	PutU32(&payload, (uint32) model->ncols);
	for (int j = 0; j < model->ncols; j++)
		PutF64(&payload, model->center[j]);
	for (int j = 0; j < model->ncols; j++)
		PutF64(&payload, model->scale[j]);
	PutU32(&payload, (uint32) model->nclasses);
	for (int k = 0; k < model->nclasses; k++)
		PutStr(&payload, model->classes[k]);
	PutF64Array(&payload, model->hyper, model->nhyper);
	PutF64Array(&payload, model->params, model->nparams);
	if (model->nblob > 0)
	{
		PutU32(&payload, model->nblob);
		appendBinaryStringInfo(&payload, model->blob, (int) model->nblob);
	}

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, payload.data, payload.len);
	FIN_CRC32C(crc);

	initStringInfo(&out);
	appendStringInfoSpaces(&out, VARHDRSZ);
	appendBinaryStringInfo(&out, MLOPS_MODEL_MAGIC, 8);
	PutU16(&out, model->nblob > 0 ? 2 : 1);
	Assert(model->algo_id != 0);
	PutU16(&out, model->algo_id);
	PutU32(&out, (uint32) payload.len);
	PutU32(&out, (uint32) crc);
	appendBinaryStringInfo(&out, payload.data, payload.len);

	result = (bytea *) out.data;
	SET_VARSIZE(result, out.len);
	pfree(payload.data);
	return result;
}

/* ---- reading ---- */

typedef struct Reader
{
	const unsigned char *p;
	const unsigned char *end;
} Reader;

static void
Need(Reader *r, size_t n)
{
	if ((size_t) (r->end - r->p) < n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are truncated")));
}

static uint8
GetU8(Reader *r)
{
	Need(r, 1);
	return *r->p++;
}

static uint16
GetU16(Reader *r)
{
	uint16		v;

	Need(r, 2);
	v = (uint16) r->p[0] | ((uint16) r->p[1] << 8);
	r->p += 2;
	return v;
}

static uint32
GetU32(Reader *r)
{
	uint32		v = 0;

	Need(r, 4);
	for (int i = 0; i < 4; i++)
		v |= (uint32) r->p[i] << (8 * i);
	r->p += 4;
	return v;
}

static uint64
GetU64(Reader *r)
{
	uint64		v = 0;

	Need(r, 8);
	for (int i = 0; i < 8; i++)
		v |= (uint64) r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

static double
GetF64(Reader *r)
{
	uint64		v = GetU64(r);
	double		d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static char *
GetStr(Reader *r)
{
	uint32		len = GetU32(r);
	char	   *s;

	Need(r, len);
	if (memchr(r->p, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: a string contains a zero byte")));
	s = palloc(len + 1);
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	return s;
}

/* a count that must fit what is left of the bytes, each item >= minsize */
static int
GetCount(Reader *r, size_t minsize)
{
	uint32		n = GetU32(r);

	if (n > (uint32) INT_MAX || (minsize > 0 && (size_t) n > (size_t) (r->end - r->p) / minsize))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: implausible count %u", n)));
	return (int) n;
}

static double *
GetF64Array(Reader *r, int *n)
{
	double	   *a;

	*n = GetCount(r, 8);
	a = palloc(sizeof(double) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		a[i] = GetF64(r);
	return a;
}

/*
 * Read a model from its bytes, checking magic, format version, length and
 * checksum; MlopsModelDeserialize (algorithms/algorithm.c) then checks that
 * the parts fit the algorithm.  The model is allocated in the current
 * memory context.
 */
MlopsModel *
MlopsModelDecode(const bytea *bytes)
{
	Reader		r;
	MlopsModel *model;
	uint16		format;
	uint16		algid;
	uint32		len;
	uint32		crc_stored;
	pg_crc32c	crc;
	uint8		task;

	r.p = (const unsigned char *) VARDATA_ANY(bytes);
	r.end = r.p + VARSIZE_ANY_EXHDR(bytes);

	if (r.end - r.p < HEADER_SIZE || memcmp(r.p, MLOPS_MODEL_MAGIC, 8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("bytes are not an mlops model"),
				 errdetail("The magic number \"%s\" is missing.", MLOPS_MODEL_MAGIC)));
	r.p += 8;
	format = GetU16(&r);
	if (format == 0 || format > MLOPS_MODEL_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model format version %u is newer than this mlops can read (%u)",
						format, MLOPS_MODEL_FORMAT_VERSION),
				 errhint("Update the mlops extension.")));
	algid = GetU16(&r);
	len = GetU32(&r);
	crc_stored = GetU32(&r);
	if ((size_t) (r.end - r.p) != len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: payload is %zu bytes, header says %u",
						(size_t) (r.end - r.p), len)));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, r.p, len);
	FIN_CRC32C(crc);
	if ((uint32) crc != crc_stored)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: checksum mismatch")));

	model = palloc0(sizeof(MlopsModel));
	model->algo_id = algid;
	task = GetU8(&r);
	if (task < MLOPS_TASK_REGRESSION || task > MLOPS_TASK_CLUSTERING)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: unknown task %u", task)));
	model->task = (MlopsTask) task;
	model->seed = GetU64(&r);
	model->nfeatures = GetCount(&r, 17);
	model->features = palloc0(sizeof(MlopsFeature) * Max(model->nfeatures, 1));
	for (int i = 0; i < model->nfeatures; i++)
	{
		MlopsFeature *f = &model->features[i];
		uint8		kind;

		f->name = GetStr(&r);
		f->type_name = GetStr(&r);
		kind = GetU8(&r);
		if (kind < MLOPS_KIND_NUMERIC || kind > MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model bytes are corrupted: unknown feature kind %u", kind)));
		f->kind = (MlopsFeatureKind) kind;
		f->impute = GetF64(&r);
		f->nvocab = GetCount(&r, 4);
		f->vocab = palloc(sizeof(char *) * Max(f->nvocab, 1));
		for (int v = 0; v < f->nvocab; v++)
			f->vocab[v] = GetStr(&r);
	}
	model->ncols = GetCount(&r, 16);
	model->center = palloc(sizeof(double) * Max(model->ncols, 1));
	model->scale = palloc(sizeof(double) * Max(model->ncols, 1));
	for (int j = 0; j < model->ncols; j++)
		model->center[j] = GetF64(&r);
	for (int j = 0; j < model->ncols; j++)
		model->scale[j] = GetF64(&r);
	model->nclasses = GetCount(&r, 4);
	model->classes = palloc(sizeof(char *) * Max(model->nclasses, 1));
	for (int k = 0; k < model->nclasses; k++)
		model->classes[k] = GetStr(&r);
	model->hyper = GetF64Array(&r, &model->nhyper);
	model->params = GetF64Array(&r, &model->nparams);
	if (format >= 2)
	{
		model->nblob = (uint32) GetCount(&r, 1);
		/* the writer uses format 2 only for a payload: one byte or more */
		if (model->nblob == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model bytes are corrupted: format 2 without its algorithm payload")));
		model->blob = palloc(Max(model->nblob, 1));
		Need(&r, model->nblob);
		memcpy(model->blob, r.p, model->nblob);
		r.p += model->nblob;
	}
	if (r.p != r.end)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: %zu unexpected trailing bytes",
						(size_t) (r.end - r.p))));

	MlopsModelPrepare(model);
	if ((model->nfeatures == 0 ? 0 : model->features[model->nfeatures - 1].offset +
		 model->features[model->nfeatures - 1].width) != model->ncols)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model bytes are corrupted: features do not add up to %d columns",
						model->ncols)));
	return model;
}

/* sort support for the vocabulary index */
static int
VocabIndexCmp(const void *a, const void *b, void *arg)
{
	const MlopsFeature *f = (const MlopsFeature *) arg;

	return strcmp(f->vocab[*(const int *) a], f->vocab[*(const int *) b]);
}

/*
 * Derive what is not stored: design offsets and widths, and the sorted
 * vocabulary index used to look values up.
 */
void
MlopsModelPrepare(MlopsModel *model)
{
	int			offset = 0;

	for (int i = 0; i < model->nfeatures; i++)
	{
		MlopsFeature *f = &model->features[i];

		f->offset = offset;
		f->width = f->kind == MLOPS_KIND_CATEGORICAL ? f->nvocab + 1 : 1;
		offset += f->width;
		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			f->vocab_sorted = palloc(sizeof(int) * Max(f->nvocab, 1));
			for (int v = 0; v < f->nvocab; v++)
				f->vocab_sorted[v] = v;
			qsort_arg(f->vocab_sorted, f->nvocab, sizeof(int), VocabIndexCmp, f);
		}
	}
}

/* Number of outputs predict writes: 1, one per class, or 2 for clustering */
int
MlopsModelOutputs(const MlopsModel *model)
{
	if (model->task == MLOPS_TASK_CLUSTERING)
		return 2;				/* the cluster, and the squared distance to its centre */
	return model->task == MLOPS_TASK_CLASSIFICATION ? model->nclasses : 1;
}

/* Encode a numeric or boolean feature value (NULL: the training mean). */
void
MlopsEncodeFeatureNumber(const MlopsFeature *f, double v, bool isnull, double *x)
{
	x[f->offset] = (isnull || isnan(v)) ? f->impute : v;
}

/*
 * Column of s in a categorical feature's one-hot block: its vocabulary
 * position, or nvocab ("other") for NULL and values not seen in training.
 */
int
MlopsVocabPosition(const MlopsFeature *f, const char *s)
{
	int			lo = 0;
	int			hi = f->nvocab - 1;

	if (s == NULL)
		return f->nvocab;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = strcmp(s, f->vocab[f->vocab_sorted[mid]]);

		if (cmp == 0)
			return f->vocab_sorted[mid];
		if (cmp < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return f->nvocab;
}

/* Encode a categorical value (NULL for SQL NULL) as its one-hot block. */
void
MlopsEncodeFeatureText(const MlopsFeature *f, const char *s, double *x)
{
	memset(&x[f->offset], 0, sizeof(double) * f->width);
	x[f->offset + MlopsVocabPosition(f, s)] = 1.0;
}

const char *
MlopsTaskName(MlopsTask task)
{
	switch (task)
	{
		case MLOPS_TASK_REGRESSION:
			return "regression";
		case MLOPS_TASK_CLASSIFICATION:
			return "classification";
		case MLOPS_TASK_CLUSTERING:
			return "clustering";
	}
	return "unknown";
}

/*
 * The name of design column col, as explain() shows it: the feature name
 * for numeric and boolean features, "feature=value" for the one-hot
 * columns of a categorical feature and "feature=<other>" for its last
 * column, which takes values not seen at training.  The intercept is not a
 * design column; callers name it themselves.
 */
char *
MlopsDesignColumnName(const MlopsModel *model, int col)
{
	for (int f = 0; f < model->nfeatures; f++)
	{
		const MlopsFeature *feat = &model->features[f];

		if (col < feat->offset || col >= feat->offset + feat->width)
			continue;
		if (feat->kind != MLOPS_KIND_CATEGORICAL)
			return pstrdup(feat->name);
		if (col - feat->offset < feat->nvocab)
			return psprintf("%s=%s", feat->name, feat->vocab[col - feat->offset]);
		return psprintf("%s=<other>", feat->name);
	}
	elog(ERROR, "design column %d is not part of any feature", col);
	return NULL;				/* keep compiler quiet */
}
