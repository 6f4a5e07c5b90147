use herald::instrument_events;

#[instrument_events(skip)]
fn register(id: u64) -> u64 {
    id
}

fn main() {}
