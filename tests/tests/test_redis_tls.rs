//! The Redis transport over TLS (`rediss://`, feature `tls` of this package, herald's
//! `redis-tls`), against a real `redis-server` started per test with a TLS port, a
//! certificate authority and server certificate the test makes with `openssl`, and an
//! ACL user: buses exchange events over TLS, a client that does not trust the
//! authority is refused, a wrong password is a typed error, and no password shows.
//!
//! Run with `cargo test -p herald-tests --features tls --test test_redis_tls`. Skipped
//! with a message when `redis-server` or `openssl` is missing (failed when `CI` is set).

use std::time::Duration;

use herald::error::BuildError;
use herald::error::TransportError;
use herald::prelude::*;
use herald::transport::{Redis, RedisBuilder};
use herald::Bus;
use herald_tests::redis_server::RedisServer;
use redis_common::{unique, wait_until, Seen};
use serde::{Deserialize, Serialize};

#[path = "common/redis.rs"]
mod redis_common;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "test.redis_tls.ping")]
struct Ping {
    n: u32,
}

const USER: &str = "herald-app";
const PASSWORD: &str = "s3cret-Pa55word";
const WRONG: &str = "wr0ng-Pa55word";

fn build(options: RedisBuilder) -> Result<Bus, BuildError> {
    let redis = options
        .block(Duration::from_millis(200))
        .build()
        .expect("valid options");
    Bus::builder()
        .registered_handlers(false)
        .transport(redis)
        .build()
}

/// The local ports of the server's client connections (`laddr` in `CLIENT LIST`).
fn client_ports(server: &RedisServer) -> Vec<u16> {
    let list = server.command(&["CLIENT", "LIST"]).expect("CLIENT LIST");
    list.lines()
        .filter_map(|line| {
            let laddr = line.split(' ').find_map(|f| f.strip_prefix("laddr="))?;
            laddr.rsplit_once(':')?.1.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buses_exchange_events_over_tls_with_an_acl_user() {
    let Some(server) = RedisServer::builder()
        .tls(true)
        .user(USER, PASSWORD)
        .start()
    else {
        return;
    };
    let ca = server
        .certificates()
        .expect("a TLS server has certificates")
        .ca_pem()
        .expect("the authority's certificate");
    let url = server.tls_url_as(USER, PASSWORD).expect("a TLS port");
    let tls_port = server.tls_port().expect("a TLS port");
    let stream = unique("tls");
    let options = || {
        Redis::builder(url.as_str())
            .stream(stream.as_str())
            .tls_root_certificates(ca.clone())
    };

    let a = build(options()).expect("a over TLS");
    let b = build(options()).expect("b over TLS");
    let got = Seen::default();
    let seen = got.clone();
    let _sub = b.subscribe::<Ping>(move |ev| seen.push(ev.payload().n));
    for n in 0..20 {
        a.emit(Ping { n });
    }
    wait_until(|| format!("{:?}", got.sorted()), || got.len() >= 20).await;
    assert_eq!(got.sorted(), (0..20).collect::<Vec<_>>());
    let stats = a.transport_stats().expect("stats");
    assert_eq!((stats.sent, stats.lost), (20, 0), "{stats:?}");

    // Every connection of the buses came in on the TLS port; only the one asking is on
    // the plain port. Readers connect as their tasks start: wait for all of them.
    let on_tls_port = || {
        client_ports(&server)
            .iter()
            .filter(|p| **p == tls_port)
            .count()
    };
    wait_until(
        || format!("{:?}", client_ports(&server)),
        || on_tls_port() >= 6,
    )
    .await;
    let ports = client_ports(&server);
    let on_tls = ports.iter().filter(|p| **p == tls_port).count();
    assert!(
        on_tls >= 6,
        "two buses, a writer and three readers each: {ports:?}"
    );
    assert_eq!(ports.len(), on_tls + 1, "{ports:?}");
}

#[test]
fn an_untrusted_certificate_and_a_wrong_password_are_refused_without_the_password() {
    let Some(server) = RedisServer::builder()
        .tls(true)
        .user(USER, PASSWORD)
        .start()
    else {
        return;
    };
    let ca = server
        .certificates()
        .expect("certificates")
        .ca_pem()
        .expect("the authority's certificate");
    let stream = unique("tls-refused");

    // The system's authorities do not know the test's.
    let url = server.tls_url_as(USER, PASSWORD).expect("a TLS port");
    let err = build(Redis::builder(url).stream(stream.as_str())).expect_err("untrusted");
    assert!(
        matches!(err, BuildError::Transport(TransportError::Connection(_))),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");

    // Trusted, with a wrong password: an authentication error.
    let url = server.tls_url_as(USER, WRONG).expect("a TLS port");
    let err = build(
        Redis::builder(url)
            .stream(stream.as_str())
            .tls_root_certificates(ca),
    )
    .expect_err("a wrong password");
    assert!(
        matches!(err, BuildError::Transport(TransportError::Auth(_))),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(WRONG), "{err:?}");

    // A plain-text client on the TLS port gets nowhere.
    let url = format!(
        "redis://{USER}:{PASSWORD}@127.0.0.1:{}",
        server.tls_port().expect("a TLS port")
    );
    let err = build(Redis::builder(url).stream(stream.as_str())).expect_err("plain on TLS");
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
}
