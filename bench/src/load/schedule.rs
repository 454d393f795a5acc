//! The open-loop schedule: request `i` of a step is due at `i / rate` seconds after the step
//! starts, whatever happened to the requests before it, and the offered rates of a sweep.

use std::time::Duration;

/// When request `index` is due, from the start of the step, at `rate` requests per second.
/// Computed from the index (not by adding intervals) so that rounding never drifts.
pub fn intended_offset(index: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

/// How many requests fall due in `span` at `rate` requests per second.
pub fn slots(span: Duration, rate: f64) -> u64 {
    (span.as_secs_f64() * rate).round() as u64
}

/// Geometric steps from `start` up to at most `max`, each `factor` times the one before
/// (rounded to whole requests per second). Empty when the arguments make no sense.
pub fn sweep_rates(start: f64, factor: f64, max: f64) -> Vec<f64> {
    let mut rates = Vec::new();
    if !(start > 0.0 && factor > 1.0 && max >= start) {
        return rates;
    }
    let mut r = start;
    while r <= max * (1.0 + 1e-9) {
        rates.push(r.round());
        r *= factor;
    }
    rates
}

/// Where a sweep's maximum lies: the highest offered rate that held the level and the lowest
/// rate above it that missed, from `(offered, held)` steps. `None` when nothing held or nothing
/// above the best held step missed (the sweep never reached the limit).
pub fn bracket(steps: &[(f64, bool)]) -> Option<(f64, f64)> {
    let held = steps.iter().filter(|s| s.1).map(|s| s.0).reduce(f64::max)?;
    let missed = steps
        .iter()
        .filter(|s| !s.1 && s.0 > held)
        .map(|s| s.0)
        .reduce(f64::min)?;
    Some((held, missed))
}

/// The next rate to try between a held `lo` and a missed `hi`: their geometric mean, rounded
/// to whole requests per second; `None` once the two are within `resolution` (a ratio, e.g.
/// 1.05) of each other.
pub fn bisect(lo: f64, hi: f64, resolution: f64) -> Option<f64> {
    if !(lo > 0.0 && hi > lo) || hi / lo <= resolution {
        return None;
    }
    let mid = (lo * hi).sqrt().round();
    (mid > lo && mid < hi).then_some(mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_rate_without_drift() {
        assert_eq!(intended_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(intended_offset(1, 1000.0), Duration::from_millis(1));
        assert_eq!(
            intended_offset(3_000_000, 3000.0),
            Duration::from_secs(1000)
        );
        let d = intended_offset(1, 3.0);
        assert!((d.as_secs_f64() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn slot_counts() {
        assert_eq!(slots(Duration::from_secs(5), 1000.0), 5000);
        assert_eq!(slots(Duration::from_millis(500), 10.0), 5);
        assert_eq!(slots(Duration::ZERO, 10.0), 0);
    }

    #[test]
    fn geometric_sweep() {
        assert_eq!(
            sweep_rates(100.0, 2.0, 800.0),
            vec![100.0, 200.0, 400.0, 800.0]
        );
        assert_eq!(sweep_rates(10.0, 1.5, 40.0), vec![10.0, 15.0, 23.0, 34.0]);
        assert!(sweep_rates(100.0, 1.0, 800.0).is_empty());
        assert!(sweep_rates(100.0, 2.0, 50.0).is_empty());
    }

    #[test]
    fn brackets_the_limit() {
        let steps = [(100.0, true), (160.0, true), (256.0, false), (410.0, false)];
        assert_eq!(bracket(&steps), Some((160.0, 256.0)));
        // A refinement step that held above a missed one moves the bracket up.
        let steps = [(100.0, true), (160.0, false), (126.0, true), (256.0, false)];
        assert_eq!(bracket(&steps), Some((126.0, 160.0)));
        assert_eq!(bracket(&[(100.0, false), (160.0, false)]), None);
        assert_eq!(bracket(&[(100.0, true), (160.0, true)]), None);
    }

    #[test]
    fn bisects_geometrically_until_fine_enough() {
        assert_eq!(bisect(100.0, 400.0, 1.05), Some(200.0));
        assert_eq!(bisect(100.0, 104.0, 1.05), None);
        assert_eq!(bisect(100.0, 100.0, 1.05), None);
        assert_eq!(bisect(0.0, 100.0, 1.05), None);
    }
}
