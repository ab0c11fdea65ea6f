-- test/lib/helpers.sql -- helpers shared by the pgTAP files in test/.
--
-- A test includes this file after its preamble, with the path relative to
-- the test:
--
--     \set ON_ERROR_STOP 1
--     SET client_min_messages = warning;
--     \ir lib/helpers.sql
--
-- pg_prove runs each file in its own psql session, so every helper is made
-- in pg_temp: it is the session's own, goes away with it, and is called
-- schema-qualified (pg_temp.wait_for(...)).  A test that reconnects
-- (\connect) includes this file again.  pg_prove does not descend into
-- test/lib/, so this file is not run as a test itself.
--
-- Functions that use dblink or mlops are PL/pgSQL: their bodies are checked
-- only when they run, so including this file needs neither.

-- ---------------------------------------------------------------------------
-- bounded waits: background workers act in their own time, so a test polls,
-- and gives up after a timeout rather than hanging
-- ---------------------------------------------------------------------------

-- Polls the SQL condition cond every 0.2 s (statistics views read afresh
-- each time) until it is target, for at most secs seconds: true as soon as
-- it is, false if it never was.
CREATE FUNCTION pg_temp.poll_until(cond text, secs float8, target boolean)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => secs);
    ok boolean;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();   -- see other backends afresh
        EXECUTE 'SELECT (' || cond || ')' INTO ok;
        IF ok = target THEN RETURN true; END IF;
        IF clock_timestamp() > deadline THEN RETURN false; END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
END $$;

-- True as soon as the SQL condition cond holds, false once timeout seconds
-- have passed without it: that something happens.
CREATE FUNCTION pg_temp.wait_for(cond text, timeout float8 DEFAULT 30) RETURNS boolean
LANGUAGE sql AS $$ SELECT pg_temp.poll_until(cond, timeout, true) $$;

-- True when the SQL condition cond holds at every poll during secs seconds,
-- false as soon as it does not: that something does not happen.
CREATE FUNCTION pg_temp.holds_for(cond text, secs float8) RETURNS boolean
LANGUAGE sql AS $$ SELECT NOT pg_temp.poll_until(cond, secs, false) $$;

-- The mlops launcher(s) of this database, as pg_stat_activity shows them
CREATE TEMP VIEW mlops_launchers AS
SELECT pid, query FROM pg_stat_activity
 WHERE backend_type = 'mlops launcher' AND datname = current_database();

-- ---------------------------------------------------------------------------
-- other sessions: through dblink inside the server, or psql started by the
-- server (COPY ... FROM PROGRAM) for a separate process
-- ---------------------------------------------------------------------------

-- s quoted for the shell, whatever it holds
CREATE FUNCTION pg_temp.shell_quote(s text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT '''' || replace(s, '''', '''\''''') || '''' $$;

-- A libpq connection string to database dbname of this server, as postgres
CREATE FUNCTION pg_temp.conninfo(dbname text DEFAULT current_database())
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('host=%s port=%s dbname=%s user=postgres',
                  split_part(current_setting('unix_socket_directories'), ',', 1),
                  current_setting('port'), dbname)
$$;

-- The shell command that runs each of commands (one psql -c each) in a new
-- session on database dbname of this server, printing bare values
CREATE FUNCTION pg_temp.psql_command(commands text[], dbname text DEFAULT current_database())
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT format('%s/psql -X -q -A -t -d %s', current_setting('mlops_test.bindir'),
                  pg_temp.shell_quote(pg_temp.conninfo(dbname)))
           || coalesce((SELECT string_agg(' -c ' || pg_temp.shell_quote(c), '' ORDER BY o)
                          FROM unnest(commands) WITH ORDINALITY AS u(c, o)), '')
$$;

-- Runs command with the server's shell and returns what it printed on
-- stdout, a line a row, as it was written.  The command failing (a
-- non-zero exit) is an error.
CREATE TEMP TABLE helpers_shell_output (n bigserial, line text);
CREATE FUNCTION pg_temp.shell_lines(command text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM pg_temp.helpers_shell_output;
    -- csv with delimiter and quote characters no output contains: every
    -- line arrives whole, backslashes and tabs included
    EXECUTE format($f$COPY pg_temp.helpers_shell_output (line) FROM PROGRAM %L
                      WITH (FORMAT csv, DELIMITER E'\x01', QUOTE E'\x02', FORCE_NOT_NULL (line))$f$,
                   command);
    RETURN QUERY SELECT o.line FROM pg_temp.helpers_shell_output o ORDER BY o.n;
END $$;

-- Runs commands in another session of this database (a psql process): what
-- it commits is committed independently of this session.  Returns what it
-- printed; an error there is an error here.
CREATE FUNCTION pg_temp.other_session(VARIADIC commands text[]) RETURNS SETOF text
LANGUAGE sql AS $$ SELECT pg_temp.shell_lines(pg_temp.psql_command(commands)) $$;

-- Locks relation (ACCESS EXCLUSIVE) in a second session named conn
-- (dblink), in a transaction left open until release_lock(conn): a worker
-- that reads the relation waits on the lock as a long check or training
-- would run, until it is canceled or terminated.
CREATE FUNCTION pg_temp.hold_lock(conn text, relation text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS dblink;
    PERFORM dblink_connect(conn, pg_temp.conninfo());
    PERFORM dblink_exec(conn, 'BEGIN');
    PERFORM dblink_exec(conn, format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', relation));
END $$;

-- Ends the transaction of hold_lock's session conn, and the session
CREATE FUNCTION pg_temp.release_lock(conn text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dblink_exec(conn, 'ROLLBACK');
    PERFORM dblink_disconnect(conn);
END $$;

-- ---------------------------------------------------------------------------
-- dump and restore
-- ---------------------------------------------------------------------------

-- Dumps this database (pg_dump -Fc), restores it into a fresh database
-- target (dropped first if it exists), and runs queries there one after
-- the other (psql, each its own statement).  Returns what they printed.
-- pg_dump sees committed rows only.  Any step failing is an error; target
-- is left for the test to drop.
CREATE FUNCTION pg_temp.dump_restore(target text, VARIADIC queries text[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    bin text := current_setting('mlops_test.bindir');
BEGIN
    RETURN QUERY SELECT pg_temp.shell_lines(format(
        'set -e; F=$(mktemp); trap ''rm -f "$F"'' EXIT; '
        '%1$s/pg_dump -Fc -f "$F" -d %2$s; %3$s; '
        '%1$s/pg_restore --exit-on-error -d %4$s "$F"; %5$s',
        bin, pg_temp.shell_quote(pg_temp.conninfo()),
        pg_temp.psql_command(ARRAY[format('DROP DATABASE IF EXISTS %I', target),
                                   format('CREATE DATABASE %I', target)], 'postgres'),
        pg_temp.shell_quote(pg_temp.conninfo(target)),
        pg_temp.psql_command(queries, target)));
END $$;

-- ---------------------------------------------------------------------------
-- roles and registry rows a test makes, and their removal
-- ---------------------------------------------------------------------------

-- Creates the LOGIN role name (what a scheduled job can run as) and lets it
-- read each of the relations readable
CREATE FUNCTION pg_temp.create_role(name text, VARIADIC readable regclass[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r regclass;
BEGIN
    EXECUTE format('CREATE ROLE %I LOGIN', name);
    FOREACH r IN ARRAY readable
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', r, name);
    END LOOP;
END $$;

-- Drops the roles names with their privileges and whatever they own in
-- this database
CREATE FUNCTION pg_temp.drop_role(VARIADIC names text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    list text := (SELECT string_agg(quote_ident(n), ', ') FROM unnest(names) n);
BEGIN
    EXECUTE 'DROP OWNED BY ' || list;
    EXECUTE 'DROP ROLE ' || list;
END $$;

-- Deletes every registry row of the projects whose name is LIKE one of
-- patterns: job runs, retrain requests, drift reports, deployments,
-- search trials, grants, versions, the projects.  Jobs themselves are
-- unscheduled by the test.
CREATE FUNCTION pg_temp.drop_projects(VARIADIC patterns text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mlops.job_runs WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.retrain_queue WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.drift_reports WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.deployments WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.trials WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.project_grants WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.model_versions WHERE project LIKE ANY (patterns);
    DELETE FROM mlops.projects WHERE name LIKE ANY (patterns);
END $$;

-- ---------------------------------------------------------------------------
-- data and models
-- ---------------------------------------------------------------------------

-- A standard normal draw from two uniforms (Box-Muller; PostgreSQL 15 has
-- no random_normal).  Seeded by setseed like random().
CREATE FUNCTION pg_temp.gauss() RETURNS float8 LANGUAGE sql VOLATILE AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;

-- Trains project prefix || alpha for each of alphas (hyperparameter alpha,
-- the other arguments as mlops.train's; 0.25 is its default test_size) and
-- returns, per alpha, the Euclidean norm of the standardised coefficients
-- (explain's importance) of the version trained.
CREATE FUNCTION pg_temp.alpha_path(prefix text, relation text, target text, algorithm text,
                                   features text[], alphas float8[], test_size float8 DEFAULT 0.25)
RETURNS TABLE (alpha float8, norm float8) LANGUAGE plpgsql AS $$
DECLARE
    a float8;
BEGIN
    FOREACH a IN ARRAY alphas
    LOOP
        PERFORM mlops.train(prefix || a, relation, target, algorithm => algorithm,
                            hyperparams => jsonb_build_object('alpha', a),
                            features => features, test_size => test_size);
        alpha := a;
        SELECT sqrt(sum(e.importance ^ 2)) INTO norm FROM mlops.explain(prefix || a, 1) e;
        RETURN NEXT;
    END LOOP;
END $$;
