# tools/common.sh -- what tools/pgtmp.sh and tools/citus.sh share; sourced,
# with PG_CONFIG, BINDIR and SUDO set.

say() { printf '\n== %s\n' "$*"; }

# Build mlops and install it into the server's own directories, which every
# run on this machine shares: two runs (two work trees, a test beside a
# bench) take turns rather than replace each other's build mid-run.  The
# lock (file descriptor 9) is held until the calling script exits; servers
# are started with it closed, so that they do not hold it.
install_mlops() {
    exec 9>"${TMPDIR:-/tmp}/mlops-pgtmp.lock"
    if ! flock -n 9; then
        say "another run holds the shared install; waiting for it"
        flock 9
    fi
    say "building mlops"
    make -s PG_CONFIG="$PG_CONFIG" >/dev/null
    $SUDO make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# A temporary directory for throwaway clusters in TMPD (prefix: its name),
# owned by the postgres user when run as root; as_pg runs a command as the
# user the servers run as.
make_cluster_dir() {
    TMPD=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$TMPD"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
        chown postgres "$TMPD"
        as_pg() { runuser -u postgres -- "$@"; }
    else
        as_pg() { "$@"; }
    fi
}

# true when something listens on 127.0.0.1:$1
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
