use herald::instrument_events;

#[instrument_events]
struct Service;

fn main() {}
