//! The three macros as a user writes them, linted by `cargo clippy --all-targets` under
//! `clippy::pedantic`, and run once against a private bus.
#![deny(warnings, clippy::pedantic)]

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use herald::{instrument_events, on, subscription, Bus, Envelope, Event, Record};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "expansions.order_placed", version = 2, ttl = "30s")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "expansions.order_billed", kind = "command")]
pub struct OrderBilled {
    pub order_id: u64,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "expansions.generic")]
pub struct Generic<T> {
    pub value: T,
}

#[derive(Debug)]
pub struct CheckoutError(&'static str);

impl fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn is_paid(order: &OrderPlaced) -> bool {
    order.order_id != 0
}

#[on(OrderPlaced, when = is_paid, group = "expansions", priority = 5)]
fn bill(order: &OrderPlaced) -> Result<OrderBilled, CheckoutError> {
    if order.order_id > 1_000 {
        return Err(CheckoutError("over the limit"));
    }
    Ok(OrderBilled {
        order_id: order.order_id,
    })
}

#[on(OrderBilled, group = "expansions")]
fn audit(billed: &Envelope<OrderBilled>) {
    assert!(billed.parent_id().is_some());
}

#[on(pattern = "expansions.*", group = "expansions", priority = -1)]
fn watch(record: &Record) -> Option<OrderBilled> {
    let _ = record.name();
    None
}

#[instrument_events(args, ret)]
fn checkout(order_id: u64) -> Result<u64, CheckoutError> {
    if order_id == 0 {
        return Err(CheckoutError("empty order"));
    }
    herald::emit(OrderPlaced { order_id });
    Ok(order_id)
}

#[derive(Default)]
struct Counter {
    value: u64,
}

impl Counter {
    #[instrument_events(ret)]
    fn get(&self) -> u64 {
        self.value
    }

    #[instrument_events(args)]
    async fn add(&mut self, by: u64) -> u64 {
        self.value += by;
        self.value
    }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn names(bus: &Bus) -> Vec<String> {
    bus.history().iter().map(|r| r.name().to_owned()).collect()
}

#[test]
fn events_handlers_and_instrumented_calls_work_together() {
    assert_eq!(OrderPlaced::VERSION, 2);
    assert_eq!(<Generic<u8> as Event>::NAME, "expansions.generic");

    let bus = Bus::builder()
        .registered_handlers(false)
        .subscription(subscription!(bill))
        .subscription(subscription!(audit))
        .subscription(subscription!(watch))
        .history(100)
        .build()
        .expect("bus builds");

    assert_eq!(herald::with_bus(&bus, || checkout(7)).ok(), Some(7));
    assert_eq!(
        names(&bus),
        [
            "checkout.started",
            "expansions.order_placed",
            "expansions.order_billed",
            "checkout.completed"
        ]
    );

    assert!(herald::with_bus(&bus, || checkout(0)).is_err());
    assert_eq!(
        names(&bus).last().map(String::as_str),
        Some("checkout.failed")
    );

    let mut counter = Counter::default();
    assert_eq!(herald::with_bus(&bus, || block_on(counter.add(2))), 2);
    assert_eq!(herald::with_bus(&bus, || counter.get()), 2);
    let history = names(&bus);
    assert!(
        history.iter().any(|n| n == "counter.add.completed"),
        "{history:?}"
    );
    assert!(
        history.iter().any(|n| n == "counter.get.completed"),
        "{history:?}"
    );
}
