//! What operators run: tuning/host.sh and the files under deploy/. Network settings are
//! applied and reverted for real inside a fresh network namespace (`unshare -n`, so the
//! machine's own settings are never touched); files go to a scratch tree (TUNING_ROOT);
//! everything else is checked through dry runs. The deployment files are checked by
//! scripts/check-deploy against the metrics a running server exports, and broken copies must
//! fail it. A missing tool fails these tests, it does not skip them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;

use std::path::PathBuf;
use std::process::Command;

/// Runs `script` with bash in the repository root; (exit code, stdout, stderr).
fn sh(script: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(repo());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("campushub-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The verdict column of `knob` in host.sh's table.
fn verdict<'a>(out: &'a str, knob: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(knob))
        .unwrap_or_else(|| panic!("no row for {knob} in:\n{out}"))
        .split_whitespace()
        .skip(1)
        .find(|w| ["ok", "low", "CRITICAL", "absent", "unknown"].contains(w))
        .unwrap_or_else(|| panic!("no verdict for {knob} in:\n{out}"))
}

#[test]
fn tuning_apply_raises_only_what_breaks_a_rule_persists_it_and_revert_restores_exactly() {
    let root = scratch("net");
    let root_s = root.to_str().unwrap();
    // A file of the operator's own where apply writes: revert must bring it back unchanged.
    std::fs::create_dir_all(root.join("etc/sysctl.d")).unwrap();
    std::fs::write(
        root.join("etc/sysctl.d/90-campushub.conf"),
        "# the operator's own\n",
    )
    .unwrap();
    let script = r#"
set -u
p() { tr '\t' ' ' <"/proc/sys/$1"; }
echo 1000 > /proc/sys/net/core/somaxconn
echo 100000 > /proc/sys/net/ipv4/tcp_max_syn_backlog
echo 60 > /proc/sys/net/ipv4/tcp_fin_timeout
echo "32768 60999" > /proc/sys/net/ipv4/ip_local_port_range
echo 9000 > /proc/sys/net/ipv4/ip_local_reserved_ports
echo "before $(p net/core/somaxconn) $(p net/ipv4/tcp_max_syn_backlog) $(p net/ipv4/tcp_fin_timeout)"
echo "ports before: $(p net/ipv4/ip_local_port_range) reserved $(p net/ipv4/ip_local_reserved_ports)"
echo "=== check1"; tuning/host.sh check --only net; echo "check1 rc=$?"
tuning/host.sh apply --only net; echo "apply rc=$?"
echo "after $(p net/core/somaxconn) $(p net/ipv4/tcp_max_syn_backlog) $(p net/ipv4/tcp_fin_timeout)"
echo "ports after: $(p net/ipv4/ip_local_port_range) reserved $(p net/ipv4/ip_local_reserved_ports)"
echo "--- sysctl.d"; cat "$TUNING_ROOT/etc/sysctl.d/90-campushub.conf"; echo "--- end"
echo "=== check2"; tuning/host.sh check --only net; echo "check2 rc=$?"
tuning/host.sh apply --only net; echo "again rc=$?"
tuning/host.sh revert; echo "revert rc=$?"
echo "reverted $(p net/core/somaxconn) $(p net/ipv4/tcp_max_syn_backlog) $(p net/ipv4/tcp_fin_timeout)"
echo "ports reverted: $(p net/ipv4/ip_local_port_range) reserved $(p net/ipv4/ip_local_reserved_ports)"
"#;
    let (code, out, err) = sh(
        &format!("unshare -n bash -c {}", shell_quote(script)),
        &[("TUNING_ROOT", root_s)],
    );
    assert_eq!(code, 0, "unshare -n failed: {err}\n{out}");
    assert!(out.contains("before 1000 100000 60"), "{out}");
    // check: somaxconn is critical and below its minimum.
    assert!(out.contains("check1 rc=1"), "{out}");
    // Knobs a network namespace shows but cannot change (global ones, on some kernels) are
    // reported FAILED, and only then does apply exit non-zero.
    let failed: Vec<&str> = section(&out, "check1 rc=", "apply rc=")
        .lines()
        .filter(|l| l.contains(" FAILED "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(
        failed
            .iter()
            .all(|k| ["net.core.rmem_max", "net.core.wmem_max"].contains(k)),
        "{out}"
    );
    let rc = if failed.is_empty() { 0 } else { 1 };
    assert!(out.contains(&format!("apply rc={rc}")), "{out}");
    // Raised where a rule was broken; the backlog above its minimum is not lowered.
    assert!(out.contains("after 65535 100000 15"), "{out}");
    // The ephemeral range is set to exactly what check asks for (it once set 1024-65535, which
    // hands out 5432, 6379 and 8080), and the stack's listening ports are reserved beside the
    // operator's own reservation (9000).
    let check1 = section(&out, "=== check1", "check1 rc=");
    assert_eq!(verdict(check1, "net.ipv4.ip_local_port_range"), "low");
    assert_eq!(verdict(check1, "net.ipv4.ip_local_reserved_ports"), "low");
    let wanted = wanted_range(check1);
    assert_eq!(wanted, "10240 65000", "{check1}");
    assert!(
        out.contains(&format!(
            "ports after: {wanted} reserved {RESERVED_WITH_9000}"
        )),
        "{out}"
    );
    let persisted = section(&out, "--- sysctl.d", "--- end");
    assert!(
        persisted.contains(&format!("net.ipv4.ip_local_port_range = {wanted}")),
        "{persisted}"
    );
    assert!(
        persisted.contains(&format!(
            "net.ipv4.ip_local_reserved_ports = 9000,{STACK_PORTS}"
        )),
        "{persisted}"
    );
    assert!(persisted.contains("# the operator's own"), "{persisted}");
    assert!(
        persisted.contains("net.core.somaxconn = 65535"),
        "{persisted}"
    );
    assert!(
        persisted.contains("net.ipv4.tcp_fin_timeout = 15"),
        "{persisted}"
    );
    assert!(!persisted.contains("tcp_max_syn_backlog"), "{persisted}");
    assert!(out.contains("check2 rc=0"), "{out}");
    let check2 = section(&out, "=== check2", "check2 rc=");
    for knob in [
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
    ] {
        assert_eq!(verdict(check2, knob), "ok", "{knob}: {check2}");
    }
    // A second apply changes nothing more and keeps the first saved values.
    assert!(out.contains(&format!("again rc={rc}")), "{out}");
    assert!(out.contains("revert rc=0"), "{out}");
    assert!(out.contains("reverted 1000 100000 60"), "{out}");
    assert!(
        out.contains("ports reverted: 32768 60999 reserved 9000\n"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/sysctl.d/90-campushub.conf")).unwrap(),
        "# the operator's own\n"
    );
    assert!(!root.join("var/lib/campushub/tuning").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// The ports host.sh reserves: the stack's listening ports (tuning/README.md says which).
const STACK_PORTS: &str = "5432,6379,6432,8080,8081,8443,55432,55433,56432,56379";
/// The kernel's form of those ports and 9000.
const RESERVED_WITH_9000: &str = "5432,6379,6432,8080-8081,8443,9000,55432-55433,56379,56432";

/// The range `check` wants for ip_local_port_range ("LO HI"), from its row in `table`.
fn wanted_range(table: &str) -> String {
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some("net.ipv4.ip_local_port_range"))
        .unwrap_or_else(|| panic!("no port range row in:\n{table}"));
    let words: Vec<&str> = row.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "range")
        .unwrap_or_else(|| panic!("no range rule in {row}"));
    words[at + 1..at + 3].join(" ")
}

/// On a host with no reserved ports (the kernel's default) apply reserves the stack's, check is
/// then satisfied, and revert leaves none reserved again.
#[test]
fn tuning_apply_reserves_the_stacks_listening_ports_and_revert_clears_them() {
    let root = scratch("ports");
    let root_s = root.to_str().unwrap();
    let script = r#"
set -u
p() { tr '\t' ' ' <"/proc/sys/$1"; }
echo "32768 60999" > /proc/sys/net/ipv4/ip_local_port_range
echo > /proc/sys/net/ipv4/ip_local_reserved_ports
echo "=== check1"; tuning/host.sh check --only net; echo "check1 rc=$?"
tuning/host.sh apply --only net >/dev/null; echo "apply rc=$?"
echo "ports after: $(p net/ipv4/ip_local_port_range) reserved $(p net/ipv4/ip_local_reserved_ports)"
echo "=== check2"; tuning/host.sh check --only net; echo "check2 rc=$?"
tuning/host.sh revert; echo "revert rc=$?"
echo "ports reverted: $(p net/ipv4/ip_local_port_range) reserved [$(p net/ipv4/ip_local_reserved_ports)]"
"#;
    let (code, out, err) = sh(
        &format!("unshare -n bash -c {}", shell_quote(script)),
        &[("TUNING_ROOT", root_s)],
    );
    assert_eq!(code, 0, "unshare -n failed: {err}\n{out}");
    let check1 = section(&out, "=== check1", "check1 rc=");
    // An empty list is a value (nothing reserved), not a knob this host lacks.
    assert_eq!(verdict(check1, "net.ipv4.ip_local_reserved_ports"), "low");
    assert!(
        out.contains(&format!(
            "ports after: {} reserved 5432,6379,6432,8080-8081,8443,55432-55433,56379,56432\n",
            wanted_range(check1)
        )),
        "{out}"
    );
    let check2 = section(&out, "=== check2", "check2 rc=");
    assert_eq!(verdict(check2, "net.ipv4.ip_local_port_range"), "ok");
    assert_eq!(verdict(check2, "net.ipv4.ip_local_reserved_ports"), "ok");
    assert!(out.contains("revert rc=0"), "{out}");
    assert!(
        out.contains("ports reverted: 32768 60999 reserved []"),
        "{out}"
    );
    assert!(!root.join("etc/sysctl.d/90-campushub.conf").exists());
    let _ = std::fs::remove_dir_all(&root);
}

/// The table of `check` as the script prints it after `marker` (up to `end`, if present).
fn section<'a>(out: &'a str, marker: &str, end: &str) -> &'a str {
    let from = out.find(marker).map_or(0, |i| i + marker.len());
    let rest = &out[from..];
    rest.find(end).map_or(rest, |i| &rest[..i])
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn tuning_dry_run_shows_every_change_and_changes_nothing() {
    let root = scratch("dry");
    let root_s = root.to_str().unwrap();
    let before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let (code, out, err) = sh(
        "tuning/host.sh apply --dry-run --shard-cores 1 --irq-cores 0",
        &[("TUNING_ROOT", root_s)],
    );
    assert_eq!(code, 0, "{err}");
    // Every knob of the profile has a row, with its verdict or what apply would do.
    for knob in [
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "fs.file-max",
        "fs.nr_open",
        "vm.swappiness",
        "vm.overcommit_memory",
        "kernel.io_uring_disabled",
        "nofile",
        "memlock",
        "governor",
        "nic-irqs",
    ] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().next() == Some(knob)),
            "no row for {knob}:\n{out}"
        );
    }
    let swappiness: u32 = before.trim().parse().unwrap();
    if swappiness > 10 {
        let row = out
            .lines()
            .find(|l| l.starts_with("vm.swappiness"))
            .unwrap();
        assert!(row.contains("-> 1") && row.contains("would set"), "{row}");
    }
    // Nothing written, nothing changed.
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn tuning_limits_are_persisted_for_the_service_and_reverted() {
    let root = scratch("limits");
    let root_s = root.to_str().unwrap();
    let env = [("TUNING_ROOT", root_s)];
    let (_, out, _) = sh("tuning/host.sh check --only limits", &env);
    let had = verdict(&out, "nofile").to_string();
    let (code, out, err) = sh("tuning/host.sh apply --only limits", &env);
    assert_eq!(code, 0, "{err}\n{out}");
    let dropin = root.join("etc/systemd/system/campushub.service.d/90-tuning.conf");
    let limits = root.join("etc/security/limits.d/90-campushub.conf");
    if had != "ok" {
        let d = std::fs::read_to_string(&dropin).unwrap();
        assert!(
            d.contains("[Service]") && d.contains("LimitNOFILE=1048576"),
            "{d}"
        );
        let l = std::fs::read_to_string(&limits).unwrap();
        assert!(l.contains("campushub hard nofile 1048576"), "{l}");
        // check reads the service's limit from the drop-in now.
        let (code, out, _) = sh("tuning/host.sh check --only limits", &env);
        assert_eq!(code, 0, "{out}");
        assert_eq!(verdict(&out, "nofile"), "ok");
    }
    let (code, out, err) = sh("tuning/host.sh revert", &env);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!dropin.exists() && !limits.exists());
    let (_, out, _) = sh("tuning/host.sh check --only limits", &env);
    assert_eq!(verdict(&out, "nofile"), had);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn tuning_refuses_bad_arguments_with_one_line() {
    for args in [
        "frobnicate",
        "check --only disks",
        "check --shard-cores x",
        "check --dry-run",
        "apply --only",
    ] {
        let (code, out, err) = sh(&format!("tuning/host.sh {args}"), &[]);
        assert_eq!(code, 2, "{args}: {out}{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args}: {err}");
        assert!(err.starts_with("tuning/host.sh: "), "{args}: {err}");
    }
}

/// The metric names a running server exports (with a replica and Redis, as deployed).
fn exported_metric_names() -> String {
    let server = common::TestServer::spawn(&[(
        "CAMPUSHUB_REPLICA_URL",
        &common::stack_env("CAMPUSHUB_REPLICA_URL"),
    )]);
    common::some_department_id(&server);
    // The replica's lag is measured a moment after start.
    let mut names = String::new();
    assert!(common::eventually(
        std::time::Duration::from_secs(10),
        || {
            let text = String::from_utf8_lossy(
                &server.raw(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            )
            .into_owned();
            names = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| l.split(['{', ' ']).next())
                .collect::<Vec<_>>()
                .join("\n");
            names.contains("campushub_db_replica_lag_seconds")
        }
    ));
    // And those a worker exports (the job queue's alerts use them).
    let worker = common::worker::Worker::spawn(&[]);
    let text = worker.metrics_text();
    for name in text
        .lines()
        .filter(|l| l.starts_with("campushub_"))
        .filter_map(|l| l.split(['{', ' ']).next())
    {
        names.push('\n');
        names.push_str(name);
    }
    names
}

#[test]
fn deploy_files_pass_their_checks_and_use_only_metrics_the_server_exports() {
    let dir = scratch("metrics");
    let names = dir.join("names");
    std::fs::write(&names, exported_metric_names()).unwrap();
    let (code, out, err) = sh(
        "scripts/check-deploy",
        &[("METRIC_NAMES", names.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("are all exported"), "{out}");
    assert!(out.contains("deploy files: all checks passed"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deploy_checks_reject_broken_files() {
    // (file under deploy/, text to replace, its replacement, what the check must say)
    let breakages = [
        (
            "systemd/campushub.service",
            "LockPersonality=yes",
            "LockPersonalty=yes",
            "systemd-analyze verify warns",
        ),
        (
            "systemd/campushub.service",
            "UMask=0077",
            "UMask=0077\nUser=root\nNoNewPrivileges=no\nProtectSystem=no\nProtectHome=no\nPrivateDevices=no\nPrivateUsers=no\nCapabilityBoundingSet=CAP_SYS_ADMIN",
            "too exposed",
        ),
        (
            "compose/compose.yaml",
            "migrate:\n        condition: service_completed_successfully",
            "migrations:\n        condition: service_completed_successfully",
            "which is not a service",
        ),
        (
            "compose/compose.yaml",
            "stop_grace_period: 30s",
            "stop_grace_period: 30s\n    restart_policy: always",
            "compose:",
        ),
        (
            "k8s/deployment.yaml",
            "path: /healthz\n              port: http\n            periodSeconds: 10",
            "path: /readyz\n              port: http\n            periodSeconds: 10",
            "liveness must probe /healthz",
        ),
        (
            "k8s/deployment.yaml",
            "cpu: \"4\"\n              memory: 2Gi\n          # Started",
            "cpu: \"8\"\n              memory: 2Gi\n          # Started",
            "must equal limits",
        ),
        (
            "systemd/campushub-worker.service",
            "ProtectKernelLogs=yes",
            "ProtectKernelLog=yes",
            "(campushub-worker.service)",
        ),
        (
            "k8s/deployment-worker.yaml",
            "args: [\"worker\"]",
            "args: [\"serve\"]",
            "must run `campushub worker`",
        ),
        (
            "prometheus/alerts.yml",
            "state=\"ready\"}) > 600",
            "state=\"ready\"}) > 6000",
            "promtool test rules",
        ),
        (
            "k8s/pdb.yaml",
            "maxUnavailable: 1",
            "maxUnavailabel: 1",
            "kubernetes:",
        ),
        (
            "prometheus/alerts.yml",
            "> 0.001",
            "> 0.1",
            "promtool test rules",
        ),
        (
            "grafana/campushub.json",
            "sum by (pool, state) (campushub_db_pool_connections",
            "sum by (pool, state) (campushub_db_pool_connections))",
            "does not parse",
        ),
    ];
    for (file, from, to, expect) in breakages {
        let dir = scratch("broken");
        let copy = dir.join("deploy");
        let (code, _, err) = sh(&format!("cp -r deploy {}", copy.to_str().unwrap()), &[]);
        assert_eq!(code, 0, "{err}");
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let (code, out, err) = sh(
            &format!("scripts/check-deploy {}", copy.to_str().unwrap()),
            &[],
        );
        assert_eq!(code, 1, "{file}: {from:?} -> {to:?} passed:\n{out}{err}");
        assert!(err.contains(expect), "{file}: wanted {expect:?} in:\n{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `campushub tune` output, started for real: PostgreSQL, PgBouncer and Redis each run with the
/// generated file (sized for a small machine, so it starts on this one) and report the values
/// back.
#[test]
fn tuned_configurations_start_the_real_services_and_read_back() {
    let bin = env!("CARGO_BIN_EXE_campushub");
    let script = format!(
        r#"
set -euo pipefail
source scripts/lib/stack.sh
d=$(mktemp -d); chmod 755 "$d"
trap '[ -f "$d/pgb.pid" ] && kill "$(cat "$d/pgb.pid")" 2>/dev/null; [ -n "${{rpid:-}}" ] && kill "$rpid" 2>/dev/null; as_postgres "$(pg_bindir)/pg_ctl" -D "$d/pg" -m immediate stop >/dev/null 2>&1; rm -rf "$d"' EXIT
chown postgres "$d" 2>/dev/null || true
mapfile -t ports < <(free_port 3)
pg=${{ports[0]}} pgb=${{ports[1]}} rd=${{ports[2]}}
as_postgres "$(pg_bindir)/initdb" -D "$d/pg" -A trust -U postgres >/dev/null
{bin} tune pg --ram 1GiB --cores 2 --instances 2 --shards 4 >"$d/pg/campushub.conf"
echo "include 'campushub.conf'" >>"$d/pg/postgresql.conf"
as_postgres "$(pg_bindir)/pg_ctl" -D "$d/pg" -o "-p $pg -k $d -c listen_addresses=127.0.0.1" -l "$d/pg.log" -w start >/dev/null
psql -h 127.0.0.1 -p "$pg" -U postgres -qAt -c "CREATE ROLE campushub LOGIN PASSWORD 'tune-test'" -c "CREATE DATABASE campushub OWNER campushub" >/dev/null
echo "pg: $(psql -h 127.0.0.1 -p "$pg" -U postgres -At -F= -c "SELECT name, current_setting(name) FROM pg_settings WHERE name IN ('max_connections', 'shared_buffers', 'work_mem', 'max_wal_size', 'random_page_cost', 'log_min_duration_statement', 'autovacuum_naptime') ORDER BY name" | tr '\n' ' ')"
{bin} tune pgbouncer --ram 1GiB --cores 2 --instances 2 --shards 4 --db-host 127.0.0.1 --db-port "$pg" \
    | sed -e "s/^listen_port = .*/listen_port = $pgb/" -e "s|^auth_file = .*|auth_file = $d/userlist.txt|" >"$d/pgbouncer.ini"
printf 'admin_users = campushub\nunix_socket_dir = %s\npidfile = %s/pgb.pid\nlogfile = %s/pgb.log\n' "$d" "$d" "$d" >>"$d/pgbouncer.ini"
echo '"campushub" "tune-test"' >"$d/userlist.txt"
chown postgres "$d"/pgbouncer.ini "$d"/userlist.txt
as_postgres "$(pgbouncer_bin)" -d "$d/pgbouncer.ini"
wait_for 10 pgbouncer port_in_use "$pgb"
export PGPASSWORD=tune-test
echo "pgbouncer databases: $(psql -h 127.0.0.1 -p "$pgb" -U campushub -At -F' ' pgbouncer -c 'SHOW DATABASES' | grep '^campushub' | tr '\n' '|')"
echo "pgbouncer config: $(psql -h 127.0.0.1 -p "$pgb" -U campushub -At -F= pgbouncer -c 'SHOW CONFIG' | grep -E '^(max_client_conn|server_login_retry)=' | cut -d= -f1,2 | tr '\n' ' ')"
echo "through pgbouncer: $(psql -h 127.0.0.1 -p "$pgb" -U campushub -At campushub_server -c 'SELECT 40 + 2')"
{bin} tune redis --ram 1GiB --cores 2 | sed "s/^port .*/port $rd/" >"$d/redis.conf"
"$(redis_bin)" "$d/redis.conf" --dir "$d" >"$d/redis.log" 2>&1 &
rpid=$!
wait_for 10 redis port_in_use "$rd"
for k in maxmemory maxmemory-policy save appendonly tcp-backlog; do echo "redis $k=$(redis-cli -p "$rd" --no-auth-warning config get "$k" | tail -n 1)"; done
"#
    );
    let (code, out, err) = sh(&script, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    // 2 instances x 4 shards x 2 connections x 2 = 32 in the session pool.
    for want in [
        "max_connections=65",
        "shared_buffers=256MB",
        "work_mem=4MB",
        "max_wal_size=4GB",
        "random_page_cost=1.1",
        "log_min_duration_statement=200ms",
        "autovacuum_naptime=10s",
    ] {
        assert!(out.contains(want), "{want} not in:\n{out}");
    }
    let dbs = out
        .lines()
        .find(|l| l.starts_with("pgbouncer databases:"))
        .unwrap();
    let pool = |name: &str| -> Vec<String> {
        dbs.trim_start_matches("pgbouncer databases: ")
            .split('|')
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {dbs}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let server = pool("campushub_server");
    assert!(
        server.contains(&"32".into()) && server.contains(&"session".into()),
        "{dbs}"
    );
    let clients = pool("campushub");
    assert!(
        clients.contains(&"20".into()) && clients.contains(&"transaction".into()),
        "{dbs}"
    );
    assert!(out.contains("max_client_conn=1032"), "{out}");
    assert!(out.contains("server_login_retry=1"), "{out}");
    assert!(out.contains("through pgbouncer: 42"), "{out}");
    for want in [
        "redis maxmemory=268435456",
        "redis maxmemory-policy=allkeys-lru",
        "redis save=",
        "redis appendonly=no",
        "redis tcp-backlog=4096",
    ] {
        assert!(out.lines().any(|l| l == want), "{want} not in:\n{out}");
    }
}

#[test]
fn tune_refuses_bad_arguments_with_one_line() {
    let bin = env!("CARGO_BIN_EXE_campushub");
    for args in [
        "tune",
        "tune mysql --ram 1GiB --cores 1",
        "tune pg --cores 8",
        "tune pg --ram 32GB --cores zero",
        "tune pg --ram 32GiB --cores 8 --storage tape",
    ] {
        let (code, out, err) = sh(&format!("{bin} {args}"), &[]);
        assert_eq!(code, 2, "{args}: {out}{err}");
        assert_eq!(err.trim().lines().count(), 1, "{args}: {err}");
        assert!(out.is_empty(), "{args}: {out}");
    }
}

/// scripts/backup and scripts/restore on a scratch cluster with WAL archiving: a base backup of
/// a seeded campus, more writes, a point in time, writes after it; the point-in-time restore
/// into a fresh cluster has exactly the rows up to that point and an intact audit chain; a
/// logical dump restores into an empty database with every row.
#[test]
fn backups_restore_to_a_point_in_time_and_logically() {
    let bin = env!("CARGO_BIN_EXE_campushub");
    let script = format!(
        r#"
set -euo pipefail
source scripts/lib/stack.sh
B=$(pg_bindir)
d=$(mktemp -d); chmod 755 "$d"
mkdir "$d/wal"; chown postgres "$d" "$d/wal" 2>/dev/null || true
stop_all() {{ for c in "$d/pg" "$d/restored"; do [ -f "$c/postmaster.pid" ] && as_postgres "$B/pg_ctl" -D "$c" -m immediate stop >/dev/null 2>&1; done; rm -rf "$d"; }}
trap stop_all EXIT
mapfile -t ports < <(free_port 2)
p1=${{ports[0]}} p2=${{ports[1]}}
as_postgres "$B/initdb" -D "$d/pg" -A trust -U postgres >/dev/null
scripts/backup archive-settings "$d/wal" >>"$d/pg/postgresql.conf"
as_postgres "$B/pg_ctl" -D "$d/pg" -o "-p $p1 -k $d -c listen_addresses=127.0.0.1" -l "$d/pg.log" -w start >/dev/null
url="postgres://postgres@127.0.0.1:$p1/campushub"
psql -h 127.0.0.1 -p "$p1" -U postgres -qc "CREATE DATABASE campushub"
CAMPUSHUB_DATABASE_URL=$url {bin} migrate >/dev/null
CAMPUSHUB_DATABASE_URL=$url {bin} seed --students 60 --faculty 6 --attendance-days 2 --quiet >/dev/null
BACKUP_DATABASE_URL=$url scripts/backup base "$d/backups"
counts() {{ psql -d "$1" -qAt -c "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM audit_events) || ' events, ' || (SELECT count(*) FROM orgs) || ' orgs'"; }}
# After the base backup, before the point in time.
psql -d "$url" -qAt -c "SELECT count(audit_append(NULL, 'test.before_target', 'test', g::text, NULL, '{{}}')) FROM generate_series(1, 20) g" >/dev/null
psql -d "$url" -qAt -c "INSERT INTO users (username, given_name, family_name, role) VALUES ('before-target', 'B', 'T', 'student')"
echo "at target: $(counts "$url")"
target=$(psql -d "$url" -qAt -c "SELECT now()")
sleep 1.2
# After the point in time: must not come back.
psql -d "$url" -qAt -c "SELECT count(audit_append(NULL, 'test.after_target', 'test', g::text, NULL, '{{}}')) FROM generate_series(1, 7) g" >/dev/null
psql -d "$url" -qAt -c "INSERT INTO users (username, given_name, family_name, role) VALUES ('after-target', 'A', 'T', 'student')"
echo "at the end: $(counts "$url")"
last=$(psql -d "$url" -qAt -c "SELECT pg_walfile_name(pg_current_wal_lsn())")
psql -d "$url" -qAt -c "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 1 100); do
    archived=$(psql -d "$url" -qAt -c "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    [[ "$archived" > "$last" || "$archived" == "$last" ]] && break
    sleep 0.1
done
scripts/restore pitr "$(ls -d "$d"/backups/base-* | head -n 1)" "$d/wal" "$d/restored" --target-time "$target" --port "$p2"
restored="postgres://postgres@127.0.0.1:$p2/campushub"
echo "restored: $(counts "$restored")"
echo "verify restored: $(CAMPUSHUB_DATABASE_URL=$restored {bin} audit verify 2>&1)"
echo "restored users: $(psql -d "$restored" -qAt -c "SELECT string_agg(username, ',' ORDER BY username) FROM users WHERE username LIKE '%target'")"
# Logical: a dump of the original into an empty database of the restored cluster.
BACKUP_DATABASE_URL=$url scripts/backup logical "$d/dumps"
psql -h 127.0.0.1 -p "$p2" -U postgres -qc "CREATE DATABASE copy"
scripts/restore logical "$(ls "$d"/dumps/*.dump)" "postgres://postgres@127.0.0.1:$p2/copy"
echo "copy: $(counts "postgres://postgres@127.0.0.1:$p2/copy")"
echo "verify copy: $(CAMPUSHUB_DATABASE_URL=postgres://postgres@127.0.0.1:$p2/copy {bin} audit verify 2>&1)"
rc=0
msg=$(scripts/restore logical "$(ls "$d"/dumps/*.dump)" "postgres://postgres@127.0.0.1:$p2/copy" 2>&1) || rc=$?
echo "again: $msg rc=$rc"
"#
    );
    let (code, out, err) = sh(&script, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let line = |prefix: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{out}\n{err}"))
            .trim()
            .to_string()
    };
    let at_target = line("at target:");
    let at_end = line("at the end:");
    assert_ne!(at_target, at_end);
    assert_eq!(line("restored:"), at_target, "{out}");
    assert_eq!(line("restored users:"), "before-target");
    assert!(line("verify restored:").contains("chain intact"), "{out}");
    assert_eq!(line("copy:"), at_end, "{out}");
    assert!(line("verify copy:").contains("chain intact"), "{out}");
    // A second restore into the now full database is refused, touching nothing.
    eprintln!("{out}");
    let again = line("again:");
    assert!(
        again.contains("not empty") && again.ends_with("rc=1"),
        "{again}"
    );
}
