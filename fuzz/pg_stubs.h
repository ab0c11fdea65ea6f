/*-------------------------------------------------------------------------
 *
 * pg_stubs.h
 *	  What the fuzz targets get from pg_stubs.c: running a piece of server
 *	  code with ereport(ERROR) caught, and freeing everything it palloc'd.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MLOPS_FUZZ_PG_STUBS_H
#define MLOPS_FUZZ_PG_STUBS_H

/* The SQLSTATE and message of the last ERROR caught by FuzzCatch() */
extern int	fuzz_errcode;
extern char fuzz_errmsg[256];

/* Run fn(arg); false when it raised an ERROR (an accepted outcome) */
extern bool FuzzCatch(void (*fn) (void *arg), void *arg);

/* Free every palloc'd chunk still allocated: call once per input */
extern void FuzzReset(void);

/* A bytea (4-byte header) holding a copy of data */
extern bytea *FuzzBytea(const void *data, size_t len);

/* Report a broken invariant and abort, which libFuzzer records as a crash */
extern void FuzzFail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

#endif							/* MLOPS_FUZZ_PG_STUBS_H */
