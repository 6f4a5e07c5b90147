#![deny(warnings)]

use std::fmt;

use herald::{on, subscription, Envelope, Event, Record};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
    pub total_cents: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, Event)]
#[event(name = "order.billed")]
pub struct OrderBilled {
    pub order_id: u64,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.level", kind = "response")]
pub struct StockLevel {
    pub units: u32,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.get", kind = "query", response = StockLevel)]
pub struct GetStock {
    pub sku: String,
}

#[derive(Debug)]
pub struct BillingError;

impl fmt::Display for BillingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("billing failed")
    }
}

fn is_large(order: &OrderPlaced) -> bool {
    order.total_cents > 10_000
}

fn is_order(record: &Record) -> bool {
    record.name().starts_with("order.")
}

#[on(OrderPlaced)]
fn log_order(order: &OrderPlaced) {
    let _ = order.order_id;
}

#[on(OrderPlaced, when = is_large, priority = -5, name = "billing.large", group = "billing")]
pub fn bill(order: &OrderPlaced) -> Result<OrderBilled, BillingError> {
    if order.total_cents == 0 {
        return Err(BillingError);
    }
    Ok(OrderBilled { order_id: order.order_id })
}

#[on(OrderPlaced, phase = "pending", kind = "notification", source = "checkout", priority = 10)]
fn with_envelope(order: &Envelope<OrderPlaced>) -> Option<OrderBilled> {
    (order.payload().order_id > 0).then(|| OrderBilled { order_id: order.payload().order_id })
}

#[on(OrderPlaced)]
fn typed_record(record: &Record) -> Result<(), String> {
    let _ = record.name();
    Ok(())
}

#[on(pattern = "order.*", when = is_order)]
fn every_order(record: &herald::Record) {
    let _ = record.name();
}

#[on(pattern = "**.failed", phase = "failed")]
fn failures(_: &Record) {}

#[on]
fn everything(_: &Record) {}

#[on(herald::Failed, pattern = "checkout.**")]
fn checkout_failed(failed: &herald::Failed) {
    let _ = &failed.error;
}

#[on(GetStock)]
fn answer(query: &GetStock) -> StockLevel {
    StockLevel { units: query.sku.len() as u32 }
}

#[on(OrderPlaced, when = is_large)]
async fn notify(order: &OrderPlaced) -> Result<(), BillingError> {
    let _ = order.order_id;
    Ok(())
}

#[on(OrderPlaced)]
async fn notify_envelope<'a>(order: &'a Envelope<OrderPlaced>) -> Option<OrderBilled> {
    Some(OrderBilled { order_id: order.payload().order_id })
}

#[on(pattern = "order.**", when = is_order)]
async fn notify_record(record: &Record) {
    let _ = record.name();
}

mod nested {
    use herald::{on, Record};

    #[on(pattern = "order.billed")]
    pub fn billed(_: &Record) {}

    #[on(pattern = "order.billed")]
    pub(crate) async fn r#async(_: &Record) {}
}

fn main() {
    let descriptors = [
        subscription!(log_order),
        subscription!(bill),
        subscription!(with_envelope),
        subscription!(typed_record),
        subscription!(every_order),
        subscription!(failures),
        subscription!(everything),
        subscription!(checkout_failed),
        subscription!(answer),
        subscription!(notify),
        subscription!(notify_envelope),
        subscription!(notify_record),
        subscription!(nested::billed),
        subscription!(crate::nested::r#async),
    ];
    assert_eq!(descriptors[1].name(), "billing.large");
    assert_eq!(descriptors[1].priority(), -5);
    assert_eq!(descriptors[1].group(), "billing");
    assert!(descriptors[0].name().ends_with("::log_order"));
    assert!(descriptors[13].name().ends_with("nested::async"));
    assert!(descriptors[9].is_async());
    let _ = herald::Bus::builder().subscription(subscription!(bill));
}
