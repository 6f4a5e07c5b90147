//! RFC 3339 timestamps (UTC, nanoseconds) without a date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-23T11:30:18.123456789Z`.
pub(crate) fn format_rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Parses what [`format_rfc3339`] writes, and offsets other than `Z` (`+02:00`), with
/// 0 to 9 fractional digits; `None` for anything else, whatever the text (the parser
/// reads bytes at checked positions and never slices the text).
///
/// Accepted: `YYYY-MM-DD` (a date that exists), `T`, `t` or a space, `hh:mm:ss` (second
/// 60 for a leap second), an optional `.` and 1 to 9 digits, then `Z`, `z` or `±hh:mm`
/// (hours up to 23). Times before 1970 are `None`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied();
    if at(4) != Some(b'-')
        || at(7) != Some(b'-')
        || !matches!(at(10), Some(b'T' | b't' | b' '))
        || at(13) != Some(b':')
        || at(16) != Some(b':')
    {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        while let Some(c) = at(i).filter(u8::is_ascii_digit) {
            if i - start == 9 {
                return None; // a tenth digit
            }
            nanos = nanos * 10 + u32::from(c - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        // Scale to nanoseconds: 9 - n more zeros (n is 1..=9 here).
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let total = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_secs;
    let total = u64::try_from(total).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(total, nanos))
}

/// The number written in ASCII digits at `b[from..from + n]` (`n` at most 4); `None`
/// when the bytes are missing or one is not a digit.
fn digits(b: &[u8], from: usize, n: usize) -> Option<u32> {
    b.get(from..from.checked_add(n)?)?
        .iter()
        .try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use herald_tests::mutation::{mutate, Edit};
    use proptest::prelude::*;

    /// `base` with one to four edits (see [`herald_tests::mutation`]).
    pub(crate) fn mutated(base: String) -> impl Strategy<Value = String> {
        let edit = (
            any::<u8>(),
            any::<usize>(),
            any::<u8>(),
            any::<u8>(),
            any::<char>(),
        )
            .prop_map(|(kind, at, n, pick, c)| Edit::from_numbers(kind, at, n, pick, c));
        proptest::collection::vec(edit, 1..5).prop_map(move |edits| mutate(&base, &edits))
    }

    /// `base` with one to four runs of characters replaced by a multi-byte character of
    /// as many bytes: byte positions that held ASCII now fall inside a character.
    pub(crate) fn multibyte_in_place(base: String) -> impl Strategy<Value = String> {
        let edit = (any::<usize>(), any::<u8>()).prop_map(|(at, pick)| Edit::wide(at, pick));
        proptest::collection::vec(edit, 1..5).prop_map(move |edits| mutate(&base, &edits))
    }

    /// Up to 9999-12-31T23:59:59.999999999Z, the last time RFC 3339 can write.
    const LAST_SECOND: u64 = 253_402_300_799;

    fn a_time() -> impl Strategy<Value = SystemTime> {
        (0..=LAST_SECOND, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| UNIX_EPOCH + Duration::new(secs, nanos))
    }

    /// A time as RFC 3339 writes it in any of the forms the parser reads: 0 to 9
    /// fractional digits, `Z` or an offset.
    pub(crate) fn a_written_time() -> impl Strategy<Value = String> {
        (
            a_time(),
            0usize..=9,
            prop_oneof![Just(None), (-1439i64..=1439).prop_map(Some)],
        )
            .prop_map(|(t, digits, offset)| {
                let whole = format_rfc3339(t);
                let mut text = whole.get(..19).unwrap_or_default().to_owned();
                if digits > 0 {
                    text.push('.');
                    text.push_str(whole.get(20..20 + digits).unwrap_or_default());
                }
                match offset {
                    None => text.push('Z'),
                    Some(m) => {
                        let sign = if m < 0 { '-' } else { '+' };
                        text.push_str(&format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60));
                    }
                }
                text
            })
    }

    pub(crate) fn config() -> ProptestConfig {
        ProptestConfig {
            cases: herald_tests::proptest_cases(),
            // Inputs worth keeping become unit tests; no files in the source tree.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_written_time_reads_back(t in a_time()) {
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }

        #[test]
        fn an_offset_moves_the_time_by_itself(
            t in a_time(),
            minutes in -(23 * 60 + 59)..=(23 * 60 + 59_i64),
        ) {
            // The local time written with its offset is the same instant.
            let shift = Duration::from_secs(minutes.unsigned_abs() * 60);
            let local = if minutes >= 0 { t.checked_add(shift) } else { t.checked_sub(shift) };
            let Some(local) = local.filter(|l| l.duration_since(UNIX_EPOCH).is_ok()) else {
                return Ok(());
            };
            let written = format_rfc3339(local);
            prop_assume!(written.len() == 30 && written.ends_with('Z'));
            let sign = if minutes >= 0 { '+' } else { '-' };
            let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
            let text = format!("{}{sign}{h:02}:{m:02}", &written[..29]);
            prop_assert_eq!(parse_rfc3339(&text), Some(t), "{}", text);
        }

        #[test]
        fn fractions_of_any_length_read(secs in 0..=LAST_SECOND, digits in "[0-9]{1,9}") {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let whole = format_rfc3339(t);
            let text = format!("{}.{digits}Z", &whole[..19]);
            let nanos: u32 = format!("{digits:0<9}").parse().unwrap_or(0);
            prop_assert_eq!(parse_rfc3339(&text), Some(t + Duration::from_nanos(u64::from(nanos))));
        }

        #[test]
        fn days_past_the_end_of_the_month_are_refused(
            y in 1970u32..=9999,
            m in 1u32..=12,
            extra in 1u32..=68,
        ) {
            let d = days_in_month(y, m) + extra;
            prop_assume!(d <= 99);
            let text = format!("{y:04}-{m:02}-{d:02}T00:00:00Z");
            prop_assert_eq!(parse_rfc3339(&text), None, "{}", text);
        }

        #[test]
        fn every_form_written_reads(text in a_written_time()) {
            prop_assert!(parse_rfc3339(&text).is_some(), "{}", text);
        }

        #[test]
        fn mutated_times_never_panic(text in a_written_time().prop_flat_map(mutated)) {
            // Whatever the text, an answer; a time it gives writes back as itself.
            if let Some(t) = parse_rfc3339(&text) {
                prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
            }
        }

        #[test]
        fn multibyte_characters_in_place_of_ascii_are_refused(
            text in a_written_time().prop_flat_map(multibyte_in_place),
        ) {
            prop_assert_eq!(parse_rfc3339(&text), None, "{}", text);
        }

        #[test]
        fn any_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse_rfc3339(&text);
        }
    }

    #[test]
    fn round_trips() {
        for secs in [0u64, 951_782_400, 1_795_000_000, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::new(secs, 123_456_789);
            let s = format_rfc3339(t);
            assert_eq!(parse_rfc3339(&s), Some(t), "{s}");
        }
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T02:00:00+02:00"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(parse_rfc3339("2000-13-29T02:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2000-02-29T02:00:00.Z"), None);
    }

    #[test]
    fn text_that_panicked_the_byte_indexed_parser_is_refused() {
        for text in [
            "2026-01-01T00:00:00+0\u{e9}00",
            "2026-01-01T00:00:00+\u{e9}:00",
            "2026-01-01T00:00:00+00:\u{e9}",
            "2026-01-01T00:00:00\u{e9}0:0",
            "2026-01-01T00:00:0\u{e9}Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }
}
