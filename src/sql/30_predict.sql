
-- ---------------------------------------------------------------------------
-- Scoring inside queries.  STABLE: the version is resolved once per query
-- with the query's snapshot, so a query sees the model deployed as of its
-- start.  PARALLEL SAFE: parallel workers score their share of the rows.
-- ---------------------------------------------------------------------------
-- predict(project, t) over a table's rows is rewritten by the planner into
-- mlops._predict_columns(project, column names, columns...), which skips
-- forming each row into a composite value (see src/scoring/predict.c).  On
-- a Citus coordinator the same support function replaces a constant
-- project name by a ticket naming the resolved version (35_serving.sql).
CREATE FUNCTION mlops._predict_columns(project text, names text[], VARIADIC "any")
RETURNS float8 AS 'MODULE_PATHNAME', 'mlops_predict_columns'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops._predict_columns(text, text[], "any") IS
    'Internal: mlops.predict on a row given as its columns; produced by the planner';
CREATE FUNCTION mlops._predict_support(internal)
RETURNS internal AS 'MODULE_PATHNAME', 'mlops_predict_support'
LANGUAGE C STRICT;
COMMENT ON FUNCTION mlops._predict_support(internal) IS
    'Internal: planner support of mlops.predict(text, record)';

CREATE FUNCTION mlops.predict(project text, "row" record)
RETURNS float8 AS 'MODULE_PATHNAME', 'mlops_predict_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
CREATE FUNCTION mlops.predict(project text, "row" record, version integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'mlops_predict_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
COMMENT ON FUNCTION mlops.predict(text, record) IS
    'Prediction of the production model for a row (columns matched to features by name); classification: the index of the predicted class in model_versions.classes';
COMMENT ON FUNCTION mlops.predict(text, record, integer) IS
    'Prediction of a pinned version for a row';

CREATE FUNCTION mlops.predict(project text, features float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'mlops_predict_array'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
CREATE FUNCTION mlops.predict(project text, features float8[], version integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'mlops_predict_array'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
COMMENT ON FUNCTION mlops.predict(text, float8[]) IS
    'Prediction of the production model for feature values given in the order of model_versions.features';
COMMENT ON FUNCTION mlops.predict(text, float8[], integer) IS
    'Prediction of a pinned version for feature values in feature order';

CREATE FUNCTION mlops.predict_proba(project text, "row" record)
RETURNS float8[] AS 'MODULE_PATHNAME', 'mlops_predict_proba_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
CREATE FUNCTION mlops.predict_proba(project text, "row" record, version integer)
RETURNS float8[] AS 'MODULE_PATHNAME', 'mlops_predict_proba_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
COMMENT ON FUNCTION mlops.predict_proba(text, record) IS
    'Class probabilities, in the order of model_versions.classes';
COMMENT ON FUNCTION mlops.predict_proba(text, record, integer) IS
    'Class probabilities of a pinned version';

CREATE FUNCTION mlops.predict_label(project text, "row" record)
RETURNS text AS 'MODULE_PATHNAME', 'mlops_predict_label_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
CREATE FUNCTION mlops.predict_label(project text, "row" record, version integer)
RETURNS text AS 'MODULE_PATHNAME', 'mlops_predict_label_row'
LANGUAGE C STRICT STABLE PARALLEL SAFE
SUPPORT mlops._predict_support;
COMMENT ON FUNCTION mlops.predict_label(text, record) IS
    'The predicted class, as it was written in the target column';
COMMENT ON FUNCTION mlops.predict_label(text, record, integer) IS
    'The predicted class of a pinned version';

-- Each feature's contribution to one prediction (and the bias, term
-- '<bias>'), per class for classifiers; they add up to the prediction in
-- margin space.  Trees: TreeSHAP; linear models: coefficient times the
-- centred value.  Needs what mlops.predict needs.
CREATE FUNCTION mlops.explain_row(project text, "row" record, version integer DEFAULT NULL,
                                  OUT term text, OUT class text, OUT contribution float8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'mlops_explain_row'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION mlops.explain_row(text, record, integer) IS
    'Contribution of each feature to the prediction of one row (sums to the prediction in margin space)';

-- Internal, for tests: what XGBoost itself predicts for a row with a tree
-- version, in the form of predict_proba (or a one-element array), to
-- compare with mlops' own scoring of the same trees.  Not for PUBLIC.
CREATE FUNCTION mlops._xgboost_reference_predict(project text, "row" record, version integer)
RETURNS float8[] AS 'MODULE_PATHNAME', 'mlops_reference_predict'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
REVOKE EXECUTE ON FUNCTION mlops._xgboost_reference_predict(text, record, integer) FROM PUBLIC;
COMMENT ON FUNCTION mlops._xgboost_reference_predict(text, record, integer) IS
    'Internal (tests): XGBoost''s own prediction of a tree version for a row';
