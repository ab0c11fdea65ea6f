#!/usr/bin/env bash
# tools/citus.sh -- mlops on a throwaway Citus cluster: a coordinator and two
# workers on loopback, each a PostgreSQL instance in a temporary directory.
#
#   tools/citus.sh test     pgTAP files of test/citus/ against the coordinator
#   tools/citus.sh bench    bench/citus/*.sql: local and distributed, one run
#   tools/citus.sh shell    keep the cluster up and print how to connect
#
# Citus is not packaged by Debian, so this is not part of `make test` or CI:
# when the server has no Citus installed the script says so and exits 0
# (docs/operations.md, "Running on Citus", tells how to build Citus).  Like
# tools/pgtmp.sh it builds and installs mlops first, takes the same lock on
# the shared install, runs the servers as the postgres user when invoked as
# root, and removes everything on exit.
set -euo pipefail

MODE=${1:-test}
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
. "$REPO/tools/common.sh"

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
if [ ! -x "$PG_CONFIG" ]; then
    echo "SKIPPED: no PostgreSQL 15 server development files (run 'make test' once to install them)"
    exit 0
fi
BINDIR=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
if [ ! -f "$PKGLIBDIR/citus.so" ]; then
    echo "SKIPPED: Citus is not installed for this PostgreSQL ($PKGLIBDIR/citus.so is missing)."
    echo "Citus is not in Debian; docs/operations.md (\"Running on Citus\") shows how to build it."
    exit 0
fi
command -v pg_prove >/dev/null || {
    echo "pg_prove is missing: run 'make test' once (it installs pgTAP)" >&2; exit 1; }

# --- build and install mlops; three throwaway instances (tools/common.sh) ------
install_mlops
make_cluster_dir mlops-citus

NODES="coord worker1 worker2"
declare -A PORTS
cleanup() {
    status=$?
    for n in $NODES; do
        if [ -f "$TMPD/$n/postmaster.pid" ]; then
            as_pg "$BINDIR/pg_ctl" -D "$TMPD/$n" -m immediate stop >/dev/null 2>&1 || true
        fi
    done
    if [ "$status" != 0 ]; then
        for n in $NODES; do
            [ -f "$TMPD/$n.log" ] || continue
            echo "---- last lines of the $n log ----" >&2
            tail -n 25 "$TMPD/$n.log" >&2 || true
        done
    fi
    rm -rf "$TMPD"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB=mlops_citus
next_port=54500
say "starting a coordinator and two workers in $TMPD"
for n in $NODES; do
    as_pg "$BINDIR/initdb" -D "$TMPD/$n" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
    cat >> "$TMPD/$n/postgresql.conf" <<CONF
# added by tools/citus.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMPD'
shared_preload_libraries = 'citus,mlops'
mlops.database = '$DB'
mlops.naptime = 1
max_worker_processes = 24
max_connections = 200
max_prepared_transactions = 100
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
citus.shard_count = 32
CONF
    if [ "$MODE" = bench ]; then
        cat >> "$TMPD/$n/postgresql.conf" <<CONF
shared_buffers = '1GB'
work_mem = '256MB'
max_wal_size = '8GB'
mlops.scheduler_enabled = off
CONF
    fi
    PORT=""
    for p in $(seq "$next_port" 54700); do
        port_in_use "$p" && continue
        if as_pg "$BINDIR/pg_ctl" -D "$TMPD/$n" -l "$TMPD/$n.log" -o "-p $p" -w -t 60 start >/dev/null 9>&-; then
            PORT=$p
            break
        fi
    done
    [ -n "$PORT" ] || { echo "could not start $n on any port" >&2; exit 1; }
    PORTS[$n]=$PORT
    next_port=$((PORT + 1))
done

export PGHOST="$TMPD" PGUSER=postgres
PSQL=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
# mlops and Citus on every node (the documented set-up); then the workers join
for n in $NODES; do
    "${PSQL[@]}" -p "${PORTS[$n]}" -d postgres -c "CREATE DATABASE $DB"
    "${PSQL[@]}" -p "${PORTS[$n]}" -d "$DB" -c "CREATE EXTENSION citus; CREATE EXTENSION mlops; CREATE EXTENSION pgtap;"
done
"${PSQL[@]}" -p "${PORTS[coord]}" -d "$DB" <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', ${PORTS[coord]});
SELECT citus_add_node('127.0.0.1', ${PORTS[worker1]});
SELECT citus_add_node('127.0.0.1', ${PORTS[worker2]});
${CITUS_SETUP:-SELECT mlops.citus_setup();}
SQL
export PGPORT=${PORTS[coord]} PGDATABASE=$DB
# the tests reach the workers' own ports through these settings
for n in worker1 worker2; do
    "${PSQL[@]}" -c "ALTER DATABASE $DB SET mlops_test.${n}_port = '${PORTS[$n]}'"
done
"${PSQL[@]}" -c "ALTER DATABASE $DB SET mlops_test.socket_dir = '$TMPD'"

case "$MODE" in
test)
    say "pgTAP (test/citus/) with pg_prove against the coordinator"
    pg_prove -d "$DB" --ext .sql ${PROVE_TESTS:-test/citus/}
    say "all Citus tests passed"
    ;;
bench)
    for f in bench/citus/[0-9]*.sql; do
        say "$f"
        "${PSQL[@]}" -P pager=off -f "$f"
    done
    ;;
shell)
    exec 9>&-    # development: do not hold the shared install while idle
    echo "export PGHOST=$TMPD PGPORT=${PORTS[coord]} PGUSER=postgres PGDATABASE=$DB"
    echo "workers on ports ${PORTS[worker1]} and ${PORTS[worker2]}"
    echo "cluster up; press Ctrl-C (or kill $$) to stop and remove it"
    while sleep 3600; do :; done
    ;;
*)
    echo "usage: $0 test|bench|shell" >&2
    exit 2
    ;;
esac
