use herald::instrument_events;

#[instrument_events]
const fn answer() -> u32 {
    42
}

fn main() {}
