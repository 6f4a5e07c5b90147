//! [`Redis`]: processes linked by a Redis stream, with consumer groups (feature `redis`).
//!
//! `builder.rs` holds the options; `mod.rs` the [`Transport`] side (publishing into a
//! bounded queue); `writer.rs` sends that queue; `reader.rs` reads the groups and takes
//! over the entries of dead consumers; `wire.rs` speaks to Redis (connections, backoff,
//! errors, replies).

mod builder;
mod config;
mod reader;
pub(crate) mod wire;
mod writer;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::sync::Notify;
use uuid::Uuid;

use super::guard::catch_panic;
use super::{BoxFuture, Inbox, Transport, TransportError, TransportStats};
use crate::envelope::Record;

pub use builder::{RedisBuilder, DEFAULT_MAX_DELIVERIES};
use config::Config;
pub use config::Retention;

/// Records waiting for the writer.
#[derive(Default)]
struct Queue {
    records: VecDeque<Record>,
    /// Records the writer took and Redis has not acknowledged yet.
    in_flight: usize,
}

/// What the transport and its tasks share.
#[derive(Default)]
struct State {
    queue: Mutex<Queue>,
    /// Wakes the writer: records arrived, or the transport is dropped.
    wake: Notify,
    /// Wakes [`Transport::flush`] callers: the queue is empty and nothing is in flight.
    idle: Notify,
    /// Set when the [`Redis`] value (and so its bus) is dropped.
    stopping: AtomicBool,
    origin: OnceLock<Uuid>,
    published: AtomicU64,
    sent: AtomicU64,
    lost: AtomicU64,
    reclaimed: AtomicU64,
    reconnects: AtomicU64,
    /// Panics that ended a task (started again).
    panics: AtomicU64,
    /// Consumer groups found missing and created again at the start of the stream.
    stream_resets: AtomicU64,
}

impl State {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `n` records of the writer's batch as done (`sent` or `lost`).
    fn settle(&self, n: usize, counter: &AtomicU64) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
        let mut q = self.queue();
        q.in_flight = q.in_flight.saturating_sub(n);
        if q.in_flight == 0 && q.records.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// Counts everything still waiting as lost (the writer gives up).
    fn abandon(&self) {
        let mut q = self.queue();
        let n = q.records.len() + q.in_flight;
        q.records.clear();
        q.in_flight = 0;
        drop(q);
        self.lost.fetch_add(n as u64, Ordering::Relaxed);
        self.idle.notify_waiters();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Counts the records of a batch that a writer was sending when it panicked as
    /// lost (the writer that starts again does not have them).
    fn lose_in_flight(&self) {
        let mut q = self.queue();
        let n = std::mem::take(&mut q.in_flight);
        let idle = q.records.is_empty();
        drop(q);
        self.lost.fetch_add(n as u64, Ordering::Relaxed);
        if idle {
            self.idle.notify_waiters();
        }
    }
}

/// Runs the task `make` makes on `inbox`'s runtime; when it panics (a bug: entries'
/// panics are caught where they are handled), counts the panic and runs a fresh one
/// after a pause, until the bus is gone. `after_panic` cleans up what the task held.
fn spawn_supervised<F>(
    inbox: &Inbox,
    state: Arc<State>,
    make: impl Fn() -> F + Send + 'static,
    after_panic: impl Fn(&State) + Send + 'static,
) where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let bus = inbox.clone();
    inbox.spawn(async move {
        let mut backoff = wire::Backoff::default();
        while catch_panic(make()).await.is_err() {
            state.panics.fetch_add(1, Ordering::Relaxed);
            after_panic(&state);
            if state.stopping() || bus.is_closed() {
                return;
            }
            backoff.wait().await;
        }
    });
}

/// Redis Streams transport: processes linked by a stream, with consumer groups.
///
/// Every bus on the same stream gets every record the others emit, once its own
/// handlers ran; a `shared` subscription runs in one process per record.
///
/// ```no_run
/// use herald::prelude::*;
/// use herald::transport::{Redis, Retention};
/// use herald::Bus;
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.redis_order")]
/// struct OrderPlaced { id: u64 }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = Redis::builder("redis://127.0.0.1:6379")
///     .stream("shop:events")
///     .node("billing-1") // a stable name: a restarted process resumes where it stopped
///     .retention(Retention::MaxAge(std::time::Duration::from_secs(24 * 3600)))
///     .build()?;
/// let bus = Bus::builder().transport(redis).build()?;
///
/// // Runs in every process on the stream.
/// let _audit = bus.subscribe::<OrderPlaced>(|ev| println!("order {} placed", ev.payload().id));
/// // Runs in one process per order.
/// let _bill = bus
///     .on::<OrderPlaced>()
///     .shared(true)
///     .handle(|ev| println!("billing order {}", ev.payload().id));
///
/// bus.emit(OrderPlaced { id: 7 });
/// bus.flush().await; // the order is on the stream
/// println!("{:?}", bus.transport_stats());
/// # Ok(())
/// # }
/// ```
///
/// # On the wire
///
/// Each record is one stream entry with two fields: `origin` (the publishing bus's
/// [`Inbox::origin`]) and `json` (the record as
/// [`Record::to_json`](crate::Record::to_json) writes it). Each process reads the
/// stream through a consumer group of its own, `{stream}:node:{node}`, and through the
/// group all processes share, `{stream}:shared`, as consumer `{node}`. Both groups are
/// created at the end of the stream when the transport starts, so a process gets what
/// is published after its bus is built; a process that restarts with the same
/// [`node`](RedisBuilder::node) name resumes its group where it stopped (the group
/// of a generated node name is removed when its bus is dropped). A group that goes
/// missing while the process runs (the server restarted without persistence) is
/// created again at the *start* of the stream, so every entry the new stream holds
/// reaches this process (what it had already is suppressed as a duplicate); counted
/// in [`TransportStats::stream_resets`]. A process reads the
/// shared group only while its bus has a `shared` subscription, so a producer without
/// one never takes records away from the processes that have them. Needs Redis 6.2 or
/// later.
///
/// # Guarantees and their limits
///
/// - At least once: an entry is acknowledged only after this process's handlers
///   finished with it; the inbox suppresses the duplicates a redelivery brings.
/// - Records for `shared` subscriptions go to whichever process asks Redis first, at
///   most 8 per read: work spreads across the processes, not evenly. Every entry of
///   the stream passes through the shared group, whether a `shared` subscription
///   wants it or not.
/// - Entries a process read and did not acknowledge (it crashed, or its bus was dropped)
///   are taken over after [`claim_idle`](RedisBuilder::claim_idle) by another process
///   of the group. A handler that runs longer than that may therefore run twice
///   (in the `shared` group, in two processes): keep `claim_idle` above the time one
///   read [`batch`](RedisBuilder::batch) takes to handle.
/// - While Redis cannot be reached, published records wait in a bounded buffer and go
///   out in order after reconnecting (with backoff); when the buffer is full, the
///   newest records are refused and counted in [`TransportStats::lost`].
/// - Entries removed by [`Retention`] before a process read them are not delivered to
///   it.
/// - No entry stops a reader: an entry that does not decode is dead-lettered (a
///   [`RejectedEntry`](crate::transport::RejectedEntry)), one whose handling panics is
///   dead-lettered as a [`PoisonedEntry`](crate::transport::PoisonedEntry), and so is
///   one the stream handed to this process's group more than
///   [`max_deliveries`](RedisBuilder::max_deliveries) times (default 5: each consumer
///   that got it crashed or hung before acknowledging it); each is acknowledged and
///   counted, and the reader goes on. A task that panics anyway is started again
///   ([`TransportStats::panics`]).
///
/// # TLS and ACL users
///
/// With the feature `redis-tls` (rustls with its ring backend), a `rediss://` URL
/// connects over TLS, trusting the system's certificate authorities or those given to
/// `RedisBuilder::tls_root_certificates` (with the feature). An ACL user and
/// password go in the URL (`rediss://user:password@host:6380`); a refused password
/// fails [`Builder::build`](crate::Builder::build) with
/// [`TransportError::Auth`](crate::error::TransportError::Auth). The password
/// never shows: errors and debug output show the URL as `rediss://user:***@host:6380`.
///
/// # Tasks
///
/// Made with [`Redis::new`] or [`Redis::builder`], given to one bus with
/// [`Builder::transport`](crate::Builder::transport). Starting connects, creates the
/// consumer groups and spawns the background tasks (a writer, a reader per group and a
/// reclaimer; see [`Inbox::spawn`]); they stop when the bus is dropped.
pub struct Redis {
    client: redis::Client,
    config: Arc<Config>,
    state: Arc<State>,
    started: AtomicBool,
}

impl Redis {
    /// A transport with the default options on the server at `url`
    /// (`redis://[user:password@]host[:port][/db]`).
    ///
    /// # Errors
    ///
    /// [`TransportError::Config`] when the URL does not parse.
    pub fn new(url: &str) -> Result<Redis, TransportError> {
        Redis::builder(url).build()
    }

    /// Options for a transport on the server at `url`; see [`RedisBuilder`].
    pub fn builder(url: impl Into<String>) -> RedisBuilder {
        RedisBuilder::new(url.into())
    }

    /// The stream this transport publishes to and reads.
    pub fn stream(&self) -> &str {
        &self.config.stream
    }

    /// This process's name on the stream (its consumer name).
    pub fn node(&self) -> &str {
        &self.config.node
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.state.queue();
        f.debug_struct("Redis")
            .field("stream", &self.config.stream)
            .field("node", &self.config.node)
            .field("started", &self.started.load(Ordering::Relaxed))
            .field("buffered", &(q.records.len() + q.in_flight))
            .finish_non_exhaustive()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::Release);
        self.state.wake.notify_one();
    }
}

impl Transport for Redis {
    /// Connects, creates this process's consumer groups (so that everything published
    /// from now on reaches it) and spawns the background tasks.
    ///
    /// Blocks the calling thread for the connection (at most a few seconds).
    fn start(&self, inbox: Inbox) -> Result<(), TransportError> {
        if self.started.swap(true, Ordering::AcqRel) {
            return Err(TransportError::AlreadyStarted);
        }
        if let Err(error) = wire::create_groups_blocking(&self.client, &self.config) {
            self.started.store(false, Ordering::Release);
            return Err(error);
        }
        let _ = self.state.origin.set(inbox.origin());
        let task = writer::Writer {
            client: self.client.clone(),
            config: self.config.clone(),
            state: self.state.clone(),
            inbox: inbox.clone(),
            origin: inbox.origin().as_hyphenated().to_string(),
        };
        let state = self.state.clone();
        spawn_supervised(
            &inbox,
            state,
            move || task.clone().run(),
            State::lose_in_flight,
        );
        for (group, audience) in self.config.groups() {
            let task = reader::Reader {
                client: self.client.clone(),
                config: self.config.clone(),
                state: self.state.clone(),
                inbox: inbox.clone(),
                group: group.to_owned(),
                audience,
            };
            let state = self.state.clone();
            spawn_supervised(&inbox, state, move || task.clone().run(), |_| {});
        }
        let task = reader::Reclaimer {
            client: self.client.clone(),
            config: self.config.clone(),
            state: self.state.clone(),
            inbox: inbox.clone(),
        };
        let state = self.state.clone();
        spawn_supervised(&inbox, state, move || task.clone().run(), |_| {});
        Ok(())
    }

    fn publish(&self, record: &Record) {
        let s = &*self.state;
        s.published.fetch_add(1, Ordering::Relaxed);
        if s.origin.get().is_none() {
            s.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut q = s.queue();
        if q.records.len() + q.in_flight >= self.config.buffer {
            drop(q);
            s.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = q.records.is_empty();
        q.records.push_back(record.clone());
        drop(q);
        if was_empty {
            s.wake.notify_one();
        }
    }

    /// Resolves when every record published so far is acknowledged by Redis or
    /// counted as lost. While Redis cannot be reached it waits for the reconnection.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(crate::wait::until(&self.state.idle, || {
            let q = self.state.queue();
            q.records.is_empty() && q.in_flight == 0
        }))
    }

    fn stats(&self) -> TransportStats {
        let s = &*self.state;
        let buffered = {
            let q = s.queue();
            (q.records.len() + q.in_flight) as u64
        };
        TransportStats {
            published: s.published.load(Ordering::Relaxed),
            sent: s.sent.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            buffered,
            reclaimed: s.reclaimed.load(Ordering::Relaxed),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            stream_resets: s.stream_resets.load(Ordering::Relaxed),
            ..TransportStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, crate::Event)]
    #[event(name = "herald.test.redis_unit")]
    struct Unit;

    #[test]
    fn publishing_before_start_counts_as_lost() {
        let bus = crate::Bus::builder()
            .registered_handlers(false)
            .build()
            .unwrap();
        let id = bus.emit(Unit);
        let record = bus.get(id).unwrap();
        let r = Redis::new("redis://127.0.0.1:1").unwrap();
        r.publish(&record);
        let stats = r.stats();
        assert_eq!((stats.published, stats.lost, stats.buffered), (1, 1, 0));
    }

    #[test]
    fn an_unreachable_server_fails_the_build() {
        // Port 1 on the loopback interface refuses connections.
        let redis = Redis::builder("redis://127.0.0.1:1").build().unwrap();
        let built = crate::Bus::builder()
            .registered_handlers(false)
            .transport(redis)
            .build();
        assert!(built.is_err());
    }

    #[test]
    fn a_task_that_panics_is_started_again_and_its_batch_counted_as_lost() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let bus = crate::Bus::builder()
                .registered_handlers(false)
                .build()
                .unwrap();
            let inbox = Inbox::new(&bus, 0);
            let state = Arc::new(State::default());
            state.queue().in_flight = 3;
            let runs = Arc::new(AtomicU64::new(0));
            let r = runs.clone();
            spawn_supervised(
                &inbox,
                state.clone(),
                move || {
                    let run = r.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::task::yield_now().await;
                        assert!(run > 0, "the first run of this task panics");
                    }
                },
                State::lose_in_flight,
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while runs.load(Ordering::SeqCst) < 2 {
                assert!(std::time::Instant::now() < deadline, "never started again");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert_eq!(
                runs.load(Ordering::SeqCst),
                2,
                "the second run ended normally"
            );
            assert_eq!(state.panics.load(Ordering::Relaxed), 1);
            assert_eq!(state.lost.load(Ordering::Relaxed), 3);
            assert_eq!(state.queue().in_flight, 0);
        });
    }

    #[test]
    fn a_transport_is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static + std::fmt::Debug>() {}
        check::<Redis>();
    }
}
