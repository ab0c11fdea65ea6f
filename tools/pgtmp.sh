#!/usr/bin/env bash
# tools/pgtmp.sh -- build, install and exercise mlops on a throwaway cluster.
#
#   tools/pgtmp.sh test     pg_regress (sql/, expected/) then pgTAP (test/) via pg_prove
#   tools/pgtmp.sh demo     demo/demo.sql, printed readably
#   tools/pgtmp.sh bench    bench/*.sql on 1,000,000 rows
#   tools/pgtmp.sh shell    keep a cluster up and print how to connect (development)
#   tools/pgtmp.sh fuzz     build and run the libFuzzer targets (fuzz/), FUZZ_SECONDS
#                           (default 600) each; no cluster
#
# Works on a fresh Debian 12 machine as root or as a user with sudo: missing
# packages are installed with apt-get, the extension is built and installed,
# a cluster is initdb'ed into a temporary directory with
# shared_preload_libraries = 'mlops' on a free port (run as the postgres user
# when invoked as root), and everything is stopped and removed on exit, also
# when a step fails.
set -euo pipefail

MODE=${1:-test}
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
. "$REPO/tools/common.sh"

# --- 1. packages ------------------------------------------------------------
PKGS="make gcc libc6-dev postgresql-15 postgresql-server-dev-15 postgresql-contrib
      postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
      libopenblas-serial-dev liblapacke-dev libxgboost-dev"
if [ "$MODE" = bench ]; then
    PKGS="$PKGS postgresql-plpython3-15 python3-sklearn python3-xgboost"
fi
if [ "$MODE" = fuzz ]; then
    PKGS="$PKGS clang libclang-rt-14-dev llvm"
fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
BINDIR=$("$PG_CONFIG" --bindir)

# fuzzing runs no server: it needs neither the install nor a cluster
if [ "$MODE" = fuzz ]; then
    exec make -C fuzz run PG_CONFIG="$PG_CONFIG" FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
fi

# --- 2. build and install (tools/common.sh) -------------------------------------
install_mlops

# --- 3. throwaway cluster ------------------------------------------------------
make_cluster_dir mlops-pg

cleanup() {
    status=$?
    if [ -f "$TMPD/data/postmaster.pid" ]; then
        as_pg "$BINDIR/pg_ctl" -D "$TMPD/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ "$status" != 0 ] && [ -f "$TMPD/server.log" ]; then
        echo "---- last lines of the server log ----" >&2
        tail -n 40 "$TMPD/server.log" >&2 || true
    fi
    rm -rf "$TMPD"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "$MODE" in
    test)  DB=mlops_test ;;
    demo)  DB=mlops_demo ;;
    bench) DB=mlops_bench ;;
    *)     DB=mlops_dev ;;
esac

say "starting a throwaway cluster in $TMPD"
as_pg "$BINDIR/initdb" -D "$TMPD/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
cat >> "$TMPD/data/postgresql.conf" <<CONF
# added by tools/pgtmp.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMPD'
shared_preload_libraries = 'mlops'
mlops.database = '$DB'
mlops.naptime = 1
max_worker_processes = 24
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
mlops_test.bindir = '$BINDIR'
CONF
if [ "$MODE" = bench ]; then
    cat >> "$TMPD/data/postgresql.conf" <<CONF
shared_buffers = '2GB'
work_mem = '256MB'
maintenance_work_mem = '1GB'
max_wal_size = '8GB'
max_parallel_workers_per_gather = 2
mlops.scheduler_enabled = off
CONF
fi

PORT=""
for p in $(seq 54330 54430); do
    port_in_use "$p" && continue
    if as_pg "$BINDIR/pg_ctl" -D "$TMPD/data" -l "$TMPD/server.log" -o "-p $p" -w -t 60 start >/dev/null 9>&-; then
        PORT=$p
        break
    fi
done
[ -n "$PORT" ] || { echo "could not start a cluster on any port" >&2; exit 1; }

export PGHOST="$TMPD" PGPORT="$PORT" PGUSER=postgres
PSQL=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"

# --- 4. the work -----------------------------------------------------------------
case "$MODE" in
test)
    # PROVE_TESTS=test/a.sql (space-separated) runs just those pgTAP files
    # and skips pg_regress: for development; CI runs everything.
    say "pg_regress (sql/)"
    rc_regress=0
    if [ -n "${PROVE_TESTS:-}" ]; then
        echo "skipped: PROVE_TESTS is set"
    else
        make -s PG_CONFIG="$PG_CONFIG" installcheck || rc_regress=$?
    fi
    if [ "$rc_regress" != 0 ] && [ -f regression.diffs ]; then
        head -n 200 regression.diffs
    fi

    say "pgTAP (test/) with pg_prove"
    "${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION pgtap; CREATE EXTENSION mlops;"
    rc_tap=0
    pg_prove -d "$DB" --ext .sql ${PROVE_TESTS:-test/} || rc_tap=$?

    if [ "$rc_regress" != 0 ] || [ "$rc_tap" != 0 ]; then
        echo "FAILED: pg_regress exit $rc_regress, pg_prove exit $rc_tap" >&2
        exit 1
    fi
    say "all tests passed"
    ;;
demo)
    "${PSQL[@]}" -d "$DB" -P pager=off -f demo/demo.sql
    ;;
bench)
    "${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION mlops; CREATE EXTENSION plpython3u;"
    for f in bench/[0-9]*.sql; do
        say "$f"
        "${PSQL[@]}" -d "$DB" -P pager=off -f "$f"
    done
    ;;
shell)
    "${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION pgtap; CREATE EXTENSION mlops;"
    echo "export PGHOST=$TMPD PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB"
    echo "cluster up; press Ctrl-C (or kill $$) to stop and remove it"
    while sleep 3600; do :; done
    ;;
*)
    echo "usage: $0 test|demo|bench|shell|fuzz" >&2
    exit 2
    ;;
esac
