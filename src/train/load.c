/*-------------------------------------------------------------------------
 *
 * load.c
 *	  Load the result of a SELECT into memory in one pass.
 *
 * The query runs under SPI with a DestReceiver of our own, so each row is
 * decoded straight from the executor's slot into column arrays: numbers
 * into doubles, categorical values into codes of a per-column dictionary.
 * No tuple is copied and no per-row SPI call is made.  Optionally each row
 * gets its content hash (rowhash.c) and the rows are sorted by it, which
 * makes everything computed from them independent of the source's
 * physical order (training is then reproducible from a snapshot).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "optimizer/plancat.h"

#include "core/relation.h"
#include "core/rowhash.h"
#include "train/load.h"
#include "core/util.h"

/* Open-addressing dictionary from text to code, one per categorical column */
typedef struct CodeDict
{
	uint32		size;			/* power of two */
	uint32		used;
	int32	   *slots;			/* code, or -1 when empty */
	uint32	   *hashes;			/* hash of each code's text */
	int			capacity;		/* of code_text / code_count */
	int32		boolcode[2];	/* codes of false and true, -1 until seen */
} CodeDict;

typedef struct LoadReceiver
{
	DestReceiver pub;
	MlopsTrainData *data;
	int			nspecs;
	const MlopsLoadSpec *specs;
	const char *what;
	int			flags;
	int		   *attno;			/* spec -> 0-based attribute of the result */
	MlopsValueReader *readers;
	CodeDict   *dicts;
	MlopsHashColumn *hashcols;
	Datum	   *hvalues;
	bool	   *hnulls;
	MlopsRowSink sink;			/* optional: sees every row and its hash */
	void	   *sink_arg;
	int64		capacity;
	MemoryContext datacxt;		/* holds the loaded data */
	MemoryContext rowcxt;		/* reset per row */
} LoadReceiver;

static void
DictInit(CodeDict *d)
{
	d->size = 64;
	d->used = 0;
	d->boolcode[0] = d->boolcode[1] = -1;
	d->slots = palloc(sizeof(int32) * d->size);
	memset(d->slots, -1, sizeof(int32) * d->size);
	d->capacity = 16;
	d->hashes = palloc(sizeof(uint32) * d->capacity);
}

static void
DictGrow(CodeDict *d)
{
	uint32		newsize = d->size * 2;
	int32	   *slots = palloc(sizeof(int32) * newsize);

	memset(slots, -1, sizeof(int32) * newsize);
	for (uint32 i = 0; i < d->size; i++)
	{
		int32		code = d->slots[i];
		uint32		pos;

		if (code < 0)
			continue;
		pos = d->hashes[code] & (newsize - 1);
		while (slots[pos] >= 0)
			pos = (pos + 1) & (newsize - 1);
		slots[pos] = code;
	}
	pfree(d->slots);
	d->slots = slots;
	d->size = newsize;
}

/* Code of text s in column col, adding it when new. */
static int32
DictLookup(CodeDict *d, MlopsColumnData *col, const char *s)
{
	size_t		len = strlen(s);
	uint32		h = hash_bytes((const unsigned char *) s, (int) len);
	uint32		pos = h & (d->size - 1);
	int32		code;

	for (;;)
	{
		code = d->slots[pos];
		if (code < 0)
			break;
		if (d->hashes[code] == h && strcmp(col->code_text[code], s) == 0)
			return code;
		pos = (pos + 1) & (d->size - 1);
	}

	/* new value */
	code = col->ncodes++;
	if (code >= d->capacity)
	{
		d->capacity *= 2;
		d->hashes = repalloc(d->hashes, sizeof(uint32) * d->capacity);
		col->code_text = repalloc(col->code_text, sizeof(char *) * d->capacity);
		col->code_count = repalloc(col->code_count, sizeof(int64) * d->capacity);
	}
	d->hashes[code] = h;
	col->code_text[code] = pstrdup(s);
	col->code_count[code] = 0;
	d->slots[pos] = code;
	if (++d->used * 2 > d->size)
		DictGrow(d);
	return code;
}

/*
 * Bytes the loader holds per row of ncolumns columns: a double (or a code)
 * per column and the row hash, and while the rows are put in hash order an
 * index and a spare column.  The cap is checked against this both before
 * the read (MlopsCheckLoadEstimate) and as the arrays grow (GrowColumns).
 */
static Size
LoadRowBytes(int ncolumns)
{
	return sizeof(uint64) + sizeof(double) * ncolumns + sizeof(int64) + sizeof(double);
}

/*
 * Make room for more rows: each column, and the row hashes, grow by
 * doubling (repalloc of a huge chunk moves pages, not bytes).  Rows land in
 * the columns in load order; MlopsLoadQuerySink then permutes each column
 * into hash order, one column at a time so that the gather stays within
 * the cache.
 */
static void
GrowColumns(LoadReceiver *r)
{
	MlopsTrainData *data = r->data;
	int64		newcap = r->capacity == 0 ? 16384 : r->capacity * 2;

	MlopsCheckMemory(newcap * LoadRowBytes(r->nspecs), r->what);

	for (int i = 0; i < r->nspecs; i++)
	{
		MlopsColumnData *col = &data->columns[i];

		if (col->kind == MLOPS_KIND_CATEGORICAL)
			col->code = r->capacity == 0
				? MemoryContextAllocHuge(r->datacxt, newcap * sizeof(int32))
				: repalloc_huge(col->code, newcap * sizeof(int32));
		else
			col->num = r->capacity == 0
				? MemoryContextAllocHuge(r->datacxt, newcap * sizeof(double))
				: repalloc_huge(col->num, newcap * sizeof(double));
	}
	if (r->flags & MLOPS_LOAD_HASH)
		data->rowhash = r->capacity == 0 ? MemoryContextAllocHuge(r->datacxt, newcap * sizeof(uint64))
			: repalloc_huge(data->rowhash, newcap * sizeof(uint64));
	r->capacity = newcap;
}

static void
load_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	LoadReceiver *r = (LoadReceiver *) self;
	MlopsTrainData *data = r->data;
	MemoryContext old = MemoryContextSwitchTo(r->datacxt);

	r->attno = palloc(sizeof(int) * r->nspecs);
	r->readers = palloc0(sizeof(MlopsValueReader) * r->nspecs);
	r->dicts = palloc0(sizeof(CodeDict) * r->nspecs);
	r->hashcols = palloc(sizeof(MlopsHashColumn) * r->nspecs);
	r->hvalues = palloc(sizeof(Datum) * r->nspecs);
	r->hnulls = palloc(sizeof(bool) * r->nspecs);

	for (int i = 0; i < r->nspecs; i++)
	{
		const MlopsLoadSpec *spec = &r->specs[i];
		MlopsColumnData *col = &data->columns[i];
		Form_pg_attribute att = NULL;

		r->attno[i] = -1;
		for (int a = 0; a < typeinfo->natts; a++)
		{
			Form_pg_attribute cand = TupleDescAttr(typeinfo, a);

			if (!cand->attisdropped && strcmp(NameStr(cand->attname), spec->name) == 0)
			{
				r->attno[i] = a;
				att = cand;
				break;
			}
		}
		if (att == NULL)
			elog(ERROR, "column \"%s\" is missing from the loaded query", spec->name);

		col->name = pstrdup(spec->name);
		col->typid = att->atttypid;
		col->type_name = format_type_be(att->atttypid);
		col->kind = spec->kind != MLOPS_KIND_AUTO ? spec->kind
			: MlopsKindForType(att->atttypid, spec->name);
		MlopsValueReaderInit(&r->readers[i], att->atttypid, col->kind);
		if (col->kind == MLOPS_KIND_CATEGORICAL)
		{
			DictInit(&r->dicts[i]);
			col->code_text = palloc(sizeof(char *) * r->dicts[i].capacity);
			col->code_count = palloc(sizeof(int64) * r->dicts[i].capacity);
		}
		r->hashcols[i].typid = att->atttypid;
		r->hashcols[i].typlen = att->attlen;
		r->hashcols[i].typbyval = att->attbyval;
	}
	MemoryContextSwitchTo(old);
}

static bool
load_receive(TupleTableSlot *slot, DestReceiver *self)
{
	LoadReceiver *r = (LoadReceiver *) self;
	MlopsTrainData *data = r->data;
	int64		row = data->nrows;
	MemoryContext old;

	CHECK_FOR_INTERRUPTS();

	if (row >= r->capacity)
		GrowColumns(r);

	slot_getallattrs(slot);
	old = MemoryContextSwitchTo(r->rowcxt);

	for (int i = 0; i < r->nspecs; i++)
	{
		MlopsColumnData *col = &data->columns[i];
		int			a = r->attno[i];
		Datum		value = slot->tts_values[a];
		bool		isnull = slot->tts_isnull[a];

		r->hvalues[i] = value;
		r->hnulls[i] = isnull;

		if (col->kind == MLOPS_KIND_CATEGORICAL)
		{
			int32		code = -1;

			if (!isnull && r->readers[i].typid == BOOLOID)
			{
				/* two possible values: look each up once */
				int			b = DatumGetBool(value) ? 1 : 0;

				code = r->dicts[i].boolcode[b];
				if (code < 0)
				{
					MemoryContextSwitchTo(r->datacxt);
					code = r->dicts[i].boolcode[b] =
						DictLookup(&r->dicts[i], col, b ? "true" : "false");
					MemoryContextSwitchTo(r->rowcxt);
				}
				col->code_count[code]++;
			}
			else if (!isnull)
			{
				char	   *s = MlopsReadText(&r->readers[i], value);

				MemoryContextSwitchTo(r->datacxt);
				code = DictLookup(&r->dicts[i], col, s);
				MemoryContextSwitchTo(r->rowcxt);
				col->code_count[code]++;
			}
			else
				col->nnull++;
			col->code[row] = code;
		}
		else
		{
			double		v = NAN;

			if (!isnull)
			{
				v = MlopsReadNumber(&r->readers[i], value);
				if (!isfinite(v))
				{
					if (r->specs[i].reject_nonfinite)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("column \"%s\" contains %s", col->name,
										isnan(v) ? "NaN" : "an infinite value"),
								 errdetail("The %s must be finite numbers or NULL.", r->what),
								 errhint("Filter such rows out with a view, or replace them with NULL.")));
					/* treated as missing */
					v = NAN;
					col->nnull++;
				}
			}
			else
				col->nnull++;
			col->num[row] = v;
		}
	}

	if (r->flags & MLOPS_LOAD_HASH)
	{
		uint64		h = MlopsRowHash(r->hashcols, r->nspecs, r->hvalues, r->hnulls);

		data->rowhash[row] = h;
		data->content_hash += h;
		if (r->sink)
			r->sink(r->sink_arg, h, r->hvalues, r->hnulls);
	}

	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	data->nrows = row + 1;
	return true;
}

static void
load_shutdown(DestReceiver *self)
{
}

static void
load_destroy(DestReceiver *self)
{
}

/*
 * Sort the row hashes and return the order of the rows (an array of row
 * numbers).  Row hashes are uniformly distributed, so one scatter pass into
 * buckets on the top bits (about four rows a bucket) leaves each bucket to
 * a short insertion sort; equal hashes keep their load order.
 */
static int64 *
SortByHash(MlopsTrainData *data)
{
	int64		n = data->nrows;
	uint64	   *keys;
	int64	   *idx;
	int64	   *count;
	int			bits = 8;
	int64		nbuckets;
	int			shift;

	/* about four rows a bucket, between 2^8 and 2^22 buckets */
	while (bits < 22 && ((int64) 1 << (bits + 2)) < n)
		bits++;
	nbuckets = (int64) 1 << bits;
	shift = 64 - bits;

	keys = palloc_extended(Max(n, 1) * sizeof(uint64), MCXT_ALLOC_HUGE);
	idx = palloc_extended(Max(n, 1) * sizeof(int64), MCXT_ALLOC_HUGE);
	count = palloc_extended((nbuckets + 1) * sizeof(int64), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	for (int64 i = 0; i < n; i++)
		count[(data->rowhash[i] >> shift) + 1]++;
	for (int64 d = 0; d < nbuckets; d++)
		count[d + 1] += count[d];
	for (int64 i = 0; i < n; i++)
	{
		int64		pos = count[data->rowhash[i] >> shift]++;

		keys[pos] = data->rowhash[i];
		idx[pos] = i;
	}
	/* count[d] is now the end of bucket d; finish each bucket */
	for (int64 d = 0, start = 0; d < nbuckets; d++)
	{
		int64		end = count[d];

		if ((d & 0xFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 i = start + 1; i < end; i++)
		{
			uint64		k = keys[i];
			int64		x = idx[i];
			int64		j = i - 1;

			while (j >= start && (keys[j] > k || (keys[j] == k && idx[j] > x)))
			{
				keys[j + 1] = keys[j];
				idx[j + 1] = idx[j];
				j--;
			}
			keys[j + 1] = k;
			idx[j + 1] = x;
		}
		start = end;
	}
	memcpy(data->rowhash, keys, n * sizeof(uint64));
	pfree(keys);
	pfree(count);
	return idx;
}

/*
 * Put every column in the order given by idx (from SortByHash): each is
 * gathered into a spare array, which then takes the place of the column,
 * the column's old array becoming the spare for the next.  One column of
 * doubles is 8 MB a million rows, so the random reads of the gather stay
 * within the cache.
 */
static void
Reorder(MlopsTrainData *data, const int64 *idx)
{
	int64		n = data->nrows;
	void	   *spare[2] = {NULL, NULL};	/* for doubles, for codes */

	for (int c = 0; c < data->ncolumns; c++)
	{
		MlopsColumnData *col = &data->columns[c];
		bool		codes = col->kind == MLOPS_KIND_CATEGORICAL;
		void	   *old = codes ? (void *) col->code : (void *) col->num;
		void	   *into = spare[codes];

		CHECK_FOR_INTERRUPTS();
		if (into == NULL)
			into = palloc_extended(Max(n, 1) * (codes ? sizeof(int32) : sizeof(double)),
								   MCXT_ALLOC_HUGE);
		if (codes)
		{
			for (int64 i = 0; i < n; i++)
				((int32 *) into)[i] = ((const int32 *) old)[idx[i]];
			col->code = into;
		}
		else
		{
			for (int64 i = 0; i < n; i++)
				((double *) into)[i] = ((const double *) old)[idx[i]];
			col->num = into;
		}
		spare[codes] = old;
	}
	for (int k = 0; k < 2; k++)
		if (spare[k])
			pfree(spare[k]);
}

/*
 * Run sql (a SELECT whose output has the columns named in specs) and load
 * its rows.  The data is allocated in the caller's current memory context.
 * "what" names the data in messages ("training data", "live data").
 */
MlopsTrainData *
MlopsLoadQuery(const char *sql, int nspecs, const MlopsLoadSpec *specs,
			   const char *what, int flags)
{
	return MlopsLoadQuerySink(sql, nspecs, specs, what, flags, NULL, NULL);
}

/*
 * MlopsLoadQuery, also handing every row (its values in spec order and its
 * hash) to sink as it is read.  Implies MLOPS_LOAD_HASH.
 */
MlopsTrainData *
MlopsLoadQuerySink(const char *sql, int nspecs, const MlopsLoadSpec *specs,
				   const char *what, int flags, MlopsRowSink sink, void *sink_arg)
{
	MlopsTrainData *data = palloc0(sizeof(MlopsTrainData));
	LoadReceiver r;
	SPIExecuteOptions options;
	int			ret;

	if ((flags & MLOPS_LOAD_SORT) || sink)
		flags |= MLOPS_LOAD_HASH;

	data->ncolumns = nspecs;
	data->columns = palloc0(sizeof(MlopsColumnData) * nspecs);

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = load_receive;
	r.pub.rStartup = load_startup;
	r.pub.rShutdown = load_shutdown;
	r.pub.rDestroy = load_destroy;
	r.pub.mydest = DestNone;
	r.data = data;
	r.nspecs = nspecs;
	r.specs = specs;
	r.what = what;
	r.flags = flags;
	r.sink = sink;
	r.sink_arg = sink_arg;
	r.datacxt = CurrentMemoryContext;
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "mlops load row",
									 ALLOCSET_SMALL_SIZES);

	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.dest = (DestReceiver *) &r;
	ret = SPI_execute_extended(sql, &options);
	/* with a DestReceiver of its own, SPI reports a SELECT as a utility */
	if (ret != SPI_OK_SELECT && ret != SPI_OK_UTILITY)
		elog(ERROR, "loading %s failed: %s", what, SPI_result_code_string(ret));
	SPI_finish();

	MemoryContextDelete(r.rowcxt);

	/* columns exist even for no rows */
	if (r.capacity == 0)
		GrowColumns(&r);
	if (flags & MLOPS_LOAD_SORT)
	{
		int64	   *idx = SortByHash(data);

		Reorder(data, idx);
		pfree(idx);
	}
	return data;
}

/* Index of the loaded column called name, or -1. */
int
MlopsDataColumn(const MlopsTrainData *data, const char *name)
{
	for (int i = 0; i < data->ncolumns; i++)
		if (strcmp(data->columns[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * The planner's estimate of the rows a scan of relid reads (its inheritance
 * children or partitions included) and of their pages.  False when there
 * is none: a view, a foreign table.
 */
static bool
EstimateScanRows(Oid relid, double *rows, BlockNumber *pages)
{
	List	   *rels = list_make1_oid(relid);
	ListCell   *lc;
	char		relkind = get_rel_relkind(relid);

	if (!RELKIND_HAS_TABLE_AM(relkind) && relkind != RELKIND_PARTITIONED_TABLE)
		return false;
	if (has_subclass(relid))
		rels = find_all_inheritors(relid, AccessShareLock, NULL);
	*rows = 0;
	*pages = 0;
	foreach(lc, rels)
	{
		Relation	rel = relation_open(lfirst_oid(lc), AccessShareLock);
		BlockNumber relpages = 0;
		double		reltuples = 0;
		double		allvisfrac;

		if (RELKIND_HAS_TABLE_AM(rel->rd_rel->relkind))
			estimate_rel_size(rel, NULL, &relpages, &reltuples, &allvisfrac);
		relation_close(rel, NoLock);
		*rows += Max(reltuples, 0);
		*pages += relpages;
	}
	return true;
}

/*
 * Refuse at once to load ncolumns columns of relation relid when, by the
 * planner's estimate of its rows, that clearly exceeds
 * mlops.max_training_memory, saying what the load would need and why:
 * otherwise the cap is only met after reading a good part of the table.
 * The checks as the arrays grow stay, for estimates that are off (a table
 * never analyzed, a view).  Nothing is checked for InvalidOid.
 */
void
MlopsCheckLoadEstimate(Oid relid, int ncolumns, const char *what)
{
	double		rows;
	BlockNumber pages;
	Size		rowbytes = LoadRowBytes(ncolumns);
	double		bytes;

	if (!OidIsValid(relid) || !EstimateScanRows(relid, &rows, &pages))
		return;
	bytes = rows * rowbytes;
	if (bytes / 1024.0 <= (double) mlops_max_training_memory)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s from %s would need about %.1f MB, more than mlops.max_training_memory (%.1f MB)",
					what, MlopsQualifiedRelname(relid), bytes / (1024.0 * 1024.0),
					mlops_max_training_memory / 1024.0),
			 errdetail("Estimated before reading, from the planner's statistics: %.0f rows in %u pages, %zu bytes a row for %d columns.",
					   rows, pages, rowbytes, ncolumns),
			 errhint("Raise mlops.max_training_memory, or train on fewer rows or features; ANALYZE the table if its statistics are out of date.")));
}
