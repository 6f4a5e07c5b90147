//! What the Redis transport tests share: names, transports and buses on a test
//! server, waiting for a condition, collecting what handlers saw.

#![allow(dead_code, reason = "not every test file uses every helper")]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::transport::{Redis, RedisBuilder};
use herald::{Bus, Uuid};
use herald_tests::redis_server::RedisServer;

/// The longest any wait of these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `prefix` and a fresh UUID: a stream or node name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

/// A transport on `stream` of `server`, reading with a short block time.
pub fn redis(server: &RedisServer, stream: &str) -> RedisBuilder {
    Redis::builder(server.url())
        .stream(stream)
        .block(Duration::from_millis(200))
}

/// A bus of its own (history kept, no registered handlers) with `transport`.
pub fn bus(transport: RedisBuilder) -> Bus {
    Bus::builder()
        .registered_handlers(false)
        .history(10_000)
        .transport(transport.build().expect("valid transport options"))
        .build()
        .expect("bus with a redis transport")
}

/// Waits until `done` holds; fails the test after [`PATIENCE`] with `what`.
pub async fn wait_until(what: impl Fn() -> String, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting: {}", what());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Collects the `n` of every event a handler saw.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<u32>>>);

impl Seen {
    pub fn push(&self, n: u32) {
        self.0.lock().unwrap().push(n);
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn sorted(&self) -> Vec<u32> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_unstable();
        v
    }
    pub fn set(&self) -> BTreeSet<u32> {
        self.0.lock().unwrap().iter().copied().collect()
    }
}
