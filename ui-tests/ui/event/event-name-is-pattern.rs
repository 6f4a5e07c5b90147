use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.*")]
struct OrderPlaced;

fn main() {}
