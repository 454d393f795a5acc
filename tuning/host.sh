#!/usr/bin/env bash
# tuning/host.sh: the kernel and limit settings of a host that runs campushub with tens of
# thousands of keep-alive connections on io_uring, checked against rules, applied safely and
# undone exactly.
#   tuning/host.sh check                 each knob: current, wanted, verdict; exit 1 when a
#                                        critical knob is out of bounds
#   tuning/host.sh apply --dry-run       what apply would change (current -> target); changes
#                                        nothing
#   tuning/host.sh apply                 (root) sets every knob that breaks its rule, and only
#                                        those: a value that already meets a minimum is never
#                                        lowered. Saves what it replaces, and persists the
#                                        settings: /etc/sysctl.d/90-campushub.conf, the service's
#                                        limits (/etc/security/limits.d/90-campushub.conf and a
#                                        systemd drop-in for campushub.service), the CPU governor
#                                        through /etc/tmpfiles.d/campushub-governor.conf
#   tuning/host.sh revert                restores exactly what apply replaced and removes the
#                                        files it wrote (those that existed before come back)
# Options: --only GROUP (net, fs, vm, kernel, limits, cpu; repeatable) limits the knobs;
# --shard-cores LIST (e.g. 1-7) names the cores the shards are pinned to, so that NIC
# interrupts are checked (and moved, by apply) off them, to --irq-cores LIST (default: the
# other cores).
# TUNING_ROOT (default empty) prefixes every file path written or read under /etc and the state
# directory (/var/lib/campushub/tuning), so tests can run apply and revert against a scratch
# tree; sysctls go to /proc/sys (a test runs apply in a fresh network namespace: unshare -n).
set -euo pipefail

die() {
    echo "tuning/host.sh: $*" >&2
    exit 2
}

usage="usage: tuning/host.sh check|apply [--dry-run]|revert [--only GROUP]... [--shard-cores LIST] [--irq-cores LIST]"
[ $# -gt 0 ] || set -- check
mode=$1
shift
case $mode in check | apply | revert) ;; -h | --help) echo "$usage"; exit 0 ;; *) die "$usage" ;; esac
dry_run=0
only=()
shard_cores=
irq_cores=
while [ $# -gt 0 ]; do
    case $1 in
    --dry-run) [ "$mode" = apply ] || die "--dry-run goes with apply"; dry_run=1 ;;
    --only)
        [ $# -ge 2 ] || die "--only takes a group (net, fs, vm, kernel, limits, cpu)"
        case $2 in net | fs | vm | kernel | limits | cpu) only+=("$2") ;; *) die "unknown group '$2' (net, fs, vm, kernel, limits, cpu)" ;; esac
        shift
        ;;
    --shard-cores | --irq-cores)
        if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]]; then
            die "$1 takes a CPU list like 1-7 or 0,2,4"
        fi
        if [ "$1" = --shard-cores ]; then shard_cores=$2; else irq_cores=$2; fi
        shift
        ;;
    *) die "unknown argument '$1' ($usage)" ;;
    esac
    shift
done

root=${TUNING_ROOT:-}
state=$root/var/lib/campushub/tuning
sysctl_file=$root/etc/sysctl.d/90-campushub.conf
limits_file=$root/etc/security/limits.d/90-campushub.conf
dropin_file=$root/etc/systemd/system/campushub.service.d/90-tuning.conf
governor_file=$root/etc/tmpfiles.d/campushub-governor.conf

# The listening ports of the stack, kept out of the ephemeral range (ip_local_reserved_ports):
# an outgoing connection that took one of them (PgBouncer's to PostgreSQL, the server's to Redis)
# would keep that service from binding it at its next restart. PostgreSQL 5432, PgBouncer 6432,
# Redis 6379, campushub 8080 (scripts/up's CAMPUSHUB_LISTEN), scripts/fleet's HAProxy 8443
# (TLS) and 8081 (redirect), and scripts/up's stack: primary 55432, replica 55433, PgBouncer
# 56432, Redis 56379. Those below 10240 are outside the range ip_local_port_range is given, but
# a wider range is kept, so they are reserved all the same.
reserved_ports=5432,6379,6432,8080,8081,8443,55432,55433,56432,56379

# The profile. Each knob: group|name|rule|target|critical|why. Rules: min N (at least N; a
# higher value is kept), max N (at most N), exact V, oneof V,V (any of them; target when none),
# range LO HI (a range reaching at least from LO to HI; a wider one is kept), covers LIST (a
# port list, ranges allowed, holding every port of LIST; apply adds the missing ones and keeps
# the others).
knobs=(
    "net|net.core.somaxconn|min 4096|65535|yes|accept backlog per listener: each shard listens with a backlog of 4096, and the kernel caps it at this"
    "net|net.ipv4.tcp_max_syn_backlog|min 8192|65535|no|half-open connections queued while a burst of clients connects"
    "net|net.core.netdev_max_backlog|min 16384|65535|no|packets queued per CPU before the stack drops them"
    "net|net.ipv4.ip_local_port_range|range 10240 65000|10240 65000|no|ephemeral ports: every connection to PgBouncer, Redis or a balancer's backend takes one; none below 10240, where PostgreSQL, Redis and the server listen"
    "net|net.ipv4.ip_local_reserved_ports|covers $reserved_ports|$reserved_ports|no|never handed out as ephemeral ports: the stack's listening ports, so that a restarted service finds its port free"
    "net|net.ipv4.tcp_tw_reuse|oneof 1,2|1|no|reuse TIME_WAIT ports for new outgoing connections (2: loopback only, enough when PgBouncer is local)"
    "net|net.ipv4.tcp_fin_timeout|max 30|15|no|how long orphaned connections hold FIN-WAIT-2 state (and a port)"
    "net|net.core.rmem_max|min 16777216|16777216|no|largest socket receive buffer a socket may ask for"
    "net|net.core.wmem_max|min 16777216|16777216|no|largest socket send buffer a socket may ask for"
    "fs|fs.file-max|min 2097152|2097152|yes|open files system-wide: every connection is one"
    "fs|fs.nr_open|min 1048576|1048576|yes|the ceiling of any process's open-files limit (LimitNOFILE cannot pass it)"
    "vm|vm.swappiness|max 10|1|no|a latency-bound server (and PostgreSQL's cache) should not be swapped out"
    "vm|vm.overcommit_memory|exact 1|1|no|Redis forks for background saves and rewrites; without overcommit the fork can fail"
    "kernel|kernel.io_uring_disabled|exact 0|0|yes|0 lets campushub use io_uring; 1 or 2 forces the slower epoll fallback"
    "limits|nofile|min 1048576|1048576|yes|the service's open-files limit: a shard holding 50,000 connections needs one above that"
    "limits|memlock|min 65536|unlimited|no|locked memory (KiB): io_uring rings count against it on kernels before 5.12"
    "cpu|governor|exact performance|performance|no|CPU frequency governor: powersave adds latency on every wake-up"
    "cpu|nic-irqs|off-shards|-|no|NIC interrupts on the cores shards are pinned to steal from them; keep them on the other cores (--shard-cores)"
)

wanted_group() {
    [ ${#only[@]} -eq 0 ] && return 0
    local g
    for g in "${only[@]}"; do [ "$g" = "$1" ] && return 0; done
    return 1
}

# expand LIST: one CPU number per line.
expand() {
    local part lo hi
    IFS=',' read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        lo=${part%-*} hi=${part#*-}
        seq "$lo" "$hi"
    done
}

nic_irqs() {
    awk -F: '/eth|ens|enp|eno|mlx|virtio[0-9]+-(input|output)|ixgbe|i40e|ice/ {gsub(/ /, "", $1); print $1}' /proc/interrupts 2>/dev/null
}

sysctl_path() { echo "/proc/sys/${1//.//}"; }

# service_limit nofile|memlock: the service's hard limit (memlock in KiB): what the systemd
# drop-in sets, else what systemd runs campushub.service with, else this shell's (a server
# started from it, as scripts/up does, inherits that).
service_limit() {
    local key v
    key=$([ "$1" = nofile ] && echo LimitNOFILE || echo LimitMEMLOCK)
    v=$(sed -n "s/^$key=//p" "$dropin_file" 2>/dev/null | tail -n 1)
    if [ -z "$v" ] && [ -d /run/systemd/system ] && systemctl cat campushub.service >/dev/null 2>&1; then
        v=$(systemctl show campushub.service -p "$key" --value 2>/dev/null)
    fi
    if [ -z "$v" ]; then
        if [ "$1" = nofile ]; then ulimit -Hn; else ulimit -Hl; fi
        return
    fi
    case $v in
    infinity) echo unlimited ;;
    *) if [ "$1" = memlock ]; then echo $((v / 1024)); else echo "$v"; fi ;;
    esac
}

# current NAME: the knob's value now, or empty when this host has no such knob.
current() {
    local name=$1 p v
    case $name in
    nofile | memlock) service_limit "$name" ;;
    governor)
        p=/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor
        [ -r "$p" ] && cat "$p"
        ;;
    nic-irqs)
        local irq list=()
        for irq in $(nic_irqs); do
            [ -r "/proc/irq/$irq/smp_affinity_list" ] && list+=("$irq:$(cat "/proc/irq/$irq/smp_affinity_list")")
        done
        [ ${#list[@]} -gt 0 ] && echo "${list[*]}"
        ;;
    *)
        p=$(sysctl_path "$name")
        [ -r "$p" ] || return 0
        v=$(tr -s '\t ' ' ' <"$p")
        # An empty port list is a value (nothing reserved), not an absent knob.
        if [ -z "$v" ] && [ "$name" = net.ipv4.ip_local_reserved_ports ]; then v=none; fi
        echo "$v"
        ;;
    esac
    return 0
}

# uncovered PORTS LIST: the ports of PORTS (comma-separated) that LIST (the kernel's form:
# ports and LO-HI ranges, comma-separated, or none) does not hold, comma-separated.
uncovered() {
    local port part lo hi wanted held missing=()
    IFS=',' read -ra wanted <<<"$1"
    IFS=',' read -ra held <<<"${2#none}"
    for port in "${wanted[@]}"; do
        for part in "${held[@]}"; do
            lo=${part%-*} hi=${part#*-}
            [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ] && continue 2
        done
        missing+=("$port")
    done
    (IFS=,; echo "${missing[*]}")
}

# meets RULE VALUE: whether VALUE satisfies RULE.
meets() {
    local rule=$1 have=$2 kind arg
    kind=${rule%% *} arg=${rule#* }
    case $kind in
    min) [ "$have" = unlimited ] || [ "$have" -ge "$arg" ] ;;
    max) [ "$have" -le "$arg" ] ;;
    exact) [ "$have" = "$arg" ] ;;
    oneof) [[ ,$arg, == *,"$have",* ]] ;;
    range)
        local lo hi hlo hhi
        read -r lo hi <<<"$arg"
        read -r hlo hhi <<<"$have"
        [ "$hlo" -le "$lo" ] && [ "$hhi" -ge "$hi" ]
        ;;
    covers) [ -z "$(uncovered "$arg" "$have")" ] ;;
    off-shards)
        [ -n "$shard_cores" ] || return 0
        local pair cpus c s
        for pair in $have; do
            cpus=$(expand "${pair#*:}")
            for c in $cpus; do
                for s in $(expand "$shard_cores"); do [ "$c" = "$s" ] && return 1; done
            done
        done
        return 0
        ;;
    esac
}

# The cores NIC interrupts may use: --irq-cores, or every online core that is not a shard's.
irq_target() {
    if [ -n "$irq_cores" ]; then
        echo "$irq_cores"
        return
    fi
    local all c s keep=()
    all=$(expand "$(cat /sys/devices/system/cpu/online)")
    for c in $all; do
        for s in $(expand "$shard_cores"); do [ "$c" = "$s" ] && continue 2; done
        keep+=("$c")
    done
    [ ${#keep[@]} -gt 0 ] || die "--shard-cores covers every core: name --irq-cores"
    (IFS=,; echo "${keep[*]}")
}

# set_value NAME VALUE: sets the knob now (persisting is done apart).
set_value() {
    local name=$1 value=$2 p pair
    case $name in
    governor)
        for p in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor; do
            { echo "$value" >"$p"; } 2>/dev/null || return 1
        done
        ;;
    nic-irqs)
        for pair in $value; do
            { echo "${pair#*:}" >"/proc/irq/${pair%%:*}/smp_affinity_list"; } 2>/dev/null || return 1
        done
        ;;
    *)
        if [ "$name" = net.ipv4.ip_local_reserved_ports ] && [ "$value" = none ]; then value=; fi
        { echo "$value" >"$(sysctl_path "$name")"; } 2>/dev/null
        ;;
    esac
}

# The file apply writes (or empty for knobs applied only now).
persist_file() {
    case $1 in
    nofile | memlock) echo "$limits_file $dropin_file" ;;
    governor) echo "$governor_file" ;;
    nic-irqs) ;;
    *) echo "$sysctl_file" ;;
    esac
}

# Remembers FILE's state before apply first writes it: a copy, or a note that it was absent.
save_file() {
    local f=$1 key
    key=${f//\//%}
    [ -e "$state/files/$key" ] || [ -e "$state/files/$key.absent" ] && return 0
    mkdir -p "$state/files"
    if [ -e "$f" ]; then cp -p "$f" "$state/files/$key"; else : >"$state/files/$key.absent"; fi
}

# add_line FILE LINE: appends LINE unless FILE has it (saving FILE's state first).
add_line() {
    local f=$1 line=$2
    save_file "$f"
    mkdir -p "$(dirname "$f")"
    if [ ! -e "$f" ]; then
        echo "# written by campushub tuning/host.sh apply; tuning/host.sh revert removes it" >"$f"
    fi
    grep -qxF "$line" "$f" || echo "$line" >>"$f"
}

# ensure_dropin: the systemd drop-in for campushub.service, with its [Service] section.
ensure_dropin() {
    [ -e "$dropin_file" ] && return 0
    save_file "$dropin_file"
    mkdir -p "$(dirname "$dropin_file")"
    printf '%s\n[Service]\n' "# written by campushub tuning/host.sh apply; tuning/host.sh revert removes it" >"$dropin_file"
}

persist() {
    local name=$1 value=$2
    case $name in
    nofile | memlock)
        add_line "$limits_file" "campushub soft $name $value"
        add_line "$limits_file" "campushub hard $name $value"
        ensure_dropin
        if [ "$name" = nofile ]; then
            add_line "$dropin_file" "LimitNOFILE=$value"
        else
            add_line "$dropin_file" "LimitMEMLOCK=$([ "$value" = unlimited ] && echo infinity || echo "$((value * 1024))")"
        fi
        ;;
    governor) add_line "$governor_file" "w /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor - - - - $value" ;;
    nic-irqs) ;;
    *) add_line "$sysctl_file" "$name = $value" ;;
    esac
}

# The target of a knob, given what it is now (nic-irqs: every NIC interrupt on irq_target; a
# port list: what it holds now, and the ports of the target it lacks).
target_of() {
    local name=$1 target=$2 have=$3
    if [ "$name" = nic-irqs ]; then
        local pair out=() to
        to=$(irq_target)
        for pair in $have; do out+=("${pair%%:*}:$to"); done
        echo "${out[*]}"
    elif [ "$name" = net.ipv4.ip_local_reserved_ports ] && [ "$have" != none ]; then
        echo "$have,$(uncovered "$target" "$have")"
    else
        echo "$target"
    fi
}

if [ "$mode" = revert ]; then
    [ -d "$state" ] || { echo "nothing to revert: tuning/host.sh apply has not run here (no $state)"; exit 0; }
    status=0
    touch "$state/saved"
    while IFS='|' read -r name value; do
        if set_value "$name" "$value"; then
            printf '%-30s restored %s\n' "$name" "$value"
        else
            echo "tuning/host.sh: could not restore $name to $value" >&2
            status=1
        fi
    done <"$state/saved"
    if [ -d "$state/files" ]; then
        for saved in "$state/files"/*; do
            [ -e "$saved" ] || continue
            key=$(basename "$saved")
            if [[ $key == *.absent ]]; then
                f=${key%.absent}
                f=${f//%//}
                rm -f "$f"
                echo "removed $f"
            else
                f=${key//%//}
                cp -p "$saved" "$f"
                echo "restored $f"
            fi
        done
    fi
    [ $status -ne 0 ] || rm -rf "$state"
    exit $status
fi

if [ "$mode" = apply ] && [ $dry_run -eq 0 ] && [ -z "$root" ] && [ "$EUID" -ne 0 ]; then
    die "apply changes the host: run it as root (or see what it would do with apply --dry-run)"
fi
printf '%-30s %-22s %-22s %-9s %s\n' knob current wanted verdict why
status=0
changed=0
for k in "${knobs[@]}"; do
    IFS='|' read -r group name rule target critical why <<<"$k"
    wanted_group "$group" || continue
    have=$(current "$name")
    want_text=$rule
    if [ -z "$have" ]; then
        printf '%-30s %-22s %-22s %-9s %s\n' "$name" "-" "$want_text" absent "(not on this host) $why"
        continue
    fi
    if [ "$name" = nic-irqs ] && [ -z "$shard_cores" ]; then
        printf '%-30s %-22s %-22s %-9s %s\n' "$name" "${have:0:22}" "$want_text" unknown "(name --shard-cores to check) $why"
        continue
    fi
    if meets "$rule" "$have"; then
        printf '%-30s %-22s %-22s %-9s %s\n' "$name" "${have:0:22}" "$want_text" ok "$why"
        continue
    fi
    verdict=low
    [ "$critical" = yes ] && verdict=CRITICAL
    to=$(target_of "$name" "$target" "$have")
    if [ "$mode" = check ]; then
        printf '%-30s %-22s %-22s %-9s %s\n' "$name" "${have:0:22}" "$want_text" "$verdict" "$why"
        [ "$critical" = yes ] && status=1
        continue
    fi
    if [ $dry_run -eq 1 ]; then
        printf '%-30s %-22s -> %-19s %-9s %s\n' "$name" "${have:0:22}" "${to:0:19}" "would set" "$(persist_file "$name")"
        continue
    fi
    mkdir -p "$state"
    if [ "$group" = limits ]; then
        # The service's limits take effect when it starts; only its files change (revert
        # restores them).
        persist "$name" "$to"
        printf '%-30s %-22s -> %-19s %-9s %s\n' "$name" "${have:0:22}" "${to:0:19}" set "$(persist_file "$name") (restart campushub)"
        changed=$((changed + 1))
        continue
    fi
    # The first value seen is the one revert restores (a second apply keeps it).
    grep -q "^$name|" "$state/saved" 2>/dev/null || echo "$name|$have" >>"$state/saved"
    if set_value "$name" "$to"; then
        persist "$name" "$to"
        printf '%-30s %-22s -> %-19s %-9s %s\n' "$name" "${have:0:22}" "${to:0:19}" set "$(persist_file "$name")"
        changed=$((changed + 1))
    else
        printf '%-30s %-22s -> %-19s %-9s %s\n' "$name" "${have:0:22}" "${to:0:19}" FAILED "needs root, or this container forbids it"
        # Nothing changed: nothing to restore.
        sed -i "/^$name|/d" "$state/saved"
        status=1
    fi
done
if [ "$mode" = apply ] && [ $dry_run -eq 0 ]; then
    echo "$changed knob(s) set; what they replaced is in $state/saved (tuning/host.sh revert restores it)"
    [ -s "$state/saved" ] || [ -d "$state/files" ] || rm -rf "$state"
fi
exit $status
