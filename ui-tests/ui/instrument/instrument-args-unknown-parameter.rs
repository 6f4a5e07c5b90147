use herald::instrument_events;

#[instrument_events(args(id, name))]
fn register(id: u64, label: &str) -> u64 {
    let _ = label;
    id
}

fn main() {}
