use herald::Event;
use serde::{Deserialize, Serialize};

fn upgrade(_: u32, value: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(value)
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "cache.filled", version = 2, migrate = upgrade)]
struct Filled<T> {
    value: T,
}

fn main() {}
