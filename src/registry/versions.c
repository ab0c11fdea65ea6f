/*-------------------------------------------------------------------------
 *
 * versions.c
 *	  Writing the registry's version rows: the project-row lock that
 *	  serialises the writes of one project, and the INSERT of a new
 *	  version into mlops.model_versions.
 *
 * Both run as the registry owner (MlopsBecomeRegistryOwner): the caller has
 * already checked that its user may change the project.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/util.h"
#include "registry/registry.h"

/*
 * Lock the project's row until the end of the transaction.  Whatever
 * creates versions of a project, deploys one or claims its retrains takes
 * it first, so that these serialise per project.
 */
void
MlopsLockProject(const char *project)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(project);
	MlopsExecOrError("SELECT 1 FROM mlops.projects WHERE name = $1 FOR UPDATE",
					 1, argtypes, values, NULL, SPI_OK_SELECT);
}

/*
 * Insert nv as the project's next version (one above its highest) and
 * return that number.  The champion, when there is one, goes into the
 * metrics under "champion" with its score on the project's key metric.
 */
int
MlopsInsertVersion(const MlopsNewVersion *nv)
{
	Oid			vtypes[21] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTARRAYOID, JSONBOID, TEXTOID, INT8OID, INT8OID,
		INT8OID, FLOAT8OID, FLOAT8OID, NAMEOID, TEXTOID,
	JSONBOID, BYTEAOID, INT4OID, FLOAT8OID, JSONBOID, JSONBOID};
	Datum		v[21];
	char		vn[21];
	Datum	   *classes = NULL;
	bool		isnull;
	Datum		d;

	memset(vn, ' ', sizeof(vn));
	v[0] = CStringGetTextDatum(nv->project);
	v[1] = CStringGetTextDatum(nv->algorithm);
	v[2] = CStringGetTextDatum(nv->hyperparams);
	v[3] = CStringGetTextDatum(nv->features);
	v[4] = nv->target ? CStringGetTextDatum(nv->target) : (Datum) 0;
	vn[4] = nv->target ? ' ' : 'n';
	if (nv->nclasses > 0)
	{
		classes = palloc(sizeof(Datum) * nv->nclasses);
		for (int k = 0; k < nv->nclasses; k++)
			classes[k] = CStringGetTextDatum(nv->classes[k]);
		v[5] = PointerGetDatum(construct_array(classes, nv->nclasses, TEXTOID,
											   -1, false, TYPALIGN_INT));
	}
	else
		vn[5] = 'n';
	v[6] = JsonbPGetDatum(nv->metrics);
	v[7] = CStringGetTextDatum(nv->relation);
	v[8] = Int64GetDatum(nv->snapshot);
	vn[8] = nv->snapshot ? ' ' : 'n';
	v[9] = Int64GetDatum(nv->train_rows);
	v[10] = Int64GetDatum(nv->test_rows);
	v[11] = Float8GetDatum(nv->test_size);
	v[12] = Float8GetDatum(nv->training_seconds);
	v[13] = DirectFunctionCall1(namein, CStringGetDatum(nv->trained_by));
	v[14] = CStringGetTextDatum(MLOPS_EXTENSION_VERSION);
	v[15] = nv->baseline ? JsonbPGetDatum(nv->baseline) : (Datum) 0;
	vn[15] = nv->baseline ? ' ' : 'n';
	v[16] = PointerGetDatum(nv->model);
	v[17] = Int32GetDatum(nv->champion_version);
	vn[17] = nv->champion_version ? ' ' : 'n';
	v[18] = Float8GetDatum(nv->champion_score);
	vn[18] = (nv->champion_version && !isnan(nv->champion_score)) ? ' ' : 'n';
	v[19] = nv->search ? JsonbPGetDatum(nv->search) : (Datum) 0;
	vn[19] = nv->search ? ' ' : 'n';
	v[20] = nv->tags ? JsonbPGetDatum(nv->tags) : (Datum) 0;
	vn[20] = nv->tags ? ' ' : 'n';

	MlopsExecOrError("INSERT INTO mlops.model_versions (project, version, algorithm, hyperparams, "
					 "  features, target, classes, metrics, relation, snapshot, train_rows, test_rows, "
					 "  test_size, seed, training_seconds, trained_by, extension_version, baseline, "
					 "  model, model_sha256, search, tags) "
					 "SELECT $1, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4::jsonb, $5, $6, "
					 "  CASE WHEN $18 IS NULL THEN $7 ELSE $7 || jsonb_build_object('champion', "
					 "    jsonb_build_object('version', $18, (SELECT key_metric FROM mlops.projects WHERE name = $1), $19)) END, "
					 "  $8, $9, $10, $11, $12, 0, $13, $14, $15, $16, $17, sha256($17), $20, $21 "
					 "FROM mlops.model_versions WHERE project = $1 RETURNING version",
					 21, vtypes, v, vn, SPI_OK_INSERT_RETURNING);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetInt32(d);
}
