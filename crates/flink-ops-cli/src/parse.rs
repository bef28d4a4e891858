//! Value parsers for flags, one rule each for every binary.

use std::time::Duration;

/// The longest duration any flag takes: ten years. Longer values overflow clocks and timers.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a duration as people write them: `90s`, `15m`, `1h 30m`, `500ms`, up to
/// [`MAX_DURATION`]. A bare number is refused: seconds or minutes, nobody can tell.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
        return Err(format!("'{s}' has no unit: write e.g. {s}s or {s}m"));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 90s, 15m or 1h"))?;
    if d > MAX_DURATION {
        return Err(format!("'{s}' is too long: at most 10 years (3650d)"));
    }
    Ok(d)
}

/// A [`parse_duration`] that must be more than zero: timeouts and intervals.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "'{}' is zero: nothing could finish in it",
            s.trim()
        ));
    }
    Ok(d)
}

/// Parses `key=value`: the key is trimmed and may not be empty; the value is kept exactly
/// (it may contain `=` and spaces).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not key=value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units_and_a_sane_size() {
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration(" 500ms ").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("3650d").unwrap(), MAX_DURATION);
        assert!(parse_duration("15").unwrap_err().contains("15s or 15m"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3651d").unwrap_err().contains("too long"));
        assert!(parse_duration("300000000000y").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
    }

    #[test]
    fn timeouts_are_not_zero() {
        assert_eq!(parse_timeout("1ms").unwrap(), Duration::from_millis(1));
        assert!(parse_timeout("0s").unwrap_err().contains("zero"));
        assert!(parse_timeout("0ms").is_err());
    }

    #[test]
    fn key_values_split_at_the_first_equals() {
        assert_eq!(
            parse_key_value("a.b=c=d").unwrap(),
            ("a.b".into(), "c=d".into())
        );
        assert_eq!(parse_key_value("k=").unwrap(), ("k".into(), String::new()));
        assert_eq!(
            parse_key_value(" heartbeat.timeout=15 s").unwrap(),
            ("heartbeat.timeout".into(), "15 s".into())
        );
        assert!(parse_key_value("=v").is_err());
        assert!(parse_key_value("novalue").is_err());
    }
}
