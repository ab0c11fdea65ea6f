/*-------------------------------------------------------------------------
 *
 * pg_stubs.c
 *	  The few backend symbols the fuzzed files need, for a standalone
 *	  libFuzzer binary: memory allocation, error reporting, interrupts,
 *	  assertions.
 *
 * palloc and friends allocate with malloc and keep every chunk on one list,
 * so that FuzzReset() frees whatever an input left behind: an ereport that
 * unwinds past the code's own pfree calls is then no leak.  The chunk
 * header sits in memory poisoned for AddressSanitizer, so a write just
 * before a chunk is reported like any other overflow.  Memory contexts are
 * all the same list; deleting or resetting one is never needed here.
 *
 * ereport(ERROR) longjmps back to FuzzCatch(): an error is an accepted
 * outcome of a bad input.  An ERROR that carries no SQLSTATE of its own
 * (elog, or ereport without errcode) is not: it means a "can't happen"
 * was reached from input, and is reported as a crash, as is FATAL, PANIC,
 * a failed Assert or an ERROR raised outside FuzzCatch().  With
 * MLOPS_FUZZ_VERBOSE set in the environment each caught ERROR is printed,
 * to see what an input does.
 *
 * StringInfo, psprintf and the JSON parser come from libpgcommon, the CRC,
 * qsort_arg and snprintf from libpgport, both as PostgreSQL installs them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "pg_stubs.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define HIDE(p, n)		ASAN_POISON_MEMORY_REGION((p), (n))
#define SHOW(p, n)		ASAN_UNPOISON_MEMORY_REGION((p), (n))
#endif
#endif
#ifndef HIDE
#define HIDE(p, n)		((void) 0)
#define SHOW(p, n)		((void) 0)
#endif

/* ---- memory ---- */

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	Size		size;
	Size		magic;
} Chunk;

#define CHUNK_MAGIC		((Size) 0x6d6c6f7073667a7aULL)

static Chunk chunks = {&chunks, &chunks, 0, CHUNK_MAGIC};	/* list head */

static MemoryContextData fuzz_context;
MemoryContext CurrentMemoryContext = &fuzz_context;
MemoryContext TopMemoryContext = &fuzz_context;

static Chunk *
Open(Chunk *c)
{
	if (c != &chunks)
		SHOW(c, sizeof(Chunk));
	return c;
}

static void
Close(Chunk *c)
{
	if (c != &chunks)
		HIDE(c, sizeof(Chunk));
}

static void
Link(Chunk *c)
{
	Chunk	   *last = Open(chunks.prev);

	c->prev = last;
	c->next = &chunks;
	last->next = c;
	chunks.prev = c;
	Close(last);
	Close(c);
}

static void
Unlink(Chunk *c)
{
	Chunk	   *prev = Open(c->prev);
	Chunk	   *next = Open(c->next);

	prev->next = next;
	next->prev = prev;
	Close(prev);
	Close(next);
}

/* the chunk header of a palloc'd pointer, opened for use */
static Chunk *
ChunkOf(void *pointer)
{
	Chunk	   *c = (Chunk *) pointer - 1;

	SHOW(c, sizeof(Chunk));
	if (c->magic != CHUNK_MAGIC)
		FuzzFail("pfree or repalloc of a pointer palloc did not return");
	return c;
}

static void *
Alloc(Size size, int flags)
{
	Chunk	   *c;

	if ((flags & MCXT_ALLOC_HUGE) ? !AllocHugeSizeIsValid(size) : !AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	c = malloc(sizeof(Chunk) + Max(size, 1));
	if (c == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", size)));
	}
	c->size = size;
	c->magic = CHUNK_MAGIC;
	Link(c);
	if (flags & MCXT_ALLOC_ZERO)
		memset(c + 1, 0, size);
	return c + 1;
}

static void *
Realloc(void *pointer, Size size, int flags)
{
	Chunk	   *c = ChunkOf(pointer);
	Chunk	   *moved;

	if ((flags & MCXT_ALLOC_HUGE) ? !AllocHugeSizeIsValid(size) : !AllocSizeIsValid(size))
	{
		Close(c);
		elog(ERROR, "invalid memory alloc request size %zu", size);
	}
	Unlink(c);
	moved = realloc(c, sizeof(Chunk) + Max(size, 1));
	if (moved == NULL)
	{
		Link(c);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", size)));
	}
	moved->size = size;
	Link(moved);
	return moved + 1;
}

void *
palloc(Size size)
{
	return Alloc(size, 0);
}

void *
palloc0(Size size)
{
	return Alloc(size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return Alloc(size, flags);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return Alloc(size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return Alloc(size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return Alloc(size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return Alloc(size, flags);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return Alloc(size, MCXT_ALLOC_HUGE);
}

void *
repalloc(void *pointer, Size size)
{
	return Realloc(pointer, size, 0);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return Realloc(pointer, size, MCXT_ALLOC_HUGE);
}

void
pfree(void *pointer)
{
	Chunk	   *c = ChunkOf(pointer);

	Unlink(c);
	c->magic = 0;
	free(c);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = Alloc(len + 1, 0);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	return pstrdup(string);
}

void
FuzzReset(void)
{
	Chunk	   *c = Open(chunks.next);

	while (c != &chunks)
	{
		Chunk	   *next = c->next;

		c->magic = 0;
		free(c);
		c = Open(next);
	}
	chunks.next = chunks.prev = &chunks;
}

bytea *
FuzzBytea(const void *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(b), data, len);
	return b;
}

/* ---- errors ---- */

int			fuzz_errcode;
char		fuzz_errmsg[256];

static sigjmp_buf *fuzz_jmp = NULL;
static int	cur_elevel;
static int	cur_errcode;
static bool cur_have_errcode;
static int	verbose = -1;		/* MLOPS_FUZZ_VERBOSE set: print each ERROR */

/* The five characters of a SQLSTATE */
static const char *
SqlState(int code)
{
	static char buf[6];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

void
FuzzFail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "mlops fuzz: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

bool
FuzzCatch(void (*fn) (void *arg), void *arg)
{
	sigjmp_buf	buf;
	sigjmp_buf *save = fuzz_jmp;

	if (sigsetjmp(buf, 0) != 0)
	{
		fuzz_jmp = save;
		return false;
	}
	fuzz_jmp = &buf;
	fn(arg);
	fuzz_jmp = save;
	return true;
}

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;			/* warnings and notices are dropped */
	cur_elevel = elevel;
	cur_errcode = ERRCODE_INTERNAL_ERROR;
	cur_have_errcode = false;
	fuzz_errmsg[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_elevel > ERROR)
		FuzzFail("level %d report at %s:%d: %s", cur_elevel, filename, lineno, fuzz_errmsg);
	if (!cur_have_errcode)
		FuzzFail("elog(ERROR) reached from input at %s:%d (%s): %s",
				 filename, lineno, funcname, fuzz_errmsg);
	if (fuzz_jmp == NULL)
		FuzzFail("ERROR outside FuzzCatch at %s:%d: %s", filename, lineno, fuzz_errmsg);
	fuzz_errcode = cur_errcode;
	if (verbose < 0)
		verbose = getenv("MLOPS_FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "ERROR %s: %s\n", SqlState(fuzz_errcode), fuzz_errmsg);
	siglongjmp(*fuzz_jmp, 1);
}

int
errcode(int sqlerrcode)
{
	cur_errcode = sqlerrcode;
	cur_have_errcode = (sqlerrcode != ERRCODE_INTERNAL_ERROR);
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_errmsg, sizeof(fuzz_errmsg), fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(fuzz_errmsg, sizeof(fuzz_errmsg), fmt, ap);
	va_end(ap);
	return 0;
}

/* details and hints are formatted, so that their arguments are checked, and dropped */
int
errdetail(const char *fmt,...)
{
	char		buf[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	char		buf[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return 0;
}

int
errhint(const char *fmt,...)
{
	char		buf[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return 0;
}

/* ---- interrupts and assertions ---- */

volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
}

void
ExceptionalCondition(const char *conditionName, const char *errorType,
					 const char *fileName, int lineNumber)
{
	FuzzFail("%s(\"%s\") at %s:%d", errorType, conditionName, fileName, lineNumber);
}
