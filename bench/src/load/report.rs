//! What a step measured, how it is judged against the service level, and how it is written:
//! JSON for the record, a markdown table for people.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The service level a step must hold: the predecessor system's (p99 under 200 ms, errors
/// under 0.1%).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Slo {
    /// p99 latency bound, milliseconds.
    pub p99_ms: f64,
    /// Errors over all requests, at most.
    pub error_ratio: f64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th.
    pub p90: f64,
    /// 99th.
    pub p99: f64,
    /// 99.9th.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Requests that got no HTTP status.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TransportErrors {
    /// Could not connect.
    pub connect: u64,
    /// Read or write failed, or the server closed mid-response.
    pub io: u64,
    /// The response did not parse.
    pub parse: u64,
    /// No response within the request timeout or before the step's hard stop.
    pub timeout: u64,
    /// Due in the step but never sent before the hard stop (every connection was busy).
    pub unsent: u64,
}

impl TransportErrors {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.connect + self.io + self.parse + self.timeout + self.unsent
    }
}

/// One second of a step's window: requests due in it, how they ended, the slowest.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Second {
    /// Requests due in this second.
    pub due: u64,
    /// Of them, answered 2xx.
    pub ok: u64,
    /// Of them, anything else (a status other than 2xx, a transport error, never sent).
    pub errors: u64,
    /// The slowest of them, from its due time, in milliseconds.
    pub max_ms: f64,
    /// The slowest of them from its send to its answer (the server's share), in milliseconds.
    pub max_service_ms: f64,
}

/// One interval of a long step (`--interval`), by due time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Interval {
    /// Requests due in it.
    pub requests: u64,
    /// Of them, anything but 2xx.
    pub errors: u64,
    /// Their latency from the due time, in milliseconds.
    pub latency_ms: Percentiles,
}

/// One step: a constant offered rate held for the measured duration.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Offered rate, requests per second.
    pub offered_rps: f64,
    /// Responses received for requests due in the measured window, per second of it.
    pub achieved_rps: f64,
    /// Requests due in the measured window.
    pub requests: u64,
    /// Of them, answered 2xx.
    pub ok: u64,
    /// Latency from each request's intended send time to its response (what a user waits).
    pub latency_ms: Percentiles,
    /// From the actual send to the response (what the server and the network took).
    pub service_ms: Percentiles,
    /// How late the generator sent, p99 (large: the generator, not the server, is behind).
    pub send_lag_p99_ms: f64,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests with no status.
    pub transport_errors: TransportErrors,
    /// Non-2xx responses and transport errors over `requests`.
    pub error_ratio: f64,
    /// The generator's own CPU over the window, in cores (near 1: it, not the server, may be
    /// the limit; so may a large `send_lag_p99_ms` while `service_ms` stays small).
    pub generator_cpu_cores: Option<f64>,
    /// Server CPU (utime+stime) over the window divided by the responses, when its pid was given.
    pub server_cpu_us_per_request: Option<f64>,
    /// The database's processes' CPU (`--database-pids`: PostgreSQL's, PgBouncer's) over the
    /// window divided by the responses.
    pub database_cpu_us_per_request: Option<f64>,
    /// Held the service level.
    pub meets_slo: bool,
    /// Second by second (by due time): what came due, what succeeded, the slowest.
    pub timeline: Vec<Second>,
    /// Per `--interval` of the window (empty without it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
    /// When the measured window opened (its first second in `timeline`), Unix seconds.
    pub window_start_unix_s: f64,
    /// The first column of the fixture row of every request answered 2xx (`--acked`).
    #[serde(skip)]
    pub acked: Vec<String>,
    /// Per request kind: name -> count sent in the window.
    pub mix: BTreeMap<String, u64>,
}

impl StepReport {
    /// Judges the step against `slo` and fills `error_ratio` and `meets_slo`.
    pub fn judge(&mut self, slo: &Slo) {
        let bad_status: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        let errors = bad_status + self.transport_errors.total();
        self.error_ratio = if self.requests == 0 {
            0.0
        } else {
            errors as f64 / self.requests as f64
        };
        self.meets_slo = self.requests > 0
            && self.latency_ms.p99 < slo.p99_ms
            && self.error_ratio < slo.error_ratio;
    }

    /// Statuses and transport errors in one short string, e.g. `200: 9990, 503: 10, timeout: 2`.
    pub fn outcome_summary(&self) -> String {
        let mut parts: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let t = &self.transport_errors;
        for (name, n) in [
            ("connect", t.connect),
            ("io", t.io),
            ("parse", t.parse),
            ("timeout", t.timeout),
            ("unsent", t.unsent),
        ] {
            if n > 0 {
                parts.push(format!("{name}: {n}"));
            }
        }
        if parts.is_empty() {
            "-".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A whole run: its settings, its steps, and the highest offered rate that held the level.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Target.
    pub url: String,
    /// Keep-alive connections.
    pub connections: usize,
    /// Measured seconds per step.
    pub duration_s: f64,
    /// Unrecorded seconds before each step's window.
    pub warmup_s: f64,
    /// The level steps are judged by.
    pub slo: Slo,
    /// Every step, in the order run.
    pub steps: Vec<StepReport>,
    /// The highest offered rate that held the level (none held it: `None`).
    pub max_rps_meeting_slo: Option<f64>,
}

impl RunReport {
    /// Sets `max_rps_meeting_slo` from the steps.
    pub fn find_max(&mut self) {
        self.max_rps_meeting_slo = self
            .steps
            .iter()
            .filter(|s| s.meets_slo)
            .map(|s| s.offered_rps)
            .reduce(f64::max);
    }

    /// A markdown table, one row per step, and the maximum.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "scenario {}: {} connections, {} s per step after {} s of warm-up; level: p99 < {} ms, errors < {}%\n\n",
            self.scenario,
            self.connections,
            self.duration_s,
            self.warmup_s,
            self.slo.p99_ms,
            self.slo.error_ratio * 100.0
        ));
        s.push_str("| offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU us/req | database CPU us/req | service p99 ms | send lag p99 ms | generator CPU | level | outcomes |\n");
        s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---|\n");
        for st in &self.steps {
            let l = &st.latency_ms;
            s.push_str(&format!(
                "| {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3}% | {} | {} | {:.2} | {:.2} | {} | {} | {} |\n",
                st.offered_rps,
                st.achieved_rps,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                st.error_ratio * 100.0,
                st.server_cpu_us_per_request.map_or("-".into(), |c| format!("{c:.2}")),
                st.database_cpu_us_per_request.map_or("-".into(), |c| format!("{c:.2}")),
                st.service_ms.p99,
                st.send_lag_p99_ms,
                st.generator_cpu_cores.map_or("-".into(), |c| format!("{c:.2}")),
                if st.meets_slo { "held" } else { "missed" },
                st.outcome_summary()
            ));
        }
        match self.max_rps_meeting_slo {
            Some(r) => s.push_str(&format!(
                "\nhighest offered rate that held the level: {r:.0} req/s\n"
            )),
            None => s.push_str("\nno step held the level\n"),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, p99: f64, ok: u64, bad: u64) -> StepReport {
        let mut statuses = BTreeMap::new();
        statuses.insert(200, ok);
        if bad > 0 {
            statuses.insert(503, bad);
        }
        StepReport {
            offered_rps: rate,
            achieved_rps: rate,
            requests: ok + bad,
            ok,
            latency_ms: Percentiles {
                p99,
                ..Percentiles::default()
            },
            service_ms: Percentiles::default(),
            send_lag_p99_ms: 0.0,
            statuses,
            transport_errors: TransportErrors::default(),
            error_ratio: 0.0,
            generator_cpu_cores: Some(0.5),
            server_cpu_us_per_request: Some(9.5),
            database_cpu_us_per_request: None,
            timeline: Vec::new(),
            intervals: Vec::new(),
            window_start_unix_s: 0.0,
            acked: Vec::new(),
            meets_slo: false,
            mix: BTreeMap::new(),
        }
    }

    #[test]
    fn judging_and_the_maximum() {
        let slo = Slo {
            p99_ms: 200.0,
            error_ratio: 0.001,
        };
        let mut steps = vec![
            step(100.0, 3.0, 10_000, 0),
            step(200.0, 150.0, 9_995, 5),
            step(400.0, 10.0, 9_980, 20),
            step(800.0, 900.0, 10_000, 0),
        ];
        for s in &mut steps {
            s.judge(&slo);
        }
        assert!(steps[0].meets_slo && steps[1].meets_slo);
        assert!(!steps[2].meets_slo, "0.2% errors");
        assert!(!steps[3].meets_slo, "p99 over 200 ms");
        assert!((steps[2].error_ratio - 0.002).abs() < 1e-12);
        let mut run = RunReport {
            scenario: "t".into(),
            description: String::new(),
            url: "http://x".into(),
            connections: 64,
            duration_s: 4.0,
            warmup_s: 1.0,
            slo,
            steps,
            max_rps_meeting_slo: None,
        };
        run.find_max();
        assert_eq!(run.max_rps_meeting_slo, Some(200.0));
        let md = run.markdown();
        assert!(md.contains("| 200 | 200 |"));
        assert!(md.contains("200: 9995, 503: 5"));
        assert!(md.contains("highest offered rate that held the level: 200 req/s"));
        assert!(serde_json::to_string(&run)
            .unwrap()
            .contains("\"max_rps_meeting_slo\":200.0"));
    }

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 1..=1000 {
            h.record(us * 10).unwrap();
        }
        let p = Percentiles::of(&h);
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.max - 10.0).abs() < 0.01, "{p:?}");
        assert_eq!(
            Percentiles::of(&Histogram::<u64>::new(3).unwrap()),
            Percentiles::default()
        );
    }
}
