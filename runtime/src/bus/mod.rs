//! The [`Bus`]: emission, routing, history, dead letters, subscription control, metrics.

mod answer;
mod builder;
mod children;
pub(crate) mod context;
pub(crate) mod counter;
pub(crate) mod counters;
mod dead_letter;
mod dispatch;
mod emit;
pub(crate) mod histogram;
mod history;
pub(crate) mod metrics;
mod queue;
mod remote;
mod replay;
mod request;
mod routing;
mod runtime;
mod sink;
mod subscribe;
pub(crate) mod subscription;
mod worker;

use std::any::TypeId;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use uuid::Uuid;

pub use builder::Builder;
pub use children::{
    ChildFailure, ChildOutput, Children, ChildrenError, ScopeStatus, FINISHED_SCOPES,
};
pub use dead_letter::DeadLetter;
pub use emit::{Delivery, Emit};
pub use metrics::{HandlerMetrics, LatencySnapshot, Metrics, NameMetrics};
pub(crate) use queue::SubQueue;
pub use replay::{ReplayReport, ReplaySource, REPLAYED_LABEL};
pub(crate) use runtime::spawn as spawn_task;
pub use sink::{RecordSink, SinkReadError};
pub use subscribe::{Pattern, Subscriber, Typed};
pub use worker::Overflow;

pub(crate) use dispatch::LifecycleAt;
pub(crate) use emit::EmitOptions;
pub(crate) use routing::{Key, Route};

use crate::bus::subscription::{
    HandlerDescriptor, Subscription, SubscriptionInfo, SubscriptionSpec,
};
use crate::envelope::{Name, Record};
use crate::error::{BuildError, BusError};
use crate::event::Event;
use crate::filter::Filter;
use crate::tree::Tree;
use counters::{BusCounters, NameStats};
use dead_letter::DeadLetters;
use history::History;
use routing::{RoutingTable, MAX_CACHED_NAMES};

/// Default history capacity.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Default capacity of the queue of a handler with `concurrency = N`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1_024;
/// Default dead-letter capacity.
pub const DEFAULT_DEAD_LETTERS: usize = 1_000;

/// An event bus: routes emissions to subscriptions, keeps a bounded history, records
/// failed deliveries as dead letters and counts everything.
///
/// `Bus` is a cheap handle (an `Arc`); clones share one bus. [`herald::bus()`](crate::bus())
/// is the global one, with every registered handler of group `"default"`.
///
/// ```
/// use herald::prelude::*;
/// use herald::Bus;
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "doc.job_done")]
/// struct JobDone { job: u32 }
///
/// let bus = Bus::builder().registered_handlers(false).history(100).build().unwrap();
/// let seen = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let s = seen.clone();
/// let _sub = bus.subscribe::<JobDone>(move |ev| {
///     s.fetch_add(ev.payload().job, std::sync::atomic::Ordering::Relaxed);
/// });
/// bus.emit(JobDone { job: 7 });
/// assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 7);
/// assert_eq!(bus.history().len(), 1);
/// ```
#[derive(Clone)]
pub struct Bus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    disabled: bool,
    table: ArcSwap<RoutingTable>,
    /// Changes (to a value never used before, by any bus) after every table publish;
    /// emitters keep the table in a thread-local while this does not change.
    version: AtomicU64,
    /// The epoch of the current table: changes only when subscriptions change.
    epoch: AtomicU64,
    /// Serializes subscription changes (route caching races harmlessly through `rcu`).
    changes: Mutex<()>,
    history: Option<Mutex<History>>,
    dead: Mutex<DeadLetters>,
    counters: BusCounters,
    names: Mutex<HashMap<String, Arc<NameStats>>>,
    other_names: Arc<NameStats>,
    inflight: AtomicUsize,
    idle: tokio::sync::Notify,
    next_subscription: AtomicU64,
    request_timeout: Duration,
    requests: answer::Requests,
    /// Longest wait between two retries.
    backoff_cap: Duration,
    /// What a full handler queue does on `emit`.
    overflow: Overflow,
    /// Stores that receive every kept record.
    sinks: Vec<Arc<dyn RecordSink>>,
    /// The transport that sends every kept record to other processes.
    transport: Option<Arc<dyn crate::transport::Transport>>,
    /// What the inbox the transport was started with counts.
    inbox_counts: OnceLock<Arc<crate::transport::InboxCounts>>,
    /// Pending and running children scopes, and the last finished ones.
    scopes: children::Scopes,
}

/// The routing table this thread used last, with the bus and version it came from.
///
/// Emitting borrows it by pointer, without reference counting: `depth` counts the
/// borrows alive on this thread (an emit inside a handler borrows again), and a table
/// replaced while some are alive is kept in `retired` until the outermost one ends.
struct TableCache {
    bus: Cell<*const Inner>,
    version: Cell<u64>,
    table: Cell<Option<Arc<RoutingTable>>>,
    /// Borrows alive on this thread.
    depth: Cell<u32>,
    /// Tables replaced while borrowed; dropped when `depth` returns to 0.
    retired: Cell<Vec<Arc<RoutingTable>>>,
    /// Whether `retired` holds any.
    retiring: Cell<bool>,
    /// This thread's counter shard (see [`metrics::shard`]); `usize::MAX`: none yet.
    shard: Cell<usize>,
}

impl TableCache {
    /// Borrows the current table of `inner` (at `version`): returns a pointer valid
    /// until the matching [`TableCache::release`].
    #[inline(always)]
    fn lend(&self, inner: &Inner, version: u64) -> *const RoutingTable {
        self.depth.set(self.depth.get() + 1);
        // SAFETY: the `Option<Arc<_>>` in the cell is only replaced by `replace` below,
        // never while a reference to it is alive: the one made here ends in this block.
        let cached = unsafe { &*self.table.as_ptr() }.as_ref().map(Arc::as_ptr);
        match cached {
            Some(t) if self.version.get() == version && std::ptr::eq(self.bus.get(), inner) => t,
            _ => self.replace(inner, version),
        }
    }

    #[cold]
    #[inline(never)]
    fn replace(&self, inner: &Inner, version: u64) -> *const RoutingTable {
        let table = inner.table.load_full();
        let ptr = Arc::as_ptr(&table);
        self.bus.set(std::ptr::from_ref(inner));
        self.version.set(version);
        let old = self.table.replace(Some(table));
        if let Some(old) = old {
            if self.depth.get() > 1 {
                // An outer borrow on this thread may still point into it.
                let mut retired = self.retired.take();
                retired.push(old);
                self.retired.set(retired);
                self.retiring.set(true);
            } else {
                drop(old);
            }
        }
        ptr
    }

    #[inline(always)]
    fn release(&self) {
        let depth = self.depth.get() - 1;
        self.depth.set(depth);
        if depth == 0 && self.retiring.get() {
            self.retiring.set(false);
            drop(self.retired.take());
        }
    }

    /// This thread's counter shard, claimed the first time.
    #[inline(always)]
    fn shard(&self) -> usize {
        match self.shard.get() {
            usize::MAX => {
                let shard = counter::claim_shard();
                self.shard.set(shard);
                shard
            }
            shard => shard,
        }
    }
}

impl Drop for TableCache {
    fn drop(&mut self) {
        if self.shard.get() != usize::MAX {
            counter::release_shard(self.shard.get());
        }
    }
}

thread_local! {
    static TABLES: TableCache = const {
        TableCache {
            bus: Cell::new(std::ptr::null()),
            version: Cell::new(0),
            table: Cell::new(None),
            depth: Cell::new(0),
            retired: Cell::new(Vec::new()),
            retiring: Cell::new(false),
            shard: Cell::new(usize::MAX),
        }
    };
}

/// This thread's counter shard (see [`metrics::shard`]).
#[inline(always)]
pub(crate) fn thread_shard() -> usize {
    TABLES
        .try_with(TableCache::shard)
        .unwrap_or(counter::SHARED)
}

/// Ends a borrow from the thread's table cache (also when unwinding).
struct Release(*const TableCache);

impl Drop for Release {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: the pointer is this thread's `TABLES`, reached in `with_table` just
        // before; a thread-local is destroyed only by its thread's exit, which cannot
        // happen inside `with_table` (it would have to run the destructor of `TABLES`
        // from the emit that borrows it).
        unsafe { &*self.0 }.release();
    }
}

/// A routing table borrowed for one emission, with this thread's counter shard.
pub(crate) struct Lent<'a> {
    pub(crate) table: &'a RoutingTable,
    pub(crate) shard: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The global bus (see [`crate::bus()`]).
pub(crate) fn global() -> &'static Bus {
    static GLOBAL: OnceLock<Bus> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        if let Err(e) = crate::registry::check() {
            eprintln!("herald: {e}");
        }
        Builder::default().build_unchecked()
    })
}

impl Bus {
    /// A builder for a new bus.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A bus that accepts emissions and does nothing with them, at near-zero cost.
    pub fn disabled() -> Bus {
        Builder::disabled().build_unchecked()
    }

    /// Whether this bus was made by [`Bus::disabled`].
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// Emits `ev`: runs matching sync handlers inline in priority order, schedules async
    /// ones, returns the new record's id. Never panics because a handler did.
    ///
    /// When nothing takes the record (no subscription, history, store or transport),
    /// emitting only counts it and makes its id; such an id is unique and ordered like
    /// any other, but its millisecond may be that of one of the thread's last few
    /// emissions (the clock is read once per 16 of them).
    #[inline]
    pub fn emit<E: Event>(&self, ev: E) -> Uuid {
        self.emit_plain(ev)
    }

    /// Starts an emission with metadata; see [`Emit`].
    pub fn event<E: Event>(&self, ev: E) -> Emit<'_, E> {
        Emit {
            bus: self,
            payload: ev,
            opts: EmitOptions::default(),
        }
    }

    /// Emits many events with one routing-table read; same semantics as repeated `emit`.
    pub fn emit_batch<E: Event, I: IntoIterator<Item = E>>(&self, events: I) -> Vec<Uuid> {
        self.dispatch_batch(events)
    }

    /// Emits `ev` and waits until every matching handler, sync and async, has finished.
    pub async fn emit_and_wait<E: Event>(&self, ev: E) -> Delivery {
        self.dispatch_and_wait(ev, EmitOptions::default()).await
    }

    /// Waits until no async handler of this bus is running or scheduled (retries
    /// included), then until every store has written what it accepted and the
    /// transport has sent (or counted as lost) what it was given.
    pub async fn flush(&self) {
        let inflight = &self.inner.inflight;
        crate::wait::until(&self.inner.idle, || inflight.load(Ordering::Acquire) == 0).await;
        for sink in &self.inner.sinks {
            sink.flush().await;
        }
        if let Some(transport) = &self.inner.transport {
            transport.flush().await;
        }
    }

    /// The records in history, oldest first.
    pub fn history(&self) -> Vec<Record> {
        self.inner
            .history
            .as_ref()
            .map(|h| lock(h).all())
            .unwrap_or_default()
    }

    /// One record of the history, by id. For the parent of a children scope,
    /// [`scope_status`](Bus::scope_status) shows its child ids and pending count.
    pub fn get(&self, id: Uuid) -> Option<Record> {
        self.inner.history.as_ref().and_then(|h| lock(h).get(id))
    }

    /// The records of the history that `filter` matches, oldest first.
    pub fn query(&self, filter: &Filter) -> Vec<Record> {
        self.inner
            .history
            .as_ref()
            .map(|h| lock(h).query(filter))
            .unwrap_or_default()
    }

    /// The tree rooted at `root_id`, from history.
    pub fn tree(&self, root_id: Uuid) -> Option<Tree> {
        self.inner
            .history
            .as_ref()
            .and_then(|h| lock(h).tree(root_id))
    }

    /// Sizes of the history indexes (by id, by root): bounded by the capacity.
    #[doc(hidden)]
    pub fn __history_index_sizes(&self) -> (usize, usize) {
        self.inner
            .history
            .as_ref()
            .map(|h| lock(h).index_sizes())
            .unwrap_or_default()
    }

    fn find(&self, name: &str, f: impl Fn(&Subscription)) -> Result<(), BusError> {
        let table = self.inner.table.load();
        let mut found = false;
        for s in table.subs.iter().filter(|s| s.name == name) {
            f(s);
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(BusError::UnknownSubscription(name.to_owned()))
        }
    }

    /// Stops delivering to the named subscription until [`resume`](Bus::resume).
    pub fn pause(&self, name: &str) -> Result<(), BusError> {
        self.find(name, |s| s.paused.store(true, Ordering::Relaxed))
    }

    /// Delivers to the named subscription again.
    pub fn resume(&self, name: &str) -> Result<(), BusError> {
        self.find(name, |s| s.paused.store(false, Ordering::Relaxed))
    }

    /// Removes the named subscription from this bus.
    pub fn unsubscribe(&self, name: &str) -> Result<(), BusError> {
        if self.inner.remove_subscription(name) {
            Ok(())
        } else {
            Err(BusError::UnknownSubscription(name.to_owned()))
        }
    }

    /// Every subscription of this bus, in delivery order.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.inner
            .table
            .load()
            .subs
            .iter()
            .map(|s| s.info())
            .collect()
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.inner.counters;
        let mut names: std::collections::BTreeMap<String, NameMetrics> = lock(&self.inner.names)
            .iter()
            .map(|(n, s)| (n.clone(), s.snapshot()))
            .collect();
        let other = self.inner.other_names.snapshot();
        if other.emitted > 0 {
            names.insert("<other>".to_owned(), other);
        }
        let handlers = self
            .inner
            .table
            .load()
            .subs
            .iter()
            .map(|s| (s.name.to_string(), s.metrics()))
            .collect();
        Metrics {
            emitted: names.values().map(|n| n.emitted).sum(),
            delivered: c.delivered.get(),
            failed: c.failed.get(),
            dead_lettered: c.dead_lettered.get(),
            expired: c.expired.get(),
            dropped: c.dropped.get(),
            names,
            handlers,
        }
    }

    /// Failed deliveries, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.inner.dead).all()
    }

    /// Removes a dead letter and returns it.
    pub fn clear_dead_letter(&self, id: Uuid) -> Result<DeadLetter, BusError> {
        lock(&self.inner.dead)
            .remove(id)
            .ok_or(BusError::UnknownDeadLetter(id))
    }

    /// Runs the failed handler of a dead letter again on its record. On success the dead
    /// letter is removed; on failure it stays, with one more attempt counted.
    pub async fn retry_dead_letter(&self, id: Uuid) -> Result<Delivery, BusError> {
        let letter = lock(&self.inner.dead)
            .remove(id)
            .ok_or(BusError::UnknownDeadLetter(id))?;
        let sub = self
            .inner
            .table
            .load()
            .subs
            .iter()
            .find(|s| s.name == letter.handler())
            .cloned();
        let Some(sub) = sub else {
            lock(&self.inner.dead).push(letter.clone());
            return Err(BusError::UnknownSubscription(letter.handler().to_owned()));
        };
        Ok(self.redeliver(&sub, letter).await)
    }

    fn add(&self, spec: SubscriptionSpec) -> SubscriptionHandle {
        let name = spec.name.to_string();
        let sub = Arc::new(Subscription::new(spec));
        self.inner.add_subscription(sub);
        SubscriptionHandle {
            bus: Arc::downgrade(&self.inner),
            name,
            active: true,
        }
    }
}

impl Bus {
    /// The route of records of `type_id` named `name` (not the type's own name).
    pub(crate) fn route(&self, type_id: TypeId, name: &Name) -> Arc<Route> {
        self.route_key(&Key {
            type_id,
            name,
            is_type_name: false,
            slot: None,
        })
    }

    /// The route of `key`.
    pub(crate) fn route_key(&self, key: &Key<'_>) -> Arc<Route> {
        match self.inner.with_table(|t| t.get(key).cloned()) {
            Some(route) => route,
            None => self.inner.resolve(key),
        }
    }

    /// The epoch of the current routing table (changes when subscriptions change).
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }
}

impl Inner {
    fn add_subscription(&self, sub: Arc<Subscription>) {
        let _g = lock(&self.changes);
        let current = self.table.load();
        let mut subs: Vec<Arc<Subscription>> = current.subs.to_vec();
        subs.push(sub);
        self.publish(RoutingTable::new(subs, current.keep, current.sharing));
    }

    /// Replaces the routing table (subscriptions changed).
    fn publish(&self, table: RoutingTable) {
        let epoch = table.epoch;
        self.table.store(Arc::new(table));
        self.epoch.store(epoch, Ordering::Release);
        self.version
            .store(routing::next_version(), Ordering::Release);
    }

    /// Runs `f` with the current routing table, without touching its reference count
    /// when this thread used the same table last time.
    #[inline(always)]
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&RoutingTable) -> R) -> R {
        self.with_lent(|lent| f(lent.table))
    }

    /// [`Inner::with_table`], also giving this thread's counter shard.
    #[inline(always)]
    pub(crate) fn with_lent<R>(&self, f: impl FnOnce(Lent<'_>) -> R) -> R {
        let lent = self.lend_here();
        // `f` is called in one place only, so that it is inlined here.
        let fallback;
        let (lent, _release) = match lent {
            Ok((table, shard, cache)) => {
                // SAFETY: the cache keeps the table alive until `_release` drops, after
                // `f` returns.
                let table = unsafe { &*table };
                (Lent { table, shard }, Some(Release(cache)))
            }
            // The thread is exiting and its cache is gone.
            Err(_) => {
                fallback = self.table.load_full();
                let lent = Lent {
                    table: &fallback,
                    shard: counter::SHARED,
                };
                (lent, None)
            }
        };
        f(lent)
    }

    /// Borrows the current table from this thread's cache: the table, the thread's
    /// counter shard, and the cache to release it to (an error when the thread is
    /// exiting and its cache is gone).
    #[inline(always)]
    fn lend_here(
        &self,
    ) -> Result<(*const RoutingTable, usize, *const TableCache), std::thread::AccessError> {
        // Read the version before the table: a publish stores the table first, so a
        // cached table is never older than the version it is cached under.
        let version = self.version.load(Ordering::Acquire);
        TABLES.try_with(|c| {
            let shard = c.shard();
            (c.lend(self, version), shard, std::ptr::from_ref(c))
        })
    }

    /// [`Inner::with_lent`] with `f` kept out of line (called from two places). The
    /// closing record of an instrumented call is faster this way: with its route
    /// lookup inlined, the frame of the emission grows and costs more than the call.
    #[inline(always)]
    pub(crate) fn with_lent_outlined<R>(&self, f: impl FnOnce(Lent<'_>) -> R) -> R {
        match self.lend_here() {
            Ok((table, shard, cache)) => {
                let _release = Release(cache);
                // SAFETY: the cache keeps the table alive until `_release` drops.
                let table = unsafe { &*table };
                f(Lent { table, shard })
            }
            // The thread is exiting and its cache is gone.
            Err(_) => f(Lent {
                table: &self.table.load_full(),
                shard: counter::SHARED,
            }),
        }
    }

    fn remove_subscription(&self, name: &str) -> bool {
        let _g = lock(&self.changes);
        let current = self.table.load();
        let subs: Vec<Arc<Subscription>> = current
            .subs
            .iter()
            .filter(|s| s.name != name)
            .cloned()
            .collect();
        if subs.len() == current.subs.len() {
            return false;
        }
        self.publish(RoutingTable::new(subs, current.keep, current.sharing));
        true
    }

    fn name_stats(&self, name: &str) -> Arc<NameStats> {
        let mut names = lock(&self.names);
        if let Some(s) = names.get(name) {
            return s.clone();
        }
        if names.len() >= MAX_CACHED_NAMES {
            return self.other_names.clone();
        }
        let s = Arc::new(NameStats::default());
        names.insert(name.to_owned(), s.clone());
        s
    }

    /// The route of (`type_id`, `name`), resolving and caching it on first use.
    fn resolve(&self, key: &Key<'_>) -> Arc<Route> {
        let (type_id, name) = (key.type_id, key.name);
        let stats = self.name_stats(name.as_str());
        let mut resolved: Option<Arc<Route>> = None;
        self.table.rcu(|table| {
            if let Some(route) = table.get(key) {
                resolved = Some(route.clone());
                return Arc::clone(table);
            }
            let route = Arc::new(table.resolve(type_id, name.as_str(), stats.clone()));
            resolved = Some(route.clone());
            match table.with_route(key, route) {
                Some(next) => Arc::new(next),
                None => Arc::clone(table),
            }
        });
        self.version
            .store(routing::next_version(), Ordering::Release);
        resolved
            .unwrap_or_else(|| Arc::new(self.table.load().resolve(type_id, name.as_str(), stats)))
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("disabled", &self.inner.disabled)
            .field("subscriptions", &self.inner.table.load().subs.len())
            .field("history", &self.inner.history.is_some())
            .finish_non_exhaustive()
    }
}

/// A programmatic subscription; dropping it unsubscribes (call [`detach`](Self::detach)
/// to keep the subscription for the bus's lifetime).
#[must_use = "dropping the handle unsubscribes at once"]
pub struct SubscriptionHandle {
    bus: Weak<Inner>,
    name: String,
    active: bool,
}

impl SubscriptionHandle {
    /// The subscription's name on its bus (for `pause`, `resume`, `unsubscribe`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Unsubscribes now.
    pub fn unsubscribe(self) {}

    /// Keeps the subscription until the bus is dropped or it is unsubscribed by name.
    pub fn detach(mut self) {
        self.active = false;
    }
}

impl Drop for SubscriptionHandle {
    fn drop(&mut self) {
        if self.active {
            if let Some(inner) = self.bus.upgrade() {
                inner.remove_subscription(&self.name);
            }
        }
    }
}

impl fmt::Debug for SubscriptionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionHandle")
            .field("name", &self.name)
            .finish()
    }
}
