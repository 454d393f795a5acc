//! `campushub-load`: open-loop constant-rate HTTP/1.1 load from a scenario file; one rate
//! (`--rate`) or the scenario's geometric sweep (`--sweep`, then `--refine` steps bisecting
//! between the highest rate held and the lowest missed), reported as a markdown table on
//! stdout and, on request, JSON and an SVG picture. See bench/README.md.

use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use campushub_bench::load::args::{parse_duration, parse_num};
use campushub_bench::load::report::{RunReport, Slo, StepReport};
use campushub_bench::load::run::{prepare, run_step, Settings, Target};
use campushub_bench::load::scenario::Scenario;
use campushub_bench::load::schedule::{bisect, bracket, sweep_rates};
use campushub_bench::load::svg;

const USAGE: &str = "usage: campushub-load --url http://HOST:PORT --scenario FILE (--rate N | --sweep [--refine 4] | --rates N,N,..)
  [--ids FILE] [--rows FILE] [--connections 64] [--duration 10s] [--warmup 2s] [--timeout 10s] [--grace 2s]
  [--server-pid PID] [--database-pids PID,PID,..] [--json FILE] [--acked FILE] [--announce] [--interval 60s] [--svg FILE] [--title TEXT] [--slo-p99-ms 200]
  [--slo-errors 0.001] [--seed N]";

struct Args {
    url: String,
    scenario: String,
    ids: Option<String>,
    rows: Option<String>,
    rates: Option<Vec<f64>>,
    sweep: bool,
    /// Bisection steps after a sweep (between the highest rate held and the lowest missed).
    refine: u32,
    settings: Settings,
    json: Option<String>,
    /// Where to write the first column of every fixture row whose request was answered 2xx.
    acked: Option<String>,
    svg: Option<String>,
    title: String,
    slo: Slo,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        scenario: String::new(),
        ids: None,
        rows: None,
        rates: None,
        sweep: false,
        refine: 4,
        settings: Settings {
            connections: 64,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            grace: Duration::from_secs(2),
            server_pid: None,
            database_pids: Vec::new(),
            announce: false,
            interval: None,
            seed: 0x5eed,
        },
        json: None,
        acked: None,
        svg: None,
        title: String::new(),
        slo: Slo {
            p99_ms: 200.0,
            error_ratio: 0.001,
        },
    };
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--sweep" {
            a.sweep = true;
            continue;
        }
        if flag == "--announce" {
            a.settings.announce = true;
            continue;
        }
        let v = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        let s = &mut a.settings;
        match flag.as_str() {
            "--url" => a.url = v,
            "--scenario" => a.scenario = v,
            "--ids" => a.ids = Some(v),
            "--rows" => a.rows = Some(v),
            "--rate" | "--rates" => {
                let rates = v
                    .split(',')
                    .map(|r| parse_num::<f64>(&flag, r))
                    .collect::<Result<Vec<_>, _>>()?;
                if rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
                    bail!("{flag}: rates must be positive");
                }
                a.rates = Some(rates);
            }
            "--connections" => {
                s.connections = parse_num(&flag, &v)?;
                if s.connections == 0 {
                    bail!("--connections must be at least 1");
                }
            }
            "--duration" => {
                s.duration = parse_duration(&flag, &v)?;
                if s.duration.is_zero() {
                    bail!("--duration must be more than 0");
                }
            }
            "--warmup" => s.warmup = parse_duration(&flag, &v)?,
            "--timeout" => s.timeout = parse_duration(&flag, &v)?,
            "--grace" => s.grace = parse_duration(&flag, &v)?,
            "--interval" => {
                let every = parse_duration(&flag, &v)?;
                if every < Duration::from_secs(1) {
                    bail!("--interval must be at least 1s");
                }
                s.interval = Some(every);
            }
            "--server-pid" => s.server_pid = Some(parse_num(&flag, &v)?),
            "--database-pids" => {
                s.database_pids = v
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| parse_num(&flag, p))
                    .collect::<Result<_, _>>()?;
            }
            "--seed" => s.seed = parse_num(&flag, &v)?,
            "--refine" => a.refine = parse_num(&flag, &v)?,
            "--json" => a.json = Some(v),
            "--acked" => a.acked = Some(v),
            "--svg" => a.svg = Some(v),
            "--title" => a.title = v,
            "--slo-p99-ms" => a.slo.p99_ms = parse_num(&flag, &v)?,
            "--slo-errors" => a.slo.error_ratio = parse_num(&flag, &v)?,
            _ => bail!("unknown argument `{flag}` (see --help)"),
        }
    }
    if a.url.is_empty() || a.scenario.is_empty() {
        bail!("--url and --scenario are required (see --help)");
    }
    if a.sweep == a.rates.is_some() {
        bail!("give either --rate/--rates or --sweep");
    }
    Ok(a)
}

fn read_ids(path: &str) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read --ids {path}"))?;
    let ids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if ids.is_empty() {
        bail!("--ids {path} holds no ids");
    }
    if let Some(bad) = ids
        .iter()
        .find(|i| !i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        bail!("--ids {path}: `{bad}` is not an id");
    }
    Ok(ids)
}

/// `--rows FILE`: one fixture per line, columns separated by tabs.
fn read_rows(path: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read --rows {path}"))?;
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    if rows.is_empty() {
        bail!("--rows {path} holds no rows");
    }
    Ok(rows)
}

/// One step at `rate`, judged against the level and told on stderr.
async fn judged_step(
    prep: &Rc<campushub_bench::load::run::Prepared>,
    target: &Target,
    args: &Args,
    rate: f64,
    note: &str,
) -> anyhow::Result<StepReport> {
    let mut step = run_step(Rc::clone(prep), target, &args.settings, rate).await?;
    step.judge(&args.slo);
    eprintln!(
        "{:>9.0}/s offered{note}: {:>9.0}/s achieved, p50 {:.2} ms, p99 {:.2} ms, errors {:.3}% ({}), {}",
        step.offered_rps,
        step.achieved_rps,
        step.latency_ms.p50,
        step.latency_ms.p99,
        step.error_ratio * 100.0,
        step.outcome_summary(),
        if step.meets_slo { "held" } else { "missed" }
    );
    Ok(step)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("campushub-load: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let target = Target::parse(&args.url)?;
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario))?;
    let stem = std::path::Path::new(&args.scenario)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    let scenario = Scenario::parse(&text, stem).with_context(|| args.scenario.clone())?;
    let rates = match &args.rates {
        Some(r) => r.clone(),
        None => {
            let s = scenario
                .sweep
                .ok_or_else(|| anyhow!("--sweep: {} has no [sweep] table", args.scenario))?;
            sweep_rates(s.start, s.factor, s.max)
        }
    };
    let ids = args
        .ids
        .as_deref()
        .map(read_ids)
        .transpose()?
        .unwrap_or_default();
    let rows_file = args.rows.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let local = tokio::task::LocalSet::new();
    let mut report = RunReport {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        url: args.url.clone(),
        connections: args.settings.connections,
        duration_s: args.settings.duration.as_secs_f64(),
        warmup_s: args.settings.warmup.as_secs_f64(),
        slo: args.slo,
        steps: Vec::new(),
        max_rps_meeting_slo: None,
    };
    local.block_on(&runtime, async {
        let mut prep = prepare(&target, scenario, ids).await?;
        if let Some(path) = &rows_file {
            prep.rows = read_rows(path)?;
        }
        if prep.scenario.needs_rows() && prep.rows.is_empty() {
            bail!("the scenario uses {{rowN}}: give fixtures with --rows FILE (tab-separated)");
        }
        let prep = Rc::new(prep);
        let mut missed_in_a_row = 0;
        for rate in rates {
            let step = judged_step(&prep, &target, &args, rate, "").await?;
            missed_in_a_row = if step.meets_slo {
                0
            } else {
                missed_in_a_row + 1
            };
            report.steps.push(step);
            // A sweep stops after two missed steps in a row: one may be noise, two are not.
            if args.sweep && missed_in_a_row >= 2 {
                break;
            }
        }
        // The sweep's factor leaves the maximum anywhere between the last step held and the
        // first missed (a factor of 1.6 apart): bisect that gap, so that the figure reported is
        // within RESOLUTION of the rate where the level is lost.
        const RESOLUTION: f64 = 1.05;
        for _ in 0..if args.sweep { args.refine } else { 0 } {
            let judged: Vec<(f64, bool)> = report
                .steps
                .iter()
                .map(|s| (s.offered_rps, s.meets_slo))
                .collect();
            let Some(rate) = bracket(&judged).and_then(|(lo, hi)| bisect(lo, hi, RESOLUTION))
            else {
                break;
            };
            let step = judged_step(&prep, &target, &args, rate, " (refining)").await?;
            report.steps.push(step);
        }
        report
            .steps
            .sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
        if !prep.rows.is_empty() {
            eprintln!(
                "rows: {} taken of {}{}",
                prep.rows_taken(),
                prep.rows.len(),
                if prep.rows_taken() > prep.rows.len() {
                    " (some were used twice: give more rows for fixtures that must be fresh)"
                } else {
                    ""
                }
            );
        }
        Ok::<_, anyhow::Error>(())
    })?;
    report.find_max();
    print!("{}", report.markdown());
    if let Some(path) = &args.acked {
        let mut text = String::new();
        for row in report.steps.iter().flat_map(|s| &s.acked) {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {path}"))?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {path}"))?;
    }
    if let Some(path) = &args.svg {
        let subtitle = if args.title.is_empty() {
            format!(
                "{} connections, {} s per step; {}",
                report.connections, report.duration_s, report.description
            )
        } else {
            args.title.clone()
        };
        std::fs::write(path, svg::render(&report, &subtitle))
            .with_context(|| format!("cannot write {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> anyhow::Result<Args> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn arguments() {
        let a = args("--url http://h:1 --scenario s.toml --rate 100 --duration 500ms --warmup 1m")
            .unwrap();
        assert_eq!(a.rates, Some(vec![100.0]));
        assert_eq!(a.settings.duration, Duration::from_millis(500));
        assert_eq!(a.settings.warmup, Duration::from_secs(60));
        assert!(
            args("--url http://h:1 --scenario s.toml --sweep")
                .unwrap()
                .sweep
        );
        let err = |s: &str| args(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("--url http://h:1 --scenario s").contains("--rate"));
        assert!(err("--url http://h:1 --scenario s --rate x").contains("not a valid number"));
        assert!(err("--url http://h:1 --scenario s --rate -1").contains("positive"));
        assert!(
            err("--url http://h:1 --scenario s --rate 1 --duration 3q").contains("not a duration")
        );
        assert!(err("--bogus 1").contains("unknown argument"));
        assert!(err("--url").contains("needs a value"));
        let a = args(
            "--url http://h:1 --scenario s --rate 5 --announce --acked a.txt --refine 2 --database-pids 7,9",
        )
        .unwrap();
        assert!(a.settings.announce);
        assert_eq!(a.acked.as_deref(), Some("a.txt"));
        assert_eq!(a.refine, 2);
        assert_eq!(a.settings.database_pids, vec![7, 9]);
        assert!(
            err("--url http://h:1 --scenario s --rate 5 --database-pids 7,x")
                .contains("not a valid number")
        );
    }
}
