use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", kind = "event")]
struct OrderPlaced;

fn main() {}
