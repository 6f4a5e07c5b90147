//! Single option values read into what they mean: record names, patterns, labels,
//! durations, kinds, phases and versions, each rejected with a message that says what
//! is wrong and what to write instead, spanned on the literal.

use darling::Error;

use crate::attr::{Int, Str};
use crate::syntax::at;

/// The kinds `kind = ".."` accepts, with the `Kind` variant each names.
pub const KINDS: &[(&str, &str)] = &[
    ("command", "Command"),
    ("notification", "Notification"),
    ("query", "Query"),
    ("response", "Response"),
    ("error", "Error"),
];

/// The phases `phase = ".."` accepts, with the `Phase` variant each names.
pub const PHASES: &[(&str, &str)] = &[
    ("pending", "Pending"),
    ("started", "Started"),
    ("progress", "Progress"),
    ("completing", "Completing"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
];

/// The duration units `ttl` and `backoff` accept, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 60 * 60 * 1_000_000_000),
];

/// Whether `name` is dotted segments of `[a-z0-9_]+`.
pub fn is_record_name(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(is_name_segment)
}

fn is_name_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks an event or operation name (`name = ".."` of `#[event]` and
/// `#[instrument_events]`).
pub fn record_name(what: &str, name: &Str) -> darling::Result<String> {
    if is_record_name(&name.value) {
        Ok(name.value.clone())
    } else {
        Err(Error::custom(format!(
            "invalid {what} name `{}`: use dotted segments of lowercase letters, digits and `_`, such as `order.placed`",
            name.value
        ))
        .with_span(&name.span))
    }
}

/// Checks a glob over record names: dotted segments that are `*`, `**` or a name
/// segment.
pub fn pattern(glob: &Str) -> darling::Result<String> {
    let valid = !glob.value.is_empty()
        && glob
            .value
            .split('.')
            .all(|s| s == "*" || s == "**" || is_name_segment(s));
    if valid {
        Ok(glob.value.clone())
    } else {
        Err(Error::custom(format!(
            "invalid pattern `{}`: use dotted segments that are `*` (one segment), `**` (any number) or lowercase names, such as `order.*`",
            glob.value
        ))
        .with_span(&glob.span))
    }
}

/// Checks a subscription name or group: printable, without spaces.
pub fn label(what: &str, value: &Str) -> darling::Result<String> {
    let valid = !value.value.is_empty()
        && value
            .value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if valid {
        Ok(value.value.clone())
    } else {
        Err(Error::custom(format!(
            "invalid {what} `{}`: use letters, digits and `_`, `-`, `.`, `:`, `/`, without spaces",
            value.value
        ))
        .with_span(&value.span))
    }
}

/// Parses a duration such as `250ms`, `30s`, `5m` or `1h` into nanoseconds.
pub fn duration(what: &str, text: &Str) -> darling::Result<u64> {
    let err = |why: &str| {
        Error::custom(format!("invalid `{what}` duration `{}`: {why}", text.value))
            .with_span(&text.span)
    };
    let digits_end = text
        .value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.value.len());
    let (digits, unit) = text.value.split_at(digits_end);
    let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(err(
            "write a whole number followed by `us`, `ms`, `s`, `m` or `h`, such as `250ms`",
        ));
    };
    let count: u64 = digits.parse().map_err(|_| {
        err("write a whole number followed by `us`, `ms`, `s`, `m` or `h`, such as `250ms`")
    })?;
    let nanos = count.checked_mul(scale).ok_or_else(|| err("too long"))?;
    if nanos == 0 {
        return Err(err("must be longer than zero"));
    }
    Ok(nanos)
}

/// The variant named by a `kind` or `phase` value.
pub fn one_of(
    what: &str,
    table: &[(&str, &'static str)],
    value: &Str,
) -> darling::Result<&'static str> {
    match table.iter().find(|(text, _)| *text == value.value) {
        Some((_, variant)) => Ok(variant),
        None => {
            let expected: Vec<String> = table.iter().map(|(t, _)| format!("`{t}`")).collect();
            Err(Error::custom(format!(
                "unknown {what} `{}`: expected one of {}",
                value.value,
                expected.join(", ")
            ))
            .with_span(&value.span))
        }
    }
}

/// Checks the version literal.
pub fn version(version: Int<u32>) -> darling::Result<u32> {
    if version.value == 0 {
        Err(at(version.span, "event versions start at 1"))
    } else {
        Ok(version.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    fn s(v: &str) -> Str {
        Str {
            value: v.to_owned(),
            span: Span::call_site(),
        }
    }

    #[test]
    fn names() {
        assert!(is_record_name("order.placed"));
        assert!(is_record_name("a_1.b2"));
        assert!(!is_record_name("Order.placed"));
        assert!(!is_record_name("order..placed"));
        assert!(!is_record_name(""));
        assert!(!is_record_name("order.*"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("ttl", &s("250ms")).ok(), Some(250_000_000));
        assert_eq!(duration("ttl", &s("30s")).ok(), Some(30_000_000_000));
        assert_eq!(duration("ttl", &s("5m")).ok(), Some(300_000_000_000));
        assert_eq!(duration("ttl", &s("1h")).ok(), Some(3_600_000_000_000));
        assert_eq!(duration("ttl", &s("7us")).ok(), Some(7_000));
        assert!(duration("ttl", &s("30")).is_err());
        assert!(duration("ttl", &s("ms")).is_err());
        assert!(duration("ttl", &s("1.5s")).is_err());
        assert!(duration("ttl", &s("0s")).is_err());
        assert!(duration("ttl", &s("99999999999999h")).is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern(&s("order.*")).is_ok());
        assert!(pattern(&s("**.failed")).is_ok());
        assert!(pattern(&s("**")).is_ok());
        assert!(pattern(&s("order.*x")).is_err());
        assert!(pattern(&s("order.")).is_err());
        assert!(pattern(&s("")).is_err());
    }
}
