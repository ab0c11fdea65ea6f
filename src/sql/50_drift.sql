-- mlops install script, part 50: drift monitoring.
--
-- Every trained version keeps a baseline of its training data
-- (mlops.model_versions.baseline, built by the training driver).
-- mlops.check_drift compares a live relation with it, writes one row to
-- mlops.drift_reports and, when the verdict is drift, queues a retrain in
-- mlops.retrain_queue.  docs/drift.md has the statistics, the thresholds
-- and the verdict rules.

-- ---------------------------------------------------------------------------
-- The accumulator: one scan of the live relation, shared by parallel workers
-- and pushed down by Citus to its workers
-- ---------------------------------------------------------------------------
-- Internal to mlops.check_drift, which builds the spec from the baseline
-- (kinds, bin edges and moments' shift per column) and reads the result.  A
-- row's values come in two arrays, in the spec's column order: numeric and
-- boolean columns as float8 (booleans 0 or 1), categorical ones as text.
-- The state is a bytea (expanded in memory while the aggregate runs), so
-- that Citus can ship it and PostgreSQL's parallel workers need no
-- serialisation functions; the result is the flat state.  The combine and
-- final functions also work on their own, on flat states.
CREATE FUNCTION mlops.drift_accumulate_trans(state bytea, spec bytea,
                                             numbers float8[], categories text[])
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_accum_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.drift_accumulate_combine(a bytea, b bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_accum_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.drift_accumulate_final(state bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_accum_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE mlops.drift_accumulate(spec bytea, numbers float8[], categories text[]) (
    SFUNC = mlops.drift_accumulate_trans,
    STYPE = bytea,
    COMBINEFUNC = mlops.drift_accumulate_combine,
    FINALFUNC = mlops.drift_accumulate_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.drift_accumulate(bytea, float8[], text[]) IS
'Internal to mlops.check_drift: reduces live rows to the counts the drift statistics need, in parallel';

-- The same aggregate with the values as arguments of their own types, read
-- directly (no arrays to build per row): what check_drift uses where Citus
-- is not installed, since Citus cannot push a VARIADIC "any" aggregate down.
-- Same state, combine and final functions.
CREATE FUNCTION mlops.drift_accumulate_local_trans(state bytea, spec bytea, VARIADIC "any")
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_drift_accum_trans_local'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE mlops.drift_accumulate_local(spec bytea, VARIADIC "any") (
    SFUNC = mlops.drift_accumulate_local_trans,
    STYPE = bytea,
    COMBINEFUNC = mlops.drift_accumulate_combine,
    FINALFUNC = mlops.drift_accumulate_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.drift_accumulate_local(bytea, VARIADIC "any") IS
'Internal to mlops.check_drift: mlops.drift_accumulate with the values as arguments, where Citus is not installed';

-- How check_drift builds the arrays of a row, reading values as training
-- does (numeric beyond float8's range is infinite, bpchar keeps its padding)
CREATE FUNCTION mlops._drift_numbers(VARIADIC "any")
RETURNS float8[]
AS 'MODULE_PATHNAME', 'mlops_drift_numbers'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._drift_numbers(VARIADIC "any") IS
'Internal to mlops.check_drift: numeric and boolean values as float8, as training reads them';
CREATE FUNCTION mlops._drift_categories(VARIADIC "any")
RETURNS text[]
AS 'MODULE_PATHNAME', 'mlops_drift_categories'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._drift_categories(VARIADIC "any") IS
'Internal to mlops.check_drift: values as the text of their categories, as training reads them';

-- ---------------------------------------------------------------------------
-- The drift check
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.check_drift(project text, relation regclass,
                                  version integer DEFAULT NULL)
RETURNS SETOF mlops.drift_reports
AS 'MODULE_PATHNAME', 'mlops_check_drift'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.check_drift(text, regclass, integer) IS
'Compares a live relation with the baseline of a version (default: production, else latest); records the report and queues a retrain on drift';

-- ---------------------------------------------------------------------------
-- Thresholds
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.set_drift_thresholds(project text, thresholds jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_set_drift_thresholds'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mlops.set_drift_thresholds(text, jsonb) IS
'Merges threshold overrides into a project''s (a JSON null resets one, a NULL argument resets all); returns the thresholds in effect';

CREATE FUNCTION mlops.drift_thresholds(project text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_drift_thresholds'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.drift_thresholds(text) IS
'Drift thresholds in effect for a project, or the defaults when project is NULL';

-- ---------------------------------------------------------------------------
-- The statistics, callable on their own (and checked against references)
-- ---------------------------------------------------------------------------
CREATE FUNCTION mlops.psi(expected float8[], actual float8[])
RETURNS float8
AS 'MODULE_PATHNAME', 'mlops_psi'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.psi(float8[], float8[]) IS
'Population stability index of two binned distributions (counts or shares; empty bins count as 1e-4)';

CREATE FUNCTION mlops.ks_test(a float8[], b float8[],
                              OUT statistic float8, OUT p_value float8)
AS 'MODULE_PATHNAME', 'mlops_ks_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.ks_test(float8[], float8[]) IS
'Two-sample Kolmogorov-Smirnov statistic and asymptotic p-value (Stephens'' correction)';

CREATE FUNCTION mlops.chi_square_test(a float8[], b float8[],
                                      OUT statistic float8, OUT df integer,
                                      OUT p_value float8)
AS 'MODULE_PATHNAME', 'mlops_chi_square_test'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION mlops.chi_square_test(float8[], float8[]) IS
'Chi-square test of homogeneity of two count vectors over the same buckets';

-- ---------------------------------------------------------------------------
-- The baseline as rows: one per feature (and target) and bucket
-- ---------------------------------------------------------------------------
-- Internal: a version's baseline, read for those who may act on the project
-- (PUBLIC cannot select model_versions.baseline: it samples training rows).
CREATE FUNCTION mlops._version_baseline(p_project text, p_version integer,
                                        OUT version integer, OUT baseline jsonb)
AS 'MODULE_PATHNAME', 'mlops_version_baseline'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mlops._version_baseline(text, integer) IS
'Internal to mlops.baseline: the stored baseline of a version, for the project''s owner';

CREATE FUNCTION mlops.baseline(project text, version integer DEFAULT NULL)
RETURNS TABLE (feature text, role text, kind text, type text, bucket integer,
               lower_bound float8, upper_bound float8, category text,
               share float8, rows bigint, null_share float8, mean float8,
               stddev float8, min float8, max float8)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
-- nothing of the caller's search_path (a function planted in public, say)
-- may stand in for the built-ins this body calls
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    b jsonb;
    v integer;
BEGIN
    -- _version_baseline checks that the project exists and that the caller
    -- may read it (row-level security would hide it from a query here)
    SELECT vb.baseline, vb.version INTO b, v
      FROM mlops._version_baseline(baseline.project, baseline.version) vb;
    IF v IS NULL AND baseline.version IS NULL THEN
        RAISE EXCEPTION 'project "%" has no model versions', baseline.project
              USING ERRCODE = 'undefined_object';
    ELSIF v IS NULL THEN
        RAISE EXCEPTION 'version % of project "%" does not exist', baseline.version, baseline.project
              USING ERRCODE = 'undefined_object';
    END IF;
    IF b IS NULL THEN
        RAISE EXCEPTION 'version % of project "%" has no drift baseline', v, baseline.project
              USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    RETURN QUERY
    WITH cols AS (
        SELECT c.value AS col, 'feature'::text AS role, c.ordinality AS ord
          FROM jsonb_array_elements(b -> 'features') WITH ORDINALITY AS c
        UNION ALL
        SELECT b -> 'target', 'target', 0
         WHERE jsonb_typeof(b -> 'target') = 'object'
    ),
    buckets AS (
        -- numeric: 12 bins, below min, ten deciles closed on the right, above max
        SELECT cols.ord, cols.role, cols.col, (k.ordinality - 1)::integer AS bucket,
               CASE WHEN k.ordinality = 1 THEN '-Infinity'::float8
                    ELSE (cols.col -> 'edges' ->> (k.ordinality::integer - 2))::float8 END AS lower_bound,
               CASE WHEN k.ordinality = 12 THEN 'Infinity'::float8
                    ELSE (cols.col -> 'edges' ->> (k.ordinality::integer - 1))::float8 END AS upper_bound,
               NULL::text AS category,
               k.value::text::float8 AS share
          FROM cols, jsonb_array_elements(cols.col -> 'bins') WITH ORDINALITY AS k
         WHERE cols.col ->> 'kind' = 'numeric'
        UNION ALL
        -- categorical and boolean: the top values, then "other" (category NULL)
        SELECT cols.ord, cols.role, cols.col, t.ordinality::integer,
               NULL, NULL, t.value ->> 'value', (t.value ->> 'share')::float8
          FROM cols, jsonb_array_elements(cols.col -> 'top') WITH ORDINALITY AS t
         WHERE cols.col ->> 'kind' <> 'numeric'
        UNION ALL
        SELECT cols.ord, cols.role, cols.col, jsonb_array_length(cols.col -> 'top') + 1,
               NULL, NULL, NULL, (cols.col ->> 'other_share')::float8
          FROM cols
         WHERE cols.col ->> 'kind' <> 'numeric'
    )
    SELECT bk.col ->> 'name', bk.role, bk.col ->> 'kind', bk.col ->> 'type',
           bk.bucket, bk.lower_bound, bk.upper_bound, bk.category, bk.share,
           (bk.col ->> 'rows')::bigint, (bk.col ->> 'null_share')::float8,
           (bk.col ->> 'mean')::float8, (bk.col ->> 'std')::float8,
           (bk.col ->> 'min')::float8, (bk.col ->> 'max')::float8
      FROM buckets bk
     ORDER BY bk.role, bk.ord, bk.bucket;
END;
$$;
COMMENT ON FUNCTION mlops.baseline(text, integer) IS
'Drift baseline of a version (default: production, else latest) as rows: one per feature and bucket, the target last';

-- ---------------------------------------------------------------------------
-- Drift history for BI tools: one row per report and feature
-- ---------------------------------------------------------------------------
CREATE VIEW mlops.drift_history AS
SELECT r.id                                          AS report_id,
       r.project,
       r.version,
       r.relation,
       r.checked_at,
       r.checked_by,
       r.rows_checked,
       r.verdict,
       r.drift_share,
       r.concept_drift,
       f.ordinality::integer                         AS feature_position,
       f.value ->> 'name'                            AS feature,
       f.value ->> 'kind'                            AS kind,
       f.value ->> 'status'                          AS status,
       (f.value ->> 'psi')::float8                   AS psi,
       (f.value ->> 'ks_statistic')::float8          AS ks_statistic,
       (f.value ->> 'ks_p_value')::float8            AS ks_p_value,
       (f.value ->> 'linf')::float8                  AS linf,
       (f.value ->> 'chi_square_p_value')::float8    AS chi_square_p_value,
       (f.value ->> 'unseen_share')::float8          AS unseen_share,
       (f.value ->> 'null_share_change')::float8     AS null_share_change,
       f.value                                       AS detail
FROM mlops.drift_reports r
CROSS JOIN LATERAL jsonb_array_elements(r.features) WITH ORDINALITY AS f;
COMMENT ON VIEW mlops.drift_history IS
'Drift reports flattened for BI tools: one row per report and feature, with the main statistics as columns';

-- read with the querying role's rights: row-level security on drift_reports
-- shows each role the reports of the projects it may read
ALTER VIEW mlops.drift_history SET (security_invoker = true);
GRANT SELECT ON mlops.drift_history TO PUBLIC;
