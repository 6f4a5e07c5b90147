use herald::instrument_events;

#[instrument_events(skip(secret))]
fn login(user: &str, password: &str) -> bool {
    user.len() < password.len()
}

fn main() {}
