-- bench/00_data.sql: the benchmark table and the timing helper.
--
-- bench_t: 1,000,000 rows x 10 float8 features (deterministic pseudo-random
-- normals), a linear target y = 3 + sum(k * f_k) / 10 + noise, and a binary
-- label drawn from a logistic model of the same features.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT setseed(0.42);
DROP TABLE IF EXISTS bench_t;
CREATE TABLE bench_t AS
SELECT i AS id, f[1] AS f1, f[2] AS f2, f[3] AS f3, f[4] AS f4, f[5] AS f5,
       f[6] AS f6, f[7] AS f7, f[8] AS f8, f[9] AS f9, f[10] AS f10,
       3 + (f[1] + 2*f[2] + 3*f[3] + 4*f[4] + 5*f[5] - f[6] - 2*f[7] - 3*f[8] - 4*f[9] - 5*f[10]) / 10
         + 0.5 * f[11] AS y,
       random() < 1 / (1 + exp(-(0.5 + f[1] - f[2] + 0.5*f[3] - 0.5*f[4]))) AS label
FROM (SELECT i, ARRAY(SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
                      FROM generate_series(1, 11) WHERE i > 0) AS f
      FROM generate_series(1, 1000000) i) s;
VACUUM ANALYZE bench_t;

-- Time a statement: the best of n runs, in milliseconds.
CREATE OR REPLACE FUNCTION bench_ms(stmt text, n int DEFAULT 3) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    best float8 := 'Infinity';
BEGIN
    FOR k IN 1..n LOOP
        t0 := clock_timestamp();
        EXECUTE stmt;
        best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
    RETURN best;
END;
$$;

CREATE TABLE IF NOT EXISTS bench_results (
    area text, what text, ms float8, reference text, reference_ms float8,
    ratio float8 GENERATED ALWAYS AS (ms / reference_ms) STORED, budget float8);
TRUNCATE bench_results;

SELECT pg_size_pretty(pg_total_relation_size('bench_t')) AS bench_t_size,
       (SELECT count(*) FROM bench_t) AS rows;
