/*-------------------------------------------------------------------------
 *
 * rowhash.c
 *	  A stable 64-bit hash of a row's content.
 *
 * The same hash decides a row's side of the train/test split and addresses
 * the row in the snapshot store, so it depends only on the values (their
 * binary representation and position), never on where the row sits in the
 * heap: the same data gives the same split and the same snapshot in any
 * physical order.  An order-independent content hash of a set of rows is
 * the sum of their row hashes modulo 2^64, which also lets a snapshot's hash
 * be updated from the rows added and removed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/lsyscache.h"

#include "core/rowhash.h"

#define NULL_HASH	UINT64CONST(0x9e3779b97f4a7c15)

/* SplitMix64 finaliser: spreads the bits of an already hashed value. */
static inline uint64
Mix64(uint64 h)
{
	h ^= h >> 30;
	h *= UINT64CONST(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64CONST(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

uint64
MlopsHashMix(uint64 h)
{
	return Mix64(h);
}

/* Hash of a 64-bit word under a seed: one multiply-xorshift round each way */
static inline uint64
HashWord(uint64 v, uint64 seed)
{
	return Mix64(v ^ (seed * UINT64CONST(0x9e3779b97f4a7c15)));
}

/* Hash of one non-NULL value, from its binary representation. */
static inline uint64
HashDatum(const MlopsHashColumn *col, Datum value, uint64 seed)
{
	if (col->typid == FLOAT8OID || col->typid == FLOAT4OID)
	{
		double		d = (col->typid == FLOAT8OID) ? DatumGetFloat8(value)
			: (double) DatumGetFloat4(value);
		uint64		bits;

		/* -0 equals 0, and every NaN is the same NaN */
		if (d == 0.0)
			d = 0.0;
		if (isnan(d))
			d = NAN;
		memcpy(&bits, &d, sizeof(bits));
		return HashWord(bits, seed);
	}
	if (col->typbyval)
	{
		int64		v;

		switch (col->typlen)
		{
			case 1:
				v = DatumGetChar(value);
				break;
			case 2:
				v = DatumGetInt16(value);
				break;
			case 4:
				v = DatumGetInt32(value);
				break;
			default:
				v = DatumGetInt64(value);
				break;
		}
		return HashWord((uint64) v, seed);
	}
	if (col->typlen == -1)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
		uint64		h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(v),
											VARSIZE_ANY_EXHDR(v), seed);

		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
		return h;
	}
	if (col->typlen == -2)
	{
		const char *s = DatumGetCString(value);

		return hash_bytes_extended((const unsigned char *) s, strlen(s), seed);
	}
	return hash_bytes_extended((const unsigned char *) DatumGetPointer(value),
							   col->typlen, seed);
}

/*
 * Hash of a row: each column hashed with its position as seed, combined in
 * column order.
 */
uint64
MlopsRowHash(const MlopsHashColumn *cols, int ncols,
			 const Datum *values, const bool *isnull)
{
	uint64		h = UINT64CONST(0x243f6a8885a308d3);

	for (int i = 0; i < ncols; i++)
	{
		uint64		ch = isnull[i] ? NULL_HASH + i : HashDatum(&cols[i], values[i], i + 1);

		h = hash_combine64(h, ch);
	}
	return Mix64(h);
}

/*
 * Whether a row belongs to the held-out split: a fixed share of the hash
 * space, taken from bits the snapshot store does not sort on.
 */
bool
MlopsRowIsTest(uint64 rowhash, double test_size)
{
	uint64		h = Mix64(rowhash ^ UINT64CONST(0x5851f42d4c957f2d));

	return (double) (h >> 11) * (1.0 / 9007199254740992.0) < test_size;
}
