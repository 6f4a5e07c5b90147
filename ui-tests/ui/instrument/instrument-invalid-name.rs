use herald::instrument_events;

#[instrument_events(name = "Entity Promotion")]
fn promote(id: u64) -> u64 {
    id
}

fn main() {}
