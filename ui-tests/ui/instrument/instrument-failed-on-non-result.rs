use herald::{instrument_events, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "register.broke")]
struct Broke;

#[instrument_events(failed = |_: &String| Broke)]
fn register(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
