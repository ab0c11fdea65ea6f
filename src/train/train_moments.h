/*-------------------------------------------------------------------------
 *
 * train_moments.h
 *	  What the rest of the extension sees of training from exact moments
 *	  (train/train_moments.c): its setting.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_TRAIN_MOMENTS_H
#define MLOPS_TRAIN_MOMENTS_H

/*
 * mlops.pushdown_moments: the moments and held-out metrics of linear and
 * ridge training come from aggregate queries over the source (which
 * parallel workers and Citus workers run where the rows are) rather than
 * from the rows training has read.
 */
extern PGDLLIMPORT bool mlops_pushdown_moments;

#endif							/* MLOPS_TRAIN_MOMENTS_H */
