/*-------------------------------------------------------------------------
 *
 * snapshot_check.c
 *	  Keyed check hashes of rows: what lets a snapshot tell a stored row from
 *	  a different row with the same row hash.
 *
 * A store finds its rows by their 64-bit row hash (rowhash.c), which is
 * fast and invertible: anyone who can write a row can compute a different
 * row with the same hash.  So each store has a secret key (drawn with
 * pg_strong_random when the store is created, readable only by its owner
 * and the registry owner), and each row also gets a check hash: a chain of
 * hash_bytes_extended over the bytes of each stored value, seeded with the
 * key.  Without the key, a twin row with the same check hash cannot be
 * computed.  A content records the sum of its rows' check hashes, and a
 * snapshot that takes a stored row as equal to a row it read checks that
 * their check hashes agree (snapshot_take.c).
 *
 * Values are hashed in their stored form (snapshot_types.c), so that a row
 * read from the source and the same row read back from the store hash alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "snapshot/snapshot_int.h"

/* seeds that set apart a NULL and each column's position */
#define CHECK_NULL_SALT		UINT64CONST(0x6a09e667f3bcc908)
#define CHECK_COLUMN_MIX	UINT64CONST(0x9e3779b97f4a7c15)

struct SnapCheck
{
	uint64		key;
	int			ncols;
	int16	   *typlen;
	bool	   *typbyval;
};

/*
 * A check hasher for the rows of a store: key is the store's secret, the
 * column types those of the store table (after its row_hash column).
 */
SnapCheck *
SnapCheckBegin(Relation store_rel, uint64 key)
{
	TupleDesc	desc = RelationGetDescr(store_rel);
	SnapCheck  *ck = palloc(sizeof(SnapCheck));

	ck->key = key;
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

/*
 * The check hash of a row in its stored form: each column's bytes (a
 * by-value datum's typlen bytes, a varlena's data detoasted, a cstring's
 * characters, or a marker for NULL) hashed with a seed made of the key,
 * the hash so far and the column's position.
 */
uint64
SnapCheckRow(const SnapCheck *ck, const Datum *values, const bool *isnull)
{
	uint64		h = ck->key;

	for (int i = 0; i < ck->ncols; i++)
	{
		uint64		seed = h ^ ((uint64) (i + 1) * CHECK_COLUMN_MIX);
		int16		len = ck->typlen[i];

		if (isnull[i])
			h = hash_bytes_extended((const unsigned char *) "", 0,
									seed ^ CHECK_NULL_SALT);
		else if (ck->typbyval[i])
		{
			char		buf[sizeof(Datum)];

			store_att_byval(buf, values[i], len);
			h = hash_bytes_extended((const unsigned char *) buf, len, seed);
		}
		else if (len > 0)
			h = hash_bytes_extended((const unsigned char *) DatumGetPointer(values[i]),
									len, seed);
		else if (len == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(values[i]);
			struct varlena *flat = pg_detoast_datum_packed(v);

			h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(flat),
									VARSIZE_ANY_EXHDR(flat), seed);
			if (flat != v)
				pfree(flat);
		}
		else
		{
			const char *s = DatumGetCString(values[i]);

			h = hash_bytes_extended((const unsigned char *) s, strlen(s), seed);
		}
	}
	return h;
}
