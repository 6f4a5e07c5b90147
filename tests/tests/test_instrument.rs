//! `#[instrument_events]` options: operation names for free fns and methods, `name`,
//! `args`, `args(..)`, `skip(..)` and `ret`. Custom lifecycle events are in
//! `test_custom_events.rs`.

mod common;
use common::{args, started_args};
use std::fmt;

use herald::prelude::*;
use herald::{Bus, Phase};

fn private_bus() -> Bus {
    Bus::builder().registered_handlers(false).build().unwrap()
}

// ---- operation names -------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct EntityStore {
    items: Vec<u32>,
}

impl EntityStore {
    #[instrument_events]
    fn register(&mut self, item: u32) -> usize {
        self.items.push(item);
        self.items.len()
    }

    #[instrument_events]
    fn count(&self) -> usize {
        self.items.len()
    }

    #[instrument_events]
    async fn load(&self) -> usize {
        tokio::task::yield_now().await;
        self.items.len()
    }

    #[instrument_events(name = "entity.promotion")]
    fn promote(&self) -> bool {
        !self.items.is_empty()
    }

    #[instrument_events]
    fn into_items(self) -> Vec<u32> {
        self.items
    }
}

pub trait Greeter {
    fn greet(&self) -> String;
}

impl Greeter for EntityStore {
    #[instrument_events]
    fn greet(&self) -> String {
        format!("{} items", self.items.len())
    }
}

pub struct Cache<T> {
    entries: Vec<T>,
}

impl<T: Clone + Send + Sync + 'static> Cache<T> {
    #[instrument_events]
    fn first(&self) -> Option<T> {
        self.entries.first().cloned()
    }
}

#[instrument_events(name = "billing.charge")]
fn renamed_free_fn() -> u8 {
    1
}

#[instrument_events]
fn generic_len<T: fmt::Debug>(items: &[T]) -> usize {
    items.len()
}

#[instrument_events]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[tokio::test]
async fn operation_names_follow_the_receiver_type_or_the_fn_name() {
    let bus = private_bus();
    let items = herald::scope(&bus, async {
        let mut store = EntityStore::default();
        assert_eq!(store.register(4), 1);
        assert_eq!(store.count(), 1);
        assert_eq!(store.load().await, 1);
        assert!(store.promote());
        assert_eq!(store.greet(), "1 items");
        let cache = Cache { entries: vec!['x'] };
        assert_eq!(cache.first(), Some('x'));
        assert_eq!(renamed_free_fn(), 1);
        assert_eq!(generic_len(&[1, 2, 3]), 3);
        assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
        store.into_items()
    })
    .await;
    assert_eq!(items, [4]);
    let started: Vec<String> = bus
        .query(&herald::Filter::new().phase(Phase::Started))
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(
        started,
        [
            "entity_store.register.started",
            "entity_store.count.started",
            "entity_store.load.started",
            "entity.promotion.started",
            "entity_store.greet.started",
            "cache.first.started",
            "billing.charge.started",
            "generic_len.started",
            "evens.started",
            "entity_store.into_items.started",
        ]
    );
    let operations: Vec<String> = bus
        .query(&herald::Filter::new().phase(Phase::Completed))
        .iter()
        .map(|r| {
            r.downcast_ref::<herald::Completed>()
                .unwrap()
                .operation
                .to_string()
        })
        .collect();
    assert_eq!(
        operations,
        [
            "entity_store.register",
            "entity_store.count",
            "entity_store.load",
            "entity.promotion",
            "entity_store.greet",
            "cache.first",
            "billing.charge",
            "generic_len",
            "evens",
            "entity_store.into_items",
        ]
    );
}

/// One method, instrumented once, for every type: its operation name follows `Self`.
pub trait Describe {
    fn describe(&self) -> String;
}

pub struct Invoice;
pub struct Shipment;

pub trait Labelled {
    const LABEL: &'static str;
}

impl Labelled for Invoice {
    const LABEL: &'static str = "invoice";
}

impl Labelled for Shipment {
    const LABEL: &'static str = "shipment";
}

impl<T: Labelled> Describe for T {
    #[instrument_events]
    fn describe(&self) -> String {
        T::LABEL.to_owned()
    }
}

#[test]
fn a_blanket_impl_names_each_call_after_its_own_type() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        // The first type's names are kept for the site; the others are made per call.
        for _ in 0..2 {
            assert_eq!(Invoice.describe(), "invoice");
            assert_eq!(Shipment.describe(), "shipment");
        }
    });
    let names: Vec<String> = bus.history().iter().map(|r| r.name().to_owned()).collect();
    assert_eq!(
        names,
        [
            "invoice.describe.started",
            "invoice.describe.completed",
            "shipment.describe.started",
            "shipment.describe.completed",
        ]
        .repeat(2)
    );
    let shipment = bus.query(&herald::Filter::new().name("shipment.describe.completed"));
    assert_eq!(shipment.len(), 2);
    let completed = shipment[1].downcast_ref::<herald::Completed>().unwrap();
    assert_eq!(completed.operation, "shipment.describe");
}

// ---- args and ret --------------------------------------------------------------------

#[instrument_events(args)]
fn all_args(count: u32, label: &str) -> u32 {
    count + label.len() as u32
}

#[instrument_events(args(count))]
fn some_args(count: u32, label: &str) -> u32 {
    count + label.len() as u32
}

#[instrument_events(skip(password))]
fn skipped_arg(user: &str, password: &str) -> bool {
    user.len() < password.len()
}

#[instrument_events(args, ret)]
fn args_and_ret(a: u32, b: u32) -> u32 {
    a * b
}

#[instrument_events(ret)]
fn ret_only(tag: &str) -> Vec<String> {
    vec![tag.to_owned()]
}

#[instrument_events]
fn nothing_recorded(secret: u32) -> u32 {
    secret
}

#[test]
fn args_and_ret_are_recorded_in_the_lifecycle_payloads() {
    let bus = private_bus();
    herald::with_bus(&bus, || {
        assert_eq!(all_args(2, "abc"), 5);
        assert_eq!(some_args(2, "abc"), 5);
        assert!(skipped_arg("ada", "lovelace"));
        assert_eq!(args_and_ret(6, 7), 42);
        assert_eq!(ret_only("x"), ["x"]);
        assert_eq!(nothing_recorded(99), 99);
    });
    let h = bus.history();
    assert_eq!(h.len(), 12);
    let started = |i: usize| started_args(&h[i]);
    let result = |i: usize| {
        h[i].downcast_ref::<herald::Completed>()
            .unwrap()
            .result
            .clone()
    };

    assert_eq!(started(0), args(&[("count", "2"), ("label", "\"abc\"")]));
    assert_eq!(result(1), None);
    assert_eq!(started(2), args(&[("count", "2")]));
    assert_eq!(started(4), args(&[("user", "\"ada\"")]));
    assert_eq!(started(6), args(&[("a", "6"), ("b", "7")]));
    assert_eq!(result(7), Some("42".to_owned()));
    assert_eq!(started(8), args(&[]));
    assert_eq!(result(9), Some("[\"x\"]".to_owned()));
    assert_eq!(started(10), args(&[]));
    assert_eq!(result(11), None);
    assert_eq!(
        h[10].downcast_ref::<herald::Started>().unwrap().operation,
        "nothing_recorded"
    );
}
