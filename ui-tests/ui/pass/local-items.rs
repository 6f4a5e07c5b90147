#![deny(warnings)]

use herald::{instrument_events, on, subscription, Event};
use serde::{Deserialize, Serialize};

fn main() {
    #[derive(Serialize, Deserialize, Event)]
    #[event(name = "local.ping")]
    struct Ping;

    #[on(Ping, group = "local")]
    fn pong(_: &Ping) {}

    #[on(Ping, group = "local")]
    async fn pong_later(_: &Ping) {}

    #[instrument_events]
    fn local_call() -> u32 {
        1
    }

    let _ = Ping;
    assert_eq!(Ping::NAME, "local.ping");
    assert!(subscription!(pong).name().ends_with("::pong"));
    assert!(subscription!(pong_later).is_async());
    assert_eq!(local_call(), 1);
}
