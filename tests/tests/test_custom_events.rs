//! Custom lifecycle events: `started = EXPR`, `completed = CLOSURE` and
//! `failed = CLOSURE` replace the default `Started` / `Completed` / `Failed`, and a
//! factory that panics falls back to the default without changing the result.

use herald::prelude::*;
use herald::{Bus, Phase, Record};
use serde::{Deserialize, Serialize};

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

fn names(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.name()).collect()
}

/// Asserts that `closing` closes `started`: same parent and root, caused by it, timed.
#[track_caller]
fn closes(closing: &Record, started: &Record) {
    assert_eq!(closing.parent_id(), started.parent_id());
    assert_eq!(closing.root_id(), started.root_id());
    assert_eq!(closing.correlation_id(), started.correlation_id());
    assert_eq!(closing.causation_id(), Some(started.id()));
    assert!(closing.duration().is_some());
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "custom.charge_began")]
pub struct ChargeBegan {
    pub cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "custom.charge_done")]
pub struct ChargeDone {
    pub receipt: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "custom.charge_refused")]
pub struct ChargeRefused {
    pub reason: String,
}

#[instrument_events(
    started = ChargeBegan { cents },
    completed = |receipt| ChargeDone { receipt: *receipt },
    failed = |e| ChargeRefused { reason: e.to_string() }
)]
fn charge_card(cents: u64) -> Result<u64, String> {
    if cents > 1_000 {
        Err(format!("{cents} is over the limit"))
    } else {
        Ok(cents + 1)
    }
}

#[instrument_events(completed = |n| ChargeDone { receipt: u64::from(*n) })]
async fn count_async(n: u32) -> u32 {
    tokio::task::yield_now().await;
    n
}

#[test]
fn custom_lifecycle_events_replace_the_defaults() {
    let bus = private_bus();
    assert_eq!(herald::with_bus(&bus, || charge_card(10)), Ok(11));
    assert_eq!(
        herald::with_bus(&bus, || charge_card(5_000)),
        Err("5000 is over the limit".to_owned())
    );
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "custom.charge_began",
            "custom.charge_done",
            "custom.charge_began",
            "custom.charge_refused"
        ]
    );
    assert_eq!(
        h[0].downcast_ref::<ChargeBegan>(),
        Some(&ChargeBegan { cents: 10 })
    );
    assert_eq!(h[0].phase(), Phase::Started);
    assert_eq!(
        h[1].downcast_ref::<ChargeDone>(),
        Some(&ChargeDone { receipt: 11 })
    );
    assert_eq!(h[1].phase(), Phase::Completed);
    closes(&h[1], &h[0]);
    assert!(h[1].duration().is_some());
    assert_eq!(
        h[2].downcast_ref::<ChargeBegan>(),
        Some(&ChargeBegan { cents: 5_000 })
    );
    assert_eq!(
        h[3].downcast_ref::<ChargeRefused>(),
        Some(&ChargeRefused {
            reason: "5000 is over the limit".to_owned()
        })
    );
    assert_eq!(h[3].phase(), Phase::Failed);
    closes(&h[3], &h[2]);
}

#[tokio::test]
async fn custom_completed_event_on_an_async_fn() {
    let bus = private_bus();
    assert_eq!(herald::scope(&bus, count_async(3)).await, 3);
    let h = bus.history();
    assert_eq!(names(&h), ["count_async.started", "custom.charge_done"]);
    assert_eq!(
        h[1].downcast_ref::<ChargeDone>(),
        Some(&ChargeDone { receipt: 3 })
    );
    closes(&h[1], &h[0]);
}

/// The same with the closure parameters typed out.
#[instrument_events(
    completed = |receipt: &u64| ChargeDone { receipt: *receipt },
    failed = |e: &String| ChargeRefused { reason: e.clone() }
)]
fn refund(cents: u64) -> Result<u64, String> {
    if cents == 0 {
        Err("nothing to refund".to_owned())
    } else {
        Ok(cents)
    }
}

#[test]
fn closures_with_typed_parameters_work_too() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        assert_eq!(refund(3), Ok(3));
        assert_eq!(refund(0), Err("nothing to refund".to_owned()));
    });
    let h = bus.history();
    assert_eq!(
        names(&h),
        [
            "refund.started",
            "custom.charge_done",
            "refund.started",
            "custom.charge_refused"
        ]
    );
    assert_eq!(
        h[1].downcast_ref::<ChargeDone>(),
        Some(&ChargeDone { receipt: 3 })
    );
    closes(&h[1], &h[0]);
    assert_eq!(
        h[3].downcast_ref::<ChargeRefused>(),
        Some(&ChargeRefused {
            reason: "nothing to refund".to_owned()
        })
    );
    assert_eq!(h[3].phase(), Phase::Failed);
    closes(&h[3], &h[2]);
}

fn broken_started() -> ChargeBegan {
    panic!("started factory broke")
}

#[instrument_events(started = broken_started())]
fn panicking_started_factory() -> u32 {
    5
}

#[instrument_events(completed = |_v| -> ChargeDone { panic!("completed factory broke") })]
fn panicking_completed_factory() -> u32 {
    6
}

#[instrument_events(failed = |_e| -> ChargeRefused { panic!("failed factory broke") })]
fn panicking_failed_factory() -> Result<u32, String> {
    Err("real error".to_owned())
}

#[test]
fn a_panicking_factory_does_not_change_the_result() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        assert_eq!(panicking_started_factory(), 5);
        assert_eq!(panicking_completed_factory(), 6);
        assert_eq!(panicking_failed_factory(), Err("real error".to_owned()));
        assert_eq!(herald::current(), None);
    });
    let h = bus.history();
    // Each falls back to the default lifecycle event.
    assert_eq!(
        names(&h),
        [
            "panicking_started_factory.started",
            "panicking_started_factory.completed",
            "panicking_completed_factory.started",
            "panicking_completed_factory.completed",
            "panicking_failed_factory.started",
            "panicking_failed_factory.failed",
        ]
    );
    assert_eq!(
        h[5].downcast_ref::<herald::Failed>().unwrap().error,
        "real error"
    );
    closes(&h[1], &h[0]);
}

#[test]
fn custom_lifecycle_events_reach_handlers_of_their_own_type_only() {
    use std::sync::{Arc, Mutex};

    let bus = Bus::builder()
        .registered_handlers(false)
        .history(0)
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _began = bus.subscribe::<ChargeBegan>(move |ev| {
        s.lock()
            .unwrap()
            .push(format!("began {}", ev.payload().cents));
    });
    let s = seen.clone();
    let _done = bus.subscribe::<ChargeDone>(move |ev| {
        s.lock()
            .unwrap()
            .push(format!("done {}", ev.payload().receipt));
    });
    let s = seen.clone();
    let _started = bus.subscribe::<herald::Started>(move |ev| {
        s.lock().unwrap().push(format!("started {}", ev.name()));
    });
    let s = seen.clone();
    let _completed = bus.subscribe::<herald::Completed>(move |ev| {
        s.lock().unwrap().push(format!("completed {}", ev.name()));
    });
    // Twice: the second call routes from the cache the first one filled.
    for cents in [10, 20] {
        assert_eq!(herald::with_bus(&bus, || charge_card(cents)), Ok(cents + 1));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        ["began 10", "done 11", "began 20", "done 21"]
    );
}
