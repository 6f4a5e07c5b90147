use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[on(OrderPlaced)]
fn handle(order: &OrderPlaced, attempt: u32) {
    let _ = (order.order_id, attempt);
}

fn main() {}
