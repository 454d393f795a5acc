# shellcheck shell=bash
# scripts/lib/stack.sh: owns the local service stack of campushub. One directory (DIR) holds a
# PostgreSQL primary, an optional streaming replica, PgBouncer (transaction pooling), Redis and
# an optional SMTP server (scripts/lib/smtp_server.py: aiosmtpd, STARTTLS and AUTH required,
# delivers into a Maildir), each on its own 127.0.0.1 port, started directly (no systemd).
# Services already on the machine (a system PostgreSQL on 5432, Redis on 6379, an MTA on 25) are
# never used or touched.
# Sourced by scripts/stack, scripts/up, scripts/down, scripts/test (and scripts/bench-engine).
#
#   ensure_packages                      install postgresql, pgbouncer, redis-server, openssl,
#                                        python3-aiosmtpd if missing
#   stack_init [--fast] DIR PG_PORT PGB_PORT REDIS_PORT [REPLICA_PORT [SMTP_PORT]]
#                                        create the stack in DIR and start it; --fast (or
#                                        STACK_FAST=1): fsync=off, synchronous_commit=off (tests);
#                                        REPLICA_PORT may be '' (no replica) before SMTP_PORT
#   stack_exists DIR                     true when DIR holds a complete stack
#   svc_start DIR SERVICE                start and wait (up to STACK_WAIT_S=30 s) until it accepts
#   svc_stop DIR SERVICE                 stop and wait until the process is gone
#                                        SERVICE: postgres|replica|pgbouncer|redis|smtp|all
#   svc_status DIR [SERVICE]             one line per service: "NAME up|down 127.0.0.1:PORT"
#   smtp_upgrade DIR SMTP_PORT           a stack made without the SMTP server gains it on
#                                        SMTP_PORT (password, certificates, Maildir) and starts
#                                        it; with one, makes what is missing and starts it
#   write_env DIR LISTEN                 write DIR/env (CAMPUSHUB_* variables, shell-sourceable)
#   free_port [N]                        print N (default 1) distinct free TCP ports on 127.0.0.1
#   port_in_use PORT                     true when something accepts on 127.0.0.1:PORT
#   wait_for SECONDS WHAT COMMAND...     retry COMMAND every 0.1 s; false + one-line error on timeout
#   svc_running DIR SERVICE              true when SERVICE's process is alive
#   stack_load_ports DIR (alias load_ports)  set PG_PORT PGB_PORT REDIS_PORT REPLICA_PORT SMTP_PORT
#   stack_has_secrets DIR                true when DIR's services require passwords (stacks made
#                                        before they did lack the secret files)
#   stack_psql URL ARGS...               psql with URL's password moved into the environment
#   smtp_python                          print a python3 that imports aiosmtpd
#
# DIR layout: ports (PG_PORT, PGB_PORT, REDIS_PORT, REPLICA_PORT, SMTP_PORT, the last two empty
# when absent; sourceable), env, pg/, replica/, pgbouncer/{pgbouncer.ini,userlist.txt}, redis/
# (working dir, redis.conf), smtp/ (ca.pem, server.pem, server.key), mail/ (the SMTP server's
# Maildir: cur/ new/ tmp/, mode 0700; new/ holds one file per delivered message and recipient),
# run/ (sockets, pid files), log/ (postgres.log, replica.log, pgbouncer.log, redis.log, smtp.log,
# initdb.log, basebackup.log).
#
# Credentials: every TCP connection authenticates. Each secret is made once per DIR from
# /dev/urandom as 64 hex digits (URL-safe) and every file holding one is mode 0600:
#   pg_password            role campushub (SCRAM-SHA-256 in PostgreSQL and pgbouncer/userlist.txt)
#   replication_password   role replicator (REPLICATION only); replication.pgpass (postgres's)
#                          holds it for pg_basebackup and the replica's primary_conninfo
#   redis_password         Redis requirepass (redis/redis.conf)
#   smtp_password          the SMTP server's AUTH (PLAIN, LOGIN; user campushub; only after
#                          STARTTLS); smtp/server.key, the key of its TLS certificate (signed by
#                          the CA in smtp/ca.pem, valid for IP 127.0.0.1 and DNS localhost;
#                          the CA's key is deleted once it has signed)
#   jwt_key                the HS256 signing key
#   link_key               the key invitation and password-reset links are derived with
#   env, pgpass            URLs with the passwords; a libpq password file (PGPASSFILE in env)
# Errors: one line on stderr, then exit 1.

STACK_WAIT_S=${STACK_WAIT_S:-30}
# The directory of this file (smtp_server.py lies beside it).
STACK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# The SMTP server's process name (smtp_server.py sets it; pid_is compares it).
SMTP_COMM=campushub-smtp

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Highest-versioned PostgreSQL server bin dir, e.g. /usr/lib/postgresql/15/bin.
pg_bindir() {
    local d best=""
    while IFS= read -r d; do
        if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then best=$d; fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
    [ -n "$best" ] || return 1
    printf '%s\n' "$best"
}

# first_exe NAME PATH...: NAME on PATH, else the first executable PATH (sbin is not on every PATH).
first_exe() {
    local name=$1 p
    shift
    p=$(command -v "$name" 2>/dev/null) && [ -x "$p" ] && { printf '%s\n' "$p"; return 0; }
    for p in "$@"; do
        if [ -x "$p" ]; then printf '%s\n' "$p"; return 0; fi
    done
    return 1
}
pgbouncer_bin() { first_exe pgbouncer /usr/sbin/pgbouncer /usr/bin/pgbouncer; }
redis_bin() { first_exe redis-server /usr/bin/redis-server /usr/sbin/redis-server; }

# smtp_python: a python3 that imports aiosmtpd. Debian's python3-aiosmtpd installs it for
# /usr/bin/python3, which a pyenv or virtualenv python3 earlier on PATH does not see.
smtp_python() {
    local p
    for p in "$(command -v python3 2>/dev/null)" /usr/bin/python3; do
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import aiosmtpd.smtp' >/dev/null 2>&1; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    return 1
}

# Raises the soft open-files limit toward the hard one (at most 65536), then execs "$@":
# PgBouncer's max_client_conn = 2000 needs more than the usual 1024 descriptors. Run with
# sh -c so it also works under runuser, whose PAM session resets the limit.
# shellcheck disable=SC2016 # expanded by that sh
NOFILE_SH='h=$(ulimit -Hn); [ "$h" = unlimited ] && h=65536; [ "$h" -gt 65536 ] && h=65536
ulimit -Sn "$h" 2>/dev/null; exec "$@"'

# Runs a command as the postgres user when root (initdb, postgres and pgbouncer refuse root),
# from / so that an unreadable working directory does not matter.
as_postgres() {
    if [ "$EUID" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && exec runuser -u postgres -- "$@")
    elif command -v setpriv >/dev/null 2>&1; then
        (cd / && exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@")
    else
        (cd / && exec su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
    fi
}

ensure_packages() {
    local missing=() sudo=()
    pg_bindir >/dev/null || missing+=(postgresql)
    pgbouncer_bin >/dev/null || missing+=(pgbouncer)
    redis_bin >/dev/null || missing+=(redis-server)
    # The test suite checks tokens with PyJWT (tests/interop.rs); a missing tool fails it.
    command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
    # The stack's SMTP server (scripts/lib/smtp_server.py) and its certificates.
    smtp_python >/dev/null || missing+=(python3-aiosmtpd)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # The worker renders PDF reports in DejaVu Sans.
    [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
    # scripts/test runs shellcheck on every script.
    command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get >/dev/null 2>&1 \
        || die "missing ${missing[*]}: install PostgreSQL (server and client), PgBouncer, Redis, OpenSSL, aiosmtpd for python3 and the DejaVu fonts with your package manager, then retry"
    if [ "$EUID" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}: run as root or install sudo so apt-get can install them"
        sudo=(sudo)
    fi
    echo "installing ${missing[*]} with apt-get" >&2
    { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y "${missing[@]}"; } >&2 \
        || die "apt-get install ${missing[*]} failed"
    { pg_bindir >/dev/null && pgbouncer_bin >/dev/null && redis_bin >/dev/null && command -v python3 >/dev/null && command -v shellcheck >/dev/null \
        && smtp_python >/dev/null && command -v openssl >/dev/null \
        && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]; } \
        || die "${missing[*]} still missing after apt-get install"
}

# /docs's renderer: npm's redoc, pinned and checked against the digest of the published tarball;
# only its standalone bundle is kept, under the repository's .tools/ (git-ignored), and the
# stack's env names it (CAMPUSHUB_DOCS_DIR). Prints the directory.
REDOC_VERSION=2.5.4
REDOC_SHA256=44922df4d0eb45c1b066c09ec251e6bd9bd7ded16bc69e87613337b9d911a56e
ensure_redoc() {
    [ $# -eq 1 ] || die "usage: ensure_redoc REPO"
    local dest=$1/.tools/redoc-$REDOC_VERSION tmp sum
    if [ -s "$dest/redoc.standalone.js" ]; then
        echo "$dest"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || die "npm not found: install Node.js and npm (the /docs renderer comes from npm)"
        echo "installing npm with apt-get" >&2
        env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y npm >&2 \
            || die "apt-get install npm failed"
    fi
    tmp=$(mktemp -d) || die "mktemp -d failed"
    echo "fetching redoc $REDOC_VERSION from npm for /docs" >&2
    if ! (cd "$tmp" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null 2>&1); then
        rm -rf "$tmp"
        die "npm pack redoc@$REDOC_VERSION failed: the /docs renderer comes from the npm registry"
    fi
    sum=$(sha256sum "$tmp/redoc-$REDOC_VERSION.tgz" | cut -d' ' -f1)
    if [ "$sum" != "$REDOC_SHA256" ]; then
        rm -rf "$tmp"
        die "redoc-$REDOC_VERSION.tgz has sha256 $sum, not the pinned $REDOC_SHA256"
    fi
    if ! { tar xzf "$tmp/redoc-$REDOC_VERSION.tgz" -C "$tmp" package/bundles/redoc.standalone.js \
        && mkdir -p "$dest" && mv -f "$tmp/package/bundles/redoc.standalone.js" "$dest/"; }; then
        rm -rf "$tmp"
        die "cannot unpack redoc's bundle into $dest"
    fi
    rm -rf "$tmp"
    echo "$dest"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local n=${1:-1} p picked=" " tries=0
    if command -v python3 >/dev/null 2>&1; then
        # All sockets stay bound until every port is chosen, so the N ports are distinct.
        python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
' "$n" && return 0
    fi
    while [ "$n" -gt 0 ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 1000 ] || die "no free TCP port found on 127.0.0.1"
        p=$((20000 + RANDOM % 40000))
        if [[ $picked != *" $p "* ]] && ! port_in_use "$p"; then
            printf '%s\n' "$p"
            picked+="$p "
            n=$((n - 1))
        fi
    done
}

wait_for() {
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "error: $what did not come up within ${secs}s" >&2
    return 1
}

# pid_is PID NAME: the process exists, is not a zombie, and is NAME (by comm or executable).
pid_is() {
    local pid=$1 name=$2 stat exe
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    if [ ! -d /proc/self ]; then
        kill -0 "$pid" 2>/dev/null
        return
    fi
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && return 0
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [ "${exe##*/}" = "$name" ]
}

# wait_gone PID NAME SECONDS: true once the process is gone.
wait_gone() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        pid_is "$1" "$2" || return 0
        sleep 0.1
    done
    ! pid_is "$1" "$2"
}

stack_load_ports() {
    [ -n "${1:-}" ] || die "no stack directory given"
    [ -f "$1/ports" ] || die "$1 is not a campushub stack (no $1/ports); create one with scripts/up or scripts/test"
    PG_PORT="" PGB_PORT="" REDIS_PORT="" REPLICA_PORT="" SMTP_PORT=""
    # shellcheck source=/dev/null
    . "$1/ports"
    { [ -n "$PG_PORT" ] && [ -n "$PGB_PORT" ] && [ -n "$REDIS_PORT" ]; } || die "$1/ports is incomplete"
}

load_ports() { stack_load_ports "$@"; }

stack_exists() {
    (
        [ -f "$1/ports" ] || exit 1
        stack_load_ports "$1" 2>/dev/null
        [ -f "$1/pg/PG_VERSION" ] && [ -f "$1/pgbouncer/pgbouncer.ini" ] \
            && { [ -z "$REPLICA_PORT" ] || [ -f "$1/replica/PG_VERSION" ]; }
    )
}

stack_services() { # needs stack_load_ports first
    echo postgres
    if [ -n "$REPLICA_PORT" ]; then echo replica; fi
    echo pgbouncer
    echo redis
    if [ -n "$SMTP_PORT" ]; then echo smtp; fi
}

check_service() {
    case $1 in
    postgres | replica | pgbouncer | redis | smtp | all) ;;
    *) die "unknown service '$1' (postgres, replica, pgbouncer, redis, smtp, all)" ;;
    esac
}

svc_port() {
    case $1 in
    postgres) echo "$PG_PORT" ;;
    replica) echo "$REPLICA_PORT" ;;
    pgbouncer) echo "$PGB_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    smtp) echo "$SMTP_PORT" ;;
    esac
}

svc_log() {
    case $2 in
    postgres) echo "$1/log/postgres.log" ;;
    *) echo "$1/log/$2.log" ;;
    esac
}

# svc_pid DIR SERVICE: prints the pid of the running service; false when it is not running.
svc_pid() {
    local pidfile name=postgres pid
    case $2 in
    postgres) pidfile=$1/pg/postmaster.pid ;;
    replica) pidfile=$1/replica/postmaster.pid ;;
    pgbouncer) pidfile=$1/run/pgbouncer.pid name=pgbouncer ;;
    redis) pidfile=$1/run/redis.pid name="redis-server" ;;
    smtp) pidfile=$1/run/smtp.pid name=$SMTP_COMM ;;
    *) return 1 ;;
    esac
    [ -f "$pidfile" ] || return 1
    pid=$(head -n 1 "$pidfile" 2>/dev/null) || return 1
    pid_is "$pid" "$name" || return 1
    printf '%s\n' "$pid"
}

svc_running() { svc_pid "$@" >/dev/null; }

# redis_ping DIR PORT: AUTH with DIR's Redis password, then PING (bash builtins only, so the
# password never appears on a command line).
redis_ping() {
    (
        IFS= read -r pw <"$1/redis_password" || exit 1
        exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
        printf 'AUTH %s\r\nPING\r\n' "$pw" >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ $reply == "+OK"* ]] || exit 1
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ $reply == "+PONG"* ]]
    ) 2>/dev/null
}

# smtp_greeting PORT: an SMTP server on 127.0.0.1:PORT greets with 220 (bash builtins only).
smtp_greeting() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 reply <&3 || exit 1
        printf 'QUIT\r\n' >&3
        [[ $reply == "220 "* ]]
    ) 2>/dev/null
}

# svc_ready DIR SERVICE: the service accepts connections (pg_isready / PING / TCP connect /
# the SMTP greeting).
svc_ready() {
    local port bin
    port=$(svc_port "$2")
    case $2 in
    postgres | replica)
        if bin=$(pg_bindir) && [ -x "$bin/pg_isready" ]; then
            "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2
        else
            port_in_use "$port"
        fi
        ;;
    pgbouncer) port_in_use "$port" ;;
    redis) redis_ping "$1" "$port" ;;
    smtp) smtp_greeting "$port" ;;
    esac
}

wait_ready() {
    local i
    for ((i = 0; i < STACK_WAIT_S * 10; i++)); do
        svc_ready "$1" "$2" && return 0
        # A daemon writes its pid file just after forking: give up early only once that is late.
        if [ "$i" -ge 20 ] && ! svc_pid "$1" "$2" >/dev/null; then break; fi
        sleep 0.1
    done
    die "$2 did not accept connections on 127.0.0.1:$(svc_port "$2") within ${STACK_WAIT_S}s (see $(svc_log "$1" "$2"))"
}

svc_start() {
    [ $# -eq 2 ] || die "usage: svc_start DIR postgres|replica|pgbouncer|redis|smtp|all"
    local dir=$1 svc=$2 s port bin data out f
    check_service "$svc"
    stack_load_ports "$dir"
    if [ "$svc" = all ]; then
        for s in $(stack_services); do svc_start "$dir" "$s"; done
        return 0
    fi
    port=$(svc_port "$svc")
    [ -n "$port" ] || die "the stack in $dir has no $svc"
    if svc_pid "$dir" "$svc" >/dev/null; then
        wait_ready "$dir" "$svc"
        return 0
    fi
    port_in_use "$port" && die "cannot start $svc: 127.0.0.1:$port is taken by another program"
    case $svc in
    postgres | replica)
        bin=$(pg_bindir) || die "PostgreSQL not found under /usr/lib/postgresql/*/bin (scripts/up installs it)"
        data=$dir/pg
        if [ "$svc" = replica ]; then data=$dir/replica; fi
        [ -f "$data/PG_VERSION" ] || die "$data is not a PostgreSQL cluster"
        out=$(as_postgres "$bin/pg_ctl" -D "$data" -l "$(svc_log "$dir" "$svc")" -w -t "$STACK_WAIT_S" start 2>&1) \
            || die "$svc did not start: ${out##*$'\n'} (see $(svc_log "$dir" "$svc"))"
        ;;
    pgbouncer)
        bin=$(pgbouncer_bin) || die "pgbouncer not found (scripts/up installs it)"
        rm -f "$dir/run/pgbouncer.pid"
        out=$(as_postgres sh -c "$NOFILE_SH" sh "$bin" -d -q "$dir/pgbouncer/pgbouncer.ini" 2>&1) \
            || die "pgbouncer did not start: ${out##*$'\n'} (see $dir/log/pgbouncer.log)"
        ;;
    redis)
        bin=$(redis_bin) || die "redis-server not found (scripts/up installs it)"
        rm -f "$dir/run/redis.pid"
        # redis.conf holds requirepass: the password stays off the command line.
        [ -f "$dir/redis/redis.conf" ] || die "$dir/redis/redis.conf is missing (a stack made before Redis had a password: recreate it)"
        out=$(sh -c "$NOFILE_SH" sh "$bin" "$dir/redis/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
            --pidfile "$dir/run/redis.pid" --logfile "$dir/log/redis.log" --dir "$dir/redis" 2>&1) \
            || die "redis did not start: ${out##*$'\n'} (see $dir/log/redis.log)"
        ;;
    smtp)
        bin=$(smtp_python) || die "no python3 with aiosmtpd (apt-get install python3-aiosmtpd; scripts/up installs it)"
        for f in smtp_password smtp/ca.pem smtp/server.pem smtp/server.key; do
            [ -s "$dir/$f" ] || die "$dir/$f is missing (smtp_upgrade $dir $port makes it)"
        done
        rm -f "$dir/run/smtp.pid"
        # Its own session (setsid): Ctrl-C and a closed terminal do not reach it. The password
        # stays in DIR/smtp_password, off the command line.
        if command -v setsid >/dev/null 2>&1; then
            setsid "$bin" "$STACK_LIB_DIR/smtp_server.py" --dir "$dir" --port "$port" </dev/null >>"$(svc_log "$dir" smtp)" 2>&1 &
        else
            nohup "$bin" "$STACK_LIB_DIR/smtp_server.py" --dir "$dir" --port "$port" </dev/null >>"$(svc_log "$dir" smtp)" 2>&1 &
        fi
        ;;
    esac
    wait_ready "$dir" "$svc"
}

svc_stop() {
    [ $# -eq 2 ] || die "usage: svc_stop DIR postgres|replica|pgbouncer|redis|smtp|all"
    local dir=$1 svc=$2 s rc=0 pid bin data name=postgres
    check_service "$svc"
    stack_load_ports "$dir"
    if [ "$svc" = all ]; then
        # Clients first, the primary after its replica; one failure does not stop the rest.
        for s in pgbouncer replica postgres redis smtp; do
            if [ "$s" = replica ] && [ -z "$REPLICA_PORT" ]; then continue; fi
            if [ "$s" = smtp ] && [ -z "$SMTP_PORT" ]; then continue; fi
            (svc_stop "$dir" "$s") || rc=1
        done
        return "$rc"
    fi
    pid=$(svc_pid "$dir" "$svc") || return 0
    case $svc in
    postgres | replica)
        data=$dir/pg
        if [ "$svc" = replica ]; then data=$dir/replica; fi
        if bin=$(pg_bindir); then
            as_postgres "$bin/pg_ctl" -D "$data" -m fast -w -t "$STACK_WAIT_S" stop >/dev/null 2>&1 || true
        else
            kill -INT "$pid" 2>/dev/null || true # SIGINT = fast shutdown
        fi
        wait_gone "$pid" postgres "$STACK_WAIT_S" || kill -QUIT "$pid" 2>/dev/null || true # immediate
        ;;
    pgbouncer | redis | smtp)
        case $svc in
        pgbouncer) name=pgbouncer ;;
        redis) name="redis-server" ;;
        smtp) name=$SMTP_COMM ;;
        esac
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" "$name" 10 || kill -KILL "$pid" 2>/dev/null || true
        ;;
    esac
    wait_gone "$pid" "$name" 5 || die "$svc (pid $pid) did not stop"
    case $svc in
    pgbouncer | redis | smtp) rm -f "$dir/run/$svc.pid" ;;
    esac
}

svc_status() {
    local dir=${1:-} svc=${2:-all} s
    check_service "$svc"
    stack_load_ports "$dir"
    for s in $(stack_services); do
        if [ "$svc" != all ] && [ "$svc" != "$s" ]; then continue; fi
        if svc_pid "$dir" "$s" >/dev/null && svc_ready "$dir" "$s"; then
            echo "$s up 127.0.0.1:$(svc_port "$s")"
        else
            echo "$s down 127.0.0.1:$(svc_port "$s")"
        fi
    done
}

# stack_secret DIR NAME: prints the secret in DIR/NAME, made once: 64 hex digits from
# /dev/urandom (URL-safe, so the URLs in DIR/env need no escaping), mode 0600.
stack_secret() {
    local f=$1/$2 v
    if [ ! -s "$f" ]; then
        (umask 077 && rm -f "$f.tmp" && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$f.tmp" && echo >>"$f.tmp" \
            && mv -f "$f.tmp" "$f") \
            || die "cannot write $f"
    fi
    IFS= read -r v <"$f" || die "cannot read $f"
    [[ $v =~ ^[0-9a-f]{64}$ ]] || die "$f does not hold 64 hex digits"
    printf '%s\n' "$v"
}

# scram_secret: reads a password on stdin, prints its PostgreSQL SCRAM-SHA-256 secret
# (RFC 5803 form, 4096 iterations, as PostgreSQL's own password_encryption makes it). The same
# secret goes to PostgreSQL and to PgBouncer's auth_file: PgBouncer can then log in to
# PostgreSQL with the keys of a client that authenticated by SCRAM, and neither file nor the
# server log ever holds the password itself.
scram_secret() {
    python3 -c '
import base64, hashlib, hmac, os, sys
pw = sys.stdin.readline().strip().encode()
salt, it = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
client = hmac.new(salted, b"Client Key", "sha256").digest()
server = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print("SCRAM-SHA-256$%d:%s$%s:%s" % (it, b64(salt), b64(hashlib.sha256(client).digest()), b64(server)))
'
}

stack_has_secrets() {
    [ -s "$1/pg_password" ] && [ -s "$1/redis_password" ] && [ -f "$1/redis/redis.conf" ] \
        && grep -q '^auth_type = scram-sha-256' "$1/pgbouncer/pgbouncer.ini" 2>/dev/null
}

# stack_psql URL ARGS...: psql (the stack's PostgreSQL version when installed) on URL, whose
# password, if any, goes through PGPASSWORD: a command line is visible to every user in ps.
stack_psql() {
    local url=$1 pw="" psql_bin
    shift
    if [[ $url =~ ^(postgres(ql)?://[^:/@]+):([^@/]*)@(.*)$ ]]; then
        url=${BASH_REMATCH[1]}@${BASH_REMATCH[4]}
        printf -v pw '%b' "${BASH_REMATCH[3]//%/\\x}" # percent-decoded, as libpq reads a URL
    fi
    psql_bin=$(pg_bindir 2>/dev/null)/psql
    [ -x "$psql_bin" ] || psql_bin=psql
    PGPASSWORD=$pw "$psql_bin" "$url" "$@"
}

stack_init() {
    local fast=${STACK_FAST:-0}
    if [ "${1:-}" = --fast ]; then
        fast=1
        shift
    fi
    { [ $# -ge 4 ] && [ $# -le 6 ]; } || die "usage: stack_init [--fast] DIR PG_PORT PGB_PORT REDIS_PORT [REPLICA_PORT [SMTP_PORT]]"
    local dir=$1 pg=$2 pgb=$3 redis=$4 replica=${5:-} smtp=${6:-} p bin out
    [[ $dir == /* ]] || dir=$PWD/$dir
    dir=${dir%/}
    [[ $dir =~ [[:space:]\'\"\\] ]] && die "stack directory '$dir' must not contain spaces, quotes or backslashes"
    [ $((${#dir} + 24)) -le 107 ] || die "stack directory $dir is too long for a Unix socket path"
    for p in "$pg" "$pgb" "$redis" ${replica:+"$replica"} ${smtp:+"$smtp"}; do
        { [[ $p =~ ^[1-9][0-9]{0,4}$ ]] && [ "$p" -le 65535 ]; } || die "bad port '$p'"
        port_in_use "$p" && die "port $p on 127.0.0.1 is already taken by another program"
    done
    [ -z "$(printf '%s\n' "$pg" "$pgb" "$redis" ${replica:+"$replica"} ${smtp:+"$smtp"} | sort | uniq -d)" ] \
        || die "the ports must be distinct"
    { [ ! -e "$dir/ports" ] && [ ! -e "$dir/pg" ]; } || die "$dir already holds a stack (start it with scripts/stack $dir start all)"
    bin=$(pg_bindir) || die "PostgreSQL not found under /usr/lib/postgresql/*/bin (run ensure_packages)"
    pgbouncer_bin >/dev/null || die "pgbouncer not found (run ensure_packages)"
    redis_bin >/dev/null || die "redis-server not found (run ensure_packages)"
    if [ -n "$smtp" ]; then
        smtp_python >/dev/null || die "no python3 with aiosmtpd (run ensure_packages)"
        command -v openssl >/dev/null 2>&1 || die "openssl not found (run ensure_packages)"
    fi
    if [ "$EUID" -eq 0 ]; then
        id -u postgres >/dev/null 2>&1 || die "no 'postgres' system user (install the postgresql package)"
    fi

    mkdir -p "$dir/run" "$dir/log" "$dir/pgbouncer" "$dir/redis" || die "cannot create $dir"
    PG_PORT=$pg PGB_PORT=$pgb REDIS_PORT=$redis REPLICA_PORT=$replica SMTP_PORT=$smtp write_ports "$dir"
    if [ "$EUID" -eq 0 ]; then
        { chown -R postgres:postgres "$dir" && chmod 755 "$dir"; } || die "cannot hand $dir to the postgres user"
    fi
    as_postgres test -w "$dir/run" \
        || die "the postgres user cannot write $dir/run (a parent directory is not accessible to it; use a directory it can reach)"

    local pg_pw repl_pw redis_pw pg_scram repl_scram os_user=postgres
    pg_pw=$(stack_secret "$dir" pg_password) || exit 1
    redis_pw=$(stack_secret "$dir" redis_password) || exit 1
    pg_scram=$(printf '%s\n' "$pg_pw" | scram_secret) || pg_scram=""
    [ -n "$pg_scram" ] || die "cannot compute a SCRAM secret (python3)"
    if [ -n "$replica" ]; then
        repl_pw=$(stack_secret "$dir" replication_password) || exit 1
        repl_scram=$(printf '%s\n' "$repl_pw" | scram_secret) || repl_scram=""
        [ -n "$repl_scram" ] || die "cannot compute a SCRAM secret (python3)"
        # libpq password file of the postgres user: pg_basebackup, then the replica's
        # primary_conninfo (passfile=), read it; mode 0600 or libpq ignores it.
        (umask 077 && printf '127.0.0.1:%s:replication:replicator:%s\n' "$pg" "$repl_pw" >"$dir/replication.pgpass") \
            || die "cannot write $dir/replication.pgpass"
        if [ "$EUID" -eq 0 ]; then
            chown postgres:postgres "$dir/replication.pgpass" || die "cannot hand $dir/replication.pgpass to the postgres user"
        fi
    fi
    if [ "$EUID" -ne 0 ]; then os_user=$(id -un); fi

    # The trust set here lasts until pg_hba.conf below replaces it, before the first start.
    as_postgres "$bin/initdb" -D "$dir/pg" -U postgres -A trust -E UTF8 --no-locale >"$dir/log/initdb.log" 2>&1 \
        || die "initdb failed (see $dir/log/initdb.log)"
    {
        echo
        echo "# campushub local stack (scripts/lib/stack.sh)"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $pg"
        echo "unix_socket_directories = '$dir/run'"
        echo "password_encryption = scram-sha-256"
        echo "max_connections = 200"
        echo "shared_buffers = 256MB"
        echo "wal_level = replica"
        echo "max_wal_senders = 5"
        echo "wal_keep_size = 256MB"
        echo "hot_standby = on"
        if [ "$fast" = 1 ]; then
            echo "# STACK_FAST: throwaway test data, durability off"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >>"$dir/pg/postgresql.conf" || die "cannot write $dir/pg/postgresql.conf"
    cat >"$dir/pg/pg_hba.conf" <<'HBA' || die "cannot write $dir/pg/pg_hba.conf"
# campushub local stack (scripts/lib/stack.sh): loopback only (listen_addresses = '127.0.0.1'),
# and every TCP connection proves a password with SCRAM-SHA-256 (role campushub: DIR/pg_password;
# role replicator, replication only: DIR/replication_password).
# The Unix socket admits the postgres superuser alone, and only to the OS user that runs the
# cluster (peer, map "stack" in pg_ident.conf): stack_init creates the roles and their passwords
# through it, as that user, before any password exists. The postgres role has no password, so
# it cannot log in over TCP.
# TYPE  DATABASE     USER        ADDRESS       METHOD
local   all          postgres                  peer map=stack
host    all          all         127.0.0.1/32  scram-sha-256
host    replication  replicator  127.0.0.1/32  scram-sha-256
HBA
    printf '# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\nstack      %s  postgres\n' "$os_user" >>"$dir/pg/pg_ident.conf" \
        || die "cannot write $dir/pg/pg_ident.conf"
    svc_start "$dir" postgres
    # On stdin, not on psql's command line (ps shows that); only SCRAM secrets reach PostgreSQL.
    out=$({
        printf "CREATE ROLE campushub LOGIN SUPERUSER PASSWORD '%s';\n" "$pg_scram"
        if [ -n "$replica" ]; then printf "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '%s';\n" "$repl_scram"; fi
        printf 'CREATE DATABASE campushub OWNER campushub;\n'
    } | as_postgres "$bin/psql" -X -q -h "$dir/run" -p "$pg" -U postgres -d postgres -v ON_ERROR_STOP=1 -f - 2>&1) \
        || die "cannot create the campushub role and database: ${out##*$'\n'}"

    if [ -n "$replica" ]; then
        # -R writes primary_conninfo with passfile= (not the password) into the replica.
        as_postgres "$bin/pg_basebackup" -w -d "host=127.0.0.1 port=$pg user=replicator passfile=$dir/replication.pgpass" \
            -D "$dir/replica" -R -X stream -c fast >"$dir/log/basebackup.log" 2>&1 \
            || die "pg_basebackup failed (see $dir/log/basebackup.log)"
        printf '\n# streaming replica of 127.0.0.1:%s\nport = %s\n' "$pg" "$replica" \
            >>"$dir/replica/postgresql.conf" || die "cannot write $dir/replica/postgresql.conf"
        svc_start "$dir" replica
    fi

    pgbouncer_ini "$dir"
    (umask 077 && printf '"campushub" "%s"\n' "$pg_scram" >"$dir/pgbouncer/userlist.txt") \
        || die "cannot write $dir/pgbouncer/userlist.txt"
    if [ "$EUID" -eq 0 ]; then
        chown -R postgres:postgres "$dir/pgbouncer" || die "cannot hand $dir/pgbouncer to the postgres user"
    fi
    svc_start "$dir" pgbouncer
    (umask 077 && printf '# campushub local stack (scripts/lib/stack.sh)\nrequirepass %s\n' "$redis_pw" >"$dir/redis/redis.conf") \
        || die "cannot write $dir/redis/redis.conf"
    svc_start "$dir" redis
    if [ -n "$smtp" ]; then
        smtp_setup "$dir"
        svc_start "$dir" smtp
    fi
}

# write_ports DIR: DIR/ports from PG_PORT PGB_PORT REDIS_PORT REPLICA_PORT SMTP_PORT.
write_ports() {
    rm -f "$1/.ports.tmp"
    {
        printf 'PG_PORT=%s\nPGB_PORT=%s\nREDIS_PORT=%s\nREPLICA_PORT=%s\nSMTP_PORT=%s\n' \
            "$PG_PORT" "$PGB_PORT" "$REDIS_PORT" "$REPLICA_PORT" "${SMTP_PORT:-}" >"$1/.ports.tmp" \
            && chmod 644 "$1/.ports.tmp" && mv -f "$1/.ports.tmp" "$1/ports"
    } || die "cannot write $1/ports"
}

# smtp_setup DIR: what the SMTP server needs, each part made only when missing: the password
# (DIR/smtp_password), the Maildir (DIR/mail) and the certificates (smtp_certs).
smtp_setup() {
    local dir=$1 sub
    stack_secret "$dir" smtp_password >/dev/null || exit 1
    for sub in "" /cur /new /tmp; do
        [ -d "$dir/mail$sub" ] || mkdir -m 700 "$dir/mail$sub" || die "cannot create the Maildir $dir/mail$sub"
    done
    smtp_certs "$dir"
}

# smtp_certs DIR: the SMTP server's TLS certificates in DIR/smtp, made once (all again when one
# is missing): a CA (ca.pem: basicConstraints critical CA:TRUE, keyUsage keyCertSign, cRLSign)
# that signs one server certificate (server.pem, key server.key mode 0600: CA:FALSE, keyUsage
# digitalSignature, keyEncipherment, extendedKeyUsage serverAuth, subjectAltName IP:127.0.0.1,
# DNS:localhost), RSA 2048, SHA-256, 3650 days. A client trusts ca.pem alone: webpki (rustls)
# refuses a self-signed CA certificate presented as the server's own, hence a CA and a leaf.
# The CA's key signs once and is deleted, so nothing else can ever be signed with it.
smtp_certs() {
    local d=$1/smtp out serial
    if [ -s "$d/ca.pem" ] && [ -s "$d/server.pem" ] && [ -s "$d/server.key" ]; then return 0; fi
    command -v openssl >/dev/null 2>&1 || die "openssl not found (run ensure_packages)"
    rm -rf "$d"
    (umask 077 && mkdir -p "$d") || die "cannot create $d"
    cat >"$d/openssl.cnf" <<'CNF' || die "cannot write $d/openssl.cnf"
# campushub local stack (scripts/lib/stack.sh): the SMTP server's certificates
[req]
distinguished_name = dn
prompt = no
[dn]
CN = campushub local stack CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
    serial=0x$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    if ! out=$({
        umask 077 \
            && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca.key" \
            && openssl req -config "$d/openssl.cnf" -new -x509 -key "$d/ca.key" -extensions ca -sha256 \
                -days 3650 -subj "/CN=campushub local stack CA" -out "$d/ca.pem" \
            && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/server.key" \
            && openssl req -config "$d/openssl.cnf" -new -key "$d/server.key" -subj /CN=localhost -out "$d/server.csr" \
            && openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial "$serial" \
                -sha256 -days 3650 -extfile "$d/openssl.cnf" -extensions server -out "$d/server.pem" \
            && openssl verify -CAfile "$d/ca.pem" -purpose sslserver "$d/server.pem"
    } 2>&1); then
        rm -rf "$d"
        die "cannot make the SMTP server's certificates: ${out##*$'\n'}"
    fi
    rm -f "$d/ca.key" "$d/server.csr" "$d/openssl.cnf"
    { chmod 600 "$d/server.key" && chmod 644 "$d/ca.pem" "$d/server.pem" && chmod 755 "$d"; } \
        || die "cannot set the modes of $d"
}

# smtp_upgrade DIR SMTP_PORT: a stack made before it had an SMTP server (no SMTP_PORT in
# DIR/ports) gains one on SMTP_PORT: password, certificates, Maildir, then the port in DIR/ports.
# A stack that has one keeps its port and gets whatever part is missing. Then starts it.
smtp_upgrade() {
    [ $# -eq 2 ] || die "usage: smtp_upgrade DIR SMTP_PORT"
    local dir=$1 port=$2
    stack_load_ports "$dir"
    if [ -z "$SMTP_PORT" ]; then
        { [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$port" -le 65535 ]; } || die "bad port '$port'"
        case " $PG_PORT $PGB_PORT $REDIS_PORT $REPLICA_PORT " in
        *" $port "*) die "port $port is already one of the stack's in $dir" ;;
        esac
        port_in_use "$port" && die "port $port on 127.0.0.1 is already taken by another program"
        smtp_python >/dev/null || die "no python3 with aiosmtpd (run ensure_packages)"
        echo "adding an SMTP server to the stack in $dir: 127.0.0.1:$port, Maildir $dir/mail"
        smtp_setup "$dir"
        SMTP_PORT=$port write_ports "$dir"
        stack_load_ports "$dir"
    else
        smtp_setup "$dir"
    fi
    svc_start "$dir" smtp
}

# PgBouncer's two pools over the one database (sizing: docs/src/operating.md, "Production layout"):
# - campushub_server, session pooling: the server's own long-lived, pipelined connections
#   (instances x shards x CAMPUSHUB_DB_CONNECTIONS_PER_SHARD of them). A session keeps its
#   server connection, so named prepared statements work through PgBouncer 1.18 and PostgreSQL
#   plans each statement once per connection, not once per query.
# - campushub, transaction pooling: short-lived clients (the CLI, scripts, psql, cron jobs),
#   which use unnamed statements.
# PGB_SESSION_POOL (default 120) is the session pool: with the transaction pool (20), the
# replica's and maintenance connections it stays under PostgreSQL's max_connections (200).
# A server connection beyond it would wait for a session to end, so size it with headroom
# (a rolling restart runs old and new instances side by side).
pgbouncer_ini() {
    local dir=$1 session_pool=${PGB_SESSION_POOL:-120}
    stack_load_ports "$dir"
    [[ $session_pool =~ ^[1-9][0-9]*$ ]] || die "PGB_SESSION_POOL must be a positive number"
    cat >"$dir/pgbouncer/.pgbouncer.ini.tmp" <<INI || die "cannot write $dir/pgbouncer/pgbouncer.ini"
;; campushub local stack (scripts/lib/stack.sh): PgBouncer in front of the primary.
[databases]
;; short-lived clients: transaction pooling, unnamed statements
campushub = host=127.0.0.1 port=$PG_PORT dbname=campushub
;; the server's long-lived pipelined connections: session pooling, named prepared statements
campushub_server = host=127.0.0.1 port=$PG_PORT dbname=campushub pool_mode=session pool_size=$session_pool

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $dir/run
;; Clients prove the password by SCRAM against the secret in auth_file, the same secret as
;; PostgreSQL's, so PgBouncer logs in to PostgreSQL with that client's SCRAM keys.
auth_type = scram-sha-256
auth_file = $dir/pgbouncer/userlist.txt
admin_users = campushub
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,options
;; After a failed log-in to PostgreSQL (one that is restarting), try again after 1 s, not the
;; default 15 s during which every client of the pool is refused (scripts/faults measured it).
server_login_retry = 1
logfile = $dir/log/pgbouncer.log
pidfile = $dir/run/pgbouncer.pid
INI
    mv -f "$dir/pgbouncer/.pgbouncer.ini.tmp" "$dir/pgbouncer/pgbouncer.ini" || die "cannot write $dir/pgbouncer/pgbouncer.ini"
    if [ "$EUID" -eq 0 ]; then
        chown postgres:postgres "$dir/pgbouncer/pgbouncer.ini" || die "cannot hand $dir/pgbouncer/pgbouncer.ini to the postgres user"
    fi
}

# A stack made before the session pool (or its 1 s server_login_retry) existed gets the
# current configuration (PgBouncer reloads it on SIGHUP; clients already connected keep their
# connections).
pgbouncer_upgrade() {
    local dir=$1 ini=$1/pgbouncer/pgbouncer.ini pid
    grep -q '^campushub_server = ' "$ini" 2>/dev/null && grep -q '^server_login_retry = 1$' "$ini" && return 0
    echo "updating $ini: PgBouncer's session pool (campushub_server), server_login_retry = 1"
    pgbouncer_ini "$dir"
    if pid=$(svc_pid "$dir" pgbouncer 2>/dev/null); then
        kill -HUP "$pid" || die "cannot reload PgBouncer (pid $pid)"
    fi
}

write_env() {
    { [ $# -eq 2 ] || [ $# -eq 3 ]; } || die "usage: write_env DIR LISTEN [DOCS_DIR]"
    local dir=$1 listen=$2 docs=${3:-} pg_pw redis_pw smtp_pw=""
    stack_load_ports "$dir"
    stack_has_secrets "$dir" \
        || die "the stack in $dir predates passwords (trust, no Redis password); recreate it (scripts/down --purge, then scripts/up)"
    pg_pw=$(stack_secret "$dir" pg_password) || exit 1
    redis_pw=$(stack_secret "$dir" redis_password) || exit 1
    if [ -n "$SMTP_PORT" ]; then smtp_pw=$(stack_secret "$dir" smtp_password) || exit 1; fi
    if [ ! -s "$dir/jwt_key" ]; then
        (umask 077 && python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' >"$dir/jwt_key") \
            || die "cannot write $dir/jwt_key"
    fi
    chmod 600 "$dir/jwt_key" || die "cannot chmod $dir/jwt_key"
    if [ ! -s "$dir/link_key" ]; then
        (umask 077 && python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' >"$dir/link_key") \
            || die "cannot write $dir/link_key"
    fi
    chmod 600 "$dir/link_key" || die "cannot chmod $dir/link_key"
    # For psql and pgbench without a password on their command line (see stack_psql).
    (umask 077 && rm -f "$dir/.pgpass.tmp" && printf '127.0.0.1:*:*:campushub:%s\n' "$pg_pw" >"$dir/.pgpass.tmp" \
        && mv -f "$dir/.pgpass.tmp" "$dir/pgpass") \
        || die "cannot write $dir/pgpass"
    rm -f "$dir/.env.tmp"
    (
        umask 077
        exec >"$dir/.env.tmp"
        echo "# campushub local stack in $dir; load with: set -a; . $dir/env; set +a"
        echo "# Holds this stack's passwords: keep it mode 0600, and use new secrets anywhere else."
        printf 'CAMPUSHUB_LISTEN=%q\n' "$listen"
        echo "# shards: auto = one per core"
        printf 'CAMPUSHUB_SHARDS=%q\n' "${CAMPUSHUB_SHARDS:-auto}"
        echo "# the server: through PgBouncer's session pool (campushub_server), named prepared statements;"
        echo "# role campushub, password in $dir/pg_password"
        echo "CAMPUSHUB_DATABASE_URL=postgres://campushub:$pg_pw@127.0.0.1:$PGB_PORT/campushub_server"
        echo "CAMPUSHUB_STATEMENTS=prepared"
        echo "# short-lived clients: PgBouncer's transaction pool (before 1.21 it keeps no named statements)"
        echo "CAMPUSHUB_POOLED_DATABASE_URL=postgres://campushub:$pg_pw@127.0.0.1:$PGB_PORT/campushub"
        echo "CAMPUSHUB_DIRECT_DATABASE_URL=postgres://campushub:$pg_pw@127.0.0.1:$PG_PORT/campushub"
        if [ -n "$REPLICA_PORT" ]; then
            echo "CAMPUSHUB_REPLICA_URL=postgres://campushub:$pg_pw@127.0.0.1:$REPLICA_PORT/campushub"
        fi
        echo "# Redis requirepass, kept in $dir/redis_password"
        echo "CAMPUSHUB_REDIS_URL=redis://:$redis_pw@127.0.0.1:$REDIS_PORT/"
        echo "# HS256 signing key of this stack (made once, kept in $dir/jwt_key)"
        echo "CAMPUSHUB_JWT_KEYS=k1=$(cat "$dir/jwt_key")"
        echo "# the key invitation and reset links are derived with (made once, kept in $dir/link_key)"
        echo "CAMPUSHUB_LINK_KEY=$(cat "$dir/link_key")"
        if [[ ! $listen =~ :0$ ]]; then
            echo "# where people reach the server: links in messages start with it"
            printf 'CAMPUSHUB_PUBLIC_URL=%q\n' "http://$listen"
        fi
        if [ -n "$SMTP_PORT" ]; then
            echo "# outgoing email: the stack's SMTP server, STARTTLS required, then AUTH (PLAIN or LOGIN)"
            echo "# as campushub, password in $dir/smtp_password"
            echo "CAMPUSHUB_SMTP_URL=smtp://campushub:$smtp_pw@127.0.0.1:$SMTP_PORT"
            echo "# the only root to trust for that server: this stack's CA (its certificate names"
            echo "# IP 127.0.0.1 and DNS localhost)"
            printf 'CAMPUSHUB_SMTP_CA=%q\n' "$dir/smtp/ca.pem"
            echo "# the sender of every message"
            printf 'CAMPUSHUB_SMTP_FROM=%q\n' 'campushub <no-reply@campushub.localhost>'
            echo "# where delivered messages land (Maildir: new/ holds one file per message and recipient,"
            echo "# with Delivered-To and Return-Path headers; a recipient under .invalid is refused with 550)"
            printf 'CAMPUSHUB_MAILDIR=%q\n' "$dir/mail"
        fi
        printf 'CAMPUSHUB_STACK_DIR=%q\n' "$dir"
        if [ -n "$docs" ]; then
            echo "# /docs: the renderer (npm's redoc $REDOC_VERSION), read once at start-up"
            printf 'CAMPUSHUB_DOCS_DIR=%q\n' "$docs"
        fi
        echo "# psql/pgbench -h 127.0.0.1 -U campushub and redis-cli -p PORT find their passwords here"
        printf 'PGPASSFILE=%q\n' "$dir/pgpass"
        echo "REDISCLI_AUTH=$redis_pw"
    ) || die "cannot write $dir/env"
    { chmod 600 "$dir/.env.tmp" && mv -f "$dir/.env.tmp" "$dir/env"; } || die "cannot write $dir/env"
}
