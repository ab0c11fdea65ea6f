/*-------------------------------------------------------------------------
 *
 * tree_model.c
 *	  Tree ensembles (gbt, random_forest) as mlops stores and scores them.
 *
 * At training, XGBoost's model (saved as JSON) is read once into flat
 * arrays in the model's params (layout in tree_model.h); XGBoost's own
 * bytes travel beside them in the model's blob.  At load (the per-backend
 * model cache) the params are compiled into a node array, and scoring a
 * row walks the trees in C: no XGBoost call, no OpenMP thread, no
 * allocation per row.  Why store the arrays rather than parse XGBoost's
 * model at load: scoring backends (and parallel workers) then never start
 * XGBoost or its threads, loading costs no JSON parse, and the layout is
 * ours, so a later libxgboost that reads old models differently cannot
 * change a stored model's predictions.
 *
 * The arithmetic is XGBoost's: inputs are rounded to float32 before they
 * are compared with the (float32) thresholds, a missing value (NaN) takes
 * the split's default direction, leaf values are summed in float32 in tree
 * order onto the base margin, and the sigmoid or softmax is taken in
 * float32 as XGBoost's predictor does, so predictions equal XGBoost's own
 * (test/gbt_native.sql checks this).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "algorithms/algo_common.h"
#include "algorithms/tree_model.h"

/*
 * One node of a compiled ensemble, 12 bytes.  Children are stored side by
 * side (right = left + 1), so a node needs one child index; 0 marks a leaf
 * (node 0, the first tree's root, is nobody's child).
 */
typedef struct TreeNode
{
	uint32		split;			/* split column; TREE_DEFAULT_LEFT set when a
								 * missing value goes left */
	int32		left;			/* index of the left child, 0 for a leaf */
	float		value;			/* threshold, or the leaf value */
} TreeNode;

#define TREE_DEFAULT_LEFT	0x80000000u

/* A compiled ensemble: model->compiled of a tree model */
typedef struct CompiledTrees
{
	int			objective;
	int			ngroups;
	float		base_margin;
	int			ntrees;
	int32	   *group;			/* per tree */
	int32	   *root;			/* per tree: index of its root node */
	TreeNode   *nodes;
	float	   *margin;			/* scratch: ngroups */
	float	   *xf;				/* scratch: the row as float32, ncols */
	void	   *library;		/* XGBoost's booster, once algo_trees.c needs it */
} CompiledTrees;

/* ---- reading XGBoost's JSON model ---- */

static void
JsonModelError(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not read XGBoost's model: %s", what)));
}

/* The value of key in a jsonb object; ERROR when absent */
static JsonbValue *
JsonField(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = palloc(sizeof(JsonbValue));

	if (obj == NULL || !JsonContainerIsObject(obj) ||
		getKeyJsonValueFromContainer(obj, key, strlen(key), v) == NULL)
		JsonModelError(psprintf("no \"%s\"", key));
	return v;
}

/* The object or array under key */
static JsonbContainer *
JsonContainerField(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = JsonField(obj, key);

	if (v->type != jbvBinary)
		JsonModelError(psprintf("\"%s\" is not an object or array", key));
	return v->val.binary.data;
}

/* A number, written as a JSON number or (XGBoost's parameters) a string */
static double
JsonNumber(const JsonbValue *v, const char *key)
{
	if (v->type == jbvBool)
		return v->val.boolean ? 1.0 : 0.0;
	if (v->type == jbvNumeric)
		return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												  NumericGetDatum(v->val.numeric)));
	if (v->type == jbvString)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);
		char	   *end;
		double		d = strtod(s, &end);

		if (end != s && *end == '\0')
			return d;
	}
	JsonModelError(psprintf("\"%s\" is not a number", key));
	return 0;					/* keep compiler quiet */
}

/* The numbers of the array under key, into out[n]; ERROR unless n of them */
static void
JsonNumberArray(JsonbContainer *obj, const char *key, double *out, int n)
{
	JsonbContainer *arr = JsonContainerField(obj, key);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i = 0;

	if (!JsonContainerIsArray(arr) || JsonContainerSize(arr) != (uint32) n)
		JsonModelError(psprintf("\"%s\" is not an array of %d values", key, n));
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM && i < n)
			out[i++] = JsonNumber(&v, key);
}

/*
 * Copy tree t's nodes (XGBoost's arrays) into params at dst, checking
 * them; returns the node count.
 */
static int
ReadTree(JsonbContainer *tree, int p, double *dst)
{
	JsonbContainer *tparam = JsonContainerField(tree, "tree_param");
	int			n = (int) JsonNumber(JsonField(tparam, "num_nodes"), "num_nodes");
	double	   *split = palloc(sizeof(double) * n);
	double	   *cond = palloc(sizeof(double) * n);
	double	   *left = palloc(sizeof(double) * n);
	double	   *right = palloc(sizeof(double) * n);
	double	   *defl = palloc(sizeof(double) * n);
	double	   *stype = palloc(sizeof(double) * n);

	if (n < 1)
		JsonModelError("a tree without nodes");
	JsonNumberArray(tree, "split_indices", split, n);
	JsonNumberArray(tree, "split_conditions", cond, n);
	JsonNumberArray(tree, "left_children", left, n);
	JsonNumberArray(tree, "right_children", right, n);
	JsonNumberArray(tree, "default_left", defl, n);
	JsonNumberArray(tree, "split_type", stype, n);
	for (int i = 0; i < n; i++)
	{
		double	   *node = dst + (Size) i * TREES_NODE_WIDTH;
		bool		leaf = left[i] < 0;

		if (!leaf && (left[i] >= n || right[i] < 0 || right[i] >= n ||
					  split[i] < 0 || split[i] >= p || stype[i] != 0))
			JsonModelError("a split out of range, or a categorical split");
		node[0] = leaf ? -1 : split[i];
		node[1] = (double) (float) cond[i];
		node[2] = leaf ? -1 : left[i];
		node[3] = leaf ? -1 : right[i];
		node[4] = !leaf && defl[i] != 0 ? 1 : 0;
	}
	return n;
}

/*
 * Store the ensemble XGBoost saved as json into model->params (layout in
 * tree_model.h), with the rounds it holds and the importances (3 per
 * design column: splits, total gain, total cover).
 */
void
MlopsTreesFromXgboostJson(MlopsModel *model, const char *json, int rounds,
						  const double *importance)
{
	Jsonb	   *doc = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	JsonbContainer *learner = JsonContainerField(&doc->root, "learner");
	JsonbContainer *mparam = JsonContainerField(learner, "learner_model_param");
	JsonbContainer *booster = JsonContainerField(learner, "gradient_booster");
	JsonbContainer *gbmodel = JsonContainerField(booster, "model");
	JsonbContainer *trees = JsonContainerField(gbmodel, "trees");
	JsonbValue *objv = JsonField(JsonContainerField(learner, "objective"), "name");
	char	   *objective;
	int			obj = 0;
	int			p = model->ncols;
	int			T;
	int			G;
	int64		N = 0;
	float		base;
	double	   *params;
	double	   *groups;
	Size		cap;

	if (objv->type != jbvString)
		JsonModelError("the objective has no name");
	objective = pnstrdup(objv->val.string.val, objv->val.string.len);
	if (strcmp(objective, "reg:squarederror") == 0)
		obj = TREES_OBJ_SQUARED_ERROR;
	else if (strcmp(objective, "binary:logistic") == 0)
		obj = TREES_OBJ_LOGISTIC;
	else if (strcmp(objective, "multi:softprob") == 0)
		obj = TREES_OBJ_SOFTPROB;
	else
		JsonModelError(psprintf("unexpected objective \"%s\"", objective));
	if (!JsonContainerIsArray(trees))
		JsonModelError("\"trees\" is not an array");
	T = (int) JsonContainerSize(trees);
	G = obj == TREES_OBJ_SOFTPROB ? model->nclasses : 1;
	if ((int) JsonNumber(JsonField(mparam, "num_class"), "num_class") != (G > 1 ? G : 0))
		JsonModelError("the number of classes differs");

	/* base_score is a probability for the logistic objective: to margin, in float */
	base = (float) JsonNumber(JsonField(mparam, "base_score"), "base_score");
	if (obj == TREES_OBJ_LOGISTIC)
		base = -logf(1.0f / base - 1.0f);

	groups = palloc(sizeof(double) * Max(T, 1));
	JsonNumberArray(gbmodel, "tree_info", groups, T);

	/* nodes are appended as the trees are read; grow the array as needed */
	cap = TREES_NPARAMS(T, 64 * (Size) Max(T, 1), p);
	params = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
	for (int t = 0; t < T; t++)
	{
		JsonbValue *tv = getIthJsonbValueFromContainer(trees, t);
		JsonbContainer *tree;
		int			n;

		if (tv == NULL || tv->type != jbvBinary)
			JsonModelError("a tree is not an object");
		tree = tv->val.binary.data;
		n = (int) JsonNumber(JsonField(JsonContainerField(tree, "tree_param"), "num_nodes"),
							 "num_nodes");
		if ((Size) TREES_NPARAMS(T, N + n, p) > cap)
		{
			cap = Max(cap * 2, (Size) TREES_NPARAMS(T, N + n, p));
			params = repalloc_huge(params, sizeof(double) * cap);
		}
		if (groups[t] < 0 || groups[t] >= G)
			JsonModelError("a tree of an unknown class");
		params[TREES_HEADER + t] = groups[t];
		params[TREES_HEADER + T + t] = ReadTree(tree, p, params + TREES_NODES_AT(T) +
												(Size) N * TREES_NODE_WIDTH);
		N += n;
	}
	if (N > PG_INT32_MAX / 2)
		JsonModelError("too many nodes");
	params[0] = TREES_LAYOUT_VERSION;
	params[1] = obj;
	params[2] = G;
	params[3] = base;
	params[4] = rounds;
	params[5] = T;
	params[6] = (double) N;
	params[7] = p;
	memcpy(params + TREES_IMPORTANCE_AT(T, N), importance, sizeof(double) * 3 * p);
	model->params = params;
	model->nparams = TREES_NPARAMS(T, N, p);
}

/* ---- compiling and scoring ---- */

/*
 * The number of params a tree model of this shape has: the header's tree
 * and node counts decide it (-1 for a header that is not one).
 */
int64
MlopsTreesNParams(const MlopsModel *model)
{
	const double *pr = model->params;

	if (model->nparams < TREES_HEADER)
		return TREES_HEADER;
	if (!(pr[5] >= 0 && pr[5] <= PG_INT32_MAX && pr[6] >= pr[5] && pr[6] <= PG_INT32_MAX / 2) ||
		pr[5] != floor(pr[5]) || pr[6] != floor(pr[6]))
		return -1;
	return TREES_NPARAMS((int64) pr[5], (int64) pr[6], (int64) model->ncols);
}

static void
CorruptTrees(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model bytes are corrupted: %s", what)));
}

/*
 * Compile one tree's n stored nodes (src) into dst, whose first node has
 * index base in the node array, renumbering them breadth first so that
 * children sit side by side.  Returns the nodes placed: those reachable
 * from the root.  Every walk from the root ends at a leaf: each child
 * index is in range, and no node is the child of two splits nor is the
 * root anyone's child, so no walk can cycle.
 */
static int
CompileTree(const double *src, int n, int p, int32 base, TreeNode *dst)
{
	bool	   *has_parent = palloc0(sizeof(bool) * n);
	int		   *order = palloc(sizeof(int) * n);	/* stored index of each placed node */
	int			placed = 1;

	order[0] = 0;
	for (int k = 0; k < placed; k++)
	{
		const double *s = src + (Size) order[k] * TREES_NODE_WIDTH;
		TreeNode   *d = &dst[k];
		int			l = (int) s[2];
		int			r = (int) s[3];

		d->value = (float) s[1];
		d->left = 0;
		d->split = 0;
		if (s[0] < 0)
			continue;
		if (s[0] >= p || !(s[2] >= 1 && s[2] < n) || !(s[3] >= 1 && s[3] < n) ||
			l == r || has_parent[l] || has_parent[r])
			CorruptTrees("a split is out of range");
		has_parent[l] = has_parent[r] = true;
		d->split = (uint32) s[0] | (s[4] != 0 ? TREE_DEFAULT_LEFT : 0);
		d->left = base + placed;
		order[placed++] = l;
		order[placed++] = r;
	}
	pfree(has_parent);
	pfree(order);
	return placed;
}

/*
 * Compile a tree model's params into model->compiled, checking every
 * index so that scoring needs no check.
 */
void
MlopsTreesLoad(MlopsModel *model)
{
	const double *pr = model->params;
	CompiledTrees *ct;
	int			T,
				N,
				p,
				G;
	int			node = 0;		/* compiled nodes so far */
	int			stored = 0;		/* stored nodes read so far */

	if (model->nparams < TREES_HEADER || pr[0] != TREES_LAYOUT_VERSION)
		CorruptTrees("unknown tree layout");
	T = (int) pr[5];
	N = (int) pr[6];
	p = (int) pr[7];
	G = (int) pr[2];
	if (T < 0 || N < T || p != model->ncols || G < 1 ||
		G != (model->task == MLOPS_TASK_CLASSIFICATION && model->nclasses > 2 ?
			  model->nclasses : 1) ||
		(int64) model->nparams != (int64) TREES_NPARAMS((int64) T, (int64) N, (int64) p))
		CorruptTrees("tree counts do not add up");

	ct = palloc0(sizeof(CompiledTrees));
	ct->objective = (int) pr[1];
	ct->ngroups = G;
	ct->base_margin = (float) pr[3];
	ct->ntrees = T;
	ct->group = palloc(sizeof(int32) * Max(T, 1));
	ct->root = palloc(sizeof(int32) * Max(T, 1));
	ct->nodes = palloc_extended(sizeof(TreeNode) * Max(N, 1), MCXT_ALLOC_HUGE);
	ct->margin = palloc(sizeof(float) * G);
	ct->xf = palloc(sizeof(float) * Max(p, 1));
	for (int t = 0; t < T; t++)
	{
		int			n = (int) pr[TREES_HEADER + T + t];

		ct->group[t] = (int32) pr[TREES_HEADER + t];
		if (ct->group[t] < 0 || ct->group[t] >= G || n < 1 || n > N - stored)
			CorruptTrees("a tree is out of range");
		ct->root[t] = node;
		node += CompileTree(pr + TREES_NODES_AT(T) + (Size) stored * TREES_NODE_WIDTH, n, p,
							node, ct->nodes + node);
		stored += n;
	}
	if (stored != N)
		CorruptTrees("tree counts do not add up");
	model->compiled = ct;
}

/*
 * Where algo_trees.c keeps XGBoost's booster of a loaded model (for
 * explain_row and tests): a slot in the compiled model, whose memory
 * context the booster's session should live in, so that both go together.
 */
void	  **
MlopsTreesLibrarySlot(const MlopsModel *model, MemoryContext *cxt)
{
	CompiledTrees *ct = model->compiled;

	*cxt = GetMemoryChunkContext(ct);
	return &ct->library;
}

/* Number of outputs in margin space: 1, or the classes of a multiclass model */
int
MlopsTreesOutputGroups(const MlopsModel *model)
{
	return ((const CompiledTrees *) model->compiled)->ngroups;
}

/*
 * Score one design row: the value, or the class probabilities, computed as
 * XGBoost computes them (see the file comment).
 */
void
MlopsTreesPredict(const MlopsModel *model, const double *x, double *out)
{
	const CompiledTrees *ct = model->compiled;
	const TreeNode *nodes = ct->nodes;
	float	   *m = ct->margin;
	float	   *xf = ct->xf;

	/* XGBoost compares float32 values; NaN stays NaN (missing) */
	for (int j = 0; j < model->ncols; j++)
		xf[j] = (float) x[j];
	for (int g = 0; g < ct->ngroups; g++)
		m[g] = ct->base_margin;
	for (int t = 0; t < ct->ntrees; t++)
	{
		const TreeNode *n = &nodes[ct->root[t]];

		while (n->left != 0)
		{
			float		v = xf[n->split & ~TREE_DEFAULT_LEFT];
			int			right;

			/* every comparison with NaN is false: missing goes the default way */
			if (n->split & TREE_DEFAULT_LEFT)
				right = v >= n->value;
			else
				right = !(v < n->value);
			n = &nodes[n->left + right];
		}
		m[ct->group[t]] += n->value;
	}

	switch (ct->objective)
	{
		case TREES_OBJ_LOGISTIC:
			{
				float		p1 = 1.0f / (1.0f + expf(-m[0]));

				out[1] = p1;
				out[0] = 1.0 - (double) p1;
				break;
			}
		case TREES_OBJ_SOFTPROB:
			{
				float		mx = m[0];
				double		sum = 0.0;

				for (int g = 1; g < ct->ngroups; g++)
					mx = Max(mx, m[g]);
				for (int g = 0; g < ct->ngroups; g++)
				{
					m[g] = expf(m[g] - mx);
					sum += m[g];
				}
				for (int g = 0; g < ct->ngroups; g++)
					out[g] = m[g] / (float) sum;
				break;
			}
		default:
			out[0] = m[0];
			break;
	}
}

/* ---- explain ---- */

/*
 * explain() of a tree model: a row per design column, and for each
 * categorical feature a row summing its one-hot columns (term: the
 * feature's name).  weight: the splits on the column; gain and cover: their
 * mean gain and mean cover (XGBoost's "gain" and "cover" importances);
 * importance: the column's share of the total gain of all splits.
 */
int
MlopsTreesExplain(const MlopsModel *model, MlopsExplainRow **rows)
{
	const double *pr = model->params;
	int			T = (int) pr[5];
	int			N = (int) pr[6];
	int			p = model->ncols;
	const double *imp = pr + TREES_IMPORTANCE_AT(T, N);
	MlopsExplainRow *r = palloc(sizeof(MlopsExplainRow) * Max(p + model->nfeatures, 1));
	double		total_gain = 0.0;
	int			nrows = 0;

	for (int j = 0; j < p; j++)
		total_gain += imp[3 * j + 1];
	for (int f = 0; f < model->nfeatures; f++)
	{
		const MlopsFeature *feat = &model->features[f];
		double		w = 0.0,
					g = 0.0,
					c = 0.0;

		for (int j = feat->offset; j < feat->offset + feat->width; j++)
		{
			MlopsExplainRow *row = &r[nrows++];

			MlopsExplainRowInit(row, MlopsDesignColumnName(model, j));
			row->weight = imp[3 * j];
			row->gain = imp[3 * j] > 0 ? imp[3 * j + 1] / imp[3 * j] : 0.0;
			row->cover = imp[3 * j] > 0 ? imp[3 * j + 2] / imp[3 * j] : 0.0;
			row->importance = total_gain > 0 ? imp[3 * j + 1] / total_gain : 0.0;
			w += imp[3 * j];
			g += imp[3 * j + 1];
			c += imp[3 * j + 2];
		}
		if (feat->kind == MLOPS_KIND_CATEGORICAL)
		{
			MlopsExplainRow *row = &r[nrows++];

			MlopsExplainRowInit(row, feat->name);
			row->weight = w;
			row->gain = w > 0 ? g / w : 0.0;
			row->cover = w > 0 ? c / w : 0.0;
			row->importance = total_gain > 0 ? g / total_gain : 0.0;
		}
	}
	*rows = r;
	return nrows;
}
