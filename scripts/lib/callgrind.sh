# shellcheck shell=bash disable=SC2154 # the sourcing script sets repo
# scripts/lib/callgrind.sh: owns the instruction-count figures that scripts/bench-baseline records
# and scripts/bench-gate checks. Instruction counts under valgrind's callgrind are the same for
# the same binary and input, where wall-clock times on a shared machine are not.
# Source it after scripts/lib/stack.sh (it needs `repo` set).
#
#   cg_build                  build campushub and callgrind-harness with the `callgrind` profile
#   cg_measure                every figure into $cg_dir/figures, one "NAME VALUE" a line (Ir
#                             per call or per request), with a throwaway stack in cg_dir for the
#                             end-to-end figure; cg_dir, the stack and the server go on exit
#   cg_versions               valgrind, rustc and profile lines (for the baseline)
#
# Figures:
#   - each hot stage function of bench/src/bin/callgrind-harness.rs: CG_ITERATIONS calls inside
#     one never-inlined loop, the only code callgrind counts (--toggle-collect), Ir / calls;
#   - e2e_mix_per_request: `campushub serve` (one shard, CAMPUSHUB_DRIVER=epoll: io_uring's rings
#     are memory the kernel writes behind valgrind's back) under callgrind, against PostgreSQL direct with prepared
#     statements; CG_E2E_WARMUP requests of the mix (scripts/lib/e2e-mix.py), counters zeroed,
#     CG_E2E_REQUESTS more, counters dumped: Ir of the whole process (all threads) over that
#     window / requests; the median over CG_E2E_RUNS server processes (default 1: processes
#     on one stack agreed within 0.7%; the figure moves by up to 4% between invocations).

# CG_KEEP=DIR keeps the callgrind outputs there (stage-NAME.out, e2e-RUN.out.1), for
# callgrind_annotate when a figure moved.
CG_PROFILE=callgrind
CG_ITERATIONS=${CG_ITERATIONS:-20000}
CG_E2E_WARMUP=${CG_E2E_WARMUP:-300}
CG_E2E_REQUESTS=${CG_E2E_REQUESTS:-3000}
CG_E2E_RUNS=${CG_E2E_RUNS:-1} # scripts/bench-baseline makes it 3
cg_dir=
cg_server_pid=
cg_e2e_value=

cg_build() {
    local v
    for v in CG_ITERATIONS CG_E2E_WARMUP CG_E2E_REQUESTS CG_E2E_RUNS; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
    done
    command -v valgrind >/dev/null 2>&1 || die "valgrind not found: install it (apt-get install valgrind)"
    command -v callgrind_control >/dev/null 2>&1 || die "callgrind_control not found (it comes with valgrind)"
    (cd "$repo" && cargo build --locked --profile "$CG_PROFILE" -p campushub -p campushub-bench --bins) \
        || die "cargo build --profile $CG_PROFILE failed"
}

cg_target() { printf '%s\n' "${CARGO_TARGET_DIR:-$repo/target}/$CG_PROFILE"; }

cg_versions() {
    printf 'valgrind = "%s"\n' "$(valgrind --version)"
    printf 'rustc = "%s"\n' "$(rustc --version)"
    printf 'profile = "%s"\n' "$CG_PROFILE"
}

# cg_ir OUTFILE: the total Ir of a callgrind output file (its `summary:` or `totals:` line).
cg_ir() {
    local ir
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$1")
    [[ $ir =~ ^[0-9]+$ ]] || die "no instruction total in $1"
    printf '%s\n' "$ir"
}

# cg_stage NAME: Ir per call of one harness figure.
cg_stage() {
    local name=$1 out=$cg_dir/stage-$1.out ir
    valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
        --toggle-collect='*callgrind_measured_loop*' \
        "$(cg_target)/callgrind-harness" "$name" "$CG_ITERATIONS" >"$cg_dir/stage-$name.log" 2>&1 \
        || die "callgrind-harness $name failed: $(grep -m1 '^error' "$cg_dir/stage-$name.log" || tail -n 1 "$cg_dir/stage-$name.log")"
    ir=$(cg_ir "$out")
    [ "$ir" -gt 0 ] || die "callgrind counted nothing for $name (was callgrind_measured_loop inlined?)"
    awk -v ir="$ir" -v n="$CG_ITERATIONS" 'BEGIN { printf "%.1f\n", ir / n }'
}

# shellcheck disable=SC2317 # the EXIT trap
cg_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$cg_server_pid" ]; then
        kill -KILL "$cg_server_pid" 2>/dev/null || true
        wait "$cg_server_pid" 2>/dev/null || true
    fi
    if [ -n "$cg_dir" ] && [ -d "$cg_dir" ]; then
        if [ -n "${CG_KEEP:-}" ]; then
            mkdir -p "$CG_KEEP" && cp "$cg_dir"/*.out* "$cg_dir"/*.log "$CG_KEEP"/ 2>/dev/null \
                || echo "warning: could not keep the callgrind outputs in $CG_KEEP" >&2
        fi
        if [ -f "$cg_dir/ports" ] && ! (svc_stop "$cg_dir" all) >/dev/null 2>&1; then
            echo "warning: some services of the stack in $cg_dir did not stop" >&2
        fi
        rm -rf "$cg_dir"
    fi
    exit "$rc"
}

# cg_e2e_run N: one server process under callgrind (output $cg_dir/e2e-N.out*): log in, warm
# up, zero the counters, send the measured requests, dump, stop; prints Ir per request.
cg_e2e_run() {
    local n=$1 bin port token ir dump out=$cg_dir/e2e-$1.out
    bin=$(cg_target)/campushub
    port=$(free_port)
    # Limits far above the offered load: the decision is counted, a 429 never happens.
    # The URL (with its password) as an assignment, not an argument of env: ps shows arguments.
    CAMPUSHUB_DATABASE_URL="$CAMPUSHUB_DIRECT_DATABASE_URL" \
        env CAMPUSHUB_LISTEN="127.0.0.1:$port" CAMPUSHUB_SHARDS=1 CAMPUSHUB_PIN_CORES=false CAMPUSHUB_DRIVER=epoll \
        CAMPUSHUB_RATE_LIMITS=anonymous=100000000/1s,authenticated=100000000/1s CAMPUSHUB_ACCESS_LOG_SAMPLE=0 \
        CAMPUSHUB_STATEMENTS=prepared \
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve >"$cg_dir/server-$n.log" 2>&1 &
    cg_server_pid=$!
    wait_for 120 "campushub serve under callgrind" curl -sf "http://127.0.0.1:$port/readyz" \
        || die "campushub serve under callgrind did not come up (see $cg_dir/server-$n.log)"
    token=$(curl -sf -H 'Content-Type: application/json' -d '{"username":"registrar","password":"campushub-demo"}' \
        "http://127.0.0.1:$port/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
        || die "log-in as the seeded registrar failed"
    python3 "$repo/scripts/lib/e2e-mix.py" "$port" "$CG_E2E_WARMUP" "$token" "$cg_dir/dept_ids" "$cg_dir/student_ids" \
        || die "the warm-up requests failed"
    callgrind_control -z "$cg_server_pid" >"$cg_dir/control-$n.log" 2>&1 \
        || die "callgrind_control -z failed (see $cg_dir/control-$n.log)"
    python3 "$repo/scripts/lib/e2e-mix.py" "$port" "$CG_E2E_REQUESTS" "$token" "$cg_dir/dept_ids" "$cg_dir/student_ids" \
        || die "the measured requests failed"
    callgrind_control -d "$cg_server_pid" >>"$cg_dir/control-$n.log" 2>&1 \
        || die "callgrind_control -d failed (see $cg_dir/control-$n.log)"
    dump=$out.1
    for _ in $(seq 1 50); do
        [ -f "$dump" ] && break
        sleep 0.1
    done
    [ -f "$dump" ] || die "callgrind wrote no dump (see $cg_dir/control-$n.log)"
    kill -TERM "$cg_server_pid" 2>/dev/null || true
    wait "$cg_server_pid" 2>/dev/null || true
    cg_server_pid=
    ir=$(cg_ir "$dump")
    awk -v ir="$ir" -v n="$CG_E2E_REQUESTS" 'BEGIN { printf "%.1f\n", ir / n }'
}

# cg_e2e: sets cg_e2e_value to the median Ir per request over CG_E2E_RUNS server processes
# (needs the stack in cg_dir). Runs in the calling shell, so cg_cleanup can stop the server.
cg_e2e() {
    local bin r runs=()
    bin=$(cg_target)/campushub
    CAMPUSHUB_DATABASE_URL=$CAMPUSHUB_DIRECT_DATABASE_URL "$bin" migrate >"$cg_dir/migrate.log" 2>&1 \
        || die "campushub migrate failed (see $cg_dir/migrate.log)"
    CAMPUSHUB_DATABASE_URL=$CAMPUSHUB_DIRECT_DATABASE_URL "$bin" seed --if-empty --students 300 --faculty 40 \
        --attendance-days 15 --quiet >"$cg_dir/seed.log" 2>&1 || die "campushub seed failed (see $cg_dir/seed.log)"
    stack_psql "$CAMPUSHUB_DIRECT_DATABASE_URL" -Atc \
        "SELECT sourced_id FROM orgs WHERE type = 'department' ORDER BY sourced_id LIMIT 20" >"$cg_dir/dept_ids" \
        || die "cannot read department ids"
    stack_psql "$CAMPUSHUB_DIRECT_DATABASE_URL" -Atc \
        "SELECT u.sourced_id FROM users u JOIN student_profiles sp ON sp.user_id = u.id ORDER BY u.sourced_id LIMIT 50" \
        >"$cg_dir/student_ids" || die "cannot read student ids"
    for ((r = 1; r <= CG_E2E_RUNS; r++)); do
        # Not $(...): cg_e2e_run's server must stay visible to cg_cleanup.
        cg_e2e_run "$r" >"$cg_dir/e2e-$r.value"
        runs+=("$(cat "$cg_dir/e2e-$r.value")")
    done
    echo "  e2e_mix_per_request runs: ${runs[*]}" >&2
    cg_e2e_value=$(printf '%s\n' "${runs[@]}" | sort -g | sed -n "$(((CG_E2E_RUNS + 1) / 2))p")
}

# cg_measure: every figure, "NAME VALUE" a line, into $cg_dir/figures; progress on stderr.
cg_measure() {
    local file name value ports
    cg_dir=$(mktemp -d -t campushub-callgrind.XXXXXX) || die "mktemp -d failed"
    trap cg_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    file=$cg_dir/figures
    : >"$file"
    while IFS= read -r name; do
        value=$(cg_stage "$name")
        echo "  $name: $value Ir/call" >&2
        echo "$name $value" >>"$file"
    done < <("$(cg_target)/callgrind-harness" list)
    ensure_packages
    mapfile -t ports < <(free_port 3)
    [ ${#ports[@]} -eq 3 ] || die "could not pick free ports"
    STACK_FAST=1 stack_init "$cg_dir" "${ports[0]}" "${ports[1]}" "${ports[2]}" >&2
    write_env "$cg_dir" 127.0.0.1:0
    set -a
    # shellcheck source=/dev/null
    . "$cg_dir/env"
    set +a
    cg_e2e
    echo "  e2e_mix_per_request: $cg_e2e_value Ir/request" >&2
    echo "e2e_mix_per_request $cg_e2e_value" >>"$file"
}
