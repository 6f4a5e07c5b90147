//! Property tests of `registry::decode`: every record round-trips, and every mutation of
//! a record's JSON (damaged text, multi-byte characters where ASCII was, bad
//! timestamps) is a record or a typed `DecodeError`, never a panic.
//!
//! `HERALD_PROPTEST_CASES` sets the cases per property (default 256) for a soak.

use std::time::Duration;

use herald::error::DecodeError;
use herald::prelude::*;
use herald::{Bus, Phase, Record, Uuid};
use herald_tests::mutation::{mutate, Edit};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "json_properties.order", kind = "command")]
pub struct PropOrder {
    pub order_id: u64,
    pub note: String,
    pub tags: Vec<String>,
}

struct Customer;
struct Clerk;

/// What one generated record carries.
#[derive(Clone, Debug)]
struct Shape {
    order: PropOrder,
    subject: Option<u128>,
    actor: Option<u128>,
    context: Vec<(String, u128)>,
    source: Option<String>,
    target: Option<String>,
    priority: i32,
    labels: Vec<(String, String)>,
    ttl_ms: Option<u64>,
    phase: Option<Phase>,
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn a_phase() -> impl Strategy<Value = Phase> {
    proptest::sample::select(vec![
        Phase::Pending,
        Phase::Started,
        Phase::Progress,
        Phase::Completing,
        Phase::Completed,
        Phase::Failed,
        Phase::Cancelled,
    ])
}

fn a_shape() -> impl Strategy<Value = Shape> {
    let order = (
        any::<u64>(),
        text(),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(|(order_id, note, tags)| PropOrder {
            order_id,
            note,
            tags,
        });
    let links = (
        proptest::option::of(any::<u128>()),
        proptest::option::of(any::<u128>()),
        proptest::collection::vec((text(), any::<u128>()), 0..3),
    );
    let meta = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        any::<i32>(),
        proptest::collection::vec((text(), text()), 0..3),
        proptest::option::of(0u64..10_000_000_000),
        proptest::option::of(a_phase()),
    );
    (order, links, meta).prop_map(
        |(order, (subject, actor, context), (source, target, priority, labels, ttl_ms, phase))| {
            Shape {
                order,
                subject,
                actor,
                context,
                source,
                target,
                priority,
                labels,
                ttl_ms,
                phase,
            }
        },
    )
}

/// The record a bus makes of `shape`.
fn record_of(shape: &Shape) -> Record {
    let bus = Bus::builder()
        .registered_handlers(false)
        .build()
        .expect("a bus");
    let mut ev = bus.event(shape.order.clone());
    if let Some(id) = shape.subject {
        ev = ev.subject::<Customer>(Uuid::from_u128(id));
    }
    if let Some(id) = shape.actor {
        ev = ev.actor::<Clerk>(Uuid::from_u128(id));
    }
    for (role, id) in &shape.context {
        ev = ev.context(role.clone(), Uuid::from_u128(*id));
    }
    if let Some(s) = &shape.source {
        ev = ev.source(s.clone());
    }
    if let Some(t) = &shape.target {
        ev = ev.target(t.clone());
    }
    for (k, v) in &shape.labels {
        ev = ev.label(k.clone(), v.clone());
    }
    if let Some(ms) = shape.ttl_ms {
        ev = ev.ttl(Duration::from_millis(ms));
    }
    if let Some(phase) = shape.phase {
        ev = ev.phase(phase);
    }
    let id = ev.priority(shape.priority).emit();
    bus.get(id).expect("the record in history")
}

fn a_record_json() -> impl Strategy<Value = String> {
    a_shape().prop_map(|s| record_of(&s).to_json())
}

/// `base` with one to four edits.
fn mutated(base: String) -> impl Strategy<Value = String> {
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

/// `base` with one to four runs of ASCII replaced by a multi-byte character of as many
/// bytes.
fn widened(base: String) -> impl Strategy<Value = String> {
    let edit = (any::<usize>(), any::<u8>()).prop_map(|(at, pick)| Edit::wide(at, pick));
    proptest::collection::vec(edit, 1..5).prop_map(move |edits| mutate(&base, &edits))
}

/// A record's JSON with the text of `field` (`timestamp` or `expires_at`) mutated.
fn a_record_with_a_mutated_time() -> impl Strategy<Value = (&'static str, String, String)> {
    let shape = a_shape().prop_map(|mut s| {
        s.ttl_ms = Some(s.ttl_ms.unwrap_or(1_000)); // so that `expires_at` is a time
        s
    });
    let form = (0usize..=9, proptest::option::of(-1439i64..=1439));
    let field = proptest::sample::select(vec!["timestamp", "expires_at"]);
    (shape, field, form, any::<bool>())
        .prop_flat_map(|(shape, field, (digits, offset), wide)| {
            let value: Value =
                serde_json::from_str(&record_of(&shape).to_json()).expect("a record's JSON");
            let time = another_form(value[field].as_str().unwrap_or_default(), digits, offset);
            let times = if wide {
                widened(time).boxed()
            } else {
                mutated(time).boxed()
            };
            (Just(field), Just(value), times)
        })
        .prop_map(|(field, mut value, time)| {
            value[field] = Value::String(time.clone());
            (field, value.to_string(), time)
        })
}

/// `time` as written (`2026-11-23T11:30:18.123456789Z`) cut to `digits` fractional
/// digits and, with an offset in minutes, written with it (the same text otherwise:
/// not the same instant, which does not matter here).
fn another_form(time: &str, digits: usize, offset: Option<i64>) -> String {
    let mut text: String = time.chars().take(19).collect();
    if digits > 0 {
        text.push('.');
        text.extend(time.chars().skip(20).take(digits));
    }
    match offset {
        None => text.push('Z'),
        Some(m) => {
            let sign = if m < 0 { '-' } else { '+' };
            text.push_str(&format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60));
        }
    }
    text
}

/// What a decode of any text must be: a record that writes back as itself, or a
/// typed error that says something.
fn check_decode(json: &str) -> Result<(), TestCaseError> {
    match herald::registry::decode(json) {
        Ok(record) => {
            let again = herald::registry::decode(&record.to_json());
            let again = again.map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
            prop_assert_eq!(again.to_json(), record.to_json());
        }
        Err(e) => prop_assert!(!e.to_string().is_empty(), "{:?}", e),
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: herald_tests::proptest_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_record_round_trips(shape in a_shape()) {
        let record = record_of(&shape);
        let decoded = herald::registry::decode(&record.to_json())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.to_json(), record.to_json());
        prop_assert_eq!(decoded.timestamp(), record.timestamp());
        prop_assert_eq!(decoded.expires_at(), record.expires_at());
        prop_assert_eq!(decoded.labels(), record.labels());
        prop_assert_eq!(decoded.downcast_ref::<PropOrder>(), Some(&shape.order));
    }

    #[test]
    fn mutated_records_decode_or_fail_with_a_typed_error(json in a_record_json().prop_flat_map(mutated)) {
        check_decode(&json)?;
    }

    #[test]
    fn records_with_multibyte_characters_in_place_of_ascii_never_panic(
        json in a_record_json().prop_flat_map(widened),
    ) {
        check_decode(&json)?;
    }

    #[test]
    fn a_mutated_timestamp_or_expiry_is_a_record_or_malformed(
        (field, json, time) in a_record_with_a_mutated_time(),
    ) {
        match herald::registry::decode(&json) {
            Ok(record) => check_decode(&record.to_json())?,
            Err(DecodeError::Malformed(reason)) => {
                prop_assert!(reason.contains(field), "{} {:?}: {}", field, time, reason);
            }
            Err(other) => prop_assert!(false, "{} {:?} gave {:?}", field, time, other),
        }
    }
}
