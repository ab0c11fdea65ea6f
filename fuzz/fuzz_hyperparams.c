/*-------------------------------------------------------------------------
 *
 * fuzz_hyperparams.c
 *	  libFuzzer target for the hyperparameter checks of mlops.train
 *	  (src/train/hyperparams.c), for every algorithm in the table.
 *
 * An input is the JSON text a user passes as hyperparams.  It is parsed
 * by PostgreSQL's own JSON parser (common/jsonapi.c from libpgcommon, the
 * parser jsonb_in uses), and its top-level keys and values are handed to
 * the checks in the order a jsonb object iterates them: keys sorted by
 * length then bytes, the last of duplicate keys winning.  Numbers become
 * doubles as numeric_float8 makes them, an out-of-range one being an
 * error.  Inputs that are not valid UTF-8 or not valid JSON never reach
 * mlops.train, and are skipped.
 *
 * Settings the checks accept must print (MlopsHyperparamsJson, what the
 * registry stores) as JSON that the checks accept again with the same
 * values: mlops.reproduce depends on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <limits.h>
#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "algorithms/algorithm.h"
#include "train/hyperparams.h"

#include "pg_stubs.h"

/* Never reached from the checks: only training (core/util.c) calls it */
void
MlopsCheckMemory(Size bytes, const char *what)
{
	FuzzFail("MlopsCheckMemory called while checking hyperparameters");
}

/* One top-level key and its value */
typedef struct Pair
{
	char	   *key;
	JsonTokenType type;			/* JSON_TOKEN_INVALID for an object or array */
	char	   *token;
	int			order;
} Pair;

typedef struct Parsed
{
	int			depth;
	bool		root_is_object;
	bool		root_seen;
	Pair	   *pairs;
	int			npairs;
	int			cap;
	Pair		cur;
} Parsed;

static void
NestStart(void *state)
{
	Parsed	   *p = state;

	if (!p->root_seen)
		p->root_seen = true;
	p->depth++;
}

static void
ObjectStart(void *state)
{
	Parsed	   *p = state;

	if (!p->root_seen)
		p->root_is_object = true;
	NestStart(state);
}

static void
NestEnd(void *state)
{
	((Parsed *) state)->depth--;
}

static void
FieldStart(void *state, char *fname, bool isnull)
{
	Parsed	   *p = state;

	if (p->depth != 1)
		return;
	p->cur.key = fname;
	p->cur.type = JSON_TOKEN_INVALID;
	p->cur.token = NULL;
}

static void
FieldEnd(void *state, char *fname, bool isnull)
{
	Parsed	   *p = state;

	if (p->depth != 1)
		return;
	if (p->npairs == p->cap)
	{
		p->cap = Max(8, p->cap * 2);
		p->pairs = p->pairs ? repalloc(p->pairs, sizeof(Pair) * p->cap)
			: palloc(sizeof(Pair) * p->cap);
	}
	p->cur.order = p->npairs;
	p->pairs[p->npairs++] = p->cur;
}

static void
Scalar(void *state, char *token, JsonTokenType tokentype)
{
	Parsed	   *p = state;

	if (!p->root_seen)
		p->root_seen = true;	/* a scalar document */
	if (p->depth != 1)
		return;
	p->cur.type = tokentype;
	p->cur.token = token;
}

/* jsonb's order of keys: shorter first, then bytewise; later duplicates first */
static int
PairCmp(const void *a, const void *b)
{
	const Pair *x = a;
	const Pair *y = b;
	size_t		lx = strlen(x->key);
	size_t		ly = strlen(y->key);
	int			c;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	c = memcmp(x->key, y->key, lx);
	if (c != 0)
		return c;
	return x->order > y->order ? -1 : 1;
}

/* Parse json; false when PostgreSQL would not accept it as jsonb at all */
static bool
ParseJson(char *json, size_t len, Parsed *p)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	int			n = 0;

	if (len > INT_MAX / 2 || pg_encoding_verifymbstr(PG_UTF8, json, (int) len) != (int) len)
		return false;
	memset(p, 0, sizeof(*p));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = p;
	sem.object_start = ObjectStart;
	sem.object_end = NestEnd;
	sem.array_start = NestStart;
	sem.array_end = NestEnd;
	sem.object_field_start = FieldStart;
	sem.object_field_end = FieldEnd;
	sem.scalar = Scalar;
	lex = makeJsonLexContextCstringLen(json, (int) len, PG_UTF8, true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return false;

	/* jsonb keeps one value per key, the last one given */
	qsort(p->pairs, p->npairs, sizeof(Pair), PairCmp);
	for (int i = 0; i < p->npairs; i++)
		if (i == 0 || strcmp(p->pairs[i].key, p->pairs[n - 1].key) != 0)
			p->pairs[n++] = p->pairs[i];
	p->npairs = n;
	return true;
}

/* A JSON number as numeric_float8 would give it */
static double
NumberValue(const char *token)
{
	double		v;

	errno = 0;
	v = strtod(token, NULL);
	if (errno == ERANGE && (v == 0.0 || isinf(v)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type double precision", token)));
	return v == 0.0 ? 0.0 : v;	/* numeric has no negative zero */
}

typedef struct Check
{
	const Parsed *parsed;
	uint16		algid;
	MlopsModel	model;
	int			max_categories;
} Check;

/* What train.c's ParseHyperparams does with each key and value */
static void
RunChecks(void *arg)
{
	Check	   *c = arg;

	memset(&c->model, 0, sizeof(c->model));
	c->model.algo = MlopsAlgorithmById(c->algid);
	MlopsHyperparamsInit(&c->model, &c->max_categories);
	for (int i = 0; i < c->parsed->npairs; i++)
	{
		const Pair *pair = &c->parsed->pairs[i];
		int			idx = MlopsHyperparamIndex(&c->model, pair->key);
		double		val = 0.0;
		bool		number = true;

		if (pair->type == JSON_TOKEN_NUMBER)
			val = NumberValue(pair->token);
		else if (pair->type == JSON_TOKEN_TRUE || pair->type == JSON_TOKEN_FALSE)
			val = pair->type == JSON_TOKEN_TRUE ? 1.0 : 0.0;
		else
			number = false;
		MlopsHyperparamAssign(&c->model, idx, pair->key, number ? &val : NULL,
							  &c->max_categories);
	}
}

/* The stored form of accepted settings must be accepted with the same values */
static void
CheckStored(const Check *c)
{
	char	   *json = MlopsHyperparamsJson(&c->model, c->max_categories);
	Parsed		again;
	Check		c2;

	if (!ParseJson(json, strlen(json), &again))
		FuzzFail("stored hyperparameters are not valid JSON: %s", json);
	c2.parsed = &again;
	c2.algid = c->algid;
	if (!FuzzCatch(RunChecks, &c2))
		FuzzFail("stored hyperparameters %s are refused: %s", json, fuzz_errmsg);
	if (c2.max_categories != c->max_categories || c2.model.nhyper != c->model.nhyper)
		FuzzFail("stored hyperparameters %s read back differently", json);
	for (int i = 0; i < c->model.nhyper; i++)
		if (c2.model.hyper[i] != c->model.hyper[i])
			FuzzFail("stored hyperparameter %d of %s reads back differently", i, json);
}

static void
FindAlgorithm(void *arg)
{
	(void) MlopsAlgorithmById(*(uint16 *) arg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *json = palloc(size + 1);
	Parsed		parsed;

	memcpy(json, data, size);
	json[size] = '\0';
	if (ParseJson(json, size, &parsed) && parsed.root_is_object)
	{
		/* every algorithm of the table, by id (ids are never reused) */
		for (uint16 id = 1; FuzzCatch(FindAlgorithm, &id); id++)
		{
			Check		c;

			c.parsed = &parsed;
			c.algid = id;
			if (FuzzCatch(RunChecks, &c))
				CheckStored(&c);
			else if (fuzz_errcode != ERRCODE_INVALID_PARAMETER_VALUE &&
					 fuzz_errcode != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
				FuzzFail("unexpected error: %s", fuzz_errmsg);
		}
	}
	FuzzReset();
	return 0;
}
