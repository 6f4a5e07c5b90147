use herald::{on, Event};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "pass.shared_job")]
pub struct Job {
    pub id: u64,
}

#[on(Job, shared)]
fn once_anywhere(_: &Job) {}

#[on(shared = true, pattern = "pass.*")]
fn by_pattern(_: &herald::Record) {}

fn main() {
    assert!(herald::subscription!(once_anywhere).is_shared());
    assert!(herald::subscription!(by_pattern).is_shared());
}
