use herald::{instrument_events, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "register.done")]
struct Done(u64);

#[instrument_events(ret, completed = |id: &u64| Done(*id))]
fn register(id: u64) -> u64 {
    id
}

fn main() {}
