/*-------------------------------------------------------------------------
 *
 * snapshot_check.c
 *	  Keyed check hashes of rows: what lets a snapshot tell a stored row from
 *	  a different row with the same row hash.
 *
 * A store finds its rows by their 64-bit row hash (rowhash.c), which is
 * fast and invertible: anyone who can write a row can compute a different
 * row with the same hash.  So each store has a secret key (drawn with
 * pg_strong_random when the store is created, readable only by the registry
 * owner), and each row also gets a check hash: SipHash-2-4, a keyed hash
 * made to be unpredictable without its key, over an unambiguous encoding of
 * the row's stored values.  Without the key, a different row with the same
 * check hash cannot be computed.  A content records the sum of its rows'
 * check hashes, and a snapshot that takes a stored row as equal to a row it
 * read checks that their check hashes agree (snapshot_take.c).
 *
 * Values are hashed in their stored form (snapshot_types.c), so that a row
 * read from the source and the same row read back from the store hash alike.
 * The row is hashed as a sequence of 64-bit words: per non-NULL column, a
 * by-value datum as one word (its typlen bytes), other values as their
 * length in bytes then their bytes (a varlena's detoasted data, a cstring's
 * characters), zero-padded to whole words; after each 64 columns (and
 * after the last) a word saying which of them are NULL, one bit each.  The column types are fixed by the store, so two different rows
 * never give the same words.  Keeping to whole words lets a row of ncols
 * numbers cost ncols + 1 SipHash compressions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "snapshot/snapshot_int.h"

struct SnapCheck
{
	uint64		k0;				/* SipHash key: the store's key ... */
	uint64		k1;				/* ... and a word derived from it */
	int			ncols;
	int16	   *typlen;
	bool	   *typbyval;
};

/* SipHash-2-4 state over whole 64-bit words */
typedef struct SipState
{
	uint64		v0,
				v1,
				v2,
				v3;
	uint64		nbytes;
} SipState;

#define ROTL64(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(s) \
	do { \
		(s)->v0 += (s)->v1; (s)->v1 = ROTL64((s)->v1, 13); \
		(s)->v1 ^= (s)->v0; (s)->v0 = ROTL64((s)->v0, 32); \
		(s)->v2 += (s)->v3; (s)->v3 = ROTL64((s)->v3, 16); (s)->v3 ^= (s)->v2; \
		(s)->v0 += (s)->v3; (s)->v3 = ROTL64((s)->v3, 21); (s)->v3 ^= (s)->v0; \
		(s)->v2 += (s)->v1; (s)->v1 = ROTL64((s)->v1, 17); \
		(s)->v1 ^= (s)->v2; (s)->v2 = ROTL64((s)->v2, 32); \
	} while (0)

static inline void
SipInit(SipState *s, uint64 k0, uint64 k1)
{
	s->v0 = k0 ^ UINT64CONST(0x736f6d6570736575);
	s->v1 = k1 ^ UINT64CONST(0x646f72616e646f6d);
	s->v2 = k0 ^ UINT64CONST(0x6c7967656e657261);
	s->v3 = k1 ^ UINT64CONST(0x7465646279746573);
	s->nbytes = 0;
}

/* One word of input (the little-endian reading of 8 input bytes). */
static inline void
SipWord(SipState *s, uint64 m)
{
	s->v3 ^= m;
	SIPROUND(s);
	SIPROUND(s);
	s->v0 ^= m;
	s->nbytes += 8;
}

/* n bytes as whole words, the last one zero-padded. */
static void
SipBytes(SipState *s, const unsigned char *p, size_t n)
{
	while (n > 0)
	{
		int			take = n < 8 ? (int) n : 8;
		uint64		m = 0;

		for (int i = take - 1; i >= 0; i--)
			m = (m << 8) | p[i];
		SipWord(s, m);
		p += take;
		n -= take;
	}
}

/* The hash of the words absorbed: SipHash-2-4's last block and finish. */
static inline uint64
SipFinish(SipState *s)
{
	uint64		b = (s->nbytes & 0xff) << 56;

	s->v3 ^= b;
	SIPROUND(s);
	SIPROUND(s);
	s->v0 ^= b;
	s->v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/*
 * A check hasher for the rows of a store: key is the store's secret, the
 * column types those of the store table (after its row_hash column).
 */
SnapCheck *
SnapCheckBegin(Relation store_rel, uint64 key)
{
	TupleDesc	desc = RelationGetDescr(store_rel);
	SnapCheck  *ck = palloc(sizeof(SnapCheck));

	ck->k0 = key;
	/* a second key word; the secret is the 64 bits of key */
	ck->k1 = ROTL64(key, 29) ^ UINT64CONST(0x9e3779b97f4a7c15);
	ck->ncols = desc->natts - 1;
	ck->typlen = palloc(sizeof(int16) * Max(ck->ncols, 1));
	ck->typbyval = palloc(sizeof(bool) * Max(ck->ncols, 1));
	for (int i = 0; i < ck->ncols; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i + 1);

		ck->typlen[i] = att->attlen;
		ck->typbyval[i] = att->attbyval;
	}
	return ck;
}

/* A value's length as a word, then its bytes. */
static inline void
SipCounted(SipState *s, const char *data, size_t len)
{
	SipWord(s, (uint64) len);
	SipBytes(s, (const unsigned char *) data, len);
}

/*
 * The check hash of a row in its stored form: SipHash-2-4, keyed with the
 * store's key, of the row's words (see the header comment).
 */
uint64
SnapCheckRow(const SnapCheck *ck, const Datum *values, const bool *isnull)
{
	SipState	s;
	uint64		nulls = 0;

	SipInit(&s, ck->k0, ck->k1);
	for (int i = 0; i < ck->ncols; i++)
	{
		int16		len = ck->typlen[i];

		if (isnull[i])
			nulls |= UINT64CONST(1) << (i % 64);
		else if (ck->typbyval[i])
		{
			uint64		m = (uint64) values[i];

			if (len < 8)
				m &= (UINT64CONST(1) << (len * 8)) - 1;
			SipWord(&s, m);
		}
		else if (len > 0)
			SipCounted(&s, DatumGetPointer(values[i]), len);
		else if (len == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(values[i]);
			struct varlena *flat = pg_detoast_datum_packed(v);

			SipCounted(&s, VARDATA_ANY(flat), VARSIZE_ANY_EXHDR(flat));
			if (flat != v)
				pfree(flat);
		}
		else
		{
			const char *str = DatumGetCString(values[i]);

			SipCounted(&s, str, strlen(str));
		}
		/* the NULLs of each 64 columns, after them */
		if (i % 64 == 63)
		{
			SipWord(&s, nulls);
			nulls = 0;
		}
	}
	if (ck->ncols % 64 != 0)
		SipWord(&s, nulls);
	return SipFinish(&s);
}
