use herald::{instrument_events, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "register.begun")]
struct Begun(u64);

#[instrument_events(args, started = Begun(id))]
fn register(id: u64) -> u64 {
    id
}

fn main() {}
