//! `Record::to_json` and `registry::decode`: every field round-trips, lifecycle records
//! too, and bad input is a typed `DecodeError`, never a panic.

use std::collections::BTreeMap;
use std::future::Future;
use std::task::{Context, Waker};
use std::time::Duration;

use herald::error::DecodeError;
use herald::prelude::*;
use herald::{Bus, Kind, Phase, Priority, Record, Uuid};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "json.order", kind = "command")]
pub struct JsonOrder {
    pub order_id: u64,
    pub note: String,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "json.invoice", version = 2)]
pub struct JsonInvoice {
    pub amount_cents: u64,
}

/// Version 1 was `{ name, dollars }`, version 2 `{ full_name, dollars }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "json.customer", version = 3, migrate = migrate_customer)]
pub struct JsonCustomer {
    pub full_name: String,
    pub cents: u64,
}

fn migrate_customer(from: u32, mut payload: Value) -> Result<Value, String> {
    let obj = payload.as_object_mut().ok_or("payload is not an object")?;
    if from == 1 {
        let name = obj.remove("name").ok_or("v1 payload without `name`")?;
        obj.insert("full_name".to_owned(), name);
    }
    if from == 1 || from == 2 {
        let dollars = obj
            .remove("dollars")
            .and_then(|d| d.as_u64())
            .ok_or("payload without `dollars`")?;
        obj.insert("cents".to_owned(), json!(dollars * 100));
        return Ok(payload);
    }
    Err(format!("cannot migrate from version {from}"))
}

struct Customer;
struct Clerk;

fn bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

/// Every accessor of `a` equals the one of `b`.
fn assert_same_record(a: &Record, b: &Record) {
    assert_eq!(a.id(), b.id());
    assert_eq!(a.name(), b.name());
    assert_eq!(a.event_name(), b.event_name());
    assert_eq!(a.type_name(), b.type_name());
    assert_eq!(a.version(), b.version());
    assert_eq!(a.kind(), b.kind());
    assert_eq!(a.phase(), b.phase());
    assert_eq!(a.timestamp(), b.timestamp());
    assert_eq!(a.parent_id(), b.parent_id());
    assert_eq!(a.root_id(), b.root_id());
    assert_eq!(a.correlation_id(), b.correlation_id());
    assert_eq!(a.causation_id(), b.causation_id());
    assert_eq!(a.subject(), b.subject());
    assert_eq!(a.actor(), b.actor());
    assert_eq!(a.context(), b.context());
    assert_eq!(a.source(), b.source());
    assert_eq!(a.target(), b.target());
    assert_eq!(a.priority(), b.priority());
    assert_eq!(a.expires_at(), b.expires_at());
    assert_eq!(a.duration(), b.duration());
    assert_eq!(a.labels(), b.labels());
    assert_eq!(a.payload_json(), b.payload_json());
    assert_eq!(a.to_json(), b.to_json());
}

fn roundtrip(record: &Record) -> Record {
    let decoded = herald::registry::decode(&record.to_json()).unwrap();
    assert_same_record(record, &decoded);
    decoded
}

const ORDER_SUBJECT: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001);
const CLERK: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0002);
const WAREHOUSE: Uuid = Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0003);

#[instrument_events(name = "json.checkout")]
fn checkout(bus: &Bus) -> Uuid {
    bus.event(JsonOrder {
        order_id: 42,
        note: "gift \"wrap\" \u{e9}".to_owned(),
        tags: vec!["a".to_owned(), "b".to_owned()],
    })
    .subject::<Customer>(ORDER_SUBJECT)
    .actor::<Clerk>(CLERK)
    .context("warehouse", WAREHOUSE)
    .source("checkout")
    .target("billing")
    .priority(Priority::from(7))
    .label("region", "eu")
    .label("channel", "web")
    .ttl(Duration::from_secs(60))
    .phase(Phase::Progress)
    .emit()
}

#[test]
fn every_field_round_trips() {
    let bus = bus();
    let id = herald::with_bus(&bus, || checkout(&bus));
    let history = bus.history();
    let names: Vec<&str> = history.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "json.checkout.started",
            "json.order",
            "json.checkout.completed"
        ]
    );
    let started = &history[0];
    let record = bus.get(id).unwrap();

    // The original carries a value in every field.
    assert_eq!(record.parent_id(), Some(started.id()));
    assert_eq!(record.root_id(), started.id());
    assert_eq!(record.correlation_id(), started.id());
    assert_eq!(record.causation_id(), Some(started.id()));
    assert_eq!(record.subject().unwrap().type_name(), "Customer");
    assert_eq!(record.subject().unwrap().id(), ORDER_SUBJECT);
    assert_eq!(record.actor().unwrap().type_name(), "Clerk");
    assert_eq!(record.actor().unwrap().id(), CLERK);
    assert_eq!(
        record.context(),
        &BTreeMap::from([("warehouse".to_owned(), WAREHOUSE)])
    );
    assert_eq!(record.source(), Some("checkout"));
    assert_eq!(record.target(), Some("billing"));
    assert_eq!(record.priority(), Priority::from(7));
    assert_eq!(record.kind(), Kind::Command);
    assert_eq!(record.phase(), Phase::Progress);
    assert_eq!(
        record
            .expires_at()
            .unwrap()
            .duration_since(record.timestamp())
            .unwrap(),
        Duration::from_secs(60)
    );
    assert_eq!(record.label("region"), Some("eu"));
    assert_eq!(record.labels().len(), 2);

    let decoded = roundtrip(&record);
    assert_eq!(
        decoded.downcast_ref::<JsonOrder>(),
        record.downcast_ref::<JsonOrder>()
    );
    assert_eq!(decoded.downcast_ref::<JsonOrder>().unwrap().order_id, 42);
    assert!(decoded.is::<JsonOrder>());

    // The closing event carries a duration and its started event as causation.
    let completed = &history[2];
    assert!(completed.duration().is_some());
    assert_eq!(completed.causation_id(), Some(started.id()));
    let decoded = roundtrip(completed);
    assert_eq!(decoded.duration(), completed.duration());
}

#[test]
fn json_has_the_documented_fields() {
    let bus = bus();
    let id = herald::with_bus(&bus, || checkout(&bus));
    let value: Value = serde_json::from_str(&bus.get(id).unwrap().to_json()).unwrap();
    assert_eq!(value["name"], "json.order");
    assert_eq!(value["event"], "json.order");
    assert_eq!(value["version"], 1);
    assert_eq!(value["kind"], "command");
    assert_eq!(value["phase"], "progress");
    assert_eq!(value["priority"], 7);
    assert_eq!(value["source"], "checkout");
    assert_eq!(value["target"], "billing");
    assert_eq!(
        value["subject"],
        json!({"type": "Customer", "id": ORDER_SUBJECT.to_string()})
    );
    assert_eq!(value["labels"], json!({"channel": "web", "region": "eu"}));
    assert_eq!(
        value["payload"],
        json!({"order_id": 42, "note": "gift \"wrap\" \u{e9}", "tags": ["a", "b"]})
    );
}

#[test]
fn a_root_record_without_metadata_round_trips() {
    let bus = bus();
    let id = bus.emit(JsonInvoice { amount_cents: 990 });
    let record = bus.get(id).unwrap();
    assert_eq!(record.parent_id(), None);
    assert_eq!(record.root_id(), id);
    assert_eq!(record.subject(), None);
    assert_eq!(record.expires_at(), None);
    let decoded = roundtrip(&record);
    assert_eq!(
        decoded.downcast_ref::<JsonInvoice>(),
        Some(&JsonInvoice { amount_cents: 990 })
    );
    assert_eq!(decoded.version(), 2);
}

#[instrument_events(name = "json.lifecycle.ok", args, ret)]
fn lifecycle_ok(n: u32) -> u32 {
    n * 2
}

#[instrument_events(name = "json.lifecycle.err")]
fn lifecycle_err() -> Result<(), String> {
    Err("no stock".to_owned())
}

#[instrument_events(name = "json.lifecycle.cancel")]
async fn lifecycle_cancel() {
    std::future::pending::<()>().await;
}

#[test]
fn lifecycle_records_round_trip() {
    let bus = bus();
    herald::with_bus(&bus, || {
        assert_eq!(lifecycle_ok(21), 42);
        assert_eq!(lifecycle_err(), Err("no stock".to_owned()));
        let mut fut = Box::pin(lifecycle_cancel());
        let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending());
        drop(fut);
    });
    let history = bus.history();
    let names: Vec<&str> = history.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "json.lifecycle.ok.started",
            "json.lifecycle.ok.completed",
            "json.lifecycle.err.started",
            "json.lifecycle.err.failed",
            "json.lifecycle.cancel.started",
            "json.lifecycle.cancel.cancelled",
        ]
    );

    let started = roundtrip(&history[0]);
    assert_eq!(started.event_name(), "herald.started");
    assert_eq!(started.phase(), Phase::Started);
    assert_eq!(
        started.downcast_ref::<herald::Started>(),
        Some(&herald::Started {
            operation: "json.lifecycle.ok".into(),
            args: vec![("n".into(), "21".to_owned())],
        })
    );

    let completed = roundtrip(&history[1]);
    assert_eq!(completed.event_name(), "herald.completed");
    assert_eq!(completed.phase(), Phase::Completed);
    assert!(completed.duration().is_some());
    assert_eq!(
        completed.downcast_ref::<herald::Completed>(),
        Some(&herald::Completed {
            operation: "json.lifecycle.ok".into(),
            result: Some("42".to_owned()),
        })
    );

    let failed = roundtrip(&history[3]);
    assert_eq!(failed.event_name(), "herald.failed");
    assert_eq!(failed.phase(), Phase::Failed);
    assert_eq!(failed.causation_id(), Some(history[2].id()));
    assert_eq!(
        failed.downcast_ref::<herald::Failed>(),
        Some(&herald::Failed {
            operation: "json.lifecycle.err".into(),
            error: "no stock".to_owned(),
        })
    );

    let cancelled = roundtrip(&history[5]);
    assert_eq!(cancelled.event_name(), "herald.cancelled");
    assert_eq!(cancelled.phase(), Phase::Cancelled);
    assert!(cancelled.duration().is_some());
    assert_eq!(
        cancelled.downcast_ref::<herald::Cancelled>(),
        Some(&herald::Cancelled {
            operation: "json.lifecycle.cancel".into(),
        })
    );
}

/// The JSON of a fresh record of `ev`, as a mutable value.
fn json_of<E: Event>(ev: E) -> Value {
    let bus = bus();
    let id = bus.emit(ev);
    serde_json::from_str(&bus.get(id).unwrap().to_json()).unwrap()
}

fn decode_value(value: &Value) -> Result<Record, DecodeError> {
    herald::registry::decode(&value.to_string())
}

fn order() -> JsonOrder {
    JsonOrder {
        order_id: 7,
        note: "n".to_owned(),
        tags: Vec::new(),
    }
}

#[test]
fn malformed_input_is_a_malformed_error() {
    for input in ["", "{not json", "[]", "null", "42", "{}", "{\"id\": 3}"] {
        match herald::registry::decode(input) {
            Err(DecodeError::Malformed(reason)) => assert!(!reason.is_empty(), "{input:?}"),
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    let mut wrong_type = json_of(order());
    wrong_type["priority"] = json!("high");
    assert!(matches!(
        decode_value(&wrong_type),
        Err(DecodeError::Malformed(_))
    ));

    let mut bad_time = json_of(order());
    bad_time["timestamp"] = json!("yesterday");
    assert!(matches!(
        decode_value(&bad_time),
        Err(DecodeError::Malformed(_))
    ));

    // Timestamps are kept in nanoseconds since 1970 (up to the year 2554).
    let mut far_time = json_of(order());
    far_time["timestamp"] = json!("3000-01-01T00:00:00.000000000Z");
    match decode_value(&far_time) {
        Err(DecodeError::Malformed(reason)) => assert!(reason.contains("3000-01-01"), "{reason}"),
        other => panic!("a timestamp in 3000 gave {other:?}"),
    }

    let mut bad_phase = json_of(order());
    bad_phase["phase"] = json!("sleeping");
    assert!(matches!(
        decode_value(&bad_phase),
        Err(DecodeError::Malformed(_))
    ));
}

/// Timestamps that are not RFC 3339 in ways a byte-indexed parser trips on: multi-byte
/// characters where digits or separators belong, cut offsets, impossible dates.
const BAD_TIMESTAMPS: &[&str] = &[
    "2026-01-01T00:00:00+0\u{e9}00",
    "2026-01-01T00:00:00+\u{e9}:00",
    "2026-01-01T00:00:00+00:\u{e9}",
    "2026-01-01T00:00:00\u{e9}00:0",
    "2026-01-01T00:00:00.\u{e9}Z",
    "2026-01-01T00:00:0\u{e9}Z",
    "2026-01-01T00:00:00.1234567890Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00+01:60",
    "2026-01-01T00:00:00+01:0",
    "2026-01-01T00:00:00+0100",
    "2026-01-01T00:00:00",
    "2026-02-30T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
];

#[test]
fn a_malformed_timestamp_or_expiry_is_a_malformed_error() {
    for field in ["timestamp", "expires_at"] {
        for bad in BAD_TIMESTAMPS {
            let mut value = json_of(order());
            value[field] = json!(bad);
            match decode_value(&value) {
                Err(DecodeError::Malformed(reason)) => {
                    assert!(reason.contains(field), "{field} = {bad:?}: {reason}");
                }
                other => panic!("{field} = {bad:?} gave {other:?}"),
            }
        }
    }
    // The forms that are valid still read, leap day and offsets included.
    for (text, secs) in [
        ("2024-02-29T00:00:00Z", 1_709_164_800),
        ("2024-02-29T02:30:00+02:30", 1_709_164_800),
        ("2024-02-28T21:00:00.000-03:00", 1_709_164_800),
    ] {
        let mut value = json_of(order());
        value["timestamp"] = json!(text);
        let record = decode_value(&value).expect(text);
        let since = record
            .timestamp()
            .duration_since(std::time::UNIX_EPOCH)
            .ok();
        assert_eq!(since, Some(Duration::from_secs(secs)), "{text}");
    }
}

#[test]
fn an_expiry_past_2554_never_comes() {
    let mut value = json_of(order());
    value["expires_at"] = json!("3000-01-01T00:00:00.000000000Z");
    let record = decode_value(&value).expect("decodes");
    assert_eq!(record.expires_at(), None);
    assert!(!record.is_expired_at(std::time::SystemTime::now()));
}

#[test]
fn every_truncation_of_a_record_is_malformed() {
    let text = json_of(order()).to_string();
    assert!(herald::registry::decode(&text).is_ok());
    for end in 0..text.len() {
        let cut = &text[..end];
        assert!(
            matches!(
                herald::registry::decode(cut),
                Err(DecodeError::Malformed(_))
            ),
            "{cut}"
        );
    }
}

#[test]
fn unknown_name_is_an_unknown_name_error() {
    let mut value = json_of(order());
    value["event"] = json!("json.nobody_registered_this");
    value["name"] = json!("json.nobody_registered_this");
    match decode_value(&value) {
        Err(DecodeError::UnknownName(name)) => assert_eq!(name, "json.nobody_registered_this"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_versions_without_migration_are_unsupported() {
    for found in [1, 3] {
        let mut value = json_of(JsonInvoice { amount_cents: 5 });
        value["version"] = json!(found);
        match decode_value(&value) {
            Err(DecodeError::UnsupportedVersion {
                name,
                found: f,
                current,
                migratable,
            }) => {
                assert_eq!(name, "json.invoice");
                assert_eq!(f, found);
                assert_eq!(current, 2);
                assert!(!migratable);
            }
            other => panic!("version {found}: {other:?}"),
        }
    }
}

#[test]
fn older_versions_are_migrated() {
    let mut value = json_of(JsonCustomer {
        full_name: String::new(),
        cents: 0,
    });
    value["version"] = json!(1);
    value["payload"] = json!({"name": "Ada", "dollars": 3});
    let record = decode_value(&value).unwrap();
    assert_eq!(record.version(), 3);
    assert_eq!(
        record.downcast_ref::<JsonCustomer>(),
        Some(&JsonCustomer {
            full_name: "Ada".to_owned(),
            cents: 300
        })
    );

    value["version"] = json!(2);
    value["payload"] = json!({"full_name": "Grace", "dollars": 2});
    let record = decode_value(&value).unwrap();
    assert_eq!(
        record.downcast_ref::<JsonCustomer>(),
        Some(&JsonCustomer {
            full_name: "Grace".to_owned(),
            cents: 200
        })
    );
}

#[test]
fn failed_or_impossible_migrations_are_unsupported() {
    let base = json_of(JsonCustomer {
        full_name: String::new(),
        cents: 0,
    });

    let mut failing = base.clone();
    failing["version"] = json!(1);
    failing["payload"] = json!({"dollars": 3});
    match decode_value(&failing) {
        Err(DecodeError::UnsupportedVersion {
            name,
            found,
            current,
            migratable,
        }) => {
            assert_eq!(
                (name.as_str(), found, current, migratable),
                ("json.customer", 1, 3, true)
            );
        }
        other => panic!("{other:?}"),
    }

    let mut newer = base;
    newer["version"] = json!(4);
    match decode_value(&newer) {
        Err(DecodeError::UnsupportedVersion {
            found,
            current,
            migratable,
            ..
        }) => assert_eq!((found, current, migratable), (4, 3, false)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_payload_of_the_wrong_shape_is_a_payload_error() {
    for payload in [
        json!({"order_id": "seven", "note": "n", "tags": []}),
        json!({"note": "n", "tags": []}),
        json!(42),
        json!(null),
    ] {
        let mut value = json_of(order());
        value["payload"] = payload.clone();
        match decode_value(&value) {
            Err(DecodeError::Payload { name, reason }) => {
                assert_eq!(name, "json.order");
                assert!(!reason.is_empty());
            }
            other => panic!("{payload}: {other:?}"),
        }
    }
}

#[test]
fn decode_errors_display_what_went_wrong() {
    let mut value = json_of(order());
    value["event"] = json!("json.ghost");
    let text = decode_value(&value).unwrap_err().to_string();
    assert!(text.contains("json.ghost"), "{text}");

    let mut value = json_of(JsonInvoice { amount_cents: 1 });
    value["version"] = json!(1);
    let text = decode_value(&value).unwrap_err().to_string();
    assert!(
        text.contains("json.invoice") && text.contains('1') && text.contains('2'),
        "{text}"
    );
}
