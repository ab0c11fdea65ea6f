/*-------------------------------------------------------------------------
 *
 * xgb.h
 *	  A safe way to call XGBoost's C API from a backend (xgb.c).  Only
 *	  files of src/algorithms/ include this header.
 *
 * Every XGBoost handle belongs to an MlopsXgb session, which lives in a
 * memory context of its own: deleting the context (MlopsXgbEnd, or an
 * ERROR or cancel unwinding the caller's context) frees every handle.
 * Calls run with PostgreSQL's signals blocked, so that the OpenMP threads
 * XGBoost starts never run a signal handler; a failed call is an ERROR
 * carrying XGBoost's message.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_XGB_H
#define MLOPS_XGB_H

#include <xgboost/c_api.h>

typedef struct MlopsXgb MlopsXgb;

extern MlopsXgb *MlopsXgbBegin(int nthread);
extern void MlopsXgbEnd(MlopsXgb *xgb);
extern void MlopsXgbEnter(MlopsXgb *xgb);
extern void MlopsXgbLeave(MlopsXgb *xgb, int rc, const char *what);

/* Run one XGBoost call inside the session; ERROR when it fails */
#define MLOPS_XGB(xgb, call) \
	do { \
		int			xgb_rc_; \
		MlopsXgbEnter(xgb); \
		xgb_rc_ = (call); \
		MlopsXgbLeave((xgb), xgb_rc_, #call); \
	} while (0)

extern DMatrixHandle MlopsXgbDMatrix(MlopsXgb *xgb, const double *X, int64 nrows,
									 int ncols, int64 rowstride, int64 colstride,
									 const float *label);
extern BoosterHandle MlopsXgbBooster(MlopsXgb *xgb, DMatrixHandle *dmats, int ndmats);
extern BoosterHandle MlopsXgbAdoptBooster(MlopsXgb *xgb, BoosterHandle booster);
extern BoosterHandle MlopsXgbLoadBooster(MlopsXgb *xgb, const char *bytes, Size len);
extern void MlopsXgbSetParam(MlopsXgb *xgb, BoosterHandle booster, const char *name,
							 const char *value);
extern char *MlopsXgbSave(MlopsXgb *xgb, BoosterHandle booster, const char *format,
						  Size *len);
extern float *MlopsXgbPredict(MlopsXgb *xgb, BoosterHandle booster, const double *X,
							  int64 nrows, int ncols, int type, Size *nout);

#endif							/* MLOPS_XGB_H */
