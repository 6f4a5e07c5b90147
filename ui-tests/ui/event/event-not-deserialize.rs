use herald::Event;
use serde::Serialize;

#[derive(Serialize, Event)]
#[event(name = "order.placed")]
struct OrderPlaced;

fn main() {}
