
-- ---------------------------------------------------------------------------
-- Training, evaluation and explanation
-- ---------------------------------------------------------------------------

-- Train a model version from a table, view or materialized view, read with
-- the caller's privileges (row-level security applies).  Returns the new
-- mlops.model_versions row.  search runs a hyperparameter search (each
-- candidate in mlops.trials); tags are kept on the version.  tags comes last
-- so that positional calls written before it still work.  See
-- docs/sql-reference.md for every argument.
CREATE FUNCTION mlops.train(project     text,
                            relation    regclass,
                            target      text    DEFAULT NULL,
                            task        text    DEFAULT NULL,
                            algorithm   text    DEFAULT NULL,
                            hyperparams jsonb   DEFAULT '{}',
                            features    text[]  DEFAULT NULL,
                            test_size   float8  DEFAULT 0.25,
                            search      jsonb   DEFAULT NULL,
                            deploy      text    DEFAULT 'if_better',
                            tags        jsonb   DEFAULT NULL)
RETURNS SETOF mlops.model_versions
AS 'MODULE_PATHNAME', 'mlops_train'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION mlops.train(text, regclass, text, text, text, jsonb, text[], float8, jsonb, text, jsonb) IS
    'Train (with search => a grid or random search by k-fold cross-validation), register and (deploy => if_better|always|never) deploy a model version';

-- Metrics of a version (default: production) on the rows of any relation
-- that has the model's feature columns and the target.
CREATE FUNCTION mlops.evaluate(project text, relation regclass, version integer DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_evaluate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION mlops.evaluate(text, regclass, integer) IS
    'Metrics of a model version (default: production) on the rows of a relation';

-- Coefficients (with standard errors and p-values where defined) or feature
-- importances of a version, one row per term.  gain, cover and weight are
-- XGBoost's importances of a tree model's columns (NULL for other models).
CREATE FUNCTION mlops.explain(project text, version integer DEFAULT NULL,
                              OUT term text, OUT class text, OUT coefficient float8,
                              OUT std_error float8, OUT statistic float8,
                              OUT p_value float8, OUT importance float8,
                              OUT gain float8, OUT cover float8, OUT weight float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mlops_explain'
LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION mlops.explain(text, integer) IS
    'Coefficients, standard errors, p-values or importances of a model version';

-- Retrain a version from its stored snapshot, hyperparameters and seed,
-- without reading the live relation, and compare the result.
CREATE FUNCTION mlops.reproduce(project text, version integer,
                                OUT snapshot bigint,
                                OUT identical boolean, OUT metrics_equal boolean,
                                OUT original_sha256 bytea, OUT reproduced_sha256 bytea,
                                OUT original_metrics jsonb, OUT reproduced_metrics jsonb)
RETURNS record
AS 'MODULE_PATHNAME', 'mlops_reproduce'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION mlops.reproduce(text, integer) IS
    'Retrain a version from its snapshot and report whether the model bytes are identical';

-- ---------------------------------------------------------------------------
-- Training where the rows are: aggregates that parallel workers and Citus
-- workers can run (docs/algorithms.md, "Exact moments")
-- ---------------------------------------------------------------------------
-- A row's side of mlops.train's split from its content: -1 when held out
-- with this test_size, else its cross-validation fold (0 .. folds - 1).  The
-- variadic arguments are the training columns in mlops.train's order (the
-- features, then the target).
CREATE FUNCTION mlops.split_side(test_size float8, folds integer, VARIADIC "any")
RETURNS integer
AS 'MODULE_PATHNAME', 'mlops_split_side'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mlops.split_side(float8, integer, "any") IS
    'Side of mlops.train''s train/test split (-1: held out) or cross-validation fold of a row, from its content';

-- Exact moments of rows z = (x_1, ..., x_p, y) for linear and ridge
-- regression (one array argument: Citus passes it to the transition function
-- as it is).  The state is bytea (an expanded object while rows arrive); the
-- result is its canonical serialised form: the same bytes for the same rows
-- in any order and split.
CREATE FUNCTION mlops.linear_moments_trans(bytea, float8[])
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_linear_moments_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.linear_moments_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_linear_moments_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.linear_moments_final(bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_linear_moments_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE mlops.linear_moments(z float8[]) (
    SFUNC = mlops.linear_moments_trans,
    STYPE = bytea,
    COMBINEFUNC = mlops.linear_moments_combine,
    FINALFUNC = mlops.linear_moments_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.linear_moments(float8[]) IS
    'Exact moments of rows (x_1, ..., x_p, y) (NULL x elements missing), which linear and ridge training fit from';

-- Regression metrics of a model (bytes from mlops.model_versions.model) on
-- rows z = (x in the model's feature order, NULL for missing, then y), from
-- exact sums: {"r2", "rmse", "mae", "rows"} as mlops.train and
-- mlops.evaluate report them.
CREATE FUNCTION mlops.regression_metrics_trans(bytea, bytea, float8[])
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_regression_metrics_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.regression_metrics_combine(bytea, bytea)
RETURNS bytea
AS 'MODULE_PATHNAME', 'mlops_regression_metrics_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mlops.regression_metrics_final(bytea)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mlops_regression_metrics_final'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE mlops.regression_metrics(model bytea, z float8[]) (
    SFUNC = mlops.regression_metrics_trans,
    STYPE = bytea,
    COMBINEFUNC = mlops.regression_metrics_combine,
    FINALFUNC = mlops.regression_metrics_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE mlops.regression_metrics(bytea, float8[]) IS
    'r2, rmse and mae of a regression model on rows (x_1, ..., x_p, y), from exact sums';
