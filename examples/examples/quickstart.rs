//! The herald quickstart: a typed handler, a pattern handler, nested instrumented calls,
//! and the resulting tree with phases and durations.
//!
//! Run with `cargo run --example quickstart`.

use herald::prelude::*;
use herald::{Bus, Record};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "order.placed", version = 1)]
pub struct OrderPlaced {
    pub order_id: u64,
    pub total_cents: u64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
#[event(name = "order.shipped")]
pub struct OrderShipped {
    pub order_id: u64,
}

/// Typed handler: runs inline for every `OrderPlaced`, highest priority first.
#[on(OrderPlaced, priority = 10, group = "quickstart")]
fn send_receipt(ev: &OrderPlaced) {
    println!(
        "  [receipt]  order {} totals {:.2}",
        ev.order_id,
        ev.total_cents as f64 / 100.0
    );
}

/// Pattern handler: sees every record under `order.`, typed or not.
#[on(pattern = "order.*", group = "quickstart")]
fn audit(record: &Record) {
    let parent = record.parent_id().map_or_else(|| "none".to_owned(), short);
    println!("  [audit]    {} (parent {parent})", record.name());
}

/// Reacts to failures anywhere by phase.
#[on(pattern = "**", phase = "failed", group = "quickstart")]
fn alert(record: &Record) {
    println!(
        "  [alert]    {} failed: {}",
        record.name(),
        record.payload_json()["error"]
    );
}

#[instrument_events(name = "checkout.place_order", args)]
fn place_order(order_id: u64, total_cents: u64) -> Result<(), String> {
    reserve_stock(order_id)?;
    charge(order_id, total_cents)?;
    herald::emit(OrderPlaced {
        order_id,
        total_cents,
    });
    ship(order_id);
    Ok(())
}

#[instrument_events(name = "checkout.reserve_stock")]
fn reserve_stock(order_id: u64) -> Result<(), String> {
    if order_id == 0 {
        return Err("order 0 does not exist".into());
    }
    Ok(())
}

#[instrument_events(name = "checkout.charge")]
fn charge(_order_id: u64, total_cents: u64) -> Result<u64, String> {
    std::thread::sleep(std::time::Duration::from_millis(2));
    Ok(total_cents)
}

#[instrument_events(name = "checkout.ship")]
fn ship(order_id: u64) {
    herald::emit(OrderShipped { order_id });
}

fn short(id: herald::Uuid) -> String {
    // v7 ids start with the timestamp; the tail tells them apart.
    id.to_string()[28..].to_owned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::builder().group("quickstart").build()?;

    println!("placing order 42:");
    herald::with_bus(&bus, || place_order(42, 4_200))?;
    println!("placing order 0:");
    let failed = herald::with_bus(&bus, || place_order(0, 100));
    println!("  -> {failed:?}");

    for root in bus
        .history()
        .iter()
        .filter(|r| r.parent_id().is_none() && r.name().ends_with(".started"))
    {
        println!("\ntree {}:", short(root.id()));
        if let Some(tree) = bus.tree(root.id()) {
            print!("{tree}");
        }
    }
    let m = bus.metrics();
    println!(
        "\nemitted {}, delivered {}, failed {}",
        m.emitted, m.delivered, m.failed
    );
    Ok(())
}
