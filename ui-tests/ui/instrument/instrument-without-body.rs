use herald::instrument_events;

trait Service {
    #[instrument_events]
    fn serve(&self) -> u32;
}

fn main() {}
