use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[on(OrderPlaced)]
fn handle(order: &mut OrderPlaced) {
    order.order_id += 1;
}

fn main() {}
