use herald::instrument_events;

#[instrument_events(name = "entity.register", ret, name = "entity.add")]
fn register(id: u64) -> u64 {
    id
}

fn main() {}
