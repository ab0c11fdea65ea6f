-- Without shared_preload_libraries, scheduling still records the job and
-- says (NOTICE) that nothing will run it.
--
-- The test cluster preloads mlops, so this starts a second, tiny cluster
-- without it (initdb, start, three statements through psql, stop, remove),
-- from a shell run by the server (pg_temp.shell_lines), and reads back what
-- psql printed.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\ir lib/helpers.sql
SELECT plan(4);

CREATE TEMP TABLE nopreload AS
SELECT line FROM pg_temp.shell_lines(
    format('B=%1$s; D=$(mktemp -d); '
           'trap ''"$B/pg_ctl" -D "$D/data" -m immediate stop >/dev/null 2>&1; rm -rf "$D"'' EXIT; '
           '"$B/initdb" -D "$D/data" -U postgres -A trust --no-sync >/dev/null 2>&1 || { echo initdb failed; exit 0; }; '
           'printf "unix_socket_directories = ''%%s''\nlisten_addresses = ''''\n" "$D" >> "$D/data/postgresql.conf"; '
           '"$B/pg_ctl" -D "$D/data" -l "$D/log" -o "-p 5432" -w start >/dev/null 2>&1 || { echo start failed; exit 0; }; '
           '"$B/psql" -X -A -t -h "$D" -p 5432 -U postgres -d postgres'
           ' -c "CREATE EXTENSION mlops"'
           ' -c "CREATE TABLE t (x float8)"'
           ' -c "CREATE ROLE ops LOGIN"'
           ' -c "GRANT SELECT ON t TO ops"'
           ' -c "SELECT ''job='' || mlops.schedule_drift_check(''p'', ''t'', ''1 hour'', run_as => ''ops'')"'
           ' -c "SELECT ''jobs='' || count(*) FROM mlops.jobs"'
           ' -c "SELECT ''preloaded='' || mlops.scheduler_preloaded()" 2>&1; exit 0',
           current_setting('mlops_test.bindir'))) AS line;

SELECT is((SELECT line FROM nopreload WHERE line LIKE 'job=%'), 'job=1',
          'without preload, schedule_drift_check records the job');
SELECT is((SELECT line FROM nopreload WHERE line LIKE 'NOTICE:%'),
          'NOTICE:  job 1 is recorded, but nothing will run it until mlops is preloaded',
          'and says that nothing will run it');
SELECT is((SELECT line FROM nopreload WHERE line LIKE 'jobs=%'), 'jobs=1',
          'the job is in mlops.jobs');
SELECT is((SELECT line FROM nopreload WHERE line LIKE 'preloaded=%'), 'preloaded=false',
          'scheduler_preloaded() says no launcher exists');
SELECT * FROM finish();
