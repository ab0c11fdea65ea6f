#!/usr/bin/env bash
# fuzz/make_seeds.sh -- write the seed corpora fuzz/corpus/<target>/ from
# real encodings: models of every algorithm, stored and user-style
# hyperparameters, and snapshot membership chains, made on a throwaway
# cluster (tools/pgtmp.sh shell) by fuzz/seeds.sql.
set -euo pipefail
FUZZ=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$FUZZ")
LOG=$(mktemp)
# pgtmp.sh stops and removes its cluster on TERM, once its sleep is over:
# end the sleep too
stop() {
    kill "$PGTMP_PID" 2>/dev/null || true
    pkill -TERM -P "$PGTMP_PID" 2>/dev/null || true
    wait "$PGTMP_PID" 2>/dev/null || true
    rm -f "$LOG"
}
trap stop EXIT

"$REPO/tools/pgtmp.sh" shell >"$LOG" 2>&1 &
PGTMP_PID=$!
for _ in $(seq 1 600); do
    grep -q '^export PGHOST=' "$LOG" && break
    kill -0 "$PGTMP_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 1
done
eval "$(grep '^export PGHOST=' "$LOG")"

BINDIR=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
"$BINDIR/psql" -X -q -f "$FUZZ/seeds.sql" | while read -r name hex; do
    mkdir -p "$FUZZ/corpus/$(dirname "$name")"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex" \
        > "$FUZZ/corpus/$name"
done
ls -l "$FUZZ"/corpus/*/
