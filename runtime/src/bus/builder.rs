//! [`Builder`]: how a [`Bus`] is made.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::{
    children, DeadLetters, History, Services, DEFAULT_DEAD_LETTERS, DEFAULT_HISTORY,
    DEFAULT_QUEUE_CAPACITY,
};
use crate::core::counters::{BusCounters, NameStats};
use crate::core::subscription::Subscription;
use crate::core::{next_version, Bus, Inner, Overflow, RecordSink, Requests, RoutingTable};
use crate::envelope::Record;
use crate::error::BuildError;
use crate::handler::HandlerDescriptor;
use crate::transport::{Inbox, Transport, DEFAULT_DEDUP_WINDOW};

/// Builds a [`Bus`]: `Bus::builder().group("workers").history(1_000).build()`.
#[derive(Clone)]
#[must_use = "a builder does nothing until `.build()`"]
pub struct Builder {
    groups: Vec<String>,
    registered: bool,
    history: usize,
    dead_letters: usize,
    request_timeout: Duration,
    extra: Vec<HandlerDescriptor>,
    disabled: bool,
    sinks: Vec<Arc<dyn RecordSink>>,
    transport: Option<Arc<dyn Transport>>,
    backoff_cap: Duration,
    queue_capacity: usize,
    overflow: Overflow,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("groups", &self.groups)
            .field("registered", &self.registered)
            .field("history", &self.history)
            .field("stores", &self.sinks.len())
            .field("transport", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            groups: Vec::new(),
            registered: true,
            history: DEFAULT_HISTORY,
            dead_letters: DEFAULT_DEAD_LETTERS,
            request_timeout: Duration::from_secs(30),
            extra: Vec::new(),
            disabled: false,
            sinks: Vec::new(),
            transport: None,
            backoff_cap: Duration::from_secs(30),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            overflow: Overflow::DropOldest,
        }
    }
}

impl Builder {
    /// Takes the registered handlers of this group (may be called several times; without
    /// it the bus takes group `"default"`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }
    /// Whether to take the `#[on]` handlers registered at link time (default true).
    pub fn registered_handlers(mut self, yes: bool) -> Self {
        self.registered = yes;
        self
    }
    /// History capacity (default 10,000; 0 turns history off).
    pub fn history(mut self, capacity: usize) -> Self {
        self.history = capacity;
        self
    }
    /// Dead-letter capacity (default 1,000); the oldest is evicted and counted as dropped.
    pub fn dead_letters(mut self, capacity: usize) -> Self {
        self.dead_letters = capacity;
        self
    }
    /// How long a request waits for its response (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// Longest wait between two retries (default 30 s): the backoff doubles per retry
    /// up to this cap, then jitter in [0.8, 1.2] applies.
    pub fn backoff_cap(mut self, cap: Duration) -> Self {
        self.backoff_cap = cap;
        self
    }
    /// Capacity of the queue of each handler with `concurrency = N` (default 1,024).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }
    /// What a full handler queue does with an event from `emit` (default
    /// [`Overflow::DropOldest`]); `emit_and_wait` always waits for room.
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.overflow = policy;
        self
    }
    /// Sends every emitted record to `store` as well (an event store such as a SQLite
    /// file; see [`RecordSink`]). May be called several times.
    pub fn store(mut self, store: impl RecordSink) -> Self {
        self.sinks.push(Arc::new(store));
        self
    }
    /// Links this bus to other processes through `transport` (see
    /// [`crate::transport`]): every record it keeps is published, and records from the
    /// others reach its handlers. One transport per bus; a later call replaces an
    /// earlier one.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }
    /// Adds one `#[on]` handler by hand: `.subscription(herald::subscription!(path::to::handler))`.
    /// Useful where link-time registration cannot be relied on.
    pub fn subscription(mut self, descriptor: HandlerDescriptor) -> Self {
        self.extra.push(descriptor);
        self
    }

    /// Builds the bus. Fails when two event types are registered under one name, or
    /// when the transport cannot start.
    pub fn build(self) -> Result<Bus, BuildError> {
        crate::registry::check()?;
        let bus = self.build_unchecked();
        let services = bus.services();
        if let Some(transport) = &services.transport {
            let inbox = Inbox::new(&bus, DEFAULT_DEDUP_WINDOW);
            transport.start(inbox.clone())?;
            let _ = services.inbox_counts.set(inbox.counts());
        }
        Ok(bus)
    }

    /// The builder of [`Bus::disabled`].
    pub(super) fn disabled() -> Builder {
        Builder {
            disabled: true,
            history: 0,
            registered: false,
            ..Builder::default()
        }
    }

    pub(super) fn build_unchecked(self) -> Bus {
        let groups: Vec<&str> = if self.groups.is_empty() {
            vec!["default"]
        } else {
            self.groups.iter().map(String::as_str).collect()
        };
        let mut subs: Vec<Arc<Subscription>> = Vec::new();
        if self.registered && !self.disabled {
            for d in crate::registry::subscriptions() {
                if groups.contains(&d.group) {
                    subs.push(Arc::new(Subscription::from_descriptor(
                        d,
                        self.queue_capacity,
                    )));
                }
            }
        }
        for d in &self.extra {
            if !subs.iter().any(|s| s.name == d.name) {
                subs.push(Arc::new(Subscription::from_descriptor(
                    d,
                    self.queue_capacity,
                )));
            }
        }
        let transport = self.transport.filter(|_| !self.disabled);
        let publishes = transport.as_ref().is_some_and(|t| t.publishes());
        let keep = (self.history > 0 || !self.sinks.is_empty() || publishes) && !self.disabled;
        let sharing = transport.as_ref().is_some_and(|t| t.shares());
        let table = RoutingTable::new(subs, keep, sharing);
        let epoch = table.epoch;
        let history = (self.history > 0 && !self.disabled)
            .then(|| Arc::new(Mutex::new(History::new(self.history))));
        let dead = Arc::new(Mutex::new(DeadLetters::new(self.dead_letters)));
        // Where a kept record goes, in this order: history, stores, transport.
        let mut keepers: Vec<Arc<dyn RecordSink>> = Vec::new();
        if let Some(history) = &history {
            keepers.push(history.clone());
        }
        keepers.extend(self.sinks.iter().cloned());
        if let Some(transport) = transport.as_ref().filter(|t| t.publishes()) {
            keepers.push(Arc::new(Published(transport.clone())));
        }
        Bus {
            inner: Arc::new(Inner {
                disabled: self.disabled,
                table: ArcSwap::from_pointee(table),
                version: AtomicU64::new(next_version()),
                epoch: AtomicU64::new(epoch),
                changes: Mutex::new(()),
                counters: BusCounters::default(),
                names: Mutex::new(HashMap::new()),
                other_names: Arc::new(NameStats::default()),
                inflight: AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
                next_subscription: AtomicU64::new(1),
                requests: Requests::default(),
                backoff_cap: self.backoff_cap,
                overflow: self.overflow,
                keepers: keepers.into(),
                dead_letters: dead.clone(),
                services: Box::new(Services {
                    history,
                    dead,
                    request_timeout: self.request_timeout,
                    sinks: self.sinks,
                    transport,
                    inbox_counts: OnceLock::new(),
                    scopes: children::Scopes::default(),
                }),
            }),
        }
    }
}

/// A transport as one of the places kept records go: it publishes them.
struct Published(Arc<dyn Transport>);

impl RecordSink for Published {
    fn accept(&self, record: &Record) {
        self.0.publish(record);
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.flush()
    }
}
