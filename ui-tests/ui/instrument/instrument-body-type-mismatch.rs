use herald::instrument_events;

#[instrument_events]
fn register(id: u64) -> Result<u64, String> {
    let parsed: u64 = "7".parse()?;
    Ok(id + parsed)
}

fn main() {}
