//! Times on the command line: RFC 3339, or an age such as `10m`.

use std::time::{Duration, SystemTime};

use crate::time_fmt::parse_rfc3339;

/// Parses `--since` / `--until` relative to the current time.
pub(super) fn parse_time(s: &str) -> Result<SystemTime, String> {
    parse_time_at(s, SystemTime::now())
}

/// `2026-01-02T03:04:05Z` (any offset, up to nanoseconds), `now`, or an age before
/// `now`: digits and a unit among `ms`, `s`, `m`, `h`, `d`, `w`.
pub(super) fn parse_time_at(s: &str, now: SystemTime) -> Result<SystemTime, String> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339(s) {
        return Ok(t);
    }
    if s == "now" {
        return Ok(now);
    }
    let bad = || {
        format!(
            "expected an RFC 3339 time (2026-01-02T03:04:05Z) or an age (30s, 10m, 2h, 7d), got `{s}`"
        )
    };
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3_600),
        "d" => Duration::from_secs(86_400),
        "w" => Duration::from_secs(604_800),
        _ => return Err(bad()),
    };
    u32::try_from(n)
        .ok()
        .and_then(|n| unit.checked_mul(n))
        .and_then(|age| now.checked_sub(age))
        .ok_or_else(|| format!("`{s}` reaches back before any representable time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn absolute_and_relative_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_time_at("2026-01-02T03:04:05Z", now),
            Ok(UNIX_EPOCH + Duration::from_secs(1_767_323_045))
        );
        assert_eq!(parse_time_at("now", now), Ok(now));
        assert_eq!(
            parse_time_at("10m", now),
            Ok(now - Duration::from_secs(600))
        );
        assert_eq!(
            parse_time_at("2h", now),
            Ok(now - Duration::from_secs(7_200))
        );
        assert_eq!(
            parse_time_at("7d", now),
            Ok(now - Duration::from_secs(604_800))
        );
        assert_eq!(
            parse_time_at("250ms", now),
            Ok(now - Duration::from_millis(250))
        );
        for bad in [
            "",
            "m",
            "10",
            "10x",
            "-5m",
            "yesterday",
            "2026-13-02T03:04:05Z",
        ] {
            let err = parse_time_at(bad, now).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
        assert!(parse_time_at("99999999999w", now).is_err());
    }
}
