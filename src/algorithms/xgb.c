/*-------------------------------------------------------------------------
 *
 * xgb.c
 *	  Calling XGBoost (Debian's libxgboost, C API) from a backend safely.
 *
 * XGBoost runs OpenMP threads inside a PostgreSQL backend, which is single
 * threaded by design.  The rules kept here (docs/algorithms.md, "Trees"):
 *
 * - Threads: every call first sets the calling thread's OpenMP team size to
 *	 the session's thread count, and every booster gets "nthread": without
 *	 that, loading a model starts a thread per core.  Nothing here runs in
 *	 the postmaster (no call from _PG_init), so no thread pool exists when
 *	 the postmaster forks; backends never fork.
 * - Signals: calls run with PostgreSQL's signals blocked (BlockSig).  The
 *	 OpenMP threads a call starts inherit that mask and keep it, so a
 *	 PostgreSQL signal handler only ever runs on the backend's own thread;
 *	 a signal that arrives during a call is delivered when it returns.
 *	 OpenMP threads never call into PostgreSQL.
 * - Errors: a call that returns -1 becomes ereport(ERROR) with the first
 *	 line of XGBGetLastError() (a stack trace follows it).  XGBoost's log
 *	 messages reach a callback that only copies them (it must never
 *	 longjmp); they are reported as WARNINGs once the call has returned.
 * - Memory: handles are malloc'd by XGBoost.  Each belongs to a session
 *	 whose memory context frees them when it goes away, so an ERROR or a
 *	 cancel between calls leaves nothing behind; afterwards malloc_trim()
 *	 gives XGBoost's freed buffers back to the system.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <malloc.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>

#include "libpq/pqsignal.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "algorithms/xgb.h"

struct MlopsXgb
{
	MemoryContext cxt;			/* owns this struct; its deletion frees the handles */
	int			nthread;
	List	   *dmats;			/* DMatrixHandle, as pointers */
	List	   *boosters;		/* BoosterHandle */
	sigset_t	saved_mask;		/* during a call: the mask to restore */
};

/* XGBoost's last log message on the backend's thread, reported after a call */
static char xgb_log_message[512];
static pthread_t xgb_main_thread;
static bool xgb_log_registered = false;

/*
 * XGBoost's log callback.  It may be called from any thread and must not
 * raise an error: it keeps the message of the backend's own thread only.
 */
static void
XgbLogCallback(const char *msg)
{
	if (!pthread_equal(pthread_self(), xgb_main_thread))
		return;
	strlcpy(xgb_log_message, msg, sizeof(xgb_log_message));
}

/* Free a session's handles: its memory context is going away */
static void
XgbReleaseHandles(void *arg)
{
	MlopsXgb   *xgb = (MlopsXgb *) arg;
	ListCell   *lc;

	foreach(lc, xgb->boosters)
		(void) XGBoosterFree(lfirst(lc));
	foreach(lc, xgb->dmats)
		(void) XGDMatrixFree(lfirst(lc));
	xgb->boosters = NIL;
	xgb->dmats = NIL;
	/* XGBoost's buffers stay resident after free until trimmed */
	malloc_trim(0);
}

/*
 * Start a session that runs XGBoost with nthread threads.  It lives in a
 * new child of the current memory context.
 */
MlopsXgb *
MlopsXgbBegin(int nthread)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mlops xgboost",
											  ALLOCSET_SMALL_SIZES);
	MlopsXgb   *xgb = MemoryContextAllocZero(cxt, sizeof(MlopsXgb));
	MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

	xgb->cxt = cxt;
	xgb->nthread = Max(nthread, 1);
	cb->func = XgbReleaseHandles;
	cb->arg = xgb;
	MemoryContextRegisterResetCallback(cxt, cb);

	if (!xgb_log_registered)
	{
		xgb_main_thread = pthread_self();
		if (XGBRegisterLogCallback(XgbLogCallback) != 0)
			elog(ERROR, "could not register XGBoost's log callback");
		xgb_log_registered = true;
	}
	return xgb;
}

/* End a session: free its handles and memory */
void
MlopsXgbEnd(MlopsXgb *xgb)
{
	MemoryContextDelete(xgb->cxt);
}

/*
 * Before an XGBoost call: block signals and size the OpenMP team.  Nothing
 * between Enter and Leave may raise an error or allocate.
 */
void
MlopsXgbEnter(MlopsXgb *xgb)
{
	pthread_sigmask(SIG_SETMASK, &BlockSig, &xgb->saved_mask);
	omp_set_num_threads(xgb->nthread);
	xgb_log_message[0] = '\0';
}

/*
 * The last non-empty line of an XGBoost log message, which is the message
 * proper: "[10:00:00] WARNING: file.cc:767: \nParameters: ... are not used."
 */
static char *
XgbLastLine(char *msg)
{
	char	   *line = msg;
	char	   *nl;

	while ((nl = strchr(line, '\n')) != NULL)
	{
		*nl = '\0';
		if (nl[1] == '\0' || nl[1] == '\n')
			break;
		line = nl + 1;
	}
	return line;
}

/*
 * After an XGBoost call: restore the signal mask, then report what XGBoost
 * said: its error (rc -1) as an ERROR, a log message as a WARNING.
 */
void
MlopsXgbLeave(MlopsXgb *xgb, int rc, const char *what)
{
	pthread_sigmask(SIG_SETMASK, &xgb->saved_mask, NULL);
	if (rc != 0)
	{
		const char *msg = XGBGetLastError();
		const char *nl = msg ? strchr(msg, '\n') : NULL;
		char	   *first = msg ? (nl ? pnstrdup(msg, nl - msg) : pstrdup(msg)) : "unknown error";

		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("XGBoost failed: %s", first),
				 errcontext("XGBoost call %s", what)));
	}
	if (xgb_log_message[0] != '\0')
	{
		char	   *msg = pstrdup(xgb_log_message);

		xgb_log_message[0] = '\0';
		ereport(WARNING,
				(errmsg("XGBoost: %s", XgbLastLine(msg))));
	}
}

/* Remember a handle so that the session frees it */
static void
XgbOwn(MlopsXgb *xgb, List **list, void *handle)
{
	MemoryContext old = MemoryContextSwitchTo(xgb->cxt);

	*list = lappend(*list, handle);
	MemoryContextSwitchTo(old);
}

/* The array-interface description of a matrix of doubles, for XGBoost */
static char *
XgbArrayInterface(const double *X, int64 nrows, int ncols, int64 rowstride, int64 colstride)
{
	return psprintf("{\"data\": [%llu, true], \"shape\": [%lld, %d], "
					"\"strides\": [%lld, %lld], \"typestr\": \"<f8\", \"version\": 3}",
					(unsigned long long) (uintptr_t) X, (long long) nrows, ncols,
					(long long) (rowstride * sizeof(double)),
					(long long) (colstride * sizeof(double)));
}

/*
 * A DMatrix of nrows x ncols doubles, value (i, j) at X[i * rowstride +
 * j * colstride] (column-major: 1 and nrows; row-major: ncols and 1), NaN
 * as missing, with label when not NULL.  XGBoost copies the values.
 */
DMatrixHandle
MlopsXgbDMatrix(MlopsXgb *xgb, const double *X, int64 nrows, int ncols,
				int64 rowstride, int64 colstride, const float *label)
{
	DMatrixHandle dm = NULL;
	char	   *iface = XgbArrayInterface(X, nrows, ncols, rowstride, colstride);
	char	   *config = psprintf("{\"missing\": NaN, \"nthread\": %d}", xgb->nthread);

	MLOPS_XGB(xgb, XGDMatrixCreateFromDense(iface, config, &dm));
	XgbOwn(xgb, &xgb->dmats, dm);
	if (label)
		MLOPS_XGB(xgb, XGDMatrixSetFloatInfo(dm, "label", label, (bst_ulong) nrows));
	pfree(iface);
	pfree(config);
	return dm;
}

/* A new booster for the given matrices, with the session's thread count */
BoosterHandle
MlopsXgbBooster(MlopsXgb *xgb, DMatrixHandle *dmats, int ndmats)
{
	BoosterHandle b = NULL;
	char		nthread[16];

	MLOPS_XGB(xgb, XGBoosterCreate(dmats, (bst_ulong) ndmats, &b));
	XgbOwn(xgb, &xgb->boosters, b);
	snprintf(nthread, sizeof(nthread), "%d", xgb->nthread);
	MlopsXgbSetParam(xgb, b, "nthread", nthread);
	return b;
}

/* Make the session own a booster another call created (XGBoosterSlice) */
BoosterHandle
MlopsXgbAdoptBooster(MlopsXgb *xgb, BoosterHandle booster)
{
	char		nthread[16];

	XgbOwn(xgb, &xgb->boosters, booster);
	snprintf(nthread, sizeof(nthread), "%d", xgb->nthread);
	MlopsXgbSetParam(xgb, booster, "nthread", nthread);
	return booster;
}

/* A booster read from a model XGBoost saved (any of its formats) */
BoosterHandle
MlopsXgbLoadBooster(MlopsXgb *xgb, const char *bytes, Size len)
{
	BoosterHandle b = MlopsXgbBooster(xgb, NULL, 0);

	MLOPS_XGB(xgb, XGBoosterLoadModelFromBuffer(b, bytes, (bst_ulong) len));
	return b;
}

void
MlopsXgbSetParam(MlopsXgb *xgb, BoosterHandle booster, const char *name, const char *value)
{
	MLOPS_XGB(xgb, XGBoosterSetParam(booster, name, value));
}

/*
 * The booster's model in format ("json" or "ubj"), copied into palloc'd
 * memory (XGBoost reuses its buffer at the next call).
 */
char *
MlopsXgbSave(MlopsXgb *xgb, BoosterHandle booster, const char *format, Size *len)
{
	char	   *config = psprintf("{\"format\": \"%s\"}", format);
	bst_ulong	n = 0;
	const char *buf = NULL;
	char	   *copy;

	MLOPS_XGB(xgb, XGBoosterSaveModelToBuffer(booster, config, &n, &buf));
	copy = palloc_extended((Size) n + 1, MCXT_ALLOC_HUGE);
	memcpy(copy, buf, n);
	copy[n] = '\0';
	*len = (Size) n;
	return copy;
}

/*
 * XGBoost's own prediction for nrows row-major rows of ncols doubles (NaN
 * missing): type 0 values (probabilities for classifiers) and 1 margins
 * predicted in place (XGBoosterPredictFromDense), 2 feature contributions
 * (TreeSHAP, which needs a DMatrix).  Returns a palloc'd copy of the
 * *nout values, row by row.
 */
float *
MlopsXgbPredict(MlopsXgb *xgb, BoosterHandle booster, const double *X, int64 nrows,
				int ncols, int type, Size *nout)
{
	char	   *config;
	const bst_ulong *shape = NULL;
	bst_ulong	dim = 0;
	const float *res = NULL;
	Size		n = 1;
	float	   *copy;

	config = psprintf("{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
					  "\"iteration_end\": 0, \"strict_shape\": true, \"cache_id\": 0, "
					  "\"missing\": NaN}", type);
	if (type <= 1)
	{
		char	   *iface = XgbArrayInterface(X, nrows, ncols, ncols, 1);

		MLOPS_XGB(xgb, XGBoosterPredictFromDense(booster, iface, config, NULL,
												 &shape, &dim, &res));
	}
	else
	{
		DMatrixHandle dm = MlopsXgbDMatrix(xgb, X, nrows, ncols, ncols, 1, NULL);

		MLOPS_XGB(xgb, XGBoosterPredictFromDMatrix(booster, dm, config, &shape, &dim, &res));
	}
	for (bst_ulong d = 0; d < dim; d++)
		n *= (Size) shape[d];
	copy = palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE);
	memcpy(copy, res, sizeof(float) * n);
	*nout = n;
	return copy;
}
