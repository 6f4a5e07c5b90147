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

    mod properties {
        use super::*;
        use crate::time_fmt::format_rfc3339;
        use crate::time_fmt::tests::{a_written_time, config, multibyte_in_place, mutated};
        use proptest::prelude::*;

        const NOW: u64 = 1_800_000_000;

        fn now() -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(NOW)
        }

        fn an_age() -> impl Strategy<Value = (u64, &'static str, Duration)> {
            let unit = proptest::sample::select(vec![
                ("ms", Duration::from_millis(1)),
                ("s", Duration::from_secs(1)),
                ("m", Duration::from_secs(60)),
                ("h", Duration::from_secs(3_600)),
                ("d", Duration::from_secs(86_400)),
                ("w", Duration::from_secs(604_800)),
            ]);
            (0u64..100_000, unit).prop_map(|(n, (name, unit))| (n, name, unit))
        }

        fn an_argument() -> impl Strategy<Value = String> {
            prop_oneof![
                a_written_time(),
                an_age().prop_map(|(n, unit, _)| format!("{n}{unit}")),
                Just("now".to_owned()),
            ]
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn written_times_read_back(secs in 0u64..=253_402_300_799, nanos in 0u32..1_000_000_000) {
                let t = UNIX_EPOCH + Duration::new(secs, nanos);
                prop_assert_eq!(parse_time_at(&format_rfc3339(t), now()), Ok(t));
            }

            #[test]
            fn ages_count_back_from_now((n, unit, size) in an_age()) {
                let want = u32::try_from(n)
                    .ok()
                    .and_then(|n| size.checked_mul(n))
                    .and_then(|age| now().checked_sub(age));
                let got = parse_time_at(&format!("{n}{unit}"), now());
                match want {
                    Some(t) => prop_assert_eq!(got, Ok(t)),
                    None => prop_assert!(got.is_err()),
                }
            }

            #[test]
            fn mutated_arguments_are_a_time_or_a_message(text in an_argument().prop_flat_map(mutated)) {
                if let Err(message) = parse_time_at(&text, now()) {
                    prop_assert!(message.contains('`'), "{}", message);
                }
            }

            #[test]
            fn multibyte_characters_in_place_of_ascii_are_refused(
                text in an_argument().prop_flat_map(multibyte_in_place),
            ) {
                prop_assert!(parse_time_at(&text, now()).is_err(), "{}", text);
            }

            #[test]
            fn any_text_is_a_time_or_a_message(text in "\\PC{0,40}") {
                if let Err(message) = parse_time_at(&text, now()) {
                    prop_assert!(!message.is_empty());
                }
            }
        }
    }

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
