/*-------------------------------------------------------------------------
 *
 * fuzz_model.c
 *	  libFuzzer target for the model decoder, MlopsModelDeserialize
 *	  (src/model/model.c), and for what the server does next with a model
 *	  it accepted: encode a row, predict, explain, serialise again.
 *
 * Each input is decoded twice: as it is, and with the header's payload
 * length and CRC-32C made right, so that mutations reach the payload
 * parser instead of stopping at the checksum.  A decoded model must then
 * be usable without any out-of-bounds access (scoring allocates its input
 * and output arrays from the model's own counts, as predict.c does), and
 * serialising it must give back exactly the bytes it was read from.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_crc32c.h"

#include "algorithms/algorithm.h"
#include "model/model.h"

#include "pg_stubs.h"

#define HEADER_SIZE		20

/* Never reached from decoding: only training (core/util.c) calls it */
void
MlopsCheckMemory(Size bytes, const char *what)
{
	FuzzFail("MlopsCheckMemory called while decoding");
}

/* Use a decoded model the way scoring and explain() do */
static void
UseModel(const MlopsModel *model)
{
	double	   *x = palloc0(sizeof(double) * Max(model->ncols, 1));
	double	   *out = palloc(sizeof(double) * MlopsModelOutputs(model));
	MlopsExplainRow *rows;

	for (int i = 0; i < model->nfeatures; i++)
	{
		const MlopsFeature *f = &model->features[i];

		if (f->kind == MLOPS_KIND_CATEGORICAL)
		{
			MlopsEncodeFeatureText(f, f->nvocab > 0 ? f->vocab[f->nvocab - 1] : "x", x);
			MlopsEncodeFeatureText(f, NULL, x);
		}
		else
			MlopsEncodeFeatureNumber(f, 1.0, i % 2 == 0, x);
	}
	MlopsModelPredictDesign(model, x, out);
	(void) model->algo->explain(model, &rows);
	for (int j = 0; j < model->ncols; j++)
		(void) MlopsDesignColumnName(model, j);
}

static void
Decode(void *arg)
{
	bytea	   *bytes = (bytea *) arg;
	MlopsModel *model = MlopsModelDeserialize(bytes);
	bytea	   *again;

	UseModel(model);
	again = MlopsModelSerialize(model);
	if (VARSIZE(again) != VARSIZE(bytes) ||
		memcmp(VARDATA(again), VARDATA(bytes), VARSIZE(bytes) - VARHDRSZ) != 0)
		FuzzFail("a decoded model does not serialise to the bytes it was read from");
}

static void
PutU32(unsigned char *p, uint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xFF;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bytea	   *bytes = FuzzBytea(data, size);

	(void) FuzzCatch(Decode, bytes);

	if (size >= HEADER_SIZE)
	{
		unsigned char *p;
		pg_crc32c	crc;

		bytes = FuzzBytea(data, size);
		p = (unsigned char *) VARDATA(bytes);
		memcpy(p, MLOPS_MODEL_MAGIC, 8);
		PutU32(p + 12, (uint32) (size - HEADER_SIZE));
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, p + HEADER_SIZE, size - HEADER_SIZE);
		FIN_CRC32C(crc);
		PutU32(p + 16, (uint32) crc);
		(void) FuzzCatch(Decode, bytes);
	}
	FuzzReset();
	return 0;
}
