use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[on(OrderPlaced, shared = "yes")]
fn handle(_: &OrderPlaced) {}

fn main() {}
