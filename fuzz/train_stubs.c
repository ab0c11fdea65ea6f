/*-------------------------------------------------------------------------
 *
 * train_stubs.c
 *	  Backend symbols that only the training and XGBoost side of the tree
 *	  algorithms uses (XGBoost sessions and their memory contexts, reading
 *	  XGBoost's JSON model, PG_TRY around a booster load).  The fuzzed
 *	  decoders never reach them: each reports a crash if one is called.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "fmgr.h"
#include "libpq/pqsignal.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "pg_stubs.h"

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;
sigset_t	BlockSig;

#define NOT_REACHED(name) FuzzFail("%s reached from a decoder", name)

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name, Size minContextSize,
							  Size initBlockSize, Size maxBlockSize)
{
	NOT_REACHED("AllocSetContextCreateInternal");
}

void
MemoryContextDelete(MemoryContext context)
{
	NOT_REACHED("MemoryContextDelete");
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	NOT_REACHED("MemoryContextRegisterResetCallback");
}

List *
lappend(List *list, void *datum)
{
	NOT_REACHED("lappend");
}

void
pg_re_throw(void)
{
	NOT_REACHED("pg_re_throw");
}

int
errcontext_msg(const char *fmt,...)
{
	NOT_REACHED("errcontext_msg");
}

int
set_errcontext_domain(const char *domain)
{
	NOT_REACHED("set_errcontext_domain");
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	NOT_REACHED("DirectFunctionCall1Coll");
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	NOT_REACHED("pg_detoast_datum");
}

Datum
jsonb_in(PG_FUNCTION_ARGS)
{
	NOT_REACHED("jsonb_in");
}

Datum
numeric_float8(PG_FUNCTION_ARGS)
{
	NOT_REACHED("numeric_float8");
}

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	NOT_REACHED("JsonbIteratorInit");
}

JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	NOT_REACHED("JsonbIteratorNext");
}

JsonbValue *
getIthJsonbValueFromContainer(JsonbContainer *container, uint32 i)
{
	NOT_REACHED("getIthJsonbValueFromContainer");
}

JsonbValue *
getKeyJsonValueFromContainer(JsonbContainer *container, const char *keyVal, int keyLen,
							 JsonbValue *res)
{
	NOT_REACHED("getKeyJsonValueFromContainer");
}
