/*-------------------------------------------------------------------------
 *
 * integrity.c
 *	  Checking model bytes against the sha256 that mlops.model_versions
 *	  stored with them, before the bytes are decoded for use.
 *
 * The registry writes model_sha256 = sha256(model) when it registers a
 * version.  The CRC-32C inside the model format only catches accidental
 * damage to the payload; the sha256 also catches bytes replaced after
 * registration (a manual UPDATE, a restore mixing two dumps), which could
 * otherwise carry a valid CRC.  Callers verify once per decode: scoring
 * keeps decoded models per backend keyed by (project, version, sha256), so
 * a model is hashed when a backend first loads it, never per row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "utils/builtins.h"

#include "model/integrity.h"

/*
 * ERROR (data_corrupted) unless bytes hash to sha256 (PG_SHA256_DIGEST_LENGTH
 * bytes), naming the project and version.
 */
void
MlopsVerifyModelBytes(const char *project, int version, const bytea *bytes,
					  const uint8 *sha256)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		stored_hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	char		actual_hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) VARDATA_ANY(bytes),
							 VARSIZE_ANY_EXHDR(bytes)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute the sha256 of a model: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);

	if (memcmp(digest, sha256, PG_SHA256_DIGEST_LENGTH) == 0)
		return;

	hex_encode((const char *) sha256, PG_SHA256_DIGEST_LENGTH, stored_hex);
	stored_hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, actual_hex);
	actual_hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model of version %d of project \"%s\" does not match its sha256",
					version, project),
			 errdetail("mlops.model_versions.model_sha256 is %s, the stored model bytes hash to %s.",
					   stored_hex, actual_hex),
			 errhint("The model bytes were changed after the version was registered; restore them from a backup, or train a new version.")));
}
