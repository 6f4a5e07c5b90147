//! [`RedisBuilder`]: the options of a [`Redis`] transport, checked once.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::config::{Config, Retention};
use super::{wire, Redis, State};
use crate::transport::{TransportError, DEFAULT_STREAM};

/// Records that may wait for Redis when [`RedisBuilder::buffer`] is not called.
const DEFAULT_BUFFER: usize = 100_000;
/// Idle time after which a consumer's pending entries are taken over.
const DEFAULT_CLAIM_IDLE: Duration = Duration::from_secs(30);
/// Entries per read and per write round trip.
const DEFAULT_BATCH: usize = 256;
/// How long one read waits for new entries.
const DEFAULT_BLOCK: Duration = Duration::from_secs(1);
/// The longest [`RedisBuilder::block`].
const MAX_BLOCK: Duration = Duration::from_secs(3600);
/// How many times the stream may hand one entry to a group before it is poisoned.
pub const DEFAULT_MAX_DELIVERIES: u64 = 5;

/// Options of a [`Redis`] transport; made by [`Redis::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until `.build()`"]
pub struct RedisBuilder {
    url: String,
    stream: String,
    node: Option<String>,
    retention: Retention,
    buffer: usize,
    claim_idle: Duration,
    batch: usize,
    block: Duration,
    max_deliveries: u64,
    tls_roots: Option<Vec<u8>>,
}

impl RedisBuilder {
    pub(super) fn new(url: String) -> RedisBuilder {
        RedisBuilder {
            url,
            stream: DEFAULT_STREAM.to_owned(),
            node: None,
            retention: Retention::default(),
            buffer: DEFAULT_BUFFER,
            claim_idle: DEFAULT_CLAIM_IDLE,
            batch: DEFAULT_BATCH,
            block: DEFAULT_BLOCK,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
            tls_roots: None,
        }
    }

    /// The stream the processes share (default [`DEFAULT_STREAM`], `"herald:events"`).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// This process's name on the stream: its consumer name, and the name of its own
    /// consumer group. Default: a fresh UUID, so each run gets a group of its own.
    /// A stable name lets a restarted process resume its group: it gets what was
    /// published while it was down (within [`retention`](RedisBuilder::retention)).
    /// Two processes running at once must not share a name.
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = Some(name.into());
        self
    }

    /// How much of the stream Redis keeps (default [`Retention::MaxLen`] of 1,000,000).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How many published records may wait to be sent, while Redis cannot be reached
    /// or is slower than the emitters (default 100,000). When it is full the newest
    /// records are refused, and counted in
    /// [`TransportStats::lost`](crate::transport::TransportStats::lost).
    pub fn buffer(mut self, records: usize) -> Self {
        self.buffer = records;
        self
    }

    /// How long an entry stays with a consumer that does not acknowledge it before
    /// another process takes it over (default 30 s). Keep it above the time a read
    /// [`batch`](RedisBuilder::batch) takes to handle.
    pub fn claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    /// At most this many entries per round trip: per read (`XREADGROUP COUNT`) and per
    /// pipeline of writes (default 256).
    pub fn batch(mut self, entries: usize) -> Self {
        self.batch = entries;
        self
    }

    /// How long one read waits for new entries (`XREADGROUP BLOCK`, default 1 s, at
    /// most one hour); also how long the reading tasks may take to notice that their
    /// bus is gone.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// How many times the stream may hand one entry to a consumer group before it is
    /// taken for a poison pill (default [`DEFAULT_MAX_DELIVERIES`], 5): Redis's
    /// delivery count of the entry in the group, which grows each time a consumer
    /// re-reads it after a crash or a lost connection, or takes it over from a consumer
    /// that stopped acknowledging. An entry past the cap is acknowledged without
    /// delivery and dead-lettered as a
    /// [`PoisonedEntry`](crate::transport::PoisonedEntry), counted in
    /// [`TransportStats::poisoned`](crate::transport::TransportStats::poisoned).
    ///
    /// Handler failures are not redeliveries: a handler's own `retry` and dead letters
    /// deal with them, and the entry is acknowledged once its handlers finished.
    pub fn max_deliveries(mut self, times: u64) -> Self {
        self.max_deliveries = times;
        self
    }

    /// Trust these certificate authorities (PEM, one or more certificates) for a
    /// `rediss://` URL, instead of the system's (feature `redis-tls`): for a server
    /// whose certificate a private authority signed.
    #[cfg(feature = "redis-tls")]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_roots = Some(pem.into());
        self
    }

    /// Checks the options and makes the transport. It connects when a bus starts it.
    ///
    /// # Errors
    ///
    /// [`TransportError::Config`] when the URL does not parse (a `rediss://` URL needs
    /// the feature `redis-tls`) or an option is out of range (an empty stream or node
    /// name, a zero buffer, batch, block, claim idle time, retention or delivery cap).
    pub fn build(self) -> Result<Redis, TransportError> {
        let client = wire::client(&self.url, self.tls_roots).map_err(|e| {
            TransportError::Config(format!("redis url `{}`: {e}", wire::redact(&self.url)))
        })?;
        let invalid = |what: &str| Err(TransportError::Config(format!("redis {what}")));
        if self.stream.is_empty() {
            return invalid("stream name is empty");
        }
        if self.node.as_deref() == Some("") {
            return invalid("node name is empty");
        }
        if self.buffer == 0 {
            return invalid("buffer must hold at least one record");
        }
        if self.batch == 0 {
            return invalid("batch must be at least one entry");
        }
        if self.block.as_millis() == 0 || self.block > MAX_BLOCK {
            return invalid("block must be between one millisecond and one hour");
        }
        if self.claim_idle.as_millis() == 0 {
            return invalid("claim idle time must be at least one millisecond");
        }
        if self.max_deliveries == 0 {
            return invalid("max deliveries must be at least one");
        }
        match self.retention {
            Retention::MaxLen(0) => return invalid("retention must keep at least one entry"),
            Retention::MaxAge(age) if age.as_millis() == 0 => {
                return invalid("retention age must be at least one millisecond")
            }
            _ => {}
        }
        let generated = self.node.is_none();
        let node = self
            .node
            .unwrap_or_else(|| Uuid::new_v4().as_hyphenated().to_string());
        let config = Config {
            own_group: format!("{}:node:{node}", self.stream),
            shared_group: format!("{}:shared", self.stream),
            stream: self.stream,
            node,
            generated,
            retention: self.retention,
            buffer: self.buffer,
            claim_idle: self.claim_idle,
            batch: self.batch,
            block: self.block,
            max_deliveries: self.max_deliveries,
        };
        Ok(Redis {
            client,
            config: Arc::new(config),
            state: Arc::new(State::default()),
            started: AtomicBool::new(false),
        })
    }
}

impl std::fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("url", &wire::redact(&self.url))
            .field("stream", &self.stream)
            .field("node", &self.node)
            .field("retention", &self.retention)
            .field("buffer", &self.buffer)
            .field("claim_idle", &self.claim_idle)
            .field("batch", &self.batch)
            .field("block", &self.block)
            .field("max_deliveries", &self.max_deliveries)
            .field(
                "tls_roots",
                &self.tls_roots.as_ref().map(|_| "<certificates>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Audience;

    #[test]
    fn builder_checks_its_options() {
        let ok = Redis::builder("redis://127.0.0.1:1").build();
        assert!(ok.is_ok());
        let bad = |b: RedisBuilder| matches!(b.build(), Err(TransportError::Config(_)));
        assert!(bad(Redis::builder("http://nowhere")));
        assert!(bad(Redis::builder("redis://127.0.0.1:1").stream("")));
        assert!(bad(Redis::builder("redis://127.0.0.1:1").node("")));
        assert!(bad(Redis::builder("redis://127.0.0.1:1").buffer(0)));
        assert!(bad(Redis::builder("redis://127.0.0.1:1").batch(0)));
        assert!(bad(
            Redis::builder("redis://127.0.0.1:1").block(Duration::ZERO)
        ));
        assert!(bad(
            Redis::builder("redis://127.0.0.1:1").block(Duration::MAX)
        ));
        assert!(bad(
            Redis::builder("redis://127.0.0.1:1").claim_idle(Duration::from_micros(10))
        ));
        assert!(bad(
            Redis::builder("redis://127.0.0.1:1").retention(Retention::MaxLen(0))
        ));
        assert!(bad(Redis::builder("redis://127.0.0.1:1").max_deliveries(0)));
        assert!(bad(
            Redis::builder("redis://127.0.0.1:1").retention(Retention::MaxAge(Duration::ZERO))
        ));
    }

    #[test]
    fn credentials_stay_out_of_debug_output_and_errors() {
        let b = Redis::builder("redis://user:s3cret@127.0.0.1:6379/0");
        let shown = format!("{b:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("user:***@127.0.0.1:6379/0"),
            "{shown}"
        );
        let err = Redis::builder("redis://user:s3cret@[bad")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert_eq!(wire::redact("redis://h:1"), "redis://h:1");
    }

    #[test]
    fn names_follow_stream_and_node() {
        let r = Redis::builder("redis://127.0.0.1:1")
            .stream("s")
            .node("n")
            .build()
            .unwrap();
        assert_eq!(r.config.own_group, "s:node:n");
        assert_eq!(r.config.shared_group, "s:shared");
        assert!(!r.config.generated);
        let groups: Vec<_> = r.config.groups().collect();
        assert_eq!(
            groups,
            [
                ("s:node:n", Audience::Everyone),
                ("s:shared", Audience::Shared)
            ]
        );
        let a = Redis::new("redis://127.0.0.1:1").unwrap();
        let b = Redis::new("redis://127.0.0.1:1").unwrap();
        assert_ne!(a.node(), b.node());
        assert_eq!(a.stream(), "herald:events");
    }
}
