use herald::instrument_events;

#[instrument_events(args(user), skip(password))]
fn login(user: &str, password: &str) -> bool {
    user.len() < password.len()
}

fn main() {}
