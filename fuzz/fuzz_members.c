/*-------------------------------------------------------------------------
 *
 * fuzz_members.c
 *	  libFuzzer target for snapshot membership (src/snapshot/
 *	  snapshot_members.c): decoding stored lists of row hashes, applying a
 *	  chain of them to a membership map, and splitting a map of signed
 *	  counts back into sorted lists.
 *
 * An input is a flags byte (bit 0: keep_zero) followed by up to 16 lists,
 * each a big-endian uint32 byte length and that many bytes, read as a
 * chain the way SnapContentMap applies one: base added, base removed,
 * then added and removed of each delta.  fuzz/make_seeds.sh writes real
 * chains in this form.  Every result is compared with a plain sorted-array
 * model of the same multiset, so a wrong answer is a crash too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"

#include "snapshot/snapshot_int.h"

#include "pg_stubs.h"

#define MAX_LISTS	16

/* The catalog is not part of this target */
List *
SnapContentChain(int64 content)
{
	FuzzFail("SnapContentChain called");
}

void
SnapFetchLists(int64 content, bytea **added, bytea **removed)
{
	FuzzFail("SnapFetchLists called");
}

typedef struct Input
{
	bool		keep_zero;
	int			nlists;
	bytea	   *lists[MAX_LISTS];
} Input;

/* the hashes of a stored list, whole entries only, as SnapMapAddBytea reads them */
static uint64 *
Hashes(bytea *b, int64 *n)
{
	const char *p = VARDATA(b);
	uint64	   *v;

	*n = (VARSIZE(b) - VARHDRSZ) / sizeof(uint64);
	v = palloc(sizeof(uint64) * Max(*n, 1));
	for (int64 i = 0; i < *n; i++)
	{
		uint64		h;

		memcpy(&h, p + i * sizeof(uint64), sizeof(uint64));
		v[i] = pg_ntoh64(h);
	}
	return v;
}

static int
U64Cmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

static void
CheckSame(const SnapHashList *got, const uint64 *want, int64 n, const char *what)
{
	if (got->n != n)
		FuzzFail("%s: %lld hashes, expected %lld", what, (long long) got->n, (long long) n);
	for (int64 i = 0; i < n; i++)
		if (got->v[i] != want[i])
			FuzzFail("%s: hash %lld differs", what, (long long) i);
}

/* ---- one list: decode, encode, sort ---- */

static void
DecodeList(void *arg)
{
	bytea	   *b = (bytea *) arg;
	SnapHashList list;
	bytea	   *again;
	uint64	   *want;
	int64		n;

	SnapListFromBytea(&list, b);
	again = SnapListToBytea(&list);
	if (VARSIZE(again) != VARSIZE(b) ||
		memcmp(VARDATA(again), VARDATA(b), VARSIZE(b) - VARHDRSZ) != 0)
		FuzzFail("a decoded list does not encode to its bytes");

	want = Hashes(b, &n);
	qsort(want, n, sizeof(uint64), U64Cmp);
	SnapListSort(&list);
	CheckSame(&list, want, n, "SnapListSort");
}

/* ---- a chain applied to a membership map ---- */

typedef struct Chain
{
	Input	   *in;
	snapmap_hash *map;
} Chain;

static void
ApplyChain(void *arg)
{
	Chain	   *c = (Chain *) arg;
	int64		expected = 0;

	for (int i = 0; i < c->in->nlists; i += 2)
		expected += (VARSIZE(c->in->lists[i]) - VARHDRSZ) / sizeof(uint64);
	c->map = SnapMapCreate(CurrentMemoryContext, expected);
	for (int i = 0; i < c->in->nlists; i++)
		SnapMapAddBytea(c->map, c->in->lists[i], i % 2 == 0 ? 1 : -1, c->in->keep_zero);
}

/*
 * The same chain on a sorted array: the multiset after it, or NULL when a
 * removed list takes away a hash the multiset does not hold.
 */
static uint64 *
ModelChain(const Input *in, int64 *n, int64 *ndistinct_ever)
{
	uint64	   *cur = palloc(sizeof(uint64));
	int64		ncur = 0;
	uint64	   *all = palloc(sizeof(uint64));
	int64		nall = 0;

	for (int i = 0; i < in->nlists; i++)
	{
		int64		m;
		uint64	   *h = Hashes(in->lists[i], &m);

		if (i % 2 == 0)
		{
			cur = repalloc(cur, sizeof(uint64) * Max(ncur + m, 1));
			memcpy(cur + ncur, h, sizeof(uint64) * m);
			ncur += m;
			qsort(cur, ncur, sizeof(uint64), U64Cmp);
			all = repalloc(all, sizeof(uint64) * Max(nall + m, 1));
			memcpy(all + nall, h, sizeof(uint64) * m);
			nall += m;
		}
		else
		{
			int64		a = 0,
						k = 0,
						out = 0;

			/* multiset difference cur - h, both sorted */
			qsort(h, m, sizeof(uint64), U64Cmp);
			while (a < ncur || k < m)
			{
				if (k < m && (a >= ncur || h[k] < cur[a]))
					return NULL;	/* removes what is not there */
				if (k < m && h[k] == cur[a])
				{
					a++;
					k++;
					continue;
				}
				cur[out++] = cur[a++];
			}
			ncur = out;
		}
	}
	qsort(all, nall, sizeof(uint64), U64Cmp);
	*ndistinct_ever = 0;
	for (int64 i = 0; i < nall; i++)
		if (i == 0 || all[i] != all[i - 1])
			(*ndistinct_ever)++;
	*n = ncur;
	return cur;
}

static void
CheckChain(Input *in)
{
	Chain		c = {in, NULL};
	bool		ok = FuzzCatch(ApplyChain, &c);
	int64		n;
	int64		ndistinct_ever;
	uint64	   *want = ModelChain(in, &n, &ndistinct_ever);
	SnapHashList added;
	SnapHashList removed;
	int64		ndistinct = 0;

	if (ok != (want != NULL))
		FuzzFail("chain %s, the model says it %s", ok ? "applied" : "failed",
				 want ? "applies" : "fails");
	if (!ok)
	{
		if (fuzz_errcode != ERRCODE_DATA_CORRUPTED)
			FuzzFail("chain failed with an unexpected error: %s", fuzz_errmsg);
		return;
	}
	SnapDeltaLists(c.map, &added, &removed);
	CheckSame(&added, want, n, "membership");
	if (removed.n != 0)
		FuzzFail("membership has negative counts");
	for (int64 i = 0; i < n; i++)
		if (i == 0 || want[i] != want[i - 1])
			ndistinct++;
	if (c.map->members != (in->keep_zero ? ndistinct_ever : ndistinct))
		FuzzFail("membership map has %u entries, expected %lld", c.map->members,
				 (long long) (in->keep_zero ? ndistinct_ever : ndistinct));
}

/* ---- signed counts split into lists: plus the first list, minus the second ---- */

static void
CheckDelta(Input *in)
{
	snapmap_hash *map = SnapMapCreate(CurrentMemoryContext, 64);
	SnapHashList added;
	SnapHashList removed;
	int64		na,
				nr;
	uint64	   *a = Hashes(in->lists[0], &na);
	uint64	   *r = Hashes(in->nlists > 1 ? in->lists[1] : in->lists[0], &nr);
	uint64	   *wa = palloc(sizeof(uint64) * Max(na, 1));
	uint64	   *wr = palloc(sizeof(uint64) * Max(nr, 1));
	int64		i = 0,
				k = 0,
				nwa = 0,
				nwr = 0;

	if (in->nlists < 2)
		nr = 0;
	for (int64 j = 0; j < na + nr; j++)
	{
		bool		found;
		SnapMapEntry *e = snapmap_insert(map, j < na ? a[j] : r[j - na], &found);

		if (!found)
			e->count = 0;
		e->count += j < na ? 1 : -1;
	}
	SnapDeltaLists(map, &added, &removed);

	/* expected: a - r and r - a as multisets */
	qsort(a, na, sizeof(uint64), U64Cmp);
	qsort(r, nr, sizeof(uint64), U64Cmp);
	while (i < na || k < nr)
	{
		if (k >= nr || (i < na && a[i] < r[k]))
			wa[nwa++] = a[i++];
		else if (i >= na || r[k] < a[i])
			wr[nwr++] = r[k++];
		else
		{
			i++;
			k++;
		}
	}
	CheckSame(&added, wa, nwa, "SnapDeltaLists added");
	CheckSame(&removed, wr, nwr, "SnapDeltaLists removed");
}

static uint32
GetU32BE(const uint8_t *p)
{
	return ((uint32) p[0] << 24) | ((uint32) p[1] << 16) | ((uint32) p[2] << 8) | p[3];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Input		in;
	size_t		pos = 1;

	if (size < 1)
		return 0;
	memset(&in, 0, sizeof(in));
	in.keep_zero = (data[0] & 1) != 0;
	while (pos + 4 <= size && in.nlists < MAX_LISTS)
	{
		size_t		len = Min((size_t) GetU32BE(data + pos), size - pos - 4);

		in.lists[in.nlists++] = FuzzBytea(data + pos + 4, len);
		pos += 4 + len;
	}
	if (in.nlists == 0)
	{
		FuzzReset();
		return 0;
	}

	for (int i = 0; i < in.nlists; i++)
	{
		bool		ok = FuzzCatch(DecodeList, in.lists[i]);
		bool		whole = (VARSIZE(in.lists[i]) - VARHDRSZ) % sizeof(uint64) == 0;

		if (ok != whole)
			FuzzFail("list of %u bytes %s", VARSIZE(in.lists[i]) - VARHDRSZ,
					 ok ? "decoded" : "refused");
		if (!ok && fuzz_errcode != ERRCODE_DATA_CORRUPTED)
			FuzzFail("list refused with an unexpected error: %s", fuzz_errmsg);
	}
	CheckChain(&in);
	CheckDelta(&in);
	FuzzReset();
	return 0;
}
