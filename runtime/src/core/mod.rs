//! The emit core: one pipeline from `emit` to the last handler (route, build the
//! record, deliver, keep), the routing table it reads, the subscription model, the
//! nesting context, counters, and the scheduling of async handlers and retries.
//!
//! The core knows none of the bus's services: history, stores and transports are
//! [`RecordSink`]s in its list of keepers, dead letters a [`DeadLetterSink`], and the
//! rest (queries, children scopes, replay, request timeouts) sits in the bus's facade.

mod answer;
pub(crate) mod context;
pub(crate) mod counter;
pub(crate) mod counters;
mod dead_letter;
mod dispatch;
mod emit;
pub(crate) mod histogram;
mod queue;
mod routing;
mod runtime;
mod sink;
mod subscribe;
pub(crate) mod subscription;
mod worker;

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use uuid::Uuid;

pub(crate) use answer::Requests;
pub use dead_letter::DeadLetter;
pub(crate) use dead_letter::DeadLetterSink;
pub(crate) use dispatch::LifecycleAt;
pub(crate) use emit::EmitOptions;
pub use emit::{Delivery, Emit};
pub(crate) use queue::SubQueue;
pub(crate) use routing::{next_version, Key, Route, RoutingTable};
pub(crate) use runtime::spawn as spawn_task;
pub use sink::{RecordSink, SinkReadError};
pub use subscribe::{Pattern, Subscriber, SubscriptionHandle, Typed};
pub use worker::Overflow;
pub(crate) use worker::Scheduled;

use crate::envelope::Name;
use crate::error::BusError;
use crate::event::Event;
use counters::{BusCounters, NameStats};
use routing::MAX_CACHED_NAMES;
use subscription::{Subscription, SubscriptionInfo};

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

/// What a bus is: its routing table, counters and the places its kept records go.
///
/// The services a bus offers beyond delivery (history queries, dead letters, children
/// scopes, replay, request timeouts) live in `services`, which the bus's builder sets
/// and only the bus's facade reads; the core reaches them through `keepers` and
/// `dead_letters` alone.
pub(crate) struct Inner {
    pub(crate) disabled: bool,
    pub(crate) table: ArcSwap<RoutingTable>,
    /// Changes (to a value never used before, by any bus) after every table publish;
    /// emitters keep the table in a thread-local while this does not change.
    pub(crate) version: AtomicU64,
    /// The epoch of the current table: changes only when subscriptions change.
    pub(crate) epoch: AtomicU64,
    /// Serializes subscription changes (route caching races harmlessly through `rcu`).
    pub(crate) changes: Mutex<()>,
    pub(crate) counters: BusCounters,
    pub(crate) names: Mutex<HashMap<String, Arc<NameStats>>>,
    pub(crate) other_names: Arc<NameStats>,
    pub(crate) inflight: AtomicUsize,
    pub(crate) idle: tokio::sync::Notify,
    pub(crate) next_subscription: AtomicU64,
    pub(crate) requests: answer::Requests,
    /// Longest wait between two retries.
    pub(crate) backoff_cap: Duration,
    /// What a full handler queue does on `emit`.
    pub(crate) overflow: Overflow,
    /// Where every kept record goes, in order: history, stores, transport.
    pub(crate) keepers: Box<[Arc<dyn RecordSink>]>,
    /// Where failed deliveries go.
    pub(crate) dead_letters: Arc<dyn DeadLetterSink>,
    /// The bus's services, set by its builder (see `crate::bus::Services`).
    pub(crate) services: Box<dyn Any + Send + Sync>,
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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bus {
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
        for keeper in self.inner.keepers.iter() {
            keeper.flush().await;
        }
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
            .finish_non_exhaustive()
    }
}
