use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "Order.Placed")]
struct OrderPlaced;

fn main() {}
