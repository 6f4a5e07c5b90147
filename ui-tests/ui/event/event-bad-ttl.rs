use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", ttl = "30 seconds")]
struct OrderPlaced;

fn main() {}
