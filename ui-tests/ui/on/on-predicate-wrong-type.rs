use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

fn is_large(order: &u64) -> bool {
    *order > 10
}

#[on(OrderPlaced, when = is_large)]
fn handle(_: &OrderPlaced) {}

fn main() {}
