#!/usr/bin/env bash
# tuning/host.sh: kernel and limit settings for a host that runs campushub at high request
# rates. `check` (the default) prints each setting's current and recommended value; `apply`
# writes them with sysctl (root) and raises the open-file limit of the current shell.
#   tuning/host.sh [check|apply]
set -euo pipefail
mode=${1:-check}
case $mode in check | apply) ;; *) echo "usage: tuning/host.sh [check|apply]" >&2; exit 2 ;; esac

# name, recommended value, why
settings=(
    "net.core.somaxconn|65535|accept backlog per listener (campushub asks for 4096 per shard)"
    "net.ipv4.tcp_max_syn_backlog|65535|half-open connections queued during bursts"
    "net.ipv4.ip_local_port_range|1024 65535|ephemeral ports for load generators and PgBouncer"
    "net.ipv4.tcp_tw_reuse|1|reuse TIME_WAIT sockets for new outgoing connections"
    "net.core.netdev_max_backlog|65535|packets queued per CPU before the stack drops them"
    "fs.file-max|2097152|system-wide open files (every connection is one)"
    "kernel.io_uring_disabled|0|0 lets campushub use io_uring; 1 or 2 forces the epoll fallback"
)

status=0
for s in "${settings[@]}"; do
    IFS='|' read -r name want why <<<"$s"
    path=/proc/sys/${name//.//}
    if [ ! -e "$path" ]; then
        printf '%-32s %-14s (not on this kernel) %s\n' "$name" "-" "$why"
        continue
    fi
    have=$(tr '\t' ' ' <"$path")
    if [ "$have" = "$want" ]; then mark=ok; else mark=differs; fi
    printf '%-32s have %-14s want %-14s %-8s %s\n' "$name" "$have" "$want" "$mark" "$why"
    if [ "$mode" = apply ] && [ "$mark" = differs ]; then
        if ! sysctl -q -w "$name=$want" >/dev/null 2>&1; then
            echo "could not set $name (needs root, or the container forbids it)" >&2
            status=1
        fi
    fi
done
# Every connection is a descriptor: a shard holding 50,000 idle keep-alive connections (about
# 3.4 KB of server memory each, scripts/bench-conns) needs a hard limit above that.
nofile=$(ulimit -n)
hard=$(ulimit -Hn)
printf '%-32s have %-14s want %-14s\n' "ulimit -n (this shell)" "$nofile" "1048576"
printf '%-32s have %-14s want %-14s\n' "ulimit -Hn (this shell)" "$hard" "1048576"
if [ "$mode" = apply ]; then
    if ! ulimit -Hn 1048576 2>/dev/null && [ "$hard" != unlimited ] && [ "$hard" -lt 1048576 ]; then
        echo "could not raise the hard open-files limit (needs CAP_SYS_RESOURCE; set LimitNOFILE= in the systemd unit, or --ulimit nofile= for a container)" >&2
        status=1
    fi
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || echo "could not raise ulimit -n (set LimitNOFILE= in the systemd unit)" >&2
fi
exit $status
