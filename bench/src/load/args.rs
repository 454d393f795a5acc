//! Command-line values the load tools share (`campushub-load`, `campushub-conns`): durations
//! and numbers, each refused with a one-line error naming its flag.

use std::time::Duration;

use anyhow::anyhow;

/// `10s`, `500ms`, `1m` or a bare number of seconds.
pub fn parse_duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .and_then(|x| Duration::try_from_secs_f64(x * scale).ok())
        .ok_or_else(|| anyhow!("{flag}: `{v}` is not a duration (e.g. 10s, 500ms, 1m)"))
}

/// A number of type `T`.
pub fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> anyhow::Result<T> {
    v.parse()
        .map_err(|_| anyhow!("{flag}: `{v}` is not a valid number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers() {
        assert_eq!(
            parse_duration("--x", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("--x", "3s").unwrap(), Duration::from_secs(3));
        assert_eq!(
            parse_duration("--x", "1m").unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(parse_duration("--x", "2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("--x", "-1s").is_err());
        assert!(parse_duration("--x", "3q")
            .unwrap_err()
            .to_string()
            .contains("--x"));
        assert_eq!(parse_num::<u32>("--n", "7").unwrap(), 7);
        assert!(parse_num::<u32>("--n", "x").is_err());
    }
}
