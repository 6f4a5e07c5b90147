//! The Redis transport with ACL users, against a real `redis-server` started per test
//! with a user of its own and the `default` user off: the right password links buses,
//! a wrong one is a typed error, and no password shows in an error or debug output.
//!
//! Skipped with a message on stderr when `redis-server` is not installed (failed when
//! `CI` is set). The same over TLS: `test_redis_tls.rs` (feature `tls`).

use herald::error::BuildError;
use herald::error::TransportError;
use herald::prelude::*;
use herald::transport::Redis;
use herald::Bus;
use herald_tests::redis_server::RedisServer;
use redis_common::{unique, wait_until, Seen};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[path = "common/redis.rs"]
mod redis_common;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis_acl.ping")]
struct Ping {
    n: u32,
}

const USER: &str = "herald-app";
const PASSWORD: &str = "s3cret-Pa55word";
const WRONG: &str = "wr0ng-Pa55word";

fn build(url: &str, stream: &str) -> Result<Bus, BuildError> {
    let redis = Redis::builder(url)
        .stream(stream)
        .block(Duration::from_millis(200))
        .build()
        .expect("valid options");
    Bus::builder()
        .registered_handlers(false)
        .transport(redis)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_links_buses_and_a_wrong_password_is_a_typed_error_without_it() {
    let Some(server) = RedisServer::builder().user(USER, PASSWORD).start() else {
        return;
    };
    let stream = unique("acl");

    // Without credentials, or with a wrong password: refused, typed, and the message
    // says why without the password.
    for url in [server.url(), server.url_as(USER, WRONG)] {
        let err = build(&url, &stream).expect_err("the default user is off");
        let BuildError::Transport(TransportError::Auth(message)) = &err else {
            panic!("not an authentication error: {err:?}");
        };
        for shown in [err.to_string(), format!("{err:?}"), message.clone()] {
            assert!(
                !shown.contains(WRONG) && !shown.contains(PASSWORD),
                "{shown}"
            );
        }
    }
    let options = Redis::builder(server.url_as(USER, PASSWORD));
    let shown = format!("{options:?}");
    assert!(
        !shown.contains(PASSWORD) && shown.contains(&format!("{USER}:***@")),
        "{shown}"
    );

    // With the right one, events cross.
    let a = build(&server.url_as(USER, PASSWORD), &stream).expect("a with the password");
    let b = build(&server.url_as(USER, PASSWORD), &stream).expect("b with the password");
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));
    for n in 0..10 {
        a.emit(Ping { n });
    }
    wait_until(|| format!("{:?}", got.sorted()), || got.len() >= 10).await;
    assert_eq!(got.sorted(), (0..10).collect::<Vec<_>>());
    for shown in [format!("{a:?}"), format!("{:?}", a.transport_stats())] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
}
