//! The picture of a sweep: p50 and p99 latency against offered rate, both axes logarithmic,
//! with the service level's p99 bound and the highest rate that held it. Plain SVG text.

use std::fmt::Write as _;

use super::report::RunReport;

const W: f64 = 760.0;
const H: f64 = 440.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 64.0;

/// Ticks at 1, 2 and 5 times powers of ten inside `[lo, hi]`.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(lo > 0.0 && hi >= lo) {
        return ticks;
    }
    let mut decade = 10f64.powi(lo.log10().floor() as i32);
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo * (1.0 - 1e-9) && t <= hi * (1.0 + 1e-9) {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A number for an axis label: `500`, `2k`, `1.5M`, `0.2`.
pub fn short_number(x: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if x >= 1e6 {
        format!("{}M", trim(format!("{:.1}", x / 1e6)))
    } else if x >= 1e3 {
        format!("{}k", trim(format!("{:.1}", x / 1e3)))
    } else if x >= 1.0 {
        trim(format!("{x:.1}"))
    } else {
        trim(format!("{x:.3}"))
    }
}

struct LogScale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl LogScale {
    fn at(&self, v: f64) -> f64 {
        let f = (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        self.from + f * (self.to - self.from)
    }
}

/// The SVG document for `run` (empty steps give an empty frame with the title).
pub fn render(run: &RunReport, subtitle: &str) -> String {
    let steps = &run.steps;
    let rates = steps.iter().map(|s| s.offered_rps);
    let (mut xlo, mut xhi) = rates.fold((f64::MAX, 0f64), |(a, b), r| (a.min(r), b.max(r)));
    if steps.is_empty() {
        (xlo, xhi) = (1.0, 10.0);
    }
    xlo = 10f64.powf(xlo.log10() - 0.05);
    xhi = 10f64.powf(xhi.log10() + 0.05);
    let lat = steps
        .iter()
        .flat_map(|s| [s.latency_ms.p50, s.latency_ms.p99])
        .filter(|v| *v > 0.0);
    let (ylo, yhi) = lat.fold((run.slo.p99_ms, run.slo.p99_ms), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let ylo = 10f64.powf((ylo.max(0.01)).log10().floor());
    let yhi = 10f64.powf(yhi.log10().ceil()).max(ylo * 10.0);
    let x = LogScale {
        lo: xlo,
        hi: xhi,
        from: LEFT,
        to: W - RIGHT,
    };
    let y = LogScale {
        lo: ylo,
        hi: yhi,
        from: H - BOTTOM,
        to: TOP,
    };

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{} : latency against offered rate</text>
<text x="{LEFT}" y="37" fill="#555">{}</text>
"##,
        escape(&run.scenario),
        escape(subtitle)
    );
    // Grid and ticks.
    for t in log_ticks(xlo, xhi) {
        let px = x.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            short_number(t)
        );
    }
    for t in log_ticks(ylo, yhi) {
        let py = y.at(t);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            short_number(t)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">offered rate (requests/s, log scale)</text>
<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">latency from intended send time (ms, log scale)</text>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM,
        (LEFT + W - RIGHT) / 2.0,
        H - 18.0,
        (TOP + H - BOTTOM) / 2.0
    );
    // The level's bound.
    let py = y.at(run.slo.p99_ms);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" fill="#c00" text-anchor="end">p99 bound {} ms</text>"##,
        W - RIGHT,
        W - RIGHT - 4.0,
        py - 5.0,
        short_number(run.slo.p99_ms)
    );
    if let Some(best) = run.max_rps_meeting_slo {
        let px = x.at(best);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#080" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" fill="#080">max {} req/s</text>"##,
            H - BOTTOM,
            px + 4.0,
            TOP + 14.0,
            short_number(best)
        );
    }
    for (label, color, pick) in [
        (
            "p50",
            "#1f6fb4",
            (|s: &crate::load::report::StepReport| s.latency_ms.p50) as fn(&_) -> f64,
        ),
        ("p99", "#e07000", |s: &crate::load::report::StepReport| {
            s.latency_ms.p99
        }),
    ] {
        let pts: Vec<(f64, f64)> = steps
            .iter()
            .map(|st| (x.at(st.offered_rps), y.at(pick(st).max(ylo))))
            .collect();
        let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
            path.join(" ")
        );
        for ((px, py), st) in pts.iter().zip(steps) {
            let fill = if st.meets_slo { color } else { "white" };
            let _ = writeln!(
                s,
                r##"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{fill}" stroke="{color}" stroke-width="2"><title>{label} {:.2} ms at {:.0} req/s offered ({:.0} achieved, {:.3}% errors)</title></circle>"##,
                pick(st),
                st.offered_rps,
                st.achieved_rps,
                st.error_ratio * 100.0
            );
        }
    }
    // Legend.
    let lx = LEFT + 12.0;
    let _ = writeln!(
        s,
        r##"<g transform="translate({lx} {:.1})"><rect x="-6" y="-14" width="250" height="44" fill="white" stroke="#bbb"/>
<line x1="0" y1="-4" x2="22" y2="-4" stroke="#1f6fb4" stroke-width="2"/><text x="28" y="0">p50</text>
<line x1="70" y1="-4" x2="92" y2="-4" stroke="#e07000" stroke-width="2"/><text x="98" y="0">p99</text>
<text x="0" y="20" fill="#555">filled: held the level; hollow: missed it</text></g>"##,
        TOP + 22.0
    );
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_labels() {
        assert_eq!(log_ticks(0.5, 20.0), vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(log_ticks(900.0, 4000.0), vec![1000.0, 2000.0]);
        assert!(log_ticks(0.0, 1.0).is_empty());
        assert_eq!(short_number(2000.0), "2k");
        assert_eq!(short_number(1500.0), "1.5k");
        assert_eq!(short_number(200.0), "200");
        assert_eq!(short_number(0.2), "0.2");
        assert_eq!(short_number(2_000_000.0), "2M");
    }
}
