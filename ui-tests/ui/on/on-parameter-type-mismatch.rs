use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.shipped")]
pub struct OrderShipped;

#[on(OrderPlaced)]
fn handle(_: &OrderShipped) {}

fn main() {}
