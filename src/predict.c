/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  Scoring inside queries: mlops.predict, mlops.predict_proba and
 *	  mlops.predict_label, on a row (matched to features by column name) or
 *	  on an array of feature values.
 *
 * Caching has two levels.  Each call site (FmgrInfo.fn_extra, which lives
 * for one query) resolves the project's version once, with the query's
 * snapshot, and keeps the model and the row-to-feature mapping for the
 * rest of the query: the registry is read once per query, never per row,
 * and a query in progress keeps the model it started with.  Deserialised
 * models are kept per backend, keyed by project, version and the sha256 of
 * their bytes, so a later query reuses them without decoding; the next
 * query after a deployment resolves the new version.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "algorithm.h"
#include "model.h"
#include "registry.h"

PG_FUNCTION_INFO_V1(mlops_predict_row);
PG_FUNCTION_INFO_V1(mlops_predict_array);
PG_FUNCTION_INFO_V1(mlops_predict_proba_row);
PG_FUNCTION_INFO_V1(mlops_predict_label_row);

#define MODEL_CACHE_MAX		64

/* ---- backend-wide cache of deserialised models ---- */

typedef struct ModelCacheKey
{
	char		project[NAMEDATALEN];
	int32		version;
} ModelCacheKey;

typedef struct ModelCacheEntry
{
	ModelCacheKey key;
	uint8		sha[32];
	MemoryContext cxt;
	MlopsModel *model;
} ModelCacheEntry;

static HTAB *model_cache = NULL;

/* ---- per call site ---- */

typedef struct CallCache
{
	char		project[NAMEDATALEN];
	int32		pinned;			/* requested version, 0 = production */
	int			version;		/* resolved version */
	MlopsModel *model;
	/* mapping for the row form, valid for one row type */
	Oid			tupType;
	int32		tupTypmod;
	int		   *attno;			/* per feature: 0-based attribute */
	MlopsValueReader *readers;
	Datum	   *values;
	bool	   *nulls;
	int			natts;
	TupleDesc	desc;			/* private copy of the row type's descriptor */
	double	   *x;
	double	   *out;
} CallCache;

/*
 * The model of (project, version) in the backend cache, decoding it from
 * the registry when its bytes changed or it was never seen.
 */
static MlopsModel *
CachedModel(const char *project, int version, const uint8 *sha)
{
	ModelCacheKey key;
	ModelCacheEntry *entry;
	bool		found;

	if (model_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ModelCacheKey);
		ctl.entrysize = sizeof(ModelCacheEntry);
		ctl.hcxt = TopMemoryContext;
		model_cache = hash_create("mlops model cache", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	strlcpy(key.project, project, NAMEDATALEN);
	key.version = version;

	entry = hash_search(model_cache, &key, HASH_FIND, NULL);
	if (entry && memcmp(entry->sha, sha, 32) == 0)
		return entry->model;

	if (entry == NULL && hash_get_num_entries(model_cache) >= MODEL_CACHE_MAX)
	{
		/* full: start over rather than track recency */
		HASH_SEQ_STATUS status;
		ModelCacheEntry *e;

		hash_seq_init(&status, model_cache);
		while ((e = hash_seq_search(&status)) != NULL)
		{
			MemoryContextDelete(e->cxt);
			hash_search(model_cache, &e->key, HASH_REMOVE, NULL);
		}
	}

	{
		Oid			argtypes[2] = {TEXTOID, INT4OID};
		Datum		args[2];
		bool		isnull;
		MemoryContext cxt;
		MemoryContext old;
		MlopsModel *model;
		bytea	   *bytes;

		args[0] = CStringGetTextDatum(project);
		args[1] = Int32GetDatum(version);
		if (SPI_execute_with_args("SELECT model FROM mlops.model_versions WHERE project = $1 AND version = $2",
								  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "model of version %d of project \"%s\" vanished", version, project);
		bytes = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		cxt = AllocSetContextCreate(TopMemoryContext, "mlops cached model", ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			model = MlopsModelDeserialize(bytes);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);

		if (entry)
			MemoryContextDelete(entry->cxt);
		entry = hash_search(model_cache, &key, HASH_ENTER, &found);
		memcpy(entry->sha, sha, 32);
		entry->cxt = cxt;
		entry->model = model;
		return model;
	}
}

/*
 * The call site's cache, resolving the version with the query's snapshot
 * on first use.
 */
static CallCache *
GetCallCache(FunctionCallInfo fcinfo, text *project_t, int pinned)
{
	CallCache  *cc = (CallCache *) fcinfo->flinfo->fn_extra;
	char	   *project = text_to_cstring(project_t);

	if (cc != NULL && cc->pinned == pinned && strcmp(cc->project, project) == 0)
		return cc;

	if (strlen(project) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", project)));

	cc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallCache));
	strlcpy(cc->project, project, NAMEDATALEN);
	cc->pinned = pinned;

	SPI_connect();
	{
		Oid			argtypes[2] = {TEXTOID, INT4OID};
		Datum		args[2];
		bool		isnull;
		bytea	   *sha;
		const char *sql = pinned > 0
			? "SELECT version, model_sha256 FROM mlops.model_versions WHERE project = $1 AND version = $2"
			: "SELECT version, model_sha256 FROM mlops.model_versions WHERE project = $1 "
			"AND status = 'production' AND $2 = 0";

		args[0] = CStringGetTextDatum(project);
		args[1] = Int32GetDatum(pinned);
		if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read mlops.model_versions");
		if (SPI_processed == 0)
			(void) MlopsGetVersion(project, pinned, false);	/* raises the right error */
		cc->version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		sha = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		cc->model = CachedModel(project, cc->version, (const uint8 *) VARDATA_ANY(sha));
	}
	SPI_finish();

	cc->x = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(double) * Max(cc->model->ncols, 1));
	cc->out = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								 sizeof(double) * MlopsModelOutputs(cc->model));
	fcinfo->flinfo->fn_extra = cc;
	return cc;
}

/* Map a row type's columns to the model's features by name. */
static void
MapRowType(FunctionCallInfo fcinfo, CallCache *cc, HeapTupleHeader rec)
{
	Oid			tupType = HeapTupleHeaderGetTypeId(rec);
	int32		tupTypmod = HeapTupleHeaderGetTypMod(rec);
	TupleDesc	desc;
	MemoryContext old;
	const MlopsModel *m = cc->model;

	if (cc->attno != NULL && cc->tupType == tupType && cc->tupTypmod == tupTypmod)
		return;

	desc = lookup_rowtype_tupdesc(tupType, tupTypmod);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cc->attno = palloc(sizeof(int) * Max(m->nfeatures, 1));
	cc->readers = palloc0(sizeof(MlopsValueReader) * Max(m->nfeatures, 1));
	cc->natts = desc->natts;
	cc->values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	cc->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	for (int i = 0; i < m->nfeatures; i++)
	{
		const MlopsFeature *f = &m->features[i];
		MlopsFeatureKind kind;
		Form_pg_attribute att = NULL;

		cc->attno[i] = -1;
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute cand = TupleDescAttr(desc, a);

			if (!cand->attisdropped && strcmp(NameStr(cand->attname), f->name) == 0)
			{
				cc->attno[i] = a;
				att = cand;
				break;
			}
		}
		if (att == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no column \"%s\"", f->name),
					 errdetail("Version %d of project \"%s\" needs feature \"%s\" (%s).",
							   cc->version, cc->project, f->name, f->type_name)));
		kind = MlopsKindForType(att->atttypid, f->name);
		if ((kind == MLOPS_KIND_CATEGORICAL) != (f->kind == MLOPS_KIND_CATEGORICAL))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model expects a %s feature (%s)",
							f->name, format_type_be(att->atttypid), MlopsKindName(f->kind),
							f->type_name)));
		MlopsValueReaderInit(&cc->readers[i], att->atttypid, kind);
	}
	cc->tupType = tupType;
	cc->tupTypmod = tupTypmod;
	cc->desc = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(old);
	ReleaseTupleDesc(desc);
}

/* Encode a composite value into cc->x and run the model into cc->out. */
static void
PredictRecord(FunctionCallInfo fcinfo, CallCache *cc, HeapTupleHeader rec)
{
	HeapTupleData tuple;
	const MlopsModel *m = cc->model;

	MapRowType(fcinfo, cc, rec);
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, cc->desc, cc->values, cc->nulls);

	for (int i = 0; i < m->nfeatures; i++)
	{
		const MlopsFeature *f = &m->features[i];
		int			a = cc->attno[i];

		if (f->kind == MLOPS_KIND_CATEGORICAL)
			MlopsEncodeFeatureText(f, cc->nulls[a] ? NULL
								   : MlopsReadText(&cc->readers[i], cc->values[a]), cc->x);
		else
			MlopsEncodeFeatureNumber(f, cc->nulls[a] ? 0.0
									 : MlopsReadNumber(&cc->readers[i], cc->values[a]),
									 cc->nulls[a], cc->x);
	}
	MlopsModelPredictDesign(m, cc->x, cc->out);
}

/* The single number predict returns: the value, or the predicted class index */
static double
PredictionValue(const CallCache *cc)
{
	const MlopsModel *m = cc->model;
	int			best = 0;

	if (m->task != MLOPS_TASK_CLASSIFICATION)
		return cc->out[0];
	for (int k = 1; k < m->nclasses; k++)
		if (cc->out[k] > cc->out[best])
			best = k;
	return (double) best;
}

static int
PinnedVersion(FunctionCallInfo fcinfo, int argno)
{
	int			v;

	if (PG_NARGS() <= argno)
		return 0;
	v = PG_GETARG_INT32(argno);
	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version must be a positive number, not %d", v)));
	return v;
}

/* mlops.predict(project text, row record [, version int]) */
Datum
mlops_predict_row(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));

	PredictRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	PG_RETURN_FLOAT8(PredictionValue(cc));
}

/* mlops.predict(project text, features float8[] [, version int]) */
Datum
mlops_predict_array(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	const MlopsModel *m = cc->model;
	int			n;
	const double *vals;
	const bits8 *nullmap;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a one-dimensional array")));
	n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	if (n != m->nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features array has %d elements, but version %d of project \"%s\" expects %d",
						n, cc->version, cc->project, m->nfeatures),
				 errdetail("Give the features in the order of mlops.model_versions.features.")));
	vals = (const double *) ((const char *) arr +
							 (ARR_HASNULL(arr) ? (Size) arr->dataoffset
							  : (Size) ARR_OVERHEAD_NONULLS(ARR_NDIM(arr))));
	nullmap = ARR_NULLBITMAP(arr);
	for (int i = 0, pos = 0; i < n; i++)
	{
		const MlopsFeature *f = &m->features[i];
		bool		isnull = nullmap && !(nullmap[i / 8] & (1 << (i % 8)));

		if (f->kind == MLOPS_KIND_CATEGORICAL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature \"%s\" is categorical and cannot be given as a number", f->name),
					 errhint("Score with the row form: mlops.predict('%s', t) FROM ... t.", cc->project)));
		MlopsEncodeFeatureNumber(f, isnull ? 0.0 : vals[pos], isnull, cc->x);
		if (!isnull)
			pos++;
	}
	MlopsModelPredictDesign(m, cc->x, cc->out);
	PG_RETURN_FLOAT8(PredictionValue(cc));
}

/* mlops.predict_proba(project text, row record [, version int]) */
Datum
mlops_predict_proba_row(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));
	const MlopsModel *m = cc->model;
	Datum	   *d;

	if (m->task != MLOPS_TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("project \"%s\" is not a classification project", cc->project),
				 errhint("Use mlops.predict for %s.", MlopsTaskName(m->task))));
	PredictRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	d = palloc(sizeof(Datum) * m->nclasses);
	for (int k = 0; k < m->nclasses; k++)
		d[k] = Float8GetDatum(cc->out[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, m->nclasses, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* mlops.predict_label(project text, row record [, version int]) */
Datum
mlops_predict_label_row(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));
	const MlopsModel *m = cc->model;

	if (m->task != MLOPS_TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("project \"%s\" is not a classification project", cc->project),
				 errhint("Use mlops.predict for %s.", MlopsTaskName(m->task))));
	PredictRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	PG_RETURN_TEXT_P(cstring_to_text(m->classes[(int) PredictionValue(cc)]));
}
