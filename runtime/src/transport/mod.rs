//! Transports: events crossing process boundaries.
//!
//! A bus built with [`Builder::transport`](crate::Builder::transport) hands every record
//! it keeps to its [`Transport`], which sends it to the other processes on the same
//! stream; records arriving from them come back through the [`Inbox`] the transport was
//! started with, and reach the matching handlers of this process as if emitted here
//! (same id, links and timestamp; handlers' own emissions nest under them).
//!
//! Three transports ship with herald:
//!
//! - [`Noop`]: sends nothing; a bus with it behaves as one without a transport.
//! - [`InMemory`]: links several buses of one process, each acting as a process of its
//!   own (records cross as JSON and are decoded by registered name, as over a wire).
//!   Made for tests.
//! - `Redis` (feature `redis`): Redis Streams with consumer groups, at least once,
//!   crash recovery, reconnection.
//!
//! Semantics every transport keeps (the [`Inbox`] does the common part):
//!
//! - every process on a stream gets every event once its local handlers ran;
//!   a process does not get back its own events (it delivered them when they were
//!   emitted);
//! - a subscription marked `shared` runs once across all processes: the emitting bus
//!   does not run it inline, the transport hands the record to exactly one process
//!   with [`Audience::Shared`];
//! - records are decoded by registered name: an unknown name or a payload that does
//!   not read back is dead-lettered (handler `herald.transport`) with the reason,
//!   never a panic;
//! - duplicates (a redelivery after a crash or a reconnection) are suppressed by
//!   record id within a bounded window ([`DEFAULT_DEDUP_WINDOW`] ids per audience);
//!   records labelled [`REPLAYED_LABEL`](crate::REPLAYED_LABEL) are sent again on
//!   purpose and are not suppressed.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use herald::prelude::*;
//! use herald::transport::InMemory;
//! use herald::Bus;
//!
//! #[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
//! #[event(name = "doc.transport_ping")]
//! struct Ping { n: u32 }
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! let link = InMemory::new();
//! let a = Bus::builder().registered_handlers(false).transport(link.clone()).build().unwrap();
//! let b = Bus::builder().registered_handlers(false).transport(link.clone()).build().unwrap();
//!
//! let seen = Arc::new(AtomicU32::new(0));
//! let s = seen.clone();
//! let _sub = b.subscribe::<Ping>(move |ev| {
//!     s.fetch_add(ev.payload().n, Ordering::Relaxed);
//! });
//! a.emit(Ping { n: 5 });
//! link.settle().await; // every linked bus has handled what was sent
//! assert_eq!(seen.load(Ordering::Relaxed), 5);
//! # });
//! ```

mod counts;
mod guard;
mod inbox;
mod memory;
#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::future::Future;
use std::pin::Pin;

use crate::envelope::Record;

pub(crate) use crate::error::TransportError;
pub(crate) use counts::InboxCounts;
pub use inbox::{
    Audience, Inbox, Incoming, Outcome, PoisonedEntry, RejectedEntry, DEFAULT_DEDUP_WINDOW,
    TRANSPORT_HANDLER,
};
pub use memory::InMemory;
#[cfg(feature = "redis")]
pub use redis::{Redis, RedisBuilder, Retention, DEFAULT_MAX_DELIVERIES};

/// The stream that transports and the `herald` command line use when none is named.
pub const DEFAULT_STREAM: &str = "herald:events";

/// A boxed future, as [`Transport`] methods return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries records between processes; see the [module docs](self).
///
/// A bus calls [`start`](Transport::start) once, when it is built, then
/// [`publish`](Transport::publish) for every record it keeps, on the emit path.
pub trait Transport: Send + Sync + 'static {
    /// Starts receiving: records from other processes go to `inbox`
    /// ([`Inbox::deliver`]), from background tasks (see [`Inbox::spawn`]). An error
    /// here fails [`Builder::build`](crate::Builder::build).
    fn start(&self, inbox: Inbox) -> Result<(), TransportError>;

    /// Sends one record emitted by this process. Runs on the emit path: it must not
    /// block and must not panic; what cannot be sent is buffered (bounded) and what
    /// does not fit is counted in [`TransportStats::lost`].
    fn publish(&self, record: &Record);

    /// Resolves when everything published so far is sent, or counted as lost.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Counters since the transport was made.
    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }

    /// Whether [`publish`](Transport::publish) sends anything (the default). A bus
    /// whose transport returns `false` ([`Noop`]) does not build records for it.
    fn publishes(&self) -> bool {
        true
    }

    /// Whether this transport carries `shared` subscriptions' records to one process
    /// of the stream. When it does (the default), a bus does not run its `shared`
    /// handlers inline on emit; it runs them when the transport hands it a record with
    /// [`Audience::Shared`]. [`Noop`] returns `false`, so they run locally.
    fn shares(&self) -> bool {
        true
    }
}

/// What a transport counted. Every field counts since the transport was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Records handed to [`Transport::publish`].
    pub published: u64,
    /// Records written to the wire.
    pub sent: u64,
    /// Records that could not be sent and did not fit the buffer (or were refused).
    pub lost: u64,
    /// Records waiting in the publish buffer now.
    pub buffered: u64,
    /// Entries read from the wire (own and duplicate entries included).
    pub received: u64,
    /// Records delivered to this process's handlers.
    pub delivered: u64,
    /// Entries skipped as already delivered (same record id, same audience).
    pub duplicates: u64,
    /// Entries that could not be decoded (dead-lettered).
    pub rejected: u64,
    /// Entries taken over from a consumer that stopped acknowledging.
    pub reclaimed: u64,
    /// Entries acknowledged without delivery and dead-lettered as a [`PoisonedEntry`]:
    /// handed out more times than the transport's cap, or their handling panicked.
    pub poisoned: u64,
    /// Panics caught in the transport's tasks (an entry's handling, or a task that was
    /// started again).
    pub panics: u64,
    /// Consumer groups found missing (the server restarted without its data) and
    /// created again at the start of the stream, so that nothing the new stream holds
    /// is skipped.
    pub stream_resets: u64,
    /// Connections re-established after a failure.
    pub reconnects: u64,
}

/// A transport that sends nothing and receives nothing.
///
/// A bus with it behaves exactly as a bus without a transport (its `shared` handlers
/// run locally, on emit).
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

impl Transport for Noop {
    fn start(&self, _inbox: Inbox) -> Result<(), TransportError> {
        Ok(())
    }

    fn publish(&self, _record: &Record) {}

    fn publishes(&self) -> bool {
        false
    }

    fn shares(&self) -> bool {
        false
    }
}
