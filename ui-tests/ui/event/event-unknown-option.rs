use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", verison = 2)]
struct OrderPlaced;

fn main() {}
