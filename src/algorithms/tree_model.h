/*-------------------------------------------------------------------------
 *
 * tree_model.h
 *	  Tree ensembles as mlops stores and scores them (tree_model.c): the
 *	  params layout written at training from XGBoost's JSON model, compiled
 *	  at load into flat node arrays that score a row in C.  Only files of
 *	  src/algorithms/ include this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TREE_MODEL_H
#define MLOPS_TREE_MODEL_H

#include "algorithms/algorithm.h"

/* Objectives, as stored in params */
#define TREES_OBJ_SQUARED_ERROR	1	/* reg:squarederror */
#define TREES_OBJ_LOGISTIC		2	/* binary:logistic */
#define TREES_OBJ_SOFTPROB		3	/* multi:softprob */

/*
 * Layout of a tree ensemble's params (T trees, N nodes in all, p design
 * columns); docs/algorithms.md describes it for readers of the bytes:
 *	[0]					layout version (1)
 *	[1]					objective (TREES_OBJ_*)
 *	[2]					G, the number of outputs in margin space
 *	[3]					base margin (XGBoost's base_score in margin space)
 *	[4]					boosting rounds in the model
 *	[5]					T
 *	[6]					N
 *	[7]					p
 *	[8 .. 8+T)			output group (class) of each tree
 *	[8+T .. 8+2T)		node count of each tree; a tree's nodes follow the
 *						previous tree's
 *	[8+2T ..)			per node 5 values: split column (-1 for a leaf),
 *						split threshold (go left when x < threshold) or
 *						leaf value, left and right child (node numbers
 *						within the tree, -1 for a leaf), 1 if missing
 *						values go left
 *	then per design column 3 values: splits on it ("weight"), their total
 *	gain and their total cover
 */
#define TREES_LAYOUT_VERSION	1
#define TREES_HEADER			8
#define TREES_NODE_WIDTH		5
#define TREES_NODES_AT(T)		(TREES_HEADER + 2 * (T))
#define TREES_IMPORTANCE_AT(T, N)	(TREES_NODES_AT(T) + TREES_NODE_WIDTH * (N))
#define TREES_NPARAMS(T, N, p)	(TREES_IMPORTANCE_AT(T, N) + 3 * (p))

extern void MlopsTreesFromXgboostJson(MlopsModel *model, const char *json, int rounds,
									  const double *importance);
extern int64 MlopsTreesNParams(const MlopsModel *model);
extern void MlopsTreesLoad(MlopsModel *model);
extern void MlopsTreesPredict(const MlopsModel *model, const double *x, double *out);
extern int	MlopsTreesExplain(const MlopsModel *model, MlopsExplainRow **rows);
extern int	MlopsTreesOutputGroups(const MlopsModel *model);
extern void **MlopsTreesLibrarySlot(const MlopsModel *model, MemoryContext *cxt);

#endif							/* MLOPS_TREE_MODEL_H */
