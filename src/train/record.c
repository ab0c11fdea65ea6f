/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Registering a version mlops.train has trained: the project row, the
 *	  version row, its search's candidates (mlops.trials), and its
 *	  deployment per the deploy policy.
 *
 * All of it runs as the registry owner, in the caller's transaction: an
 * error or a cancel leaves the registry as it was.  The project's row is
 * locked first, so that versions and deployments of one project serialise.
 * The champion was scored on the new held-out rows before the lock; one
 * deployed meanwhile is compared by its stored metric instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "algorithms/algorithm.h"
#include "core/util.h"
#include "train/metrics.h"
#include "train/train_int.h"

/*
 * ERROR unless the current user may train the project and, when the
 * training is to deploy (if_better, always), deploy it too.  Checked before
 * any row is read, and again once the project row is locked.
 */
void
TrainCheckPrivileges(const char *project, const char *deploy)
{
	MlopsCheckProjectPrivilege(project, MLOPS_PRIV_TRAIN);
	if (strcmp(deploy, "never") != 0)
		MlopsCheckProjectPrivilege(project, MLOPS_PRIV_DEPLOY);
}

/*
 * The project row: created when new, locked (versions and deployments of
 * the project serialise here), checked again, and pointed at the relation
 * just trained on.  Runs as the registry owner, sw saving the caller.
 */
static void
RecordProject(const TrainSpec *spec, const TrainResult *res, const TrainRecord *rec,
			  MlopsUserSwitch *sw)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	MlopsProject *locked;
	bool		owner;
	bool		exists;

	args[0] = CStringGetTextDatum(spec->project_name);
	args[1] = CStringGetTextDatum(MlopsTaskName(res->model->task));
	args[2] = spec->target ? CStringGetTextDatum(spec->target) : (Datum) 0;
	nulls[2] = spec->target ? ' ' : 'n';
	args[3] = CStringGetTextDatum(res->key_metric);
	args[4] = CStringGetTextDatum(spec->relation_text);
	args[5] = ObjectIdGetDatum(sw->saved_uid);
	MlopsExecOrError("INSERT INTO mlops.projects (name, task, target, key_metric, relation, owner) "
					 "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
					 6, argtypes, args, nulls, SPI_OK_INSERT);
	MlopsLockProject(spec->project_name);
	locked = MlopsGetProject(spec->project_name, false);

	/*
	 * The project may have been created by another role meanwhile.  The
	 * check is the caller's, so it is made as the caller.
	 */
	MlopsRestoreUser(sw);
	TrainCheckPrivileges(locked->name, rec->deploy);
	owner = (MlopsProjectPrivileges(locked->name, GetUserId(), &exists) & MLOPS_PRIV_OWNER) != 0;
	MlopsBecomeRegistryOwner(sw);
	if (strcmp(locked->task, MlopsTaskName(res->model->task)) != 0 ||
		(locked->target == NULL) != (spec->target == NULL) ||
		(locked->target && strcmp(locked->target, spec->target) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("project \"%s\" was created concurrently with another task or target",
						spec->project_name)));

	/*
	 * The relation a retrain reads again, with the rights of whoever runs
	 * it (the owner, or the owner's job).  Only an owner may point it
	 * elsewhere: a role granted train could otherwise make the owner's
	 * retrain read, and run the functions of, a view of its choosing.
	 */
	if (owner)
		MlopsExecOrError("UPDATE mlops.projects SET relation = $5 WHERE name = $1",
						 5, argtypes, args, nulls, SPI_OK_UPDATE);
}

/*
 * A production version deployed since the champion was scored is compared
 * by its stored metric; none left in production means no champion.
 */
static void
RecordRefreshChampion(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec)
{
	MlopsVersion *now = MlopsGetVersionFresh(spec->project_name, 0, true);

	if (now == NULL)
	{
		rec->champ_version = 0;
		rec->champ_score = NAN;
	}
	else if (now->version != rec->champ_version)
	{
		rec->champ_version = now->version;
		rec->champ_score = MlopsJsonbGetFloat(now->metrics, res->key_metric);
	}
}

/* The new version's row in mlops.model_versions; returns its number. */
static int
RecordVersion(const TrainSpec *spec, const TrainResult *res, const TrainRecord *rec)
{
	MlopsNewVersion nv;

	nv.project = spec->project_name;
	nv.algorithm = res->model->algo->name;
	nv.hyperparams = res->hyper_json;
	nv.features = res->features_json;
	nv.target = spec->target;
	nv.nclasses = res->model->nclasses;
	nv.classes = res->model->classes;
	nv.metrics = res->metrics;
	nv.relation = spec->relation_text;
	nv.snapshot = rec->snapshot;
	nv.train_rows = res->ntrain;
	nv.test_rows = res->ntest;
	nv.test_size = spec->test_size;
	nv.training_seconds = rec->seconds;
	nv.trained_by = rec->me;
	nv.baseline = res->baseline;
	nv.model = res->bytes;
	nv.champion_version = rec->champ_version;
	nv.champion_score = rec->champ_score;
	nv.search = res->search ? spec->search : NULL;
	nv.tags = spec->tags;
	return MlopsInsertVersion(&nv);
}

/*
 * The search's candidates, one mlops.trials row each (NULL for a NaN
 * metric), numbered from 1 in the order they were generated.
 */
static void
RecordTrials(const TrainSpec *spec, const TrainSearch *s, int version)
{
	Oid			types[9] = {TEXTOID, INT4OID, INT4OID, TEXTOID, FLOAT8ARRAYOID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, BOOLOID};
	Datum		v[9];
	char		n[9];
	Datum	   *folds = palloc(sizeof(Datum) * s->folds);
	bool	   *fnull = palloc(sizeof(bool) * s->folds);
	int			dims[1] = {s->folds};
	int			lbs[1] = {1};

	for (int c = 0; c < s->ncand; c++)
	{
		const TrainCandidate *cand = &s->cand[c];

		memset(n, ' ', sizeof(n));
		for (int k = 0; k < s->folds; k++)
		{
			folds[k] = Float8GetDatum(cand->fold_metric[k]);
			fnull[k] = isnan(cand->fold_metric[k]);
		}
		v[0] = CStringGetTextDatum(spec->project_name);
		v[1] = Int32GetDatum(version);
		v[2] = Int32GetDatum(c + 1);
		v[3] = CStringGetTextDatum(cand->hyper_json);
		v[4] = PointerGetDatum(construct_md_array(folds, fnull, 1, dims, lbs, FLOAT8OID,
												  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		v[5] = Float8GetDatum(cand->mean);
		n[5] = isnan(cand->mean) ? 'n' : ' ';
		v[6] = Float8GetDatum(cand->std);
		n[6] = isnan(cand->std) ? 'n' : ' ';
		v[7] = Float8GetDatum(cand->seconds);
		v[8] = BoolGetDatum(c == s->chosen);
		MlopsExecOrError("INSERT INTO mlops.trials (project, version, candidate, hyperparams, "
						 "fold_metrics, mean, std, seconds, chosen) "
						 "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)",
						 9, types, v, n, SPI_OK_INSERT);
	}
}

/*
 * The deployment policy: whether to deploy the new version, and why
 * (*reason NULL with deploy => 'never').  if_better deploys a first version,
 * or one that beats the champion; otherwise it says so in a NOTICE.
 */
static bool
DeployPolicy(const TrainResult *res, const TrainRecord *rec, char **reason)
{
	bool		do_deploy;

	if (strcmp(rec->deploy, "always") == 0)
	{
		do_deploy = true;
		*reason = psprintf("deploy => 'always' (%s %.6g)", res->key_metric, res->key_value);
	}
	else if (strcmp(rec->deploy, "never") == 0)
	{
		do_deploy = false;
		*reason = NULL;
	}
	else if (rec->champ_version == 0)
	{
		do_deploy = true;
		*reason = psprintf("first version in production (%s %.6g)", res->key_metric, res->key_value);
	}
	else
	{
		do_deploy = MlopsMetricBetter(res->key_metric, res->key_value, rec->champ_score);
		*reason = psprintf("%s %.6g beats version %d's %.6g on the same held-out rows",
						   res->key_metric, res->key_value, rec->champ_version, rec->champ_score);
		if (!do_deploy)
			ereport(NOTICE,
					(errmsg("version %d is not deployed: %s %.6g does not beat production version %d (%.6g)",
							rec->version, res->key_metric, res->key_value,
							rec->champ_version, rec->champ_score)));
	}
	return do_deploy;
}

/* Deploy the new version through mlops._deploy, with the policy's reason. */
static void
RecordDeploy(const TrainSpec *spec, const TrainRecord *rec, const char *reason)
{
	Oid			dtypes[5] = {TEXTOID, INT4OID, TEXTOID, TEXTOID, NAMEOID};
	Datum		dv[5];

	dv[0] = CStringGetTextDatum(spec->project_name);
	dv[1] = Int32GetDatum(rec->version);
	dv[2] = CStringGetTextDatum(strcmp(rec->deploy, "always") == 0 ? "always" : "if_better");
	dv[3] = CStringGetTextDatum(reason);
	dv[4] = rec->me_name;
	MlopsExecOrError("SELECT mlops._deploy($1, $2, $3, $4, $5)",
					 5, dtypes, dv, NULL, SPI_OK_SELECT);
}

/* The new version's row, read back into the function's result. */
static void
RecordReturnRow(const TrainSpec *spec, const TrainRecord *rec, ReturnSetInfo *rsinfo)
{
	Oid			rtypes[2] = {TEXTOID, INT4OID};
	Datum		rv[2];
	MemoryContext oldcxt;

	rv[0] = CStringGetTextDatum(spec->project_name);
	rv[1] = Int32GetDatum(rec->version);
	if (SPI_execute_with_args("SELECT * FROM mlops.model_versions WHERE project = $1 AND version = $2",
							  2, rtypes, rv, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read back version %d", rec->version);
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[0]);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Register the trained version as the registry owner: the project row, the
 * version row, its deployment per the policy, and the row to return.
 */
void
TrainRegister(const TrainSpec *spec, const TrainResult *res, TrainRecord *rec,
			  ReturnSetInfo *rsinfo)
{
	MlopsUserSwitch sw;
	char	   *reason;

	MlopsBecomeRegistryOwner(&sw);
	RecordProject(spec, res, rec, &sw);
	RecordRefreshChampion(spec, res, rec);
	rec->version = RecordVersion(spec, res, rec);
	if (res->search)
		RecordTrials(spec, res->search, rec->version);
	if (DeployPolicy(res, rec, &reason))
		RecordDeploy(spec, rec, reason);
	RecordReturnRow(spec, rec, rsinfo);
	MlopsRestoreUser(&sw);
}
