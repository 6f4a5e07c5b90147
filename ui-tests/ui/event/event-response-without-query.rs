use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.level", kind = "response")]
struct StockLevel(u32);

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.get", kind = "command", response = StockLevel)]
struct GetStock;

fn main() {}
