use herald::instrument_events;

#[instrument_events(name = entity.promotion)]
fn promote(id: u64) -> u64 {
    id
}

fn main() {}
