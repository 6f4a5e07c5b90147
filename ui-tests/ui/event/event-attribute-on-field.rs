use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
struct OrderPlaced {
    #[event(name = "order.placed")]
    order_id: u64,
}

fn main() {}
