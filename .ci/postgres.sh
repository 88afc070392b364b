#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the tests, installing
# the server first if it is missing. Prints the two export lines the tests
# read (the data and the key-store database's URLs):
#   eval "$(.ci/postgres.sh)"
# The cluster lives in target/ci-postgres and is replaced on every run; the
# server stops with `.ci/postgres.sh stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/target/ci-postgres"
port="${CUSTODIAN_TEST_PG_PORT:-55432}"

bin_dir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then
        found=$(dirname "$(command -v initdb)")
    fi
    echo "$found"
}

# Runs a server command as an unprivileged user: PostgreSQL refuses root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

bin=$(bin_dir)
if [ "${1:-}" = stop ]; then
    [ -n "$bin" ] && [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    exit 0
fi

if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    echo "installing the PostgreSQL server" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(bin_dir)
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home postgres
fi

[ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_owner "$bin/initdb" -D "$dir/data" -U custodian --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
for db in custodian_test custodian_test_keys; do
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U custodian "$db"
done
echo "export CUSTODIAN_TEST_DATABASE_URL=postgresql://custodian@127.0.0.1:$port/custodian_test"
echo "export CUSTODIAN_TEST_KEY_STORE_URL=postgresql://custodian@127.0.0.1:$port/custodian_test_keys"
