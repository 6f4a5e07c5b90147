//! An order pipeline coordinated over the bus: a command handled by an async handler
//! with `concurrency = 4` and retries, a query answered over the bus, a children scope
//! running payment and stock reservation concurrently under the order, and metrics.
//!
//! Run with `cargo run --example order_pipeline`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use herald::prelude::*;
use herald::Bus;

/// Command: place an order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "order.place", kind = "command")]
pub struct PlaceOrder {
    pub order_id: u32,
    pub sku: String,
    pub quantity: u32,
}

/// Notification: an order was placed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u32,
}

/// The parent of one order's concurrent steps (a children scope).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "order.fulfilment")]
pub struct Fulfilment {
    pub order_id: u32,
}

/// Query: how many units of a SKU are in stock?
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "stock.ask", kind = "query", response = StockLevel)]
pub struct AskStock {
    pub sku: String,
}

/// Response to [`AskStock`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "stock.level", kind = "response")]
pub struct StockLevel {
    pub sku: String,
    pub units: u32,
}

static PAYMENT_GLITCHES: AtomicU32 = AtomicU32::new(0);

/// Answers stock queries.
#[on(AskStock, group = "pipeline")]
fn stock_level(q: &AskStock) -> StockLevel {
    StockLevel {
        sku: q.sku.clone(),
        units: 10 + q.sku.len() as u32,
    }
}

#[instrument_events(name = "payment.charge")]
async fn charge(order_id: u32) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    // Every fifth order's first charge fails: the handler's retry recovers it.
    if order_id.is_multiple_of(5)
        && PAYMENT_GLITCHES
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(2)
    {
        return Err(format!("payment gateway timeout for order {order_id}"));
    }
    Ok(())
}

#[instrument_events(name = "stock.reserve")]
async fn reserve(sku: &str, quantity: u32) -> Result<(), String> {
    let level = herald::current_bus()
        .request(AskStock {
            sku: sku.to_owned(),
        })
        .await;
    match level {
        Ok(level) if level.units >= quantity => Ok(()),
        Ok(level) => Err(format!("only {} units of {sku}", level.units)),
        Err(e) => Err(e.to_string()),
    }
}

/// Places orders: at most four at a time, each retried twice on failure.
#[on(
    PlaceOrder,
    group = "pipeline",
    concurrency = 4,
    retry = 2,
    backoff = "5ms"
)]
async fn place(cmd: &PlaceOrder) -> Result<OrderPlaced, String> {
    let (order_id, sku, quantity) = (cmd.order_id, cmd.sku.clone(), cmd.quantity);
    // Payment and reservation run concurrently, both nested under the fulfilment; the
    // scope fails (listing the failed children) if either does.
    herald::current_bus()
        .children(Fulfilment { order_id })
        .spawn(async move { reserve(&sku, quantity).await })
        .spawn(async move { charge(order_id).await })
        .join()
        .await
        .map_err(|e| e.to_string())?;
    Ok(OrderPlaced { order_id })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::builder().group("pipeline").build()?;
    herald::scope(&bus, async {
        for order_id in 1..=20 {
            let quantity = if order_id == 13 { 99 } else { 1 + order_id % 3 };
            bus.emit(PlaceOrder {
                order_id,
                sku: format!("sku-{}", order_id % 4),
                quantity,
            });
        }
        bus.flush().await;
    })
    .await;

    let placed = bus.query(&herald::Filter::new().name("order.placed")).len();
    println!("orders placed: {placed} of 20");
    for letter in bus.dead_letters() {
        println!(
            "dead letter: {} after {} attempts: {}",
            letter.record().name(),
            letter.attempts(),
            letter.error()
        );
    }
    let m = bus.metrics();
    println!(
        "emitted {}, delivered {}, failed attempts {}, dead-lettered {}, dropped {}, expired {}",
        m.emitted, m.delivered, m.failed, m.dead_lettered, m.dropped, m.expired
    );
    for (name, h) in &m.handlers {
        println!("  {name}: delivered {}, failed {}", h.delivered, h.failed);
    }
    if let Some(first) = bus
        .query(&herald::Filter::new().name("order.fulfilment").limit(1))
        .first()
    {
        println!("\nthe last order's fulfilment:");
        if let Some(tree) = bus.tree(first.root_id()) {
            print!("{tree}");
        }
    }
    Ok(())
}
