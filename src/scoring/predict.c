/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  Scoring inside queries: mlops.predict, mlops.predict_proba and
 *	  mlops.predict_label, on a row (matched to features by column name) or
 *	  on an array of feature values.
 *
 * The folder src/scoring/ is in-query scoring; it uses src/registry/
 * (privilege check, version read), src/algorithms/ and src/model/.
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
 * mlops.predict(project, t), with t a table's whole row, is rewritten by the
 * planner (mlops_predict_support) into mlops._predict_columns(project,
 * column names, columns...), which receives the row's columns as plain
 * arguments: the row is then never formed into a composite value only to
 * be taken apart again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "algorithms/algorithm.h"
#include "model/integrity.h"
#include "model/model.h"
#include "registry/registry.h"

PG_FUNCTION_INFO_V1(mlops_predict_row);
PG_FUNCTION_INFO_V1(mlops_predict_array);
PG_FUNCTION_INFO_V1(mlops_predict_proba_row);
PG_FUNCTION_INFO_V1(mlops_predict_label_row);
PG_FUNCTION_INFO_V1(mlops_predict_columns);
PG_FUNCTION_INFO_V1(mlops_predict_support);
PG_FUNCTION_INFO_V1(mlops_reference_predict);
PG_FUNCTION_INFO_V1(mlops_explain_row);

#define MODEL_CACHE_MAX		64

/*
 * A ticket is a project argument that the coordinator's planner resolved:
 * "name@version:sha256-in-hex".  Project names cannot contain "@".
 */
#define MLOPS_TICKET_MAX	(NAMEDATALEN + 12 + 64 + 2)

/* How long a worker waits for a ticket's version to be committed on it */
#define TICKET_WAIT_MS		2000

/* ---- backend-wide cache of deserialised models ---- */

typedef struct ModelCacheKey
{
	char		project[NAMEDATALEN];
	int32		version;
} ModelCacheKey;

/*
 * A decoded model.  Call sites hold references to it for their query; a
 * model evicted from the cache while referenced is freed by its last
 * holder.
 */
typedef struct CachedModel
{
	MemoryContext cxt;			/* holds the model and this struct */
	MlopsModel *model;
	int			refcount;
	bool		evicted;
} CachedModel;

typedef struct ModelCacheEntry
{
	ModelCacheKey key;
	uint8		sha[32];
	CachedModel *cm;
} ModelCacheEntry;

static HTAB *model_cache = NULL;

/* ---- per call site ---- */

typedef struct CallCache
{
	char		key[MLOPS_TICKET_MAX];	/* the project argument as given */
	int			key_len;
	char		project[NAMEDATALEN];	/* the project's name */
	int32		pinned;			/* requested version, 0 = production */
	bool		has_ticket;		/* key is a ticket: version and sha fixed */
	int32		ticket_version;
	uint8		ticket_sha[32];
	bool		serving;		/* models come from the serving table */
	int			version;		/* resolved version */
	CachedModel *cm;			/* referenced while this call site lives */
	MlopsModel *model;
	/* the snapshot the version was resolved with */
	LocalTransactionId stamp_lxid;
	CommandId	stamp_curcid;
	uint64		stamp_xcc;
	/* mapping of the input columns, valid for one row type */
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

/* All the caches of one call site: one per (project, pinned version) seen */
typedef struct CallSite
{
	CallCache  *last;
	List	   *caches;
} CallSite;

static void
ReleaseModel(CachedModel *cm)
{
	if (--cm->refcount == 0 && cm->evicted)
		MemoryContextDelete(cm->cxt);
}

/* Take a model out of the cache; it is freed now or by its last holder. */
static void
EvictModel(ModelCacheEntry *entry)
{
	CachedModel *cm = entry->cm;

	hash_search(model_cache, &entry->key, HASH_REMOVE, NULL);
	if (cm->refcount == 0)
		MemoryContextDelete(cm->cxt);
	else
		cm->evicted = true;
}

/*
 * The model of (project, version) in the backend cache, decoding it from
 * the registry when its bytes changed or it was never seen.  The caller
 * gets a reference.
 */
static CachedModel *
AcquireModel(const char *project, int version, const uint8 *sha, bool serving)
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
	{
		entry->cm->refcount++;
		return entry->cm;
	}
	if (entry)
		EvictModel(entry);		/* same version number, other bytes */

	if (hash_get_num_entries(model_cache) >= MODEL_CACHE_MAX)
	{
		/* full: start over rather than track recency */
		HASH_SEQ_STATUS status;
		ModelCacheEntry *e;

		hash_seq_init(&status, model_cache);
		while ((e = hash_seq_search(&status)) != NULL)
			EvictModel(e);
	}

	{
		MemoryContext cxt;
		MemoryContext old;
		CachedModel *cm;
		bytea	   *bytes;
		int			found_version;
		uint8		found_sha[32];

		if (!(serving
			  ? MlopsServingScanVersion(project, version, true, &found_version, found_sha, &bytes)
			  : MlopsScanVersion(project, version, &found_version, found_sha, &bytes)))
			elog(ERROR, "model of version %d of project \"%s\" vanished", version, project);
		/* once per backend and (project, version, sha256): the cache keeps the result */
		MlopsVerifyModelBytes(project, version, bytes, sha);

		cxt = AllocSetContextCreate(TopMemoryContext, "mlops cached model", ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			cm = palloc0(sizeof(CachedModel));
			cm->cxt = cxt;
			cm->model = MlopsModelDeserialize(bytes);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);

		entry = hash_search(model_cache, &key, HASH_ENTER, &found);
		memcpy(entry->sha, sha, 32);
		entry->cm = cm;
		cm->refcount = 1;
		return cm;
	}
}

/* Memory-context callback: the call site's query is over */
static void
CallCacheRelease(void *arg)
{
	CallCache  *cc = (CallCache *) arg;

	if (cc->cm)
		ReleaseModel(cc->cm);
	cc->cm = NULL;
}

/* Identity of the active snapshot, to notice a new one */
static void
SnapshotStamp(LocalTransactionId *lxid, CommandId *curcid, uint64 *xcc)
{
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;

#if PG_VERSION_NUM >= 170000
	*lxid = MyProc->vxid.lxid;
#else
	*lxid = MyProc->lxid;
#endif
	*curcid = snap ? snap->curcid : InvalidCommandId;
	*xcc = snap ? snap->snapXactCompletionCount : 0;
}

/*
 * Find the version cc scores with and check the caller may score with it:
 * in the registry when the project is there (a single node, or the Citus
 * coordinator), else in the serving table (a Citus worker).  A ticket's
 * version must be the one the coordinator resolved, bytes and all; a worker
 * that has not yet seen it committed (two-phase commit finishes on the
 * workers just after the coordinator) waits for it a little, then gives up
 * rather than score with another model.
 */
static int
FindVersion(CallCache *cc, uint8 *sha)
{
	int			want = cc->has_ticket ? cc->ticket_version : cc->pinned;
	int			version = 0;
	Oid			owner;
	bool		found;

	/* a node without a serving table never reads the registry twice here */
	cc->serving = OidIsValid(MlopsServingRelid()) && !MlopsProjectOwner(cc->project, &owner);
	if (!cc->serving)
	{
		/* the privilege first: a stranger learns nothing of the project */
		MlopsCheckProjectPrivilege(cc->project, MLOPS_PRIV_SCORE);
		found = MlopsScanVersion(cc->project, want, &version, sha, NULL);
	}
	else
	{
		found = MlopsServingScanVersion(cc->project, want, cc->has_ticket, &version, sha, NULL);
		for (int waited = 0; !found && cc->has_ticket && waited < TICKET_WAIT_MS; waited += 10)
		{
			CHECK_FOR_INTERRUPTS();
			pg_usleep(10000L);
			found = MlopsServingScanVersion(cc->project, want, true, &version, sha, NULL);
		}
	}
	if (!found && cc->has_ticket && cc->serving)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of project \"%s\" is not available on this node",
						want, cc->project),
				 errdetail("The coordinator resolved the query to that version; its copy here is not committed."),
				 errhint("Run mlops.citus_setup() on the coordinator if the serving table is out of step.")));
	if (!found)
		MlopsReportNoVersion(cc->project, want);
	if (cc->has_ticket && memcmp(sha, cc->ticket_sha, 32) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of project \"%s\" is not the model the query was planned with",
						want, cc->project),
				 errdetail("Its sha256 differs from the one the coordinator resolved.")));
	return version;
}

/*
 * Resolve which version cc scores with, with the active snapshot, and
 * reference its model.  A changed version drops the column mapping.
 */
static void
ResolveVersion(FunctionCallInfo fcinfo, CallCache *cc)
{
	int			version;
	CachedModel *cm;
	uint8		sha[32];

	version = FindVersion(cc, sha);
	cm = AcquireModel(cc->project, version, sha, cc->serving);
	SnapshotStamp(&cc->stamp_lxid, &cc->stamp_curcid, &cc->stamp_xcc);

	if (cc->cm == cm)
	{
		ReleaseModel(cm);		/* already held */
		return;
	}
	if (cc->cm)
		ReleaseModel(cc->cm);
	cc->cm = cm;
	cc->model = cm->model;
	cc->version = version;
	cc->attno = NULL;			/* map the columns again for this model */
	cc->tupType = InvalidOid;
	cc->x = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(double) * Max(cc->model->ncols, 1));
	cc->out = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
								 sizeof(double) * MlopsModelOutputs(cc->model));
}

/*
 * Fill cc's names from the project argument: a plain project name, or a
 * ticket "name@version:sha256hex" (see mlops_predict_support).
 */
static void
ParseProjectArgument(CallCache *cc, const char *arg)
{
	const char *at = strchr(arg, '@');
	size_t		namelen = at ? (size_t) (at - arg) : strlen(arg);

	if (namelen >= NAMEDATALEN || strlen(arg) >= MLOPS_TICKET_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", arg)));
	strlcpy(cc->key, arg, MLOPS_TICKET_MAX);
	cc->key_len = strlen(arg);
	memcpy(cc->project, arg, namelen);
	cc->project[namelen] = '\0';
	if (at)
	{
		const char *colon = strchr(at, ':');
		char	   *end;
		long		v;

		errno = 0;
		v = strtol(at + 1, &end, 10);
		if (colon == NULL || end != colon || errno != 0 || v <= 0 || v > PG_INT32_MAX ||
			strlen(colon + 1) != 64 ||
			hex_decode(colon + 1, 64, (char *) cc->ticket_sha) != 32)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid project reference \"%s\"", arg),
					 errdetail("A project name cannot contain \"@\".")));
		cc->has_ticket = true;
		cc->ticket_version = (int32) v;
	}
}

static inline bool
CallCacheMatches(const CallCache *cc, const text *project_t, int pinned)
{
	return cc->pinned == pinned &&
		VARSIZE_ANY_EXHDR(project_t) == (Size) cc->key_len &&
		memcmp(VARDATA_ANY(project_t), cc->key, cc->key_len) == 0;
}

/*
 * The call site's cache for (project, pinned).  The version is resolved on
 * first use and again whenever the active snapshot is a new one (a later
 * statement of a PL/pgSQL loop, say), so scoring never uses a model older
 * than the snapshot it runs with; within one query it stays put.
 */
static CallCache *
GetCallCache(FunctionCallInfo fcinfo, text *project_t, int pinned)
{
	CallSite   *site = (CallSite *) fcinfo->flinfo->fn_extra;
	CallCache  *cc = NULL;
	LocalTransactionId lxid;
	CommandId	curcid;
	uint64		xcc;
	ListCell   *lc;

	if (site == NULL)
	{
		site = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallSite));
		fcinfo->flinfo->fn_extra = site;
	}

	if (site->last && CallCacheMatches(site->last, project_t, pinned))
		cc = site->last;
	else
	{
		foreach(lc, site->caches)
			if (CallCacheMatches((CallCache *) lfirst(lc), project_t, pinned))
				cc = (CallCache *) lfirst(lc);
	}

	if (cc == NULL)
	{
		MemoryContextCallback *cb;
		MemoryContext old;

		cc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallCache));
		ParseProjectArgument(cc, text_to_cstring(project_t));
		cc->pinned = pinned;
		ResolveVersion(fcinfo, cc);

		cb = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(MemoryContextCallback));
		cb->func = CallCacheRelease;
		cb->arg = cc;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, cb);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		site->caches = lappend(site->caches, cc);
		MemoryContextSwitchTo(old);
	}
	else
	{
		SnapshotStamp(&lxid, &curcid, &xcc);
		if (lxid != cc->stamp_lxid || curcid != cc->stamp_curcid || xcc != cc->stamp_xcc)
			ResolveVersion(fcinfo, cc);
	}
	site->last = cc;
	return cc;
}

/*
 * Map input columns (names and types) to the model's features by name, and
 * prepare a reader per feature.  Dropped columns have an empty name.
 */
static void
MapColumns(FunctionCallInfo fcinfo, CallCache *cc, int ncols,
		   char *const *names, const Oid *types)
{
	const MlopsModel *m = cc->model;
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

	cc->attno = palloc(sizeof(int) * Max(m->nfeatures, 1));
	cc->readers = palloc0(sizeof(MlopsValueReader) * Max(m->nfeatures, 1));
	cc->natts = ncols;
	cc->values = palloc(sizeof(Datum) * Max(ncols, 1));
	cc->nulls = palloc(sizeof(bool) * Max(ncols, 1));
	for (int i = 0; i < m->nfeatures; i++)
	{
		const MlopsFeature *f = &m->features[i];
		MlopsFeatureKind kind;
		int			a;

		for (a = 0; a < ncols; a++)
			if (strcmp(names[a], f->name) == 0)
				break;
		if (a == ncols)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("row has no column \"%s\"", f->name),
					 errdetail("Version %d of project \"%s\" needs feature \"%s\" (%s).",
							   cc->version, cc->project, f->name, f->type_name)));
		kind = MlopsKindForType(types[a], f->name);
		if ((kind == MLOPS_KIND_CATEGORICAL) != (f->kind == MLOPS_KIND_CATEGORICAL))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but the model expects a %s feature (%s)",
							f->name, format_type_be(types[a]), MlopsKindName(f->kind),
							f->type_name)));
		cc->attno[i] = a;
		MlopsValueReaderInit(&cc->readers[i], types[a], kind);
	}
	MemoryContextSwitchTo(old);
}

/* Map a row type's columns to the model's features, once per row type. */
static void
MapRowType(FunctionCallInfo fcinfo, CallCache *cc, HeapTupleHeader rec)
{
	Oid			tupType = HeapTupleHeaderGetTypeId(rec);
	int32		tupTypmod = HeapTupleHeaderGetTypMod(rec);
	TupleDesc	desc;
	char	  **names;
	Oid		   *types;

	if (cc->attno != NULL && cc->tupType == tupType && cc->tupTypmod == tupTypmod)
		return;

	desc = lookup_rowtype_tupdesc(tupType, tupTypmod);
	names = palloc(sizeof(char *) * Max(desc->natts, 1));
	types = palloc(sizeof(Oid) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		names[a] = att->attisdropped ? "" : NameStr(att->attname);
		types[a] = att->atttypid;
	}
	MapColumns(fcinfo, cc, desc->natts, names, types);
	cc->tupType = tupType;
	cc->tupTypmod = tupTypmod;
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		cc->desc = CreateTupleDescCopy(desc);
		MemoryContextSwitchTo(old);
	}
	ReleaseTupleDesc(desc);
}

/* Encode cc->values/nulls into the design row cc->x. */
static void
EncodeRow(CallCache *cc)
{
	const MlopsModel *m = cc->model;

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
}

/* Encode cc->values/nulls and run the model into cc->out. */
static void
EncodeAndPredict(CallCache *cc)
{
	EncodeRow(cc);
	MlopsModelPredictDesign(cc->model, cc->x, cc->out);
}

/* Deform a composite value and encode it into the design row cc->x. */
static void
EncodeRecord(FunctionCallInfo fcinfo, CallCache *cc, HeapTupleHeader rec)
{
	HeapTupleData tuple;

	MapRowType(fcinfo, cc, rec);
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, cc->desc, cc->values, cc->nulls);
	EncodeRow(cc);
}

/* Score a composite value: deform it, then encode and predict. */
static void
PredictRecord(FunctionCallInfo fcinfo, CallCache *cc, HeapTupleHeader rec)
{
	EncodeRecord(fcinfo, cc, rec);
	MlopsModelPredictDesign(cc->model, cc->x, cc->out);
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

/* ERROR unless the call site's model is a classifier */
static void
RequireClassification(const CallCache *cc)
{
	if (cc->model->task != MLOPS_TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("project \"%s\" is not a classification project", cc->project),
				 errhint("Use mlops.predict for %s.", MlopsTaskName(cc->model->task))));
}

/* mlops.predict_proba(project text, row record [, version int]) */
Datum
mlops_predict_proba_row(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));
	const MlopsModel *m = cc->model;
	Datum	   *d;

	RequireClassification(cc);
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

	RequireClassification(cc);
	PredictRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	PG_RETURN_TEXT_P(cstring_to_text(m->classes[(int) PredictionValue(cc)]));
}

/*
 * mlops._xgboost_reference_predict(project text, row record, version int):
 * what the library that trained the version (XGBoost) predicts for the
 * row, as predict_proba (classification) or a one-element array.  Internal,
 * for the test that compares it with our own scoring.
 */
Datum
mlops_reference_predict(PG_FUNCTION_ARGS)
{
	CallCache  *cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), PinnedVersion(fcinfo, 2));
	int			nout = MlopsModelOutputs(cc->model);
	Datum	   *d = palloc(sizeof(Datum) * nout);

	EncodeRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	MlopsModelReferencePredict(cc->model, cc->x, cc->out);
	for (int k = 0; k < nout; k++)
		d[k] = Float8GetDatum(cc->out[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, nout, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * mlops.explain_row(project text, row record, version int DEFAULT NULL):
 * each feature's contribution to the row's prediction, and the bias (term
 * "<bias>"); per class they sum to the prediction in margin space (the
 * value, the log-odds of the last class of a binary model, or a class
 * score whose softmax is predict_proba).  A categorical feature's
 * contribution is the sum over its one-hot columns.
 */
Datum
mlops_explain_row(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CallCache  *cc;
	const MlopsModel *m;
	double	   *contrib;
	int			nout;
	int			version = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("project and row must not be NULL")));
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		version = PinnedVersion(fcinfo, 2);
	cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), version);
	m = cc->model;
	if (m->algo->contributions == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("algorithm \"%s\" cannot explain single predictions", m->algo->name)));
	InitMaterializedSRF(fcinfo, 0);
	EncodeRecord(fcinfo, cc, PG_GETARG_HEAPTUPLEHEADER(1));
	contrib = palloc(sizeof(double) * MlopsModelOutputs(m) * (m->ncols + 1));
	nout = MlopsModelContributions(m, cc->x, contrib);
	for (int k = 0; k < nout; k++)
	{
		const double *c = contrib + (Size) k * (m->ncols + 1);
		Datum		cls = m->task == MLOPS_TASK_CLASSIFICATION
			? CStringGetTextDatum(m->classes[m->nclasses - nout + k]) : (Datum) 0;

		for (int f = 0; f <= m->nfeatures; f++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, cls == (Datum) 0, false};
			double		sum = 0.0;

			if (f < m->nfeatures)
				for (int j = 0; j < m->features[f].width; j++)
					sum += c[m->features[f].offset + j];
			else
				sum = c[m->ncols];
			values[0] = CStringGetTextDatum(f < m->nfeatures ? m->features[f].name : "<bias>");
			values[1] = cls;
			values[2] = Float8GetDatum(sum);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * mlops._predict_columns(project text, names text[], VARIADIC "any"): the
 * row form of mlops.predict with the row already split into its columns,
 * named by names.  Only the planner support function below produces calls.
 */
Datum
mlops_predict_columns(PG_FUNCTION_ARGS)
{
	CallCache  *cc;
	int			ncols = PG_NARGS() - 2;
	bool		allnull = true;

	/* not STRICT (a NULL column is a value to impute), so check by hand */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	cc = GetCallCache(fcinfo, PG_GETARG_TEXT_PP(0), 0);
	if (cc->attno == NULL)
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *enulls;
		int			n;
		char	  **names;
		Oid		   *types;

		if (ARR_NDIM(arr) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("column names must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
		if (n != ncols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%d column names given for %d columns", n, ncols)));
		for (int a = 0; a < n; a++)
			if (enulls[a])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column names must not be NULL")));
		names = palloc(sizeof(char *) * Max(n, 1));
		types = palloc(sizeof(Oid) * Max(n, 1));
		for (int a = 0; a < n; a++)
		{
			names[a] = TextDatumGetCString(elems[a]);
			types[a] = get_fn_expr_argtype(fcinfo->flinfo, a + 2);
		}
		MapColumns(fcinfo, cc, n, names, types);
	}
	for (int a = 0; a < ncols; a++)
	{
		cc->values[a] = PG_GETARG_DATUM(a + 2);
		cc->nulls[a] = PG_ARGISNULL(a + 2);
		allnull &= cc->nulls[a];
	}
	/* a NULL row (e.g. the empty side of an outer join) stays NULL */
	if (allnull)
		PG_RETURN_NULL();
	EncodeAndPredict(cc);
	PG_RETURN_FLOAT8(PredictionValue(cc));
}

/*
 * The ticket for a call's project argument, or NULL: on a node where
 * mlops.citus_setup() ran (a Citus coordinator), a constant project name
 * (and constant pinned version, if any) that the planning role may score
 * with is resolved now.  A deploy, rollback or change of privileges makes
 * such plans again (mlops._serving_invalidate: the plan cache records the
 * functions a query calls).  Workers then score with exactly that model.  Anything else is left to execution,
 * which also reports every error.
 */
static Const *
TicketFor(PlannerInfo *root, List *args)
{
	Const	   *project = linitial(args);
	int			pinned = 0;
	char	   *name;
	bool		exists;
	int			version;
	uint8		sha[32];
	char		hex[65];

	if (root == NULL || !IsA(project, Const) || project->constisnull ||
		project->consttype != TEXTOID)
		return NULL;
	if (list_length(args) == 3)
	{
		Const	   *v = lthird(args);

		if (!IsA(v, Const) || v->constisnull || v->consttype != INT4OID ||
			DatumGetInt32(v->constvalue) <= 0)
			return NULL;
		pinned = DatumGetInt32(v->constvalue);
	}
	if (!OidIsValid(MlopsServingRelid()) || !OidIsValid(get_extension_oid("citus", true)))
		return NULL;
	name = TextDatumGetCString(project->constvalue);
	if (strlen(name) >= NAMEDATALEN || strchr(name, '@') != NULL)
		return NULL;
	if (!(MlopsProjectPrivileges(name, GetUserId(), &exists) & MLOPS_PRIV_SCORE) ||
		!MlopsScanVersion(name, pinned, &version, sha, NULL))
		return NULL;

	hex_encode((const char *) sha, 32, hex);
	hex[64] = '\0';
	return makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
					 CStringGetTextDatum(psprintf("%s@%d:%s", name, version, hex)),
					 false, false);
}

/*
 * mlops.predict(project, t) with t the whole row of a table (a Var of a
 * named composite type) as mlops._predict_columns over the table's
 * columns, with project (a name or a ticket) as its first argument; NULL
 * when the row is anything else.
 */
static Node *
PredictColumnsCall(FuncExpr *call, Node *project)
{
	Var		   *row;
	TupleDesc	desc;
	List	   *args;
	Datum	   *names;
	int			nnames = 0;
	Oid			target;
	static const Oid predict_columns_argtypes[] = {TEXTOID, TEXTARRAYOID, ANYOID};
	ArrayType  *arr;

	if (list_length(call->args) != 2 || !IsA(lsecond(call->args), Var) ||
		exprType(linitial(call->args)) != TEXTOID)
		return NULL;
	row = (Var *) lsecond(call->args);
	if (row->varattno != 0 || row->vartype == RECORDOID || row->varlevelsup != 0 ||
		!type_is_rowtype(row->vartype))
		return NULL;

	/* by its exact signature (a NULL list of argument types asserts in PostgreSQL) */
	target = LookupFuncName(list_make2(makeString("mlops"), makeString("_predict_columns")),
							lengthof(predict_columns_argtypes), predict_columns_argtypes, true);
	if (!OidIsValid(target) || get_func_rettype(call->funcid) != FLOAT8OID)
		return NULL;

	desc = lookup_rowtype_tupdesc(row->vartype, row->vartypmod);
	names = palloc(sizeof(Datum) * Max(desc->natts, 1));
	args = list_make2(project, NULL);	/* the names are filled in below */
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		Var		   *col;

		if (att->attisdropped)
			continue;
		col = makeVar(row->varno, att->attnum, att->atttypid, att->atttypmod,
					  att->attcollation, 0);
#if PG_VERSION_NUM >= 160000
		col->varnullingrels = bms_copy(row->varnullingrels);
#endif
		args = lappend(args, col);
		names[nnames++] = CStringGetTextDatum(NameStr(att->attname));
	}
	ReleaseTupleDesc(desc);
	if (nnames == 0 || nnames > FUNC_MAX_ARGS - 2)
		return NULL;

	arr = construct_array(names, nnames, TEXTOID, -1, false, TYPALIGN_INT);
	lsecond(args) = makeConst(TEXTARRAYOID, -1, InvalidOid, -1, PointerGetDatum(arr),
							  false, false);
	return (Node *) makeFuncExpr(target, FLOAT8OID, args, InvalidOid, InvalidOid,
								 COERCE_EXPLICIT_CALL);
}

/*
 * Planner support of the predict family.  mlops.predict(project, t) over a
 * table's whole row becomes mlops._predict_columns (see the file header);
 * on a Citus coordinator a constant project name becomes a ticket
 * (TicketFor), so that the query's worker tasks carry the version.
 */
Datum
mlops_predict_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	FuncExpr   *call;
	Node	   *project;
	Node	   *columns;
	Const	   *ticket;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	call = req->fcall;
	if (list_length(call->args) < 2)
		PG_RETURN_POINTER(NULL);
	ticket = TicketFor(req->root, call->args);
	project = ticket ? (Node *) ticket : (Node *) linitial(call->args);

	columns = PredictColumnsCall(call, project);
	if (columns)
		PG_RETURN_POINTER(columns);
	if (ticket == NULL)
		PG_RETURN_POINTER(NULL);
	call = copyObject(call);
	linitial(call->args) = ticket;
	PG_RETURN_POINTER(call);
}
