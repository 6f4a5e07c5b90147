use herald::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "job.done", phase = "finished")]
struct JobDone;

fn main() {}
