//! `concurrency`, `retry` and `backoff` on handlers.
use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[on(OrderPlaced, retry = 3)]
fn retried(_: &OrderPlaced) -> Result<(), String> {
    Ok(())
}

#[on(OrderPlaced, retry = 2, backoff = "50ms")]
fn retried_with_backoff(_: &OrderPlaced) {}

#[on(OrderPlaced, concurrency = 4, retry = 1, backoff = "1s")]
async fn bounded(_: &OrderPlaced) {}

fn main() {
    assert!(herald::subscription!(bounded).is_async());
}
