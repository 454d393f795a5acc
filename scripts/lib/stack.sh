# shellcheck shell=bash
# scripts/lib/stack.sh: the local PostgreSQL (primary + optional streaming replica), PgBouncer
# and Redis that scripts/up, scripts/test and scripts/stack run, each under one directory with
# its own ports, so they never touch services already on the machine.
#
# Sourced, not executed. Every function prints one-line errors to stderr and returns non-zero.

die() { echo "error: $*" >&2; exit 1; }

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] && [ -x "$d/postgres" ] || return 1
    echo "$d"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_packages() {
    local missing=()
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v psql >/dev/null || missing+=(postgresql-client)
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        die "missing ${missing[*]}: install PostgreSQL 15+, PgBouncer and Redis with your package manager"
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "missing ${missing[*]} and not root: install them or run as root"
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} (apt-get)" >&2
    "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
    # Debian starts a system cluster and Redis on install; ours are separate and unaffected.
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2; shift 2
    local i
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "error: $what did not come up within ${secs}s" >&2
    return 1
}

load_ports() { # load_ports DIR
    [ -f "$1/ports" ] || die "$1 is not a campushub stack (no ports file)"
    # shellcheck disable=SC1091
    . "$1/ports"
}

stack_init() { # stack_init DIR PG_PORT PGB_PORT REDIS_PORT [REPLICA_PORT]
    local dir=$1 pg=$2 pgb=$3 redis=$4 replica=${5:-}
    local bin
    bin=$(pg_bindir) || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    mkdir -p "$dir"/{run,log,pgbouncer,redis}
    cat >"$dir/ports" <<PORTS
PG_PORT=$pg
PGB_PORT=$pgb
REDIS_PORT=$redis
REPLICA_PORT=$replica
PORTS
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; chmod 755 "$dir"; fi

    as_postgres "$bin/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/log/initdb.log" 2>&1 || die "initdb failed (see $dir/log/initdb.log)"
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $pg"
        echo "unix_socket_directories = '$dir/run'"
        echo "max_connections = 200"
        echo "shared_buffers = 256MB"
        echo "wal_level = replica"
        echo "max_wal_senders = 5"
        echo "hot_standby = on"
        echo "logging_collector = off"
        if [ "${STACK_FAST:-0}" = 1 ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >>"$dir/pg/postgresql.conf"
    {
        echo "host replication all 127.0.0.1/32 trust"
    } >>"$dir/pg/pg_hba.conf"
    svc_start "$dir" postgres || return 1
    as_postgres "$bin/psql" -h "$dir/run" -p "$pg" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE campushub LOGIN SUPERUSER REPLICATION" \
        -c "CREATE DATABASE campushub OWNER campushub" >/dev/null \
        || die "could not create the campushub role and database"

    if [ -n "$replica" ]; then
        as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$pg" -U campushub -D "$dir/replica" -R -X stream \
            >"$dir/log/basebackup.log" 2>&1 || die "pg_basebackup failed (see $dir/log/basebackup.log)"
        as_postgres sed -i "s/^port = .*/port = $replica/" "$dir/replica/postgresql.conf"
        svc_start "$dir" replica || return 1
    fi

    cat >"$dir/pgbouncer/pgbouncer.ini" <<INI
[databases]
campushub = host=127.0.0.1 port=$pg dbname=campushub

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb
unix_socket_dir = $dir/run
auth_type = trust
auth_file = $dir/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
logfile = $dir/log/pgbouncer.log
pidfile = $dir/run/pgbouncer.pid
INI
    echo '"campushub" ""' >"$dir/pgbouncer/userlist.txt"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir/pgbouncer"; fi
    svc_start "$dir" pgbouncer || return 1
    svc_start "$dir" redis || return 1
}

pgbouncer_bin() {
    command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer
}

svc_running() { # svc_running DIR SERVICE
    local dir=$1 svc=$2 pidfile
    case $svc in
        postgres) pidfile=$dir/pg/postmaster.pid ;;
        replica) pidfile=$dir/replica/postmaster.pid ;;
        pgbouncer) pidfile=$dir/run/pgbouncer.pid ;;
        redis) pidfile=$dir/run/redis.pid ;;
        *) return 1 ;;
    esac
    [ -f "$pidfile" ] || return 1
    local pid
    pid=$(head -1 "$pidfile")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

svc_start() { # svc_start DIR SERVICE
    local dir=$1 svc=$2 bin
    load_ports "$dir"
    if [ "$svc" = all ]; then
        svc_start "$dir" postgres && { [ -z "$REPLICA_PORT" ] || svc_start "$dir" replica; } \
            && svc_start "$dir" pgbouncer && svc_start "$dir" redis
        return
    fi
    if svc_running "$dir" "$svc"; then return 0; fi
    bin=$(pg_bindir) || die "PostgreSQL server binaries not found"
    case $svc in
        postgres)
            as_postgres "$bin/pg_ctl" -D "$dir/pg" -l "$dir/log/postgres.log" -w -t 30 start >/dev/null \
                || die "postgres did not start (see $dir/log/postgres.log)"
            wait_for 30 postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
            ;;
        replica)
            [ -n "$REPLICA_PORT" ] || die "this stack has no replica"
            as_postgres "$bin/pg_ctl" -D "$dir/replica" -l "$dir/log/replica.log" -w -t 30 start >/dev/null \
                || die "replica did not start (see $dir/log/replica.log)"
            wait_for 30 replica "$bin/pg_isready" -q -h 127.0.0.1 -p "$REPLICA_PORT"
            ;;
        pgbouncer)
            as_postgres "$(pgbouncer_bin)" -d -q "$dir/pgbouncer/pgbouncer.ini" \
                || die "pgbouncer did not start (see $dir/log/pgbouncer.log)"
            wait_for 30 pgbouncer port_in_use "$PGB_PORT"
            ;;
        redis)
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
                --daemonize yes --pidfile "$dir/run/redis.pid" --logfile "$dir/log/redis.log" \
                --dir "$dir/redis" >/dev/null || die "redis did not start (see $dir/log/redis.log)"
            wait_for 30 redis port_in_use "$REDIS_PORT"
            ;;
        *) die "unknown service $svc (postgres, replica, pgbouncer, redis, all)" ;;
    esac
}

svc_stop() { # svc_stop DIR SERVICE
    local dir=$1 svc=$2 bin pidfile pid i
    load_ports "$dir"
    if [ "$svc" = all ]; then
        svc_stop "$dir" pgbouncer; svc_stop "$dir" replica; svc_stop "$dir" postgres; svc_stop "$dir" redis
        return 0
    fi
    svc_running "$dir" "$svc" || return 0
    bin=$(pg_bindir) || true
    case $svc in
        postgres) as_postgres "$bin/pg_ctl" -D "$dir/pg" -m fast -w -t 30 stop >/dev/null ;;
        replica) as_postgres "$bin/pg_ctl" -D "$dir/replica" -m fast -w -t 30 stop >/dev/null ;;
        pgbouncer | redis)
            if [ "$svc" = pgbouncer ]; then pidfile=$dir/run/pgbouncer.pid; else pidfile=$dir/run/redis.pid; fi
            pid=$(head -1 "$pidfile")
            kill "$pid" 2>/dev/null || true
            for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$pidfile"
            ;;
        *) die "unknown service $svc" ;;
    esac
}

svc_status() { # svc_status DIR
    local dir=$1 svc
    load_ports "$dir"
    for svc in postgres replica pgbouncer redis; do
        if [ "$svc" = replica ] && [ -z "$REPLICA_PORT" ]; then continue; fi
        if svc_running "$dir" "$svc"; then echo "$svc up"; else echo "$svc down"; fi
    done
}

write_env() { # write_env DIR LISTEN
    local dir=$1 listen=$2
    load_ports "$dir"
    {
        echo "CAMPUSHUB_LISTEN=$listen"
        echo "CAMPUSHUB_DATABASE_URL=postgres://campushub@127.0.0.1:$PGB_PORT/campushub"
        echo "# PgBouncer $("$(pgbouncer_bin)" --version 2>/dev/null | head -1 | awk '{print $2}') in transaction mode: named prepared statements need 1.21+"
        echo "CAMPUSHUB_STATEMENTS=unnamed"
        echo "CAMPUSHUB_DIRECT_DATABASE_URL=postgres://campushub@127.0.0.1:$PG_PORT/campushub"
        if [ -n "$REPLICA_PORT" ]; then
            echo "CAMPUSHUB_REPLICA_URL=postgres://campushub@127.0.0.1:$REPLICA_PORT/campushub"
        fi
        echo "CAMPUSHUB_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/"
        echo "CAMPUSHUB_STACK_DIR=$dir"
    } >"$dir/env"
}
