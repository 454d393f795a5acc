# scripts/lib/bench.sh: what the end-to-end benchmark scripts share. A throwaway stack with a
# seeded campus, a release build, the server pinned to core 0 and wrk to core 1, and the
# measurement: req/s, p99 and the server's CPU time per request (utime+stime from
# /proc/PID/stat over the run, divided by the requests served), median of RUNS runs.
# Source it after scripts/lib/stack.sh; set `duration` and `runs` first.
# shellcheck shell=bash disable=SC2154,SC2034 # the sourcing script sets repo, runs, duration; it uses floor

bench_dir=
server_pid=
port=
results=()
clk=$(getconf CLK_TCK)

bench_cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$bench_dir" ] && { svc_stop "$bench_dir" all >/dev/null 2>&1 || true; rm -rf "$bench_dir"; }
}

# bench_setup: wrk, two cores, a stack with a seeded campus (BENCH_REPLICA=1: and a streaming
# replica), release binaries (sets bin, floor).
bench_setup() {
    ensure_packages
    command -v wrk >/dev/null || {
        command -v apt-get >/dev/null || die "wrk not found: install it"
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq wrk >/dev/null 2>&1 || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq wrk >/dev/null; } || die "could not install wrk"
    }
    cores=$(nproc)
    [ "$cores" -ge 2 ] || die "needs at least 2 cores (server on core 0, wrk on core 1)"
    bench_dir=$(mktemp -d /tmp/campushub-bench.XXXXXX)
    trap bench_cleanup EXIT
    local ports
    mapfile -t ports < <(free_port 5)
    # BENCH_REPLICA=1: a streaming replica too (scripts/faults stops it). BENCH_SMTP=1: the
    # stack's SMTP server too (scripts/bench-notices).
    if [ "${BENCH_SMTP:-0}" = 1 ]; then
        local replica=
        [ "${BENCH_REPLICA:-0}" != 1 ] || replica=${ports[3]}
        stack_init "$bench_dir" "${ports[0]}" "${ports[1]}" "${ports[2]}" "$replica" "${ports[4]}"
    elif [ "${BENCH_REPLICA:-0}" = 1 ]; then
        stack_init "$bench_dir" "${ports[0]}" "${ports[1]}" "${ports[2]}" "${ports[3]}"
    else
        stack_init "$bench_dir" "${ports[0]}" "${ports[1]}" "${ports[2]}"
    fi
    write_env "$bench_dir" 127.0.0.1:0
    set -a
    # shellcheck disable=SC1091
    . "$bench_dir/env"
    set +a
    cd "$repo" || die "no $repo"
    cargo build --release --locked -p campushub -p campushub-bench --bins --examples >&2
    bin=$repo/target/release/campushub
    floor=$repo/target/release/examples/floor
    CAMPUSHUB_DATABASE_URL=$CAMPUSHUB_DIRECT_DATABASE_URL "$bin" migrate >/dev/null
    CAMPUSHUB_DATABASE_URL=$CAMPUSHUB_DIRECT_DATABASE_URL "$bin" seed >/dev/null
    # The seed's 3 million fresh rows would otherwise have autovacuum scanning them during the
    # first scenario, taking a core from whatever it measures.
    stack_psql "$CAMPUSHUB_DIRECT_DATABASE_URL" -qc "VACUUM (ANALYZE)" >/dev/null
}

# bench_registers DB DAYS: fixtures for the attendance scenario (tab-separated: session id, PUT
# body): sessions in period 0 (the seed's timetable uses 1 and up) of every class with students
# on each of the next DAYS days, each register not yet marked, in random order.
bench_registers() {
    local db=$1 days=$2
    stack_psql "$db" -qc "INSERT INTO attendance_sessions (class_id, session_date, period)
        SELECT k.id, current_date + d, 0 FROM classes k CROSS JOIN generate_series(1, $days) d
        WHERE EXISTS (SELECT 1 FROM enrollments e WHERE e.class_id = k.id AND e.role = 'student' AND e.status = 'active')
        ON CONFLICT DO NOTHING" >/dev/null
    stack_psql "$db" -AtF $'\t' -c "SELECT s.sourced_id, json_build_object('records', json_agg(json_build_object(
            'student', u.sourced_id, 'code', CASE WHEN random() < 0.9 THEN 'P' WHEN random() < 0.5 THEN 'L' ELSE 'A' END)))
        FROM attendance_sessions s JOIN enrollments e ON e.class_id = s.class_id AND e.role = 'student' AND e.status = 'active'
        JOIN users u ON u.id = e.user_id
        WHERE s.period = 0 AND s.session_date > current_date
          AND NOT EXISTS (SELECT 1 FROM attendance_registers r WHERE r.session_id = s.id AND r.session_date = s.session_date)
        GROUP BY s.id ORDER BY random()"
}

# bench_cursors DB: keyset cursors of the student list at random positions (the server's
# opaque form).
bench_cursors() {
    stack_psql "$1" -At -c "SELECT translate(rtrim(encode(convert_to('k1.' || (u.id - 1), 'UTF8'), 'base64'), '='), '+/', '-_')
        FROM users u JOIN student_profiles sp ON sp.user_id = u.id ORDER BY random() LIMIT 20000"
}

# bench_classes DB: the public ids of the classes with students, in random order.
bench_classes() {
    stack_psql "$1" -At -c "SELECT k.sourced_id FROM classes k WHERE EXISTS (SELECT 1 FROM enrollments e
        WHERE e.class_id = k.id AND e.role = 'student') ORDER BY random()"
}

# bench_mix_rows DB: fixtures for the campus-day mix (bench/scenarios/mix.toml), one row per
# fresh register of the next 60 days: session, body, then a list cursor and a class, reused
# round-robin.
bench_mix_rows() {
    bench_registers "$1" 60 >"$bench_dir/mix-registers"
    bench_cursors "$1" >"$bench_dir/mix-cursors"
    bench_classes "$1" >"$bench_dir/mix-classes"
    python3 - "$bench_dir" <<'PY'
import sys
d = sys.argv[1]
regs = [l for l in open(f"{d}/mix-registers").read().splitlines() if l]
curs = [l for l in open(f"{d}/mix-cursors").read().splitlines() if l]
klass = [l for l in open(f"{d}/mix-classes").read().splitlines() if l]
for i, r in enumerate(regs):
    print(f"{r}\t{curs[i % len(curs)]}\t{klass[i % len(klass)]}")
PY
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_server DATABASE_URL STATEMENTS [VAR=VALUE...]: one shard on core 0 (sets port, server_pid).
start_server() {
    local url=$1 statements=$2
    shift 2
    port=$(free_port)
    # One client address offering 100k+ req/s would trip any sane per-address limit: the
    # benchmarks lift them (callers can pass their own CAMPUSHUB_RATE_LIMITS after these).
    # The URL (with its password) as an assignment, not an argument of env: ps shows arguments.
    CAMPUSHUB_DATABASE_URL=$url env CAMPUSHUB_LISTEN="127.0.0.1:$port" CAMPUSHUB_SHARDS=1 CAMPUSHUB_PIN_CORES=false \
        CAMPUSHUB_RATE_LIMITS=anonymous=100000000/1s,authenticated=100000000/1s \
        CAMPUSHUB_ACCESS_LOG_SAMPLE=0 CAMPUSHUB_STATEMENTS="$statements" "$@" \
        taskset -c 0 "$bin" serve >"$bench_dir/server.log" 2>&1 &
    server_pid=$!
    wait_for 20 "campushub" curl -sf "http://127.0.0.1:$port/readyz"
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

bench_header() {
    echo "median of $runs runs of ${duration}s each (by server CPU per request)"
    echo "| scenario                               |      req/s |      p99 | CPU us/req | all runs (us/req)  | errors"
    echo "|----------------------------------------|------------|----------|------------|--------------------|-------"
}

# run NAME URL [WRK ARGS...]: a warm-up, then RUNS measured runs; prints and records the median
# by CPU per request. Extra arguments go to wrk (e.g. -s SCRIPT ... -- SCRIPT ARGS).
run() {
    local name=$1 url=$2 out t0 t1 reqs rps p99 cpu_us errors i lines=() all=()
    shift 2
    taskset -c 1 wrk -t1 -c64 -d"${warmup:-2}s" "$url" "$@" >/dev/null
    for ((i = 0; i < runs; i++)); do
        t0=$(cpu_ticks "$server_pid")
        out=$(taskset -c 1 wrk -t1 -c64 -d"${duration}s" --latency "$url" "$@")
        t1=$(cpu_ticks "$server_pid")
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
        errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
        errors=${errors% }
        cpu_us=$(awk -v d="$((t1 - t0))" -v hz="$clk" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
        lines+=("$cpu_us|$rps|$p99|$reqs|${errors:-0 errors}")
        all+=("$cpu_us")
    done
    IFS='|' read -r cpu_us rps p99 reqs errors < <(printf '%s\n' "${lines[@]}" | sort -t'|' -k1,1 -g | sed -n "$(((runs + 1) / 2))p")
    printf '| %-38s | %10s | %8s | %10s | %-18s | %s\n' "$name" "$rps" "$p99" "$cpu_us" "${all[*]}" "$errors"
    results+=("{\"scenario\":\"$name\",\"requests\":$reqs,\"rps\":$rps,\"p99\":\"$p99\",\"cpu_us_per_request\":$cpu_us,\"cpu_us_all_runs\":[$(IFS=,; echo "${all[*]}")],\"errors\":\"$errors\"}")
}

# write_results KIND: bench/results/<date>-<commit>-KIND.json
write_results() {
    local commit file
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    file=$repo/bench/results/$(date -u +%Y-%m-%d)-$commit-$1.json
    {
        echo "{\"commit\":\"$commit\",\"date\":\"$(date -u +%FT%TZ)\",\"cores\":$cores,\"cpu\":\"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)\","
        echo "\"setup\":\"1 shard pinned to core 0; taskset -c 1 wrk -t1 -c64 -d${duration}s, median of $runs runs; PostgreSQL, PgBouncer and Redis unpinned on the same 2 cores\","
        echo "\"results\":[$(IFS=,; echo "${results[*]}")]}"
    } >"$file"
    echo "wrote $file"
}
