use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed")]
#[event(version = 2, name = "order.created")]
struct OrderPlaced;

fn main() {}
