use herald::instrument_events;

struct Secret;

#[instrument_events(args)]
fn unlock(id: u64, secret: Secret) -> u64 {
    let _ = secret;
    id
}

fn main() {}
