
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
