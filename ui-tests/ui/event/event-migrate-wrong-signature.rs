use herald::Event;
use serde::{Deserialize, Serialize};

fn upgrade(value: serde_json::Value) -> serde_json::Value {
    value
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "user.renamed", version = 2, migrate = upgrade)]
struct UserRenamed;

fn main() {}
