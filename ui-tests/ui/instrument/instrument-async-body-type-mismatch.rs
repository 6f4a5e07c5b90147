use herald::instrument_events;

#[instrument_events]
async fn register(id: u64) -> u64 {
    if id == 0 {
        return "zero";
    }
    id
}

fn main() {}
