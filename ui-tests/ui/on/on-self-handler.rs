use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
pub struct OrderPlaced {
    pub order_id: u64,
}

struct Billing;

impl Billing {
    #[on(OrderPlaced)]
    fn handle(&self, order: &OrderPlaced) {
        let _ = order.order_id;
    }
}

fn main() {}
