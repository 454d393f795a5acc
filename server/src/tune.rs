//! `campushub tune pg|pgbouncer|redis`: configuration for PostgreSQL, PgBouncer and Redis sized
//! to a machine and to the fleet that uses them. Pure computation: the figures come from the
//! arguments, never from the machine it runs on, so the output is the same wherever it runs.
//!
//! The rules, in one place:
//! - The server's connections: instances x shards x connections per shard, twice over (a
//!   rolling restart runs old and new instances side by side). PgBouncer's session pool holds
//!   them all; PostgreSQL's `max_connections` covers that pool, the transaction pool for
//!   short-lived clients, the replicas' WAL senders and the reserved superuser slots.
//! - PostgreSQL's memory: a quarter of RAM for shared buffers (128 MiB to 32 GiB),
//!   three quarters as the planner's cache estimate; `work_mem` shares what is left between
//!   three sorts per connection, within 4 to 64 MiB; maintenance work gets RAM/16 up to 2 GiB.
//! - WAL and checkpoints: checkpoints every 15 minutes at most, spread over 90% of the
//!   interval, and enough WAL (4 GiB, more on large machines) that size does not force them.
//! - SSD planner costs (random pages barely dearer than sequential ones, deep I/O queues)
//!   unless `--storage hdd`.
//! - Autovacuum that keeps up with attendance, the busiest table: more workers on more cores,
//!   a lower scale factor, a higher cost limit on SSD.
//! - Slow queries logged (over 200 ms, the service level's p95), with lock waits, temporary
//!   files and checkpoints.
//! - Redis as a cache: no persistence, a memory ceiling with least-recently-used eviction.

use std::fmt::Write as _;

/// The machine and the fleet a configuration is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Memory in bytes.
    pub ram: u64,
    /// CPU cores.
    pub cores: u32,
    /// campushub instances that connect.
    pub instances: u32,
    /// Shards per instance (default: one per core of the instance's machine, `--cores`).
    pub shards: u32,
    /// Connections per shard (`CAMPUSHUB_DB_CONNECTIONS_PER_SHARD`).
    pub connections_per_shard: u32,
    /// Solid-state storage (the planner's costs).
    pub ssd: bool,
    /// Where PostgreSQL listens, for PgBouncer's `[databases]`.
    pub db_host: String,
    /// Its port.
    pub db_port: u16,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The transaction pool for short-lived clients (CLI, scripts, cron jobs).
const TRANSACTION_POOL: u32 = 20;
/// Slots for the replicas' WAL senders.
const WAL_SENDERS: u32 = 10;
/// `superuser_reserved_connections`.
const RESERVED: u32 = 3;

impl Machine {
    /// The server's connections across the fleet, counted twice for rolling restarts.
    pub fn server_connections(&self) -> u32 {
        self.instances
            .saturating_mul(self.shards)
            .saturating_mul(self.connections_per_shard)
            .saturating_mul(2)
    }

    /// PostgreSQL's `max_connections`.
    pub fn max_connections(&self) -> u32 {
        self.server_connections() + TRANSACTION_POOL + WAL_SENDERS + RESERVED
    }

    fn shared_buffers(&self) -> u64 {
        (self.ram / 4).clamp(128 * MIB, 32 * GIB)
    }

    fn work_mem(&self) -> u64 {
        let rest = self.ram.saturating_sub(self.shared_buffers());
        (rest / (u64::from(self.max_connections()) * 3)).clamp(4 * MIB, 64 * MIB)
    }

    fn max_wal(&self) -> u64 {
        (self.ram / 8).clamp(4 * GIB, 16 * GIB)
    }
}

/// PostgreSQL memory units: the largest of GB, MB, kB that divides the value.
fn pg_size(bytes: u64) -> String {
    if bytes.is_multiple_of(GIB) {
        format!("{}GB", bytes / GIB)
    } else if bytes.is_multiple_of(MIB) {
        format!("{}MB", bytes / MIB)
    } else {
        format!("{}kB", bytes / KIB)
    }
}

/// A `postgresql.conf` fragment (include it, or append it).
pub fn postgresql_conf(m: &Machine) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# postgresql.conf for campushub: {} of RAM, {} cores, {} storage; {} instance(s) x {} shards x {} connections.",
        pg_size(m.ram),
        m.cores,
        if m.ssd { "SSD" } else { "spinning" },
        m.instances,
        m.shards,
        m.connections_per_shard
    );
    let _ = writeln!(o, "# Made by `campushub tune pg`; include it from postgresql.conf (include 'campushub.conf').\n");
    let _ = writeln!(
        o,
        "# Connections: PgBouncer's session pool ({} = instances x shards x connections x 2, for",
        m.server_connections()
    );
    let _ = writeln!(o, "# rolling restarts), its transaction pool ({TRANSACTION_POOL}), WAL senders ({WAL_SENDERS}), reserved ({RESERVED}).");
    let _ = writeln!(o, "max_connections = {}", m.max_connections());
    let _ = writeln!(o, "superuser_reserved_connections = {RESERVED}\n");
    let _ = writeln!(o, "# Memory");
    let _ = writeln!(o, "shared_buffers = {}", pg_size(m.shared_buffers()));
    let _ = writeln!(o, "effective_cache_size = {}", pg_size(m.ram / 4 * 3));
    let _ = writeln!(o, "work_mem = {}", pg_size(m.work_mem()));
    let _ = writeln!(
        o,
        "maintenance_work_mem = {}",
        pg_size((m.ram / 16).clamp(64 * MIB, 2 * GIB))
    );
    let _ = writeln!(o, "huge_pages = try\n");
    let _ = writeln!(
        o,
        "# WAL and checkpoints (wal_level replica: streaming replicas and scripts/backup)"
    );
    let _ = writeln!(o, "wal_level = replica");
    let _ = writeln!(o, "max_wal_senders = {WAL_SENDERS}");
    let _ = writeln!(o, "wal_compression = on");
    let _ = writeln!(o, "wal_buffers = 16MB");
    let _ = writeln!(o, "min_wal_size = 1GB");
    let _ = writeln!(o, "max_wal_size = {}", pg_size(m.max_wal()));
    let _ = writeln!(o, "checkpoint_timeout = 15min");
    let _ = writeln!(o, "checkpoint_completion_target = 0.9\n");
    let _ = writeln!(o, "# Planner and I/O");
    let (random_page_cost, io) = if m.ssd { ("1.1", 200) } else { ("4", 2) };
    let _ = writeln!(o, "random_page_cost = {random_page_cost}");
    let _ = writeln!(o, "effective_io_concurrency = {io}");
    let _ = writeln!(o, "max_worker_processes = {}", m.cores.max(8));
    let _ = writeln!(o, "max_parallel_workers = {}", m.cores);
    let _ = writeln!(
        o,
        "max_parallel_workers_per_gather = {}",
        (m.cores / 2).clamp(1, 4)
    );
    let _ = writeln!(
        o,
        "max_parallel_maintenance_workers = {}\n",
        (m.cores / 2).clamp(1, 4)
    );
    let _ = writeln!(
        o,
        "# Autovacuum keeps up with attendance, the busiest table"
    );
    let _ = writeln!(o, "autovacuum_max_workers = {}", (m.cores / 2).clamp(3, 8));
    let _ = writeln!(o, "autovacuum_naptime = 10s");
    let _ = writeln!(o, "autovacuum_vacuum_scale_factor = 0.05");
    let _ = writeln!(o, "autovacuum_analyze_scale_factor = 0.02");
    let _ = writeln!(
        o,
        "autovacuum_vacuum_cost_limit = {}\n",
        if m.ssd { 2000 } else { 400 }
    );
    let _ = writeln!(o, "# What operators need to see");
    let _ = writeln!(o, "log_min_duration_statement = 200ms");
    let _ = writeln!(o, "log_lock_waits = on");
    let _ = writeln!(o, "log_temp_files = 0");
    let _ = writeln!(o, "log_checkpoints = on");
    let _ = writeln!(o, "log_autovacuum_min_duration = 1s");
    let _ = writeln!(o, "track_io_timing = on");
    o
}

/// A whole `pgbouncer.ini`, laid out as docs/src/operating.md's "Production layout" says.
pub fn pgbouncer_ini(m: &Machine) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "; pgbouncer.ini for campushub: {} instance(s) x {} shards x {} connections; made by `campushub tune pgbouncer`.",
        m.instances, m.shards, m.connections_per_shard
    );
    let _ = writeln!(
        o,
        "; campushub_server: the server's own long-lived pipelined connections, in session mode so"
    );
    let _ = writeln!(o, "; named prepared statements work (CAMPUSHUB_STATEMENTS=prepared); its pool holds them all,");
    let _ = writeln!(
        o,
        "; twice over for rolling restarts. campushub: a transaction pool for short-lived clients."
    );
    let _ = writeln!(o, "[databases]");
    let _ = writeln!(
        o,
        "campushub_server = host={} port={} dbname=campushub pool_mode=session pool_size={}",
        m.db_host,
        m.db_port,
        m.server_connections()
    );
    let _ = writeln!(
        o,
        "campushub = host={} port={} dbname=campushub pool_mode=transaction pool_size={TRANSACTION_POOL}\n",
        m.db_host, m.db_port
    );
    let _ = writeln!(o, "[pgbouncer]");
    let _ = writeln!(o, "listen_addr = 127.0.0.1");
    let _ = writeln!(o, "listen_port = 6432");
    let _ = writeln!(o, "auth_type = scram-sha-256");
    let _ = writeln!(o, "auth_file = /etc/pgbouncer/userlist.txt");
    let _ = writeln!(o, "max_client_conn = {}", m.server_connections() + 1000);
    let _ = writeln!(
        o,
        "max_db_connections = {}",
        m.server_connections() + TRANSACTION_POOL
    );
    let _ = writeln!(
        o,
        "; After PostgreSQL restarts, retry a refused login after 1 s, not 15 (every client of the"
    );
    let _ = writeln!(o, "; pool would be refused meanwhile).");
    let _ = writeln!(o, "server_login_retry = 1");
    let _ = writeln!(o, "server_idle_timeout = 600");
    let _ = writeln!(o, "ignore_startup_parameters = extra_float_digits,options");
    let _ = writeln!(o, "; One PgBouncer process uses one core; past about 50k queries/s run several with so_reuseport.");
    let _ = writeln!(o, "so_reuseport = 1");
    o
}

/// A `redis.conf` for Redis as campushub uses it: caches, invalidation, shared rate limits.
pub fn redis_conf(m: &Machine) -> String {
    let maxmemory = (m.ram / 8).clamp(256 * MIB, 16 * GIB);
    let mut o = String::new();
    let _ = writeln!(o, "# redis.conf for campushub: Redis as a cache (profiles, invalidation, shared rate limits),");
    let _ = writeln!(o, "# nothing it holds needs to survive a restart. Made by `campushub tune redis` for {} of RAM,", pg_size(m.ram));
    let _ = writeln!(
        o,
        "# {} cores. Set the password with requirepass in an included file, never here.",
        m.cores
    );
    let _ = writeln!(o, "bind 127.0.0.1 -::1");
    let _ = writeln!(o, "protected-mode yes");
    let _ = writeln!(o, "port 6379");
    let _ = writeln!(o, "tcp-backlog 4096");
    let _ = writeln!(o, "timeout 0");
    let _ = writeln!(o, "tcp-keepalive 60");
    let _ = writeln!(o, "# No persistence: no snapshots, no append-only file.");
    let _ = writeln!(o, "save \"\"");
    let _ = writeln!(o, "appendonly no");
    let _ = writeln!(
        o,
        "# An eighth of RAM (256 MiB to 16 GiB); the least recently used keys go first."
    );
    let _ = writeln!(o, "maxmemory {}mb", maxmemory / MIB);
    let _ = writeln!(o, "maxmemory-policy allkeys-lru");
    let _ = writeln!(
        o,
        "maxclients {}",
        (m.instances * m.shards * 4 + 1000).max(10000)
    );
    if m.cores >= 4 {
        let _ = writeln!(o, "io-threads {}", (m.cores / 2).min(4));
    }
    let _ = writeln!(o, "latency-monitor-threshold 100");
    let _ = writeln!(o, "slowlog-log-slower-than 10000");
    o
}

/// A size such as `32GiB`, `512MiB`, `32G` or `32GB` (all binary units), in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => 1024 * GIB,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// `campushub tune pg|pgbouncer|redis`: the machine and the fleet, from the command line.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints the file on standard output. The figures come from these \
    arguments only, never from the machine the command runs on."
)]
pub struct TuneArgs {
    /// The file to print: postgresql.conf (pg), pgbouncer.ini or redis.conf
    #[arg(value_enum)]
    target: Target,
    /// Memory of the machine, 512MiB to 64TiB (32GiB, 32G and 32GB all mean 32 GiB)
    #[arg(long, value_name = "SIZE", value_parser = ram)]
    ram: u64,
    /// CPU cores of the machine
    #[arg(long, value_name = "N", value_parser = count::<1, 1024>)]
    cores: u32,
    /// campushub instances that connect
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = count::<1, 1000>)]
    instances: u32,
    /// Shards per instance [default: --cores]
    #[arg(long, value_name = "N", value_parser = count::<1, 1024>)]
    shards: Option<u32>,
    /// PostgreSQL connections per shard (CAMPUSHUB_DB_CONNECTIONS_PER_SHARD)
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = count::<1, 64>)]
    connections_per_shard: u32,
    /// The database's storage, for the planner's costs
    #[arg(long, value_enum, default_value_t = Storage::Ssd)]
    storage: Storage,
    /// Where PostgreSQL listens, for PgBouncer's [databases]
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1", value_parser = host)]
    db_host: String,
    /// PostgreSQL's port, for PgBouncer's [databases]
    #[arg(long, value_name = "PORT", default_value_t = 5432, value_parser = clap::value_parser!(u16).range(1..))]
    db_port: u16,
}

/// The file `campushub tune` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// postgresql.conf
    #[value(alias = "postgresql")]
    Pg,
    /// pgbouncer.ini
    #[value(name = "pgbouncer")]
    PgBouncer,
    /// redis.conf
    Redis,
}

/// The database's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Storage {
    /// Solid-state
    Ssd,
    /// Spinning disks
    Hdd,
}

impl TuneArgs {
    /// The machine and fleet the arguments describe (shards default to one per core).
    pub fn machine(&self) -> Machine {
        Machine {
            ram: self.ram,
            cores: self.cores,
            instances: self.instances,
            shards: self.shards.unwrap_or(self.cores),
            connections_per_shard: self.connections_per_shard,
            ssd: self.storage == Storage::Ssd,
            db_host: self.db_host.clone(),
            db_port: self.db_port,
        }
    }

    /// The file asked for, sized to the machine.
    pub fn file(&self) -> String {
        let m = self.machine();
        match self.target {
            Target::Pg => postgresql_conf(&m),
            Target::PgBouncer => pgbouncer_ini(&m),
            Target::Redis => redis_conf(&m),
        }
    }
}

/// `--ram`: a size from 512 MiB to 64 TiB.
fn ram(value: &str) -> Result<u64, String> {
    parse_size(value)
        .filter(|b| (512 * MIB..=64 * 1024 * GIB).contains(b))
        .ok_or_else(|| "takes a size from 512MiB to 64TiB like 32GiB".to_string())
}

/// A whole number from `LO` to `HI`.
fn count<const LO: u32, const HI: u32>(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (LO..=HI).contains(n))
        .ok_or_else(|| format!("takes a whole number from {LO} to {HI}"))
}

/// `--db-host`: a host name, which a PgBouncer line cannot hold with spaces in it.
fn host(value: &str) -> Result<String, String> {
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err("takes a host name without spaces".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments after `campushub tune`, parsed as the command line parses them.
    fn parse(args: &[&str]) -> Result<TuneArgs, clap::Error> {
        use clap::{Args, FromArgMatches};
        let command = TuneArgs::augment_args(clap::Command::new("tune"));
        let matches =
            command.try_get_matches_from(std::iter::once("tune").chain(args.iter().copied()))?;
        TuneArgs::from_arg_matches(&matches)
    }

    fn machine(args: &[&str]) -> Machine {
        parse(args).unwrap().machine()
    }

    fn value<'a>(conf: &'a str, key: &str) -> &'a str {
        conf.lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} in\n{conf}"))
    }

    /// The seed documents' machine: 8 vCPUs, 32 GB, one instance of 8 shards.
    #[test]
    fn the_seed_documents_8_core_32_gib_machine() {
        let m = machine(&["pg", "--ram", "32GiB", "--cores", "8"]);
        assert_eq!(m.server_connections(), 32);
        let pg = postgresql_conf(&m);
        assert_eq!(value(&pg, "max_connections"), "65");
        assert_eq!(value(&pg, "shared_buffers"), "8GB");
        assert_eq!(value(&pg, "effective_cache_size"), "24GB");
        assert_eq!(value(&pg, "maintenance_work_mem"), "2GB");
        assert_eq!(value(&pg, "work_mem"), "64MB");
        assert_eq!(value(&pg, "max_wal_size"), "4GB");
        assert_eq!(value(&pg, "random_page_cost"), "1.1");
        assert_eq!(value(&pg, "autovacuum_max_workers"), "4");
        assert_eq!(value(&pg, "log_min_duration_statement"), "200ms");
        let pgb = pgbouncer_ini(&m);
        assert!(pgb.contains("pool_mode=session pool_size=32"), "{pgb}");
        assert!(pgb.contains("pool_mode=transaction pool_size=20"), "{pgb}");
        assert_eq!(value(&pgb, "max_client_conn"), "1032");
        let redis = redis_conf(&m);
        assert!(redis.contains("maxmemory 4096mb"), "{redis}");
        assert!(redis.contains("save \"\"") && redis.contains("appendonly no"));
        assert!(redis.contains("io-threads 4"));
    }

    #[test]
    fn pools_grow_with_the_fleet_and_memory_rules_hold_at_the_edges() {
        let m = machine(&[
            "pg",
            "--ram",
            "512MiB",
            "--cores",
            "2",
            "--instances",
            "4",
            "--shards",
            "8",
            "--storage",
            "hdd",
        ]);
        assert_eq!(m.server_connections(), 128);
        let pg = postgresql_conf(&m);
        assert_eq!(value(&pg, "max_connections"), "161");
        assert_eq!(value(&pg, "shared_buffers"), "128MB");
        assert_eq!(value(&pg, "work_mem"), "4MB");
        assert_eq!(value(&pg, "random_page_cost"), "4");
        let big = machine(&["pg", "--ram", "1TiB", "--cores", "128"]);
        let pg = postgresql_conf(&big);
        assert_eq!(value(&pg, "shared_buffers"), "32GB");
        assert_eq!(value(&pg, "max_wal_size"), "16GB");
        assert_eq!(value(&pg, "max_parallel_workers_per_gather"), "4");
    }

    #[test]
    fn sizes_and_bad_arguments() {
        assert_eq!(parse_size("32GiB"), Some(32 * GIB));
        assert_eq!(parse_size("32G"), Some(32 * GIB));
        assert_eq!(parse_size("512mb"), Some(512 * MIB));
        assert_eq!(parse_size("1TiB"), Some(1024 * GIB));
        for bad in ["", "GiB", "32", "32XB", "-1G", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        for bad in [
            &[][..],
            &["mysql", "--ram", "1G", "--cores", "1"][..],
            &["pg", "--cores", "8"][..],
            &["pg", "--ram", "32GiB"][..],
            &["pg", "--ram", "100MiB", "--cores", "1"][..],
            &["pg", "--ram", "32GiB", "--cores", "0"][..],
            &["pg", "--ram", "32GiB", "--cores", "8", "--storage", "nvme"][..],
            &["pg", "--ram", "32GiB", "--cores", "8", "--shards"][..],
            &["pg", "--ram", "32GiB", "--cores", "8", "--db-host", "a b"][..],
            &["pg", "--ram", "32GiB", "--cores", "8", "--frobnicate", "1"][..],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_the_postgresql_alias() {
        let args = parse(&["postgresql", "--ram", "32GiB", "--cores", "8"]).unwrap();
        assert_eq!(args.target, Target::Pg);
        assert_eq!(
            args.machine(),
            Machine {
                ram: 32 * GIB,
                cores: 8,
                instances: 1,
                shards: 8,
                connections_per_shard: 2,
                ssd: true,
                db_host: "127.0.0.1".into(),
                db_port: 5432,
            }
        );
        assert!(args.file().starts_with("# postgresql.conf for campushub"));
        let args = parse(&[
            "pgbouncer",
            "--ram",
            "1G",
            "--cores",
            "2",
            "--db-port",
            "6543",
        ]);
        assert!(args.unwrap().file().contains("port=6543"));
        assert!(parse(&["pg", "--ram", "1G", "--cores", "2", "--db-port", "0"]).is_err());
    }
}
