/*-------------------------------------------------------------------------
 *
 * snapshot_members.c
 *	  Snapshot membership: multisets of row hashes.
 *
 * A content (a frozen multiset of rows) is stored either as the sorted list
 * of all its row hashes (a base) or as two sorted lists, the hashes added to
 * and removed from a parent content (a delta); duplicates repeat.  Lists are
 * bytea values of 8-byte big-endian hashes, so a dump restores on any
 * architecture and the bytes sort like the numbers.
 *
 * In memory a membership is a hash map from row hash to count, built by
 * walking the chain of contents from its base (SnapContentMap, in
 * snapshot_catalog.c, which reads the chain).  The same map, with entries
 * kept at count zero, also tells which hashes the store holds: every hash in
 * a list of a live content belongs to some live content, so its row is in
 * the store (snapshot_take.c relies on that to skip rows already stored).
 *
 * A content is identified by the SHA-256 of the sorted list of all its row
 * hashes, duplicates repeated: the bytes its base list has or would have.
 * Two contents with the same digest list the same rows of their store.
 * (The sum of the row hashes, kept as the content hash, is no identity: a
 * role can choose one row so that any other rows reach a given sum.)
 *
 * This file works in memory only: it reads no registry row and no store.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"

#include "snapshot/snapshot_int.h"

/* row hashes are already well mixed: fold them to 32 bits */
#define SH_PREFIX snapmap
#define SH_ELEMENT_TYPE SnapMapEntry
#define SH_KEY_TYPE uint64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((uint32) ((k) >> 32) ^ (uint32) (k))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

/* Largest list a bytea can hold */
#define SNAP_MAX_LIST	((int64) ((MaxAllocSize - VARHDRSZ) / sizeof(uint64)))

/* Start an empty list with room for cap hashes. */
void
SnapListInit(SnapHashList *list, int64 cap)
{
	list->cap = Max(cap, 64);
	list->n = 0;
	list->v = MemoryContextAllocHuge(CurrentMemoryContext,
									 list->cap * sizeof(uint64));
}

/* Append one hash, doubling the array when full. */
void
SnapListAppend(SnapHashList *list, uint64 h)
{
	if (unlikely(list->n >= list->cap))
	{
		list->cap *= 2;
		list->v = repalloc_huge(list->v, list->cap * sizeof(uint64));
	}
	list->v[list->n++] = h;
}

/* Append a hash times times (a row that occurs times times). */
void
SnapListAppendN(SnapHashList *list, uint64 h, int64 times)
{
	for (int64 i = 0; i < times; i++)
		SnapListAppend(list, h);
}

/*
 * Sort ascending: an LSD radix sort on 16-bit digits, linear in the length,
 * which matters for lists of millions of hashes.
 */
void
SnapListSort(SnapHashList *list)
{
	int64		n = list->n;
	uint64	   *src = list->v;
	uint64	   *dst;
	int64	   *count;

	if (n < 2)
		return;
	if (n < 256)
	{
		/* insertion sort for short lists */
		for (int64 i = 1; i < n; i++)
		{
			uint64		x = src[i];
			int64		j = i;

			while (j > 0 && src[j - 1] > x)
			{
				src[j] = src[j - 1];
				j--;
			}
			src[j] = x;
		}
		return;
	}

	dst = MemoryContextAllocHuge(CurrentMemoryContext, n * sizeof(uint64));
	count = palloc(65536 * sizeof(int64));
	for (int shift = 0; shift < 64; shift += 16)
	{
		int64		sum = 0;
		uint64	   *t;

		CHECK_FOR_INTERRUPTS();
		memset(count, 0, 65536 * sizeof(int64));
		for (int64 i = 0; i < n; i++)
			count[(src[i] >> shift) & 0xFFFF]++;
		for (int d = 0; d < 65536; d++)
		{
			int64		c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (int64 i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xFFFF]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	/* four passes: the sorted data is back in the original array */
	Assert(src == list->v);
	pfree(dst);
	pfree(count);
}

/* The stored form of a list: big-endian hashes in a bytea. */
bytea *
SnapListToBytea(const SnapHashList *list)
{
	bytea	   *b;
	char	   *out;

	if (list->n > SNAP_MAX_LIST)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("snapshot membership list of " INT64_FORMAT " rows is too large",
						list->n),
				 errdetail("A snapshot can list at most " INT64_FORMAT " rows.",
						   SNAP_MAX_LIST)));
	b = palloc(VARHDRSZ + list->n * sizeof(uint64));
	SET_VARSIZE(b, VARHDRSZ + list->n * sizeof(uint64));
	/* VARDATA is 4 bytes past an aligned chunk: no uint64 stores into it */
	out = VARDATA(b);
	for (int64 i = 0; i < list->n; i++)
	{
		uint64		h = pg_hton64(list->v[i]);

		memcpy(out + i * sizeof(uint64), &h, sizeof(uint64));
	}
	return b;
}

/* Decode a stored list (b must be detoasted). */
void
SnapListFromBytea(SnapHashList *list, bytea *b)
{
	int64		n = VARSIZE(b) - VARHDRSZ;
	const char *p = VARDATA(b);

	if (n % sizeof(uint64) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot membership list is corrupted: %lld bytes is not a whole number of row hashes",
						(long long) n)));
	n /= sizeof(uint64);
	SnapListInit(list, n);
	for (int64 i = 0; i < n; i++)
	{
		uint64		h;

		memcpy(&h, p + i * sizeof(uint64), sizeof(uint64));
		list->v[i] = pg_ntoh64(h);
	}
	list->n = n;
}

/* A map sized for about expected entries, allocated in cxt. */
snapmap_hash *
SnapMapCreate(MemoryContext cxt, int64 expected)
{
	/* simplehash sizes for its fill factor itself */
	return snapmap_create(cxt, (uint32) Min(Max(expected, 256), (int64) PG_INT32_MAX), NULL);
}

/*
 * Add (sign +1) or remove (sign -1) every hash of a stored list to the
 * counts of map.  An entry that reaches zero is deleted unless keep_zero.
 * Removing a hash the map does not hold means the chain is corrupt.
 */
void
SnapMapAddBytea(snapmap_hash *map, bytea *b, int32 sign, bool keep_zero)
{
	int64		n = (VARSIZE(b) - VARHDRSZ) / sizeof(uint64);
	const char *p = VARDATA(b);

	for (int64 i = 0; i < n; i++)
	{
		uint64		h;
		SnapMapEntry *e;
		bool		found;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(&h, p + i * sizeof(uint64), sizeof(uint64));
		h = pg_ntoh64(h);
		if (sign > 0)
		{
			e = snapmap_insert(map, h, &found);
			if (!found)
			{
				e->count = 0;
				e->flags = 0;
			}
			e->count++;
		}
		else
		{
			e = snapmap_lookup(map, h);
			if (e == NULL || e->count <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("snapshot membership chain is inconsistent"),
						 errdetail("A delta removes a row its parent does not contain.")));
			if (--e->count == 0 && !keep_zero)
				snapmap_delete_item(map, e);
		}
	}
}

/*
 * Split a map of signed count changes into the sorted lists of hashes added
 * (positive counts, repeated) and removed (negative counts, repeated).
 */
void
SnapDeltaLists(snapmap_hash *delta, SnapHashList *added, SnapHashList *removed)
{
	snapmap_iterator it;
	SnapMapEntry *e;

	SnapListInit(added, 64);
	SnapListInit(removed, 64);
	snapmap_start_iterate(delta, &it);
	while ((e = snapmap_iterate(delta, &it)) != NULL)
	{
		if (e->count > 0)
			SnapListAppendN(added, e->key, e->count);
		else if (e->count < 0)
			SnapListAppendN(removed, e->key, -(int64) e->count);
	}
	SnapListSort(added);
	SnapListSort(removed);
}

/* Error out of a failed SHA-256 step. */
static void
DigestFailed(pg_cryptohash_ctx *ctx, const char *step)
{
	elog(ERROR, "could not %s the SHA-256 of a snapshot content: %s",
		 step, pg_cryptohash_error(ctx));
}

/*
 * The identity of a content: the SHA-256 of its sorted row hashes as 8-byte
 * big-endian numbers, duplicates repeated.  digest gets SNAP_DIGEST_LEN
 * bytes.
 */
void
SnapListDigest(const SnapHashList *sorted, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint64		buf[1024];

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_cryptohash_init(ctx) < 0)
		DigestFailed(ctx, "start");
	for (int64 i = 0; i < sorted->n; i += lengthof(buf))
	{
		int64		m = Min((int64) lengthof(buf), sorted->n - i);

		for (int64 j = 0; j < m; j++)
			buf[j] = pg_hton64(sorted->v[i + j]);
		if (pg_cryptohash_update(ctx, (const uint8 *) buf, m * sizeof(uint64)) < 0)
			DigestFailed(ctx, "compute");
	}
	if (pg_cryptohash_final(ctx, digest, SNAP_DIGEST_LEN) < 0)
		DigestFailed(ctx, "finish");
	pg_cryptohash_free(ctx);
}
