/*-------------------------------------------------------------------------
 *
 * fuzz_drift.c
 *	  libFuzzer target for the state of the drift accumulator (src/drift/
 *	  drift_state.c): the flat states and specs anyone can hand to
 *	  mlops.drift_accumulate and its combine and final functions.
 *
 * The first byte of an input chooses what the rest is:
 *   0: a flat state.  Once read, it must flatten to bytes that read back
 *      and flatten to the same bytes again (the flat form is canonical),
 *      and it must combine with itself, flat and expanded, into a state
 *      of three times its rows.
 *   1: a big-endian uint16 length, a spec of that length, then bytes that
 *      rows are made of: a byte giving the number of rows (times 128, so
 *      that the KS sample of 20,000 rows overflows), then the values,
 *      read cyclically.  The rows go through the transition's code; the
 *      state then gets the same checks as above.
 * fuzz/make_seeds.sh writes real states and specs in this form.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "drift/drift_state.h"

#include "pg_stubs.h"

/* ---- a flat state ---- */

typedef struct StateCase
{
	bytea	   *flat;
	MlopsDriftState *state;
} StateCase;

static void
ReadState(void *arg)
{
	StateCase  *c = (StateCase *) arg;

	c->state = MlopsDriftStateRead(c->flat, CurrentMemoryContext);
}

/* What an accepted state must satisfy */
static void
CheckState(MlopsDriftState *s)
{
	uint64		rows = (uint64) s->rows;
	bytea	   *flat = MlopsDriftStateToBytea(s);
	MlopsDriftState *again = MlopsDriftStateRead(flat, CurrentMemoryContext);
	bytea	   *flat2 = MlopsDriftStateToBytea(again);
	MlopsDriftState *copy;

	if (VARSIZE(flat) != VARSIZE(flat2) ||
		memcmp(VARDATA(flat), VARDATA(flat2), VARSIZE(flat) - VARHDRSZ) != 0)
		FuzzFail("a flattened state does not flatten to the same bytes once read");
	if (VARSIZE(flat) != MlopsDriftStateFlatSize(again))
		FuzzFail("the flat size of a state is not the size of its flat form");
	if (again->ksn > MLOPS_DRIFT_KS_ROWS || (again->ksn > 0 && again->nnum == 0))
		FuzzFail("a state read back keeps %d KS rows of %d numbers", again->ksn, again->nnum);

	copy = MlopsDriftStateRead(flat, CurrentMemoryContext);
	MlopsDriftStateMerge(again, copy);
	MlopsDriftStateMergeFlat(again, flat);
	if ((uint64) again->rows != rows * 3)
		FuzzFail("a state combined with itself twice has %lld rows, not 3 x %llu",
				 (long long) again->rows, (unsigned long long) rows);
	if (again->ksn > MLOPS_DRIFT_KS_ROWS)
		FuzzFail("a combined state keeps %d KS rows", again->ksn);
	(void) MlopsDriftStateToBytea(again);
}

static void
FlatCase(const uint8_t *data, size_t size)
{
	StateCase	c = {FuzzBytea(data, size), NULL};

	if (!FuzzCatch(ReadState, &c))
	{
		if (fuzz_errcode != ERRCODE_INVALID_PARAMETER_VALUE)
			FuzzFail("state refused with an unexpected error: %s", fuzz_errmsg);
		return;
	}
	CheckState(c.state);
}

/* ---- a spec and rows ---- */

typedef struct SpecCase
{
	bytea	   *spec;
	MlopsDriftSpec *decoded;
} SpecCase;

static void
DecodeSpec(void *arg)
{
	SpecCase   *c = (SpecCase *) arg;

	c->decoded = MlopsDriftSpecDecode(c->spec, CurrentMemoryContext);
}

/* Bytes read cyclically, for the values of rows */
typedef struct Cycle
{
	const uint8_t *data;
	size_t		size;
	size_t		pos;
} Cycle;

static uint8_t
NextByte(Cycle *c)
{
	uint8_t		b = c->data[c->pos];

	c->pos = (c->pos + 1) % c->size;
	return b;
}

static void
RowsCase(const uint8_t *data, size_t size)
{
	SpecCase	sc;
	size_t		speclen;
	MlopsDriftSpec *spec;
	MlopsFeatureKind *kinds;
	MlopsDriftState *s;
	Cycle		cyc;
	int			nrows;
	double	   *numbers;
	bool	   *number_null;
	const char **cats;
	int32	   *catlen;
	bool	   *catnull;
	MlopsDriftRow row;

	if (size < 2)
		return;
	speclen = Min(((size_t) data[0] << 8) | data[1], size - 2);
	sc.spec = FuzzBytea(data + 2, speclen);
	if (!FuzzCatch(DecodeSpec, &sc))
	{
		if (fuzz_errcode != ERRCODE_INVALID_PARAMETER_VALUE)
			FuzzFail("spec refused with an unexpected error: %s", fuzz_errmsg);
		return;
	}
	spec = sc.decoded;
	if (spec->nnumbers + spec->ncategories != spec->ncols)
		FuzzFail("a spec of %d columns has %d numbers and %d categories",
				 spec->ncols, spec->nnumbers, spec->ncategories);
	kinds = palloc(Max(spec->ncols, 1) * sizeof(MlopsFeatureKind));
	for (int i = 0; i < spec->ncols; i++)
		kinds[i] = spec->cols[i].kind;
	s = MlopsDriftStateNew(CurrentMemoryContext, spec->ncols, kinds);
	MlopsDriftStateUseSpec(s, spec);

	data += 2 + speclen;
	size -= 2 + speclen;
	if (size == 0)
	{
		CheckState(s);
		return;
	}
	cyc.data = data;
	cyc.size = size;
	cyc.pos = 0;
	/* up to past the KS sample's bound, for narrow specs */
	nrows = Min(1 + NextByte(&cyc) * 128, 1 + 64000 / Max(spec->ncols, 1));
	numbers = palloc(Max(spec->nnumbers, 1) * sizeof(double));
	number_null = palloc(Max(spec->nnumbers, 1) * sizeof(bool));
	cats = palloc(Max(spec->ncategories, 1) * sizeof(char *));
	catlen = palloc(Max(spec->ncategories, 1) * sizeof(int32));
	catnull = palloc(Max(spec->ncategories, 1) * sizeof(bool));
	row.numbers = numbers;
	row.number_null = number_null;
	row.categories = cats;
	row.category_len = catlen;
	row.category_null = catnull;
	for (int r = 0; r < nrows; r++)
	{
		for (int k = 0; k < spec->nnumbers; k++)
		{
			uint8_t		b = NextByte(&cyc);

			number_null[k] = b == 0xFF;
			/* small whole numbers, mixed with the row, or raw bits */
			if (b < 0x80)
				numbers[k] = (double) ((b + r) % 97) - 20.0;
			else
			{
				uint64		bits = 0;

				for (int j = 0; j < 8; j++)
					bits = (bits << 8) | NextByte(&cyc);
				memcpy(&numbers[k], &bits, sizeof(double));
			}
		}
		for (int k = 0; k < spec->ncategories; k++)
		{
			uint8_t		len = NextByte(&cyc) % 8;

			catnull[k] = len == 7;
			cats[k] = (const char *) cyc.data + cyc.pos;
			catlen[k] = Min((size_t) len, cyc.size - cyc.pos);
			for (int j = 0; j < len; j++)
				(void) NextByte(&cyc);
		}
		MlopsDriftStateAddRow(s, &row);
	}
	if (s->rows != nrows)
		FuzzFail("%d rows added, the state counts %lld", nrows, (long long) s->rows);
	CheckState(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 0)
		FlatCase(data + 1, size - 1);
	else if (data[0] == 1)
		RowsCase(data + 1, size - 1);
	FuzzReset();
	return 0;
}
